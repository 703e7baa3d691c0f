// Small helpers to build the page: elements are made with h(), never from
// HTML strings, so nothing the API returns can turn into markup.

/** h makes an element: h('a', {href: '#/'}, 'text', child, [more]). */
export function h(tag, attrs, ...children) {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === undefined || v === null || v === false) continue;
    if (k === 'class') el.className = v;
    else if (k.startsWith('on')) el.addEventListener(k.slice(2), v);
    else if (k === 'dataset') Object.assign(el.dataset, v);
    else el.setAttribute(k, v === true ? '' : v);
  }
  append(el, children);
  return el;
}

function append(el, children) {
  for (const c of children) {
    if (c === undefined || c === null || c === false) continue;
    if (Array.isArray(c)) append(el, c);
    else el.append(c instanceof Node ? c : String(c));
  }
}

export const badge = (text, kind, title) => h('span', { class: 'badge ' + (kind || ''), title }, text);

/** bar is a meter of used against total: green, amber from 70%, red from
 * 90%; with fill, a progress towards total: green when full, amber short. */
export function bar(used, total, fill) {
  const pct = total > 0 ? Math.min(100, (100 * used) / total) : 0;
  const cls = fill ? (pct >= 100 ? 'bar' : 'bar warn') : pct >= 90 ? 'bar bad' : pct >= 70 ? 'bar warn' : 'bar';
  return h('div', { class: cls, role: 'meter', 'aria-valuenow': Math.round(pct) }, h('span', { style: `width:${pct.toFixed(1)}%` }));
}

export function bytes(n) {
  if (!n) return '0';
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];
  let i = 0;
  while (n >= 1024 && i < units.length - 1) { n /= 1024; i++; }
  return `${n >= 10 || i === 0 ? Math.round(n) : n.toFixed(1)} ${units[i]}`;
}

export function cpus(n) {
  return (Math.round((n || 0) * 100) / 100).toString();
}

/** ago says how long ago an RFC 3339 time was, "12s ago". */
export function ago(t) {
  if (!t) return '';
  const s = Math.max(0, (Date.now() - Date.parse(t)) / 1000);
  if (s < 60) return `${Math.round(s)}s ago`;
  if (s < 3600) return `${Math.round(s / 60)}m ago`;
  if (s < 86400) return `${Math.round(s / 3600)}h ago`;
  return `${Math.round(s / 86400)}d ago`;
}

export function clock(t) {
  if (!t) return '';
  const d = new Date(t);
  return d.toLocaleTimeString([], { hour12: false }) + '.' + String(d.getMilliseconds()).padStart(3, '0');
}

export function table(columns, rows, empty) {
  if (rows.length === 0) return h('div', { class: 'card' }, h('div', { class: 'empty' }, empty || 'Nothing yet.'));
  return h('div', { class: 'card' }, h('table', {},
    h('thead', {}, h('tr', {}, columns.map((c) => h('th', {}, c)))),
    h('tbody', {}, rows)));
}

/**
 * confirmAction asks before a change: a modal dialog saying what will
 * happen, resolved true on its confirm button, false on Cancel or Escape.
 */
export function confirmAction(title, text, okLabel, danger) {
  return new Promise((resolve) => {
    const dlg = h('dialog', { class: 'confirm', 'aria-label': title },
      h('h2', {}, title), h('p', {}, text),
      h('div', { class: 'actions' },
        h('button', { type: 'button', class: 'cancel', onclick: () => dlg.close('cancel') }, 'Cancel'),
        h('button', { type: 'button', class: danger ? 'danger' : 'primary', 'data-confirm': true, onclick: () => dlg.close('ok') }, okLabel)));
    dlg.addEventListener('close', () => { dlg.remove(); resolve(dlg.returnValue === 'ok'); });
    document.body.append(dlg);
    dlg.showModal();
  });
}

/** num formats a number with at most digits decimals, no trailing zeros. */
export function num(n, digits = 2) {
  if (n === null || n === undefined || Number.isNaN(n)) return '—';
  const f = 10 ** digits;
  return (Math.round(n * f) / f).toString();
}
