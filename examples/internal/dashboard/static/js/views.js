// The pages: each view loads what it shows from the API and renders it
// again on refresh (the app calls refresh when an event lands).

import { get, getOrNull, post, follow, ApiError } from './api.js';
import { loaded, appRef, instRef, reqRef } from './view.js';
import { h, badge, bar, bytes, cpus, ago, clock, table, confirmAction } from './dom.js';
import { remember, nodeRef, nodeStatus, phaseBadge, rolloutBadge, simBadge } from './nodes.js';
import { mapView, groupByNode, nodeCard } from './map.js';
import { timeline } from './timeline.js';

const enc = encodeURIComponent;

function tile(n, label, bad) {
  return h('div', { class: 'tile' + (bad ? ' bad' : '') }, h('div', { class: 'n' }, n), h('div', { class: 'l' }, label));
}

function appsTable(apps) {
  return table(['App', 'Team', 'Image', 'Ready / replicas', 'Rollout', 'Gen', 'Updated', 'Request'],
    apps.map((a) => h('tr', { dataset: { app: a.spec.name } },
      h('td', {}, h('b', {}, appRef(a.spec.name))),
      h('td', {}, a.spec.team),
      h('td', { class: 'mono' }, a.spec.image),
      h('td', {}, h('div', { class: 'progress' }, bar(a.ready, a.spec.replicas, true),
        h('span', { class: 'ready num' }, `${a.ready} / ${a.spec.replicas}`))),
      h('td', {}, rolloutBadge(a.rollout)),
      h('td', { class: 'num' }, a.generation),
      h('td', { class: 'muted' }, ago(a.updated_at)),
      h('td', {}, reqRef(a.request_id)))),
    'No apps deployed.');
}

function ranking(nodes) {
  const frac = (u, t) => (t > 0 ? u / t : 0);
  const live = nodes.filter((n) => n.node);
  const top = live.map((n) => ({ n, cpu: frac(n.allocated_cpus, n.node.capacity.cpus), mem: frac(n.allocated_memory_bytes, n.node.capacity.memory_bytes) }))
    .sort((a, b) => Math.max(b.cpu, b.mem) - Math.max(a.cpu, a.mem) || a.n.name.localeCompare(b.n.name)).slice(0, 5);
  return table(['#', 'Node', 'CPU allocated', 'Memory allocated', 'Instances'],
    top.map((t, i) => h('tr', {},
      h('td', { class: 'num' }, i + 1), h('td', {}, nodeRef(t.n.name)),
      h('td', { class: 'num' }, `${Math.round(100 * t.cpu)}%`), h('td', { class: 'num' }, `${Math.round(100 * t.mem)}%`),
      h('td', { class: 'num' }, t.n.instances))), 'No nodes report.');
}

/** troubleTiles are the overview's tiles of open incidents and of
 * members that failed the last inspection round, links to their pages,
 * read after the page is drawn (alertcorr is another service: a slow one
 * must not hold the overview), keeping their last figures meanwhile. */
let noAlerts = '';

function troubleTiles() {
  const make = (id, href, label) => {
    const n = h('div', { class: 'n' }, '…');
    const el = h('a', { class: 'tile link', id, href }, n, h('div', { class: 'l' }, label));
    return { el, set: (text, bad, title) => { n.textContent = text; el.classList.toggle('bad', bad); el.title = title || ''; } };
  };
  const inc = make('tile-incidents', '#/incidents', 'open incidents');
  const insp = make('tile-inspection', '#/inspection', 'nodes failing inspection');
  return {
    incidents: inc.el,
    inspection: insp.el,
    update(signal) {
      if (noAlerts) inc.set('—', false, noAlerts);
      else {
        get('/v1/incidents', signal).then((d) => inc.set(String((d.open || []).length), (d.open || []).length > 0), (err) => {
          if (signal.aborted) return;
          // A controller without alert correlation says so with a 503:
          // asked once a page load, not on every refresh.
          if (err instanceof ApiError && err.status === 503) noAlerts = err.problem.detail || err.message;
          inc.set('—', false, err.message);
        });
      }
      get('/v1/inspection', signal).then((d) => {
        const c = d.report?.counts || {};
        const bad = (c.failed || 0) + (c.dead || 0) + (c.unreachable || 0) + (c.silent || 0) + (c.stale || 0);
        insp.set(d.report ? String(bad) : '—', bad > 0, d.report ? `${c.failed || 0} failed, ${c.dead || 0} dead, ${c.unreachable || 0} unreachable, ${c.silent || 0} silent, ${c.stale || 0} stale` : 'no round reported yet');
      }, (err) => { if (!signal.aborted) insp.set('—', false, err.message); });
    },
  };
}

/** overview: tiles, the map of racks, nodes and containers, the apps, the
 * fullest nodes. */
export function overview(env) {
  env.title('Overview');
  const map = mapView();
  // The instances (20,000 in a big cluster) come after the nodes: the map
  // is drawn with the nodes first and gets its containers when they land.
  let byNode = new Map();
  let seen = false;
  const opsTiles = troubleTiles();
  return loaded(env, async (signal) => {
    const instances = get('/v1/instances', signal);
    instances.catch(() => {}); // a failure is reported by after
    const [nodes, apps] = await Promise.all([get('/v1/nodes', signal), get('/v1/apps', signal)]);
    return { nodes: remember(nodes || []), apps: apps || [], instances };
  }, ({ nodes, apps }) => {
    const lost = nodes.filter((n) => !n.live).length;
    const sim = nodes.filter((n) => n.node?.version === 'simulated').length;
    const ready = apps.reduce((s, a) => s + a.ready, 0);
    const inst = apps.reduce((s, a) => s + a.instances, 0);
    const cap = nodes.reduce((s, n) => s + (n.live ? n.node?.capacity?.cpus || 0 : 0), 0);
    const alloc = nodes.reduce((s, n) => s + n.allocated_cpus, 0);
    return [
      h('h1', {}, 'Cluster overview'),
      h('p', { class: 'sub' }, sim > 0 ? [simBadge(), ` ${sim} of ${nodes.length} nodes are simulated: they run no containers.`] : 'Nodes, their racks and switches, and the apps placed on them.'),
      h('div', { class: 'tiles' },
        tile(`${nodes.length - lost} / ${nodes.length}`, 'nodes live'),
        tile(lost, 'data report timed out', lost > 0),
        tile(nodes.filter((n) => n.cordon).length, 'cordoned'),
        tile(apps.length, 'apps'),
        tile(`${ready} / ${inst}`, 'instances ready', ready < inst),
        tile(`${cpus(alloc)} / ${cpus(cap)}`, 'CPUs allocated'),
        opsTiles.incidents, opsTiles.inspection),
      h('h2', {}, 'Racks, nodes and containers'),
      map.render(nodes, byNode),
      h('h2', {}, 'Apps'), appsTable(apps),
      h('h2', {}, 'Most allocated nodes'), ranking(nodes),
    ];
  }, ({ nodes, instances }) => {
    opsTiles.update(env.signal);
    instances.then((list) => {
      if (env.signal.aborted) return;
      byNode = groupByNode(list || []);
      map.render(nodes, byNode);
      if (!seen) performance.mark('shoal:containers');
      seen = true;
    }, env.fail);
  });
}

function instancesTable(list, { showApp } = {}) {
  return table(['Instance', showApp ? 'App' : null, 'Node', 'Address', 'Phase', 'Restarts', 'Reason', 'Gen'].filter((c) => c),
    list.map((v) => {
      const d = v.desired;
      const st = v.status;
      return h('tr', { dataset: { instance: d.id } },
        h('td', {}, instRef(d.id)),
        showApp ? h('td', {}, appRef(d.app)) : null,
        h('td', {}, nodeRef(d.node)),
        h('td', { class: 'mono' }, d.network?.ip || st?.ip || (d.kind === 'thin' ? 'host network' : '')),
        h('td', {}, phaseBadge(st?.phase), v.ready ? null : ' ', v.ready ? null : badge('not ready', 'warn')),
        h('td', { class: 'num' }, st?.restarts ?? ''),
        h('td', {}, st?.reason ? h('span', { title: st.message || '' }, st.reason) : h('span', { class: 'muted' }, st?.message || '')),
        h('td', { class: 'num' }, d.generation));
    }), 'No instances.');
}

function eventRows(events) {
  return events.map((e) => h('tr', { class: 'prio-' + e.priority, dataset: { request: e.request_id || '' } },
    h('td', { class: 'mono muted' }, clock(e.time)),
    h('td', {}, badge(e.priority, { warning: 'warn', error: 'bad', info: 'info' }[e.priority])),
    h('td', {}, h('b', {}, e.kind)),
    h('td', {}, appRef(e.app)),
    h('td', {}, instRef(e.instance)),
    h('td', {}, nodeRef(e.node)),
    h('td', {}, reqRef(e.request_id)),
    h('td', { class: 'muted' }, e.publisher),
    h('td', { class: 'msg' }, e.reason ? [badge(e.reason, e.priority === 'info' ? '' : 'warn'), ' '] : null, e.message || '')));
}

const eventColumns = ['Time', 'Priority', 'Kind', 'App', 'Instance', 'Node', 'Request', 'By', 'Message'];

function recentEvents(events, href) {
  return [h('h2', {}, 'Recent events ', h('a', { href, class: 'muted' }, '(all, live)')),
    table(eventColumns, eventRows(events.slice().reverse()), 'No events.')];
}

/** app: one app's spec, instances, endpoints (a live stream) and events. */
export function app(env, name) {
  env.title(name);
  let endpoints = null;
  const endpointsBox = h('div', {});
  const drawEndpoints = () => {
    endpointsBox.replaceChildren(endpoints === null ? h('div', { class: 'card' }, h('div', { class: 'empty' }, 'Connecting…'))
      : table(['Instance', 'Node', 'IP', 'Port'], endpoints.map((e) => h('tr', {},
        h('td', {}, instRef(e.instance)), h('td', {}, nodeRef(e.node)), h('td', { class: 'mono' }, e.ip), h('td', { class: 'num' }, e.port || ''))),
      'No ready instance.'));
  };
  follow('/v1/apps/' + enc(name) + '/endpoints?watch=1', {
    signal: env.signal, onUnauthorized: env.refused,
    onEvent: (kind, data) => { endpoints = kind === 'endpoints' ? data : []; drawEndpoints(); },
  });
  drawEndpoints();
  // The chart library loads with the first app page, not with the overview.
  const charts = import('./chart.js');
  let chart = null;
  env.signal.addEventListener('abort', () => { if (chart) chart.destroy(); });
  const approve = async (p) => {
    const ok = await confirmAction('Approve scaling?', `Scale ${name} from ${p.current} to ${p.desired} replicas, as the autoscaler proposes: ${p.reason}`, `Scale to ${p.desired}`);
    if (!ok) return;
    try {
      await post('/v1/apps/' + enc(name) + '/proposal/approve');
      view.refresh();
    } catch (err) {
      env.fail(err);
    }
  };
  const view = loaded(env, async (signal) => {
    const { appChart, scaleDecisions, decisionsTable, SCALE_KINDS } = await charts;
    if (!chart) chart = appChart();
    const [a, instances, events, nodes, history, proposal] = await Promise.all([
      get('/v1/apps/' + enc(name), signal), get('/v1/instances?app=' + enc(name), signal),
      get('/v1/events?limit=30&app=' + enc(name), signal), get('/v1/nodes', signal),
      get('/v1/apps/' + enc(name) + '/history', signal), getOrNull('/v1/apps/' + enc(name) + '/proposal', signal)]);
    remember(nodes || []);
    // The scaling decisions over the chart's time, and the last ones before.
    const since = history.samples.length ? '&since=' + enc(history.samples[0].at) : '';
    const all = await get('/v1/events?limit=5000&app=' + enc(name) + since, signal);
    const decisions = scaleDecisions((all || []).filter((e) => SCALE_KINDS.has(e.kind)));
    return { a, instances: instances || [], events: events || [], history, proposal, decisions, decisionsTable };
  }, ({ a, instances, events, history, proposal, decisions, decisionsTable }) => {
    const s = a.spec;
    const res = s.resources || {};
    return [
      h('h1', {}, s.name, ' ', rolloutBadge(a.rollout)),
      h('p', { class: 'sub' }, `team ${s.team} · generation ${a.generation} · ${a.ready} of ${s.replicas} ready · updated ${ago(a.updated_at)}`),
      a.rollout?.message ? h('div', { class: a.rollout.phase === 'RolledBack' ? 'error' : 'sub' }, a.rollout.message) : null,
      h('div', { class: 'grid2' },
        h('div', { class: 'card' }, h('dl', { class: 'kv' },
          h('dt', {}, 'Image'), h('dd', { class: 'mono' }, s.image),
          h('dt', {}, 'Kind'), h('dd', {}, s.kind || 'fat'),
          h('dt', {}, 'Per instance'), h('dd', {}, `${cpus(res.cpus)} CPU · ${bytes(res.memory_bytes)}`),
          h('dt', {}, 'Network'), h('dd', {}, s.network ? `VLAN ${s.network.vlan}${s.network.port ? ', port ' + s.network.port : ''}` : 'host'),
          h('dt', {}, 'Autoscale'), h('dd', {}, s.autoscale ? `${s.autoscale.min}–${s.autoscale.max}${s.autoscale.approve ? ', approved by people' : ''}` : 'off'),
          h('dt', {}, 'Last request'), h('dd', {}, reqRef(a.request_id)))),
        h('div', {}, h('h2', { style: 'margin-top:0' }, 'Endpoints ', h('span', { class: 'muted' }, '(live)')), endpointsBox)),
      proposal ? h('div', { class: 'proposal', id: 'proposal' },
        h('div', {}, h('b', {}, `The autoscaler proposes ${proposal.current} → ${proposal.desired} replicas`),
          h('div', { class: 'muted' }, `${proposal.reason} · proposed ${ago(proposal.proposed)}, waiting for approval`)),
        h('button', { type: 'button', class: 'primary', id: 'approve', onclick: () => approve(proposal) }, 'Approve')) : null,
      h('h2', {}, 'Replicas and load ', h('span', { class: 'muted' }, `(every ${history.interval_seconds} s, ${history.samples.length} samples; marks are scaling decisions)`)),
      h('div', { class: 'card chart-card' }, chart.box),
      h('h2', {}, 'Scaling decisions'),
      decisionsTable(decisions.filter((d) => d.kind !== 'AutoscaleHeld' || d === decisions[decisions.length - 1]), reqRef),
      h('h2', {}, 'Instances'),
      instancesTable(instances),
      recentEvents(events, '#/events?app=' + enc(name)),
    ];
  }, ({ history, decisions }) => chart.update(history, decisions));
  return view;
}

/** instance: one instance, desired and reported, and its events. */
export function instance(env, id) {
  env.title(id);
  return loaded(env, async (signal) => {
    const [v, events, nodes] = await Promise.all([get('/v1/instances/' + enc(id), signal),
      get('/v1/events?limit=2000&instance=' + enc(id), signal), get('/v1/nodes', signal)]);
    remember(nodes || []);
    return { v, events: events || [] };
  }, ({ v, events }) => {
    const d = v.desired;
    const st = v.status || {};
    const res = d.resources || {};
    return [
      h('h1', { class: 'mono' }, d.id, ' ', phaseBadge(st.phase)),
      h('p', { class: 'sub' }, 'instance of ', appRef(d.app), ' on ', nodeRef(d.node), ` · generation ${d.generation}`),
      h('div', { class: 'grid2' },
        h('div', {}, h('h2', {}, 'Desired'), h('div', { class: 'card' }, h('dl', { class: 'kv' },
          h('dt', {}, 'Image'), h('dd', { class: 'mono' }, d.image),
          h('dt', {}, 'Command'), h('dd', { class: 'mono' }, (d.command || []).join(' ') || '—'),
          h('dt', {}, 'Resources'), h('dd', {}, `${cpus(res.cpus)} CPU · ${bytes(res.memory_bytes)}${res.pids ? ` · ${res.pids} pids` : ''}`),
          h('dt', {}, 'Address'), h('dd', { class: 'mono' }, d.network ? `${d.network.ip} VLAN ${d.network.vlan}` : 'host network'),
          h('dt', {}, 'Request'), h('dd', {}, reqRef(d.request_id))))),
        h('div', {}, h('h2', {}, 'Reported by the agent'), h('div', { class: 'card' }, h('dl', { class: 'kv' },
          h('dt', {}, 'Phase'), h('dd', {}, phaseBadge(st.phase), v.ready ? ' ready' : ' not ready'),
          h('dt', {}, 'Generation'), h('dd', {}, st.generation ?? '—'),
          h('dt', {}, 'PID'), h('dd', {}, st.pid || '—'),
          h('dt', {}, 'Started'), h('dd', {}, st.started_at ? ago(st.started_at) : '—'),
          h('dt', {}, 'Restarts'), h('dd', {}, st.restarts ?? '—'),
          h('dt', {}, 'Reason'), h('dd', {}, st.reason ? `${st.reason}${st.field ? ' (' + st.field + ')' : ''}` : '—'),
          h('dt', {}, 'Message'), h('dd', {}, st.message || '—'),
          h('dt', {}, 'Reported'), h('dd', {}, st.updated_at ? ago(st.updated_at) : 'never'))))),
      h('h2', {}, 'State over time'),
      timeline(events, v.status),
      recentEvents(events.slice(-50), '#/events?instance=' + enc(id)),
    ];
  });
}

const NODE_ACTIONS = [
  ['cordon', 'Cordon', () => 'The node takes no new instances; those on it keep running.', false],
  ['drain', 'Drain', (n) => `The node takes no new instances and its ${n} instance${n === 1 ? '' : 's'} are moved to other nodes.`, true],
  ['uncordon', 'Uncordon', () => 'The node takes new instances again.', false],
];

/** node: one node's report and what runs on it, with cordon, drain and
 * uncordon behind a confirmation. */
export function node(env, name) {
  env.title(name);
  const nodeAction = async (verb, label, text, danger) => {
    if (!await confirmAction(`${label} ${name}?`, text, label, danger)) return;
    try {
      await post('/v1/nodes/' + enc(name) + '/' + verb);
      view.refresh();
    } catch (err) {
      env.fail(err);
    }
  };
  const view = loaded(env, async (signal) => {
    const [nodes, instances, events] = await Promise.all([get('/v1/nodes', signal),
      get('/v1/instances?node=' + enc(name), signal), get('/v1/events?limit=30&node=' + enc(name), signal)]);
    return { n: remember(nodes || []).find((x) => x.name === name), instances: instances || [], events: events || [] };
  }, ({ n, instances, events }) => {
    if (!n) return [h('h1', {}, name), h('div', { class: 'error' }, 'The controller knows no such node.')];
    const r = n.node || {};
    return [
      h('div', { class: 'title-row' },
        h('h1', {}, name, ' ', r.version === 'simulated' ? simBadge() : null, ' ', nodeStatus(n)),
        h('div', { class: 'actions' }, NODE_ACTIONS.map(([verb, label, text, danger]) => h('button', {
          type: 'button', class: danger ? 'danger' : '', dataset: { action: verb },
          disabled: (verb === 'uncordon' && !n.cordon) || (verb === 'cordon' && n.cordon === 'cordon') || (verb === 'drain' && n.cordon === 'drain'),
          onclick: () => nodeAction(verb, label, text(instances.length), danger),
        }, label)))),
      h('p', { class: 'sub' }, n.remembered ? 'Its agent stopped reporting: this is its last report seen by this page.' : `agent ${r.version || ''} at ${r.addr || '—'}, up since ${r.started_at ? ago(r.started_at) : '—'}`),
      h('div', { class: 'grid2' },
        h('div', { class: 'card' }, h('dl', { class: 'kv' },
          h('dt', {}, 'Zone / room'), h('dd', {}, `${r.zone || '—'} / ${r.room || '—'}`),
          h('dt', {}, 'Rack / switch'), h('dd', {}, `${r.rack || '—'} / ${r.switch || '—'}`),
          h('dt', {}, 'Images'), h('dd', { class: 'mono' }, (r.images || []).join(', ') || '—'))),
        nodeCard(n, instances)),
      h('h2', {}, 'Instances'),
      instancesTable(instances, { showApp: true }),
      recentEvents(events, '#/events?node=' + enc(name)),
    ];
  });
  return view;
}

const FILTERS = [['request_id', 'Request id'], ['instance', 'Instance'], ['app', 'App'], ['node', 'Node']];
const MAX_ROWS = 2000;

/** events: the message-tracking list, live, filtered by request id,
 * instance, app or node. */
export function events(env, query) {
  env.title('Message tracking');
  const params = new URLSearchParams(query);
  const filter = new URLSearchParams();
  for (const [k] of FILTERS) if (params.get(k)) filter.set(k, params.get(k));
  const inputs = FILTERS.map(([k, label]) => h('label', {}, label, h('input', { name: k, value: filter.get(k) || '', autocomplete: 'off', spellcheck: 'false' })));
  const form = h('form', { class: 'filters', onsubmit: (e) => {
    e.preventDefault();
    const q = new URLSearchParams();
    for (const i of form.querySelectorAll('input')) if (i.value.trim()) q.set(i.name, i.value.trim());
    location.hash = '#/events' + (q.size ? '?' + q : '');
  } }, inputs, h('button', { class: 'primary', type: 'submit' }, 'Filter'),
  filter.size ? h('a', { href: '#/events', class: 'clear' }, 'Clear filters') : null);
  const count = h('span', { id: 'event-count', class: 'muted' }, '');
  const tbody = h('tbody', { id: 'events' });
  const box = h('div', { class: 'card' }, h('table', {}, h('thead', {}, h('tr', {}, eventColumns.map((c) => h('th', {}, c)))), tbody));
  const setCount = () => { count.textContent = `${tbody.children.length} event${tbody.children.length === 1 ? '' : 's'}, newest first`; };
  env.show([
    h('h1', {}, 'Message tracking'),
    h('p', { class: 'sub' }, filter.size ? ['Events where ', [...filter].map(([k, v], i) => [i ? ' and ' : '', k.replace('_', ' '), ' is ', h('b', { class: 'mono' }, v)]), '. ']
      : 'Every step of every request, as the controller and the agents record it. Click a request id to follow one request. ', count),
    form, box]);
  filter.set('limit', '500');
  return {
    start: () => follow('/v1/events/stream?' + filter, {
      signal: env.signal, onUnauthorized: env.refused,
      onOpen: () => { tbody.replaceChildren(); setCount(); },
      onEvent: (kind, e) => {
        if (kind !== 'event') return;
        tbody.prepend(...eventRows([e]));
        while (tbody.children.length > MAX_ROWS) tbody.lastChild.remove();
        setCount();
      },
    }),
    refresh: () => {},
  };
}
