// The cluster map: racks, their nodes and each node's containers as small
// squares coloured by health. Up to COMPACT_AT nodes each node is a card
// with its meters; from COMPACT_AT on each node is a compact square and the
// map is paged, filtered and can show only the nodes in trouble, so a
// thousand nodes stay readable and quick to draw.

import { h, bar, bytes, cpus } from './dom.js';
import { nodeStatus, simBadge } from './nodes.js';

/** COMPACT_AT is the node count from which the map is compact and paged. */
export const COMPACT_AT = 48;
/** PAGE is how many nodes a page of the compact map shows. */
export const PAGE = 240;
// A compact node shows at most this many containers, then "+N".
const MAX_SQUARES = 48;

const enc = encodeURIComponent;

/** health of an instance: ok (running and ready), warn (running, not
 * ready), info (on its way: pending, creating, not reported), bad (failed,
 * crash loop), off (stopped). */
export function instanceHealth(v) {
  const phase = v.status?.phase;
  switch (phase) {
    case 'Running': return v.ready ? 'ok' : 'warn';
    case 'CrashLoop': case 'Failed': return 'bad';
    case 'Stopped': return 'off';
    default: return 'info';
  }
}

/** nodeHealth: bad when its report timed out or a container failed, warn
 * when cordoned, draining, nearly full (90%) or a container is not ready,
 * else ok. */
export function nodeHealth(n, list) {
  if (!n.live) return 'bad';
  const hs = list.map(instanceHealth);
  if (hs.includes('bad')) return 'bad';
  const cap = n.node?.capacity || {};
  const full = (cap.cpus > 0 && n.allocated_cpus / cap.cpus >= 0.9) || (cap.memory_bytes > 0 && n.allocated_memory_bytes / cap.memory_bytes >= 0.9);
  if (n.cordon || full || hs.includes('warn')) return 'warn';
  return 'ok';
}

function square(v, link) {
  const health = instanceHealth(v);
  if (!link) {
    // A compact node's squares: the node's title tells them apart, and
    // thousands of them are made on every page.
    const i = document.createElement('i');
    i.className = 'ct ' + health;
    return i;
  }
  const title = `${v.desired.id} (${v.desired.app}): ${v.status?.phase || 'not reported'}${v.ready ? ', ready' : ''}`;
  return h('a', { class: 'ct ' + health, href: '#/instances/' + enc(v.desired.id), title, dataset: { instance: v.desired.id } });
}

function meter(label, used, total, text) {
  return h('div', { class: 'meter' }, h('span', {}, label), bar(used, total), h('span', { class: 'v' }, text));
}

/** nodeCard is a node with its meters and its containers. */
export function nodeCard(n, list) {
  const cap = n.node?.capacity || {};
  const cls = 'node' + (n.live ? '' : ' lost') + (n.cordon ? ' cordoned' : '');
  return h('div', { class: cls, dataset: { node: n.name, health: nodeHealth(n, list || []) } },
    h('div', { class: 'node-h' },
      h('a', { class: 'name', href: '#/nodes/' + enc(n.name) }, n.name),
      n.node?.version === 'simulated' ? simBadge() : null,
      nodeStatus(n)),
    meter('CPU', n.allocated_cpus, cap.cpus, `${cpus(n.allocated_cpus)} / ${cpus(cap.cpus)}`),
    meter('Mem', n.allocated_memory_bytes, cap.memory_bytes, `${bytes(n.allocated_memory_bytes)} / ${bytes(cap.memory_bytes)}`),
    h('div', { class: 'meter' }, h('span', {}, 'Inst'), h('span', { class: 'muted' }, `${n.instances} instance${n.instances === 1 ? '' : 's'}`),
      h('span', { class: 'v muted' }, n.node?.addr || '')),
    list ? h('div', { class: 'cts' }, list.map((v) => square(v, true))) : null);
}

function compactNode(n, list) {
  const health = nodeHealth(n, list);
  const cap = n.node?.capacity || {};
  const by = { ok: 0, warn: 0, info: 0, bad: 0, off: 0 };
  for (const v of list) by[instanceHealth(v)]++;
  const title = `${n.name} · rack ${n.node?.rack || '—'} · ${n.live ? (n.cordon ? n.cordon === 'drain' ? 'draining' : 'cordoned' : 'live') : 'data report timed out'}` +
    ` · CPU ${cpus(n.allocated_cpus)}/${cpus(cap.cpus)} · ${list.length} container${list.length === 1 ? '' : 's'}` +
    (by.ok === list.length ? '' : ` (${by.ok} running, ${by.warn} not ready, ${by.info} on the way, ${by.bad} failed, ${by.off} stopped)`);
  const shown = list.slice(0, MAX_SQUARES);
  return h('a', { class: 'cnode ' + health + (n.cordon ? ' cordoned' : ''), href: '#/nodes/' + enc(n.name), title, dataset: { node: n.name, health } },
    h('span', { class: 'cname' }, n.name),
    h('span', { class: 'cts' }, shown.map((v) => square(v, false)), list.length > shown.length ? h('span', { class: 'more' }, `+${list.length - shown.length}`) : null));
}

function byRack(nodes) {
  const by = new Map();
  for (const n of nodes) {
    const rack = n.node?.rack || 'no rack reported';
    if (!by.has(rack)) by.set(rack, { switches: new Set(), nodes: [] });
    const r = by.get(rack);
    if (n.node?.switch) r.switches.add(n.node.switch);
    r.nodes.push(n);
  }
  return [...by.keys()].sort().map((name) => ({ name, ...by.get(name) }));
}

function rackSection(r, body, compact) {
  const sw = [...r.switches].join(', ');
  return h('section', { class: 'rack' + (compact ? ' compact' : ''), dataset: { rack: r.name } },
    h('div', { class: 'rack-h' }, h('span', {}, 'Rack ', h('b', {}, r.name)), h('span', {}, sw ? 'switch ' + sw : '')), body);
}

const legend = () => h('div', { class: 'legend' },
  [['ok', 'running, ready'], ['warn', 'not ready, cordoned or ≥90% allocated'], ['info', 'pending, creating'], ['bad', 'failed, crash loop, report timed out'], ['off', 'stopped']]
    .map(([c, text]) => h('span', {}, h('i', { class: 'ct ' + c }), text)));

/**
 * mapView makes the map and its state (page, filter, problems only), kept
 * across refreshes: render(nodes, byNode) draws nodes with their instances
 * (grouped by node) and returns the map's element. A page flip or a filter
 * draws the map again from the same data, not the whole page.
 */
export function mapView() {
  const st = { page: 0, filter: '', problems: false };
  let nodes = [];
  let byNode = new Map();
  const again = () => fill();
  const filterInput = h('input', {
    id: 'map-filter', type: 'search', placeholder: 'node or rack', autocomplete: 'off', spellcheck: 'false',
    oninput: () => { st.filter = filterInput.value.trim(); st.page = 0; again(); },
  });
  const problems = h('input', { id: 'map-problems', type: 'checkbox', onchange: () => { st.problems = problems.checked; st.page = 0; again(); } });
  const go = (d) => () => { st.page += d; again(); };
  const counts = h('span', { class: 'muted', id: 'map-counts' });
  const prev = h('button', { type: 'button', id: 'map-prev', onclick: go(-1) }, '‹ Prev');
  const next = h('button', { type: 'button', id: 'map-next', onclick: go(1) }, 'Next ›');
  const pageText = h('span', { id: 'map-page' });
  const bar = h('div', { class: 'map-bar' },
    h('label', {}, 'Find ', filterInput),
    h('label', { class: 'check' }, problems, ' only nodes in trouble'),
    counts, h('span', { class: 'pager' }, prev, pageText, next));
  const racksBox = h('div', { class: 'racks' });
  const box = h('div', { class: 'map' }, bar, legend(), racksBox);

  function fill() {
    const listOf = (n) => byNode.get(n.name) || [];
    const compact = nodes.length >= COMPACT_AT;
    box.classList.toggle('compact', compact);
    racksBox.classList.toggle('compact', compact);
    bar.hidden = !compact;
    if (!compact) {
      racksBox.replaceChildren(...byRack(nodes).map((r) => rackSection(r, r.nodes.map((n) => nodeCard(n, listOf(n))), false)));
      return;
    }
    const f = st.filter.toLowerCase();
    const shown = nodes.filter((n) => (!f || n.name.toLowerCase().includes(f) || (n.node?.rack || '').toLowerCase().includes(f)) &&
      (!st.problems || nodeHealth(n, listOf(n)) !== 'ok'));
    const pages = Math.max(1, Math.ceil(shown.length / PAGE));
    st.page = Math.max(0, Math.min(st.page, pages - 1));
    const from = st.page * PAGE;
    const page = shown.slice(from, from + PAGE);
    const c = { ok: 0, warn: 0, bad: 0 };
    for (const n of nodes) c[nodeHealth(n, listOf(n))]++;
    counts.textContent = `${c.ok} healthy · ${c.warn} warning · ${c.bad} in trouble`;
    pageText.textContent = shown.length ? `nodes ${from + 1}–${from + page.length} of ${shown.length} · page ${st.page + 1} of ${pages}` : 'no node matches';
    prev.disabled = st.page === 0;
    next.disabled = st.page >= pages - 1;
    racksBox.replaceChildren(...byRack(page).map((r) => rackSection(r, h('div', { class: 'cnodes' }, r.nodes.map((n) => compactNode(n, listOf(n)))), true)));
  }

  return {
    render(ns, bn) {
      nodes = ns;
      byNode = bn;
      fill();
      return box;
    },
  };
}

/** groupByNode groups instances by their node. */
export function groupByNode(instances) {
  const m = new Map();
  for (const v of instances) {
    const k = v.desired.node;
    if (!m.has(k)) m.set(k, []);
    m.get(k).push(v);
  }
  return m;
}
