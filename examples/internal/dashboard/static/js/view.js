// What every view shares: the load-and-render loop and links to the
// things the API names.

import { h } from './dom.js';

const enc = encodeURIComponent;
export const appRef = (name) => (name ? h('a', { href: '#/apps/' + enc(name) }, name) : '');
export const instRef = (id) => (id ? h('a', { href: '#/instances/' + enc(id), class: 'mono' }, id) : '');
export const reqRef = (id) => (id ? h('a', { href: '#/events?request_id=' + enc(id), class: 'reqid mono', title: 'show this request\'s events' }, id) : '');

/**
 * loaded makes a view from load (API calls → data) and render (data →
 * elements): a refresh while one runs is folded into one more run, and a
 * refresh waits at least twice as long as the last load took, so a big
 * cluster's page is not reloaded faster than it can be. after(data) runs
 * once the elements are on the page; redraw renders the last data again
 * (a filter or a page changed). The element with focus keeps it.
 */
export function loaded(env, load, render, after) {
  let busy = false;
  let again = false;
  let last = null;
  let took = 0;
  let ended = 0;
  const show = (data) => {
    const active = document.activeElement;
    const keep = active && active.id && active !== document.body ? { id: active.id, start: active.selectionStart, end: active.selectionEnd } : null;
    env.show(render(data));
    if (after) after(data);
    if (keep) {
      const el = document.getElementById(keep.id);
      if (el && el !== document.activeElement) {
        el.focus();
        if (keep.start !== null && keep.start !== undefined && el.setSelectionRange) el.setSelectionRange(keep.start, keep.end);
      }
    }
  };
  const refresh = async () => {
    if (busy) { again = true; return; }
    busy = true;
    try {
      do {
        again = false;
        const pause = ended + 2 * took - performance.now();
        if (pause > 0) await new Promise((resolve) => setTimeout(resolve, pause));
        const t0 = performance.now();
        const data = await load(env.signal);
        if (env.signal.aborted) return;
        const first = last === null;
        last = data;
        show(data);
        // User timing for the benchmarks: when a view first drew its data.
        if (first) performance.mark('shoal:drawn');
        ended = performance.now();
        took = ended - t0;
      } while (again);
    } catch (err) {
      env.fail(err);
    } finally {
      busy = false;
    }
  };
  return { start: refresh, refresh, redraw: () => { if (last) show(last); } };
}

/** every refreshes a view every ms while it is on screen (what changes
 * without an event: incidents, inspection rounds, measurements). */
export function every(env, view, ms) {
  const id = setInterval(() => { if (!document.hidden) view.refresh(); }, ms);
  env.signal.addEventListener('abort', () => clearInterval(id));
  return view;
}
