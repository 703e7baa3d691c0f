// The controller's API, same origin, with the bearer token kept in this
// tab's sessionStorage. Server-sent event streams are read with fetch (an
// EventSource cannot send the Authorization header).

const KEY = 'shoal.token';

/** Unauthorized is thrown when the controller refuses the token (401). */
export class Unauthorized extends Error {}

/** ApiError is any other error answer, with the API's Problem. */
export class ApiError extends Error {
  constructor(status, problem) {
    super(`${status} ${problem.code || ''}: ${problem.detail || problem.title || ''}`);
    this.status = status;
    this.problem = problem;
  }
}

/**
 * takeToken moves a token from the URL fragment (#token=...) into
 * sessionStorage and removes it from the address bar and the history.
 * It returns true when the fragment held one.
 */
export function takeToken() {
  const m = /^#token=([^&]*)/.exec(location.hash);
  if (!m) return false;
  sessionStorage.setItem(KEY, decodeURIComponent(m[1]));
  history.replaceState(null, '', location.pathname + location.search + '#/');
  return true;
}

export const token = () => sessionStorage.getItem(KEY) || '';
export const forgetToken = () => sessionStorage.removeItem(KEY);

function headers(accept) {
  return { Authorization: 'Bearer ' + token(), Accept: accept };
}

async function problem(r) {
  try {
    return await r.json();
  } catch {
    return { title: r.statusText };
  }
}

/** get fetches a JSON answer. */
export async function get(path, signal) {
  const r = await fetch(path, { headers: headers('application/json'), signal, cache: 'no-store' });
  if (r.status === 401) throw new Unauthorized();
  if (!r.ok) throw new ApiError(r.status, await problem(r));
  return r.json();
}

/** getOrNull fetches a JSON answer, or null when the API answers 404
 * (an app with no scaling proposal). */
export async function getOrNull(path, signal) {
  try {
    return await get(path, signal);
  } catch (err) {
    if (err instanceof ApiError && err.status === 404) return null;
    throw err;
  }
}

/** post sends a change with a JSON body (or none) and returns the answer. */
export async function post(path, body) {
  const init = { method: 'POST', headers: headers('application/json'), cache: 'no-store' };
  if (body !== undefined) {
    init.headers['Content-Type'] = 'application/json';
    init.body = JSON.stringify(body);
  }
  const r = await fetch(path, init);
  if (r.status === 401) throw new Unauthorized();
  if (!r.ok) throw new ApiError(r.status, await problem(r));
  return r.json();
}

// A line longer than this is not something our API sends: refuse it rather
// than grow a buffer without bound.
const MAX_LINE = 1 << 20;

/**
 * SSEParser turns the text of an event stream into events
 * ({event, data}), as the HTML standard's parsing rules say: lines
 * "field: value", a blank line ends an event, ":" starts a comment.
 */
export class SSEParser {
  constructor(onEvent) {
    this.onEvent = onEvent;
    this.buf = '';
    this.event = '';
    this.data = [];
  }

  push(chunk) {
    this.buf += chunk;
    for (;;) {
      const i = this.buf.indexOf('\n');
      if (i < 0) break;
      let line = this.buf.slice(0, i);
      this.buf = this.buf.slice(i + 1);
      if (line.endsWith('\r')) line = line.slice(0, -1);
      this.line(line);
    }
    if (this.buf.length > MAX_LINE) throw new Error(`event stream line over ${MAX_LINE} bytes`);
  }

  line(line) {
    if (line === '') {
      if (this.data.length > 0) this.onEvent({ event: this.event || 'message', data: this.data.join('\n') });
      this.event = '';
      this.data = [];
      return;
    }
    if (line.startsWith(':')) return;
    const c = line.indexOf(':');
    const field = c < 0 ? line : line.slice(0, c);
    let value = c < 0 ? '' : line.slice(c + 1);
    if (value.startsWith(' ')) value = value.slice(1);
    if (field === 'event') this.event = value;
    else if (field === 'data') this.data.push(value);
  }
}

/**
 * stream reads one event stream until it ends; onOpen runs when the
 * controller accepted it, onEvent for each event with its data parsed as
 * JSON.
 */
export async function stream(path, { onOpen, onEvent, signal }) {
  const r = await fetch(path, { headers: headers('text/event-stream'), signal, cache: 'no-store' });
  if (r.status === 401) throw new Unauthorized();
  if (!r.ok) throw new ApiError(r.status, await problem(r));
  if (onOpen) onOpen();
  const parser = new SSEParser((ev) => {
    let data;
    try {
      data = JSON.parse(ev.data);
    } catch {
      return; // not ours: skip it
    }
    onEvent(ev.event, data);
  });
  const reader = r.body.pipeThrough(new TextDecoderStream()).getReader();
  for (;;) {
    const { value, done } = await reader.read();
    if (done) return;
    parser.push(value);
  }
}

/**
 * follow keeps a stream open: it reconnects after an error or an end,
 * waiting longer each time (up to 10 s), until signal aborts. onState gets
 * true while connected; onUnauthorized runs (and follow stops) on a 401.
 */
export async function follow(path, { onOpen, onEvent, onState, onUnauthorized, signal }) {
  let wait = 500;
  while (!signal.aborted) {
    try {
      await stream(path, {
        signal, onEvent,
        onOpen: () => { wait = 500; if (onState) onState(true); if (onOpen) onOpen(); },
      });
    } catch (err) {
      if (err instanceof Unauthorized) {
        if (onUnauthorized) onUnauthorized();
        return;
      }
      if (signal.aborted) return;
    }
    if (onState) onState(false);
    await new Promise((resolve) => setTimeout(resolve, wait));
    wait = Math.min(wait * 2, 10000);
  }
}
