// The dashboard: a token gate, a hash router over the views, and one live
// event stream that refreshes the view on screen whenever anything happens.

import { takeToken, token, forgetToken, follow, Unauthorized } from './api.js';
import { h } from './dom.js';
import * as views from './views.js';
import * as ops from './ops.js';

const $ = (id) => document.getElementById(id);
const main = $('main');
let current = null;
let ticker = null;

function gate(title, text) {
  if (current) current.abort.abort();
  if (ticker) ticker.abort();
  current = null;
  ticker = null;
  $('shell').hidden = true;
  $('gate').hidden = false;
  $('gate-title').textContent = title;
  $('gate-text').textContent = text;
  document.title = 'Shoal: ' + title;
}

function refused() {
  forgetToken();
  gate('Token refused', 'The controller refused this token (401 Unauthorized). It may be mistyped or the cluster\'s token may have changed.');
}

function env(abort) {
  return {
    signal: abort.signal,
    refused,
    title: (t) => { document.title = t + ' · Shoal'; },
    show: (nodes) => { if (!abort.signal.aborted) main.replaceChildren(...[nodes].flat(Infinity).filter((n) => n !== null && n !== undefined && n !== false)); },
    fail: (err) => {
      if (abort.signal.aborted) return;
      if (err instanceof Unauthorized) { refused(); return; }
      const box = h('div', { class: 'error' }, 'The controller answered: ' + err.message);
      main.prepend(box);
    },
  };
}

function route() {
  if (!token()) {
    gate('No token', 'This dashboard needs the controller\'s bearer token.');
    return;
  }
  if (current) current.abort.abort();
  const abort = new AbortController();
  const e = env(abort);
  main.replaceChildren();
  const hash = location.hash.replace(/^#\/?/, '');
  const [path, query = ''] = hash.split('?', 2);
  const parts = path.split('/').map(decodeURIComponent);
  let view;
  let nav = 'overview';
  switch (parts[0]) {
    case 'apps': view = views.app(e, parts[1] || ''); break;
    case 'instances': view = views.instance(e, parts[1] || ''); break;
    case 'nodes': view = views.node(e, parts[1] || ''); break;
    case 'events': view = views.events(e, query); nav = 'events'; break;
    case 'incidents': view = ops.incidents(e); nav = 'incidents'; break;
    case 'inspection': view = ops.inspection(e); nav = 'inspection'; break;
    case 'ranking': view = ops.ranking(e, query); nav = 'ranking'; break;
    case 'usage': view = ops.usage(e); nav = 'usage'; break;
    default: view = views.overview(e);
  }
  for (const a of document.querySelectorAll('[data-nav]')) a.classList.toggle('on', a.dataset.nav === nav);
  current = { abort, view };
  view.start();
  window.scrollTo(0, 0);
}

let pending = null;
function refreshSoon() {
  if (pending) return;
  pending = setTimeout(() => {
    pending = null;
    if (current) current.view.refresh();
  }, 250);
}

function start() {
  if (!token()) { route(); return; }
  $('gate').hidden = true;
  $('shell').hidden = false;
  ticker = new AbortController();
  const live = $('live');
  let opened = false;
  // Only new events: each one means something changed.
  follow('/v1/events/stream?since=0s', {
    signal: ticker.signal,
    onUnauthorized: refused,
    onState: (on) => { live.classList.toggle('on', on); live.textContent = on ? 'live' : 'reconnecting…'; },
    // A reconnect may have missed events: look again. The first open
    // comes while the view is still loading.
    onOpen: () => { if (opened) refreshSoon(); opened = true; },
    onEvent: refreshSoon,
  });
  route();
}

window.addEventListener('hashchange', () => {
  if (takeToken()) { if (ticker) ticker.abort(); ticker = null; start(); return; }
  route();
});
// Node liveness changes without an event when a lease runs out: look again
// every few seconds too.
setInterval(() => { if (!document.hidden) refreshSoon(); }, 5000);
takeToken();
start();
