// The operator's pages: incidents (from alertcorr, through the
// controller), the last inspection round with fixes, the busiest and
// idlest ranking, and usage by team and app.

import { get, post, ApiError } from './api.js';
import { h, badge, bar, bytes, ago, clock, table, num, confirmAction } from './dom.js';
import { nodeRef } from './nodes.js';
import { loaded, every, appRef, instRef, reqRef } from './view.js';

const enc = encodeURIComponent;

// unavailable shows what the controller said when a source is missing (no
// alert correlation configured, nothing measured yet) instead of failing.
async function orUnavailable(p) {
  try {
    return { data: await p };
  } catch (err) {
    if (err instanceof ApiError && err.status === 503) return { unavailable: err.problem.detail || err.message };
    throw err;
  }
}

const unavailableBox = (text) => h('div', { class: 'card' }, h('div', { class: 'empty', id: 'unavailable' }, 'The controller says: ' + text));

function entityRef(e) {
  if (!e) return '';
  const label = `${e.Kind} ${e.ID}`;
  switch (e.Kind) {
    case 'host': return h('a', { href: '#/nodes/' + enc(e.ID) }, label);
    case 'app': return h('a', { href: '#/apps/' + enc(e.ID) }, label);
    case 'container': return h('a', { href: '#/instances/' + enc(e.ID) }, label);
    default: return label;
  }
}

const ENTITY_LABELS = ['datacenter', 'room', 'rack', 'switch', 'host', 'container', 'app'];

function alertLine(labels) {
  const entity = ENTITY_LABELS.filter((k) => labels[k]).map((k) => `${k}=${labels[k]}`).join(' ');
  const rest = Object.entries(labels).filter(([k]) => k !== 'alertname' && !ENTITY_LABELS.includes(k)).map(([k, v]) => `${k}=${v}`).join(' ');
  return h('tr', {}, h('td', {}, h('b', {}, labels.alertname || '—')), h('td', { class: 'mono' }, entity), h('td', { class: 'mono muted' }, rest));
}

function incidentCard(inc) {
  const members = inc.Members?.length || 0;
  const listed = inc.MemberLabels || [];
  const sev = inc.Labels?.severity;
  return h('section', { class: 'card incident', dataset: { incident: inc.ID } },
    h('div', { class: 'incident-h' },
      h('span', { class: 'root' }, 'Root: ', h('b', {}, entityRef(inc.Root))),
      badge(inc.Rule, 'info', 'the rule that chose the root'),
      sev ? badge(sev, sev === 'critical' ? 'bad' : sev === 'warning' ? 'warn' : '') : null,
      h('span', { class: 'muted members' }, `${members} member alert${members === 1 ? '' : 's'}`),
      h('span', { class: 'muted' }, `opened ${ago(inc.StartsAt)}`)),
    h('div', { class: 'incident-b' },
      h('div', {}, h('h3', {}, 'Evidence'), h('ul', { class: 'evidence' }, (inc.Evidence || []).map((e) => h('li', {}, e)))),
      h('div', {}, h('h3', {}, 'Members'), h('table', { class: 'members' }, h('tbody', {}, listed.map(alertLine))),
        members > listed.length ? h('div', { class: 'muted' }, `and ${members - listed.length} more`) : null)));
}

/** incidents: alertcorr's open incidents with their root, members and
 * evidence, and the resolved ones; looked at again every 3 s. */
export function incidents(env) {
  env.title('Incidents');
  return every(env, loaded(env, (signal) => orUnavailable(get('/v1/incidents', signal)), ({ data, unavailable }) => {
    if (unavailable) return [h('h1', {}, 'Incidents'), unavailableBox(unavailable)];
    const open = (data.open || []).slice().sort((a, b) => Date.parse(b.StartsAt) - Date.parse(a.StartsAt));
    const resolved = (data.resolved || []).slice().sort((a, b) => Date.parse(b.EndsAt) - Date.parse(a.EndsAt));
    return [
      h('h1', {}, 'Incidents'),
      h('p', { class: 'sub' }, `An alert storm becomes one incident with its root. ${open.length} open, ${resolved.length} resolved.`),
      open.length ? h('div', { class: 'incidents', id: 'open-incidents' }, open.map(incidentCard)) : h('div', { class: 'card' }, h('div', { class: 'empty' }, 'No open incident.')),
      h('h2', {}, 'Resolved'),
      table(['Root', 'Rule', 'Members', 'Opened', 'Resolved', 'Why'], resolved.map((inc) => h('tr', { dataset: { incident: inc.ID } },
        h('td', {}, entityRef(inc.Root)), h('td', {}, inc.Rule), h('td', { class: 'num' }, inc.Members?.length || 0),
        h('td', { class: 'muted' }, ago(inc.StartsAt)), h('td', { class: 'muted' }, ago(inc.EndsAt)), h('td', {}, inc.Reason))), 'None resolved yet.'),
    ];
  }), 3000);
}

const STATUS_KIND = { passed: 'ok', failed: 'bad', stale: 'warn', dead: 'bad', left: '', unreachable: 'warn', silent: 'warn' };
const STATUSES = ['passed', 'failed', 'stale', 'dead', 'left', 'unreachable', 'silent'];

// memberRows lists members; picked holds the failed ones ticked for a fix
// (kept across the page's refreshes).
function memberRows(members, picked) {
  return members.map((m) => h('tr', { dataset: { member: m.name, status: m.status } },
    h('td', {}, m.status === 'failed' ? h('input', {
      type: 'checkbox', class: 'pick', value: m.name, 'aria-label': 'fix ' + m.name, checked: picked.has(m.name),
      onchange: (e) => { if (e.target.checked) picked.add(m.name); else picked.delete(m.name); },
    }) : null),
    h('td', {}, nodeRef(m.name)),
    h('td', {}, badge(m.status, STATUS_KIND[m.status] || '')),
    h('td', { class: 'mono' }, (m.failed || []).join(', ')),
    h('td', { class: 'mono muted' }, m.held_spec, m.spec_drift ? [' ', badge('drift', 'warn')] : null),
    h('td', { class: 'msg' }, m.reason || '', m.via ? h('span', { class: 'muted' }, ` via ${m.via}`) : null,
      (m.details || []).map((d) => h('div', { class: 'detail mono' }, `${d.id}: ${d.outcome}`, d.observed ? ` observed ${d.observed}` : '', d.want ? `, want ${d.want}` : '', d.error ? ` (${d.error})` : '')))));
}

function fixResult(fix) {
  if (!fix) return h('div', { class: 'card' }, h('div', { class: 'empty' }, 'No fix ordered yet.'));
  const rows = [];
  for (const r of fix.remediations || []) {
    if (!r.outcomes?.length) rows.push(h('tr', {}, h('td', {}, nodeRef(r.node)), h('td', {}, r.deferred ? 'deferred' : ''), h('td', {}), h('td', {}), h('td', {}, r.error || '')));
    for (const o of r.outcomes || []) {
      rows.push(h('tr', { dataset: { node: r.node, check: o.id } }, h('td', {}, nodeRef(r.node)), h('td', { class: 'mono' }, o.id),
        h('td', {}, o.action, o.dry_run ? [' ', badge('dry run', 'info')] : null),
        h('td', { class: 'mono' }, `${o.before?.outcome || ''}${o.after ? ' → ' + o.after.outcome : ''}`), h('td', {}, o.error || r.error || '')));
    }
  }
  return [h('p', { class: 'sub', id: 'fix-result' }, 'Order ', reqRef(fix.id), ` done ${ago(fix.done)}`, fix.error ? [' · ', h('span', { class: 'bad-text' }, fix.error)] : ''),
    table(['Node', 'Check', 'Action', 'Outcome', 'Error'], rows, 'Nothing was fixed.')];
}

/** inspection: the last inspection round (counts, the inspector's health,
 * each member not passed, or all), the last fix's outcome, and Fix / Dry
 * run of the failed checks behind a confirmation. */
export function inspection(env) {
  env.title('Inspection');
  const st = { all: false, ordered: '', picked: new Set() };
  let view = null;
  const order = async (rep, dryRun) => {
    const failedNames = new Set(rep.members.filter((m) => m.status === 'failed').map((m) => m.name));
    const picked = [...st.picked].filter((n) => failedNames.has(n)).sort();
    const failed = rep.members.filter((m) => m.status === 'failed').length;
    const who = picked.length ? `${picked.length} picked node${picked.length === 1 ? '' : 's'} (${picked.join(', ')})` : `every failed node (${failed})`;
    const ok = await confirmAction(dryRun ? 'Dry run the fixes?' : 'Run the fixes?',
      dryRun ? `Ask the agents on ${who} what they would do to fix their failed checks of spec ${rep.spec}; nothing is changed.`
        : `Have the agents on ${who} fix their failed checks of spec ${rep.spec}. This changes those nodes.`,
      dryRun ? 'Dry run' : 'Fix', !dryRun);
    if (!ok) return;
    try {
      const body = { spec: rep.spec, dry_run: dryRun };
      if (picked.length) body.nodes = picked;
      const r = await post('/v1/inspection/fix', body);
      st.ordered = r.order;
      view.refresh();
    } catch (err) {
      env.fail(err);
    }
  };
  view = loaded(env, (signal) => get('/v1/inspection', signal), ({ report: rep, fix }) => {
    if (!rep) return [h('h1', {}, 'Inspection'), h('div', { class: 'card' }, h('div', { class: 'empty' }, 'No inspection round reported yet (is an inspector running?).')), h('h2', {}, 'Last fix'), fixResult(fix)];
    const members = st.all ? rep.members : rep.members.filter((m) => m.status !== 'passed');
    const hl = rep.health || {};
    return [
      h('h1', {}, 'Inspection'),
      h('p', { class: 'sub' }, `Spec ${rep.spec} · round by ${rep.inspector || '—'} started ${clock(rep.started)} (${ago(rep.started)}), took ${rep.took} · written ${ago(rep.written)}`,
        rep.truncated ? ' · truncated to fit' : ''),
      h('div', { class: 'tiles', id: 'inspection-counts' }, STATUSES.map((s) => h('div', { class: 'tile' + ((s !== 'passed' && s !== 'left' && rep.counts?.[s]) ? ' bad' : ''), dataset: { status: s } },
        h('div', { class: 'n' }, rep.counts?.[s] || 0), h('div', { class: 'l' }, s)))),
      h('p', { class: 'sub' }, hl.degraded ? [badge('inspector degraded', 'bad'), ' ', hl.reason || ''] : 'Inspector healthy',
        ` · ${hl.attempts ?? 0} attempt(s), ${hl.query_errors ?? 0} query errors, ${hl.bad_replies ?? 0} bad replies, serf health ${hl.serf_health_score ?? 0}`),
      h('div', { class: 'toolbar' },
        h('label', { class: 'check' }, h('input', { type: 'checkbox', id: 'show-passed', checked: st.all, onchange: (e) => { st.all = e.target.checked; view.redraw(); } }), ' show members that passed'),
        h('span', { class: 'spacer' }),
        st.ordered ? h('span', { class: 'muted', id: 'fix-ordered' }, 'Order ', reqRef(st.ordered), ' sent') : null,
        h('button', { type: 'button', id: 'dry-run', onclick: () => order(rep, true) }, 'Dry run'),
        h('button', { type: 'button', class: 'danger', id: 'fix', disabled: !rep.counts?.failed, onclick: () => order(rep, false) }, 'Fix')),
      table(['', 'Member', 'Status', 'Failed checks', 'Spec held', 'Why'], memberRows(members, st.picked), st.all ? 'No members.' : 'Every member passed.'),
      h('h2', {}, 'Last fix'), fixResult(fix),
    ];
  });
  return view;
}

function pctBar(used, limit) {
  return limit > 0 ? h('div', { class: 'progress' }, bar(used, limit), h('span', { class: 'num' }, `${Math.round((100 * used) / limit)}%`)) : h('span', { class: 'muted' }, 'no limit');
}

function rankTable(rows, kind, by) {
  const ref = { instances: instRef, apps: appRef, nodes: nodeRef }[kind];
  return table([kind === 'instances' ? 'Instance' : kind === 'apps' ? 'App' : 'Node', kind === 'instances' ? 'App · node' : kind === 'apps' ? 'Team · instances' : 'Instances',
    'CPU cores', 'of limit', 'Memory', 'of limit'],
  rows.map((r) => h('tr', { dataset: { name: r.name } },
    h('td', {}, ref(r.name)),
    h('td', { class: 'muted' }, kind === 'instances' ? [appRef(r.app), ' · ', nodeRef(r.node)] : kind === 'apps' ? `${r.team || ''} · ${r.instances}` : r.instances),
    h('td', { class: 'num cpu' + (by === 'cpu' ? ' key' : ''), dataset: { v: r.cpu_cores } }, num(r.cpu_cores, 3)),
    h('td', {}, pctBar(r.cpu_cores, r.cpu_limit_cores)),
    h('td', { class: 'num mem' + (by === 'memory' ? ' key' : ''), dataset: { v: r.memory_bytes } }, bytes(r.memory_bytes)),
    h('td', {}, pctBar(r.memory_bytes, r.memory_limit_bytes)))), 'Nothing measured.');
}

/** ranking: the busiest and idlest instances, apps and nodes by CPU or
 * memory over the last measurement. */
export function ranking(env, query) {
  env.title('Ranking');
  const q = new URLSearchParams(query);
  const by = q.get('by') === 'memory' ? 'memory' : 'cpu';
  const n = Math.min(100, Math.max(1, parseInt(q.get('n') || '10', 10) || 10));
  const link = (b, k) => '#/ranking?by=' + b + '&n=' + k;
  return loaded(env, (signal) => orUnavailable(get(`/v1/ranking?by=${by}&n=${n}`, signal)), ({ data, unavailable }) => {
    const head = [h('h1', {}, 'Busiest and idlest'),
      h('div', { class: 'toolbar' },
        h('span', { class: 'seg-ctl' }, ['cpu', 'memory'].map((b) => h('a', { href: link(b, n), class: b === by ? 'on' : '', dataset: { by: b } }, b === 'cpu' ? 'By CPU' : 'By memory'))),
        h('span', { class: 'seg-ctl' }, [5, 10, 25, 50].map((k) => h('a', { href: link(by, k), class: k === n ? 'on' : '' }, `top ${k}`))))];
    if (unavailable) return [...head, unavailableBox(unavailable)];
    return [...head,
      h('p', { class: 'sub' }, `Measured ${clock(data.at)} (${ago(data.at)}), by ${data.by}.`),
      ['nodes', 'apps', 'instances'].map((kind) => [
        h('h2', {}, kind[0].toUpperCase() + kind.slice(1)),
        h('div', { class: 'grid2' },
          h('div', { class: 'rank', id: `busiest-${kind}` }, h('h3', {}, 'Busiest'), rankTable(data[kind].busiest, kind, by)),
          h('div', { class: 'rank', id: `idlest-${kind}` }, h('h3', {}, 'Idlest'), rankTable(data[kind].idlest, kind, by)))]),
    ];
  });
}

function quotaCell(field, used, limit, fmt) {
  return h('td', { dataset: { field, used, limit: limit || 0 } }, h('div', { class: 'quota' }, h('span', { class: 'num' }, `${fmt(used)} / ${limit ? fmt(limit) : '∞'}`), limit ? bar(used, limit) : null));
}

// hours shows a figure of hours with three significant digits (a new app
// has held a few thousandths of a core-hour); the cell keeps the exact
// figure in data-v.
const hours = (x) => (x >= 100 ? String(Math.round(x)) : x > 0 ? Number(x.toPrecision(3)).toString() : '0');
const hcell = (field, x) => h('td', { class: 'num', dataset: { field, v: x } }, hours(x));
function efficiency(used, alloc) {
  return alloc > 0 ? `${Math.round((100 * used) / alloc)}%` : '—';
}

/** usage: each team's quota and what it holds now, and showback: what
 * each app held and used (core-hours, GiB-hours) since it was deployed. */
export function usage(env) {
  env.title('Usage');
  return loaded(env, async (signal) => {
    const [show, quotas] = await Promise.all([get('/v1/usage', signal), get('/v1/quotas', signal)]);
    return { show: show || [], quotas: quotas || [] };
  }, ({ show, quotas }) => [
    h('h1', {}, 'Usage by team and app'),
    h('p', { class: 'sub' }, 'Quotas bound what a team\'s apps hold together; showback adds up what each app held (allocated) and used (measured) over time.'),
    h('h2', {}, 'Quotas'),
    table(['Team', 'CPUs', 'Memory', 'Instances'], quotas.map((t) => h('tr', { dataset: { team: t.team } },
      h('td', {}, h('b', {}, t.team)),
      quotaCell('cpus', t.used.cpus || 0, t.quota?.cpus, (x) => num(x)),
      quotaCell('memory_bytes', t.used.memory_bytes || 0, t.quota?.memory_bytes, bytes),
      quotaCell('instances', t.used.instances || 0, t.quota?.instances, (x) => String(x)))), 'No teams.'),
    h('h2', {}, 'Showback'),
    table(['Team / app', 'Allocated core-h', 'Used core-h', 'CPU used', 'Allocated GiB-h', 'Used GiB-h', 'Memory used', 'Since', 'Updated'],
      show.flatMap((t) => [
        h('tr', { class: 'team-row', dataset: { team: t.team } }, h('td', {}, h('b', {}, t.team)),
          hcell('allocated_core_hours', t.total.allocated_core_hours), hcell('used_core_hours', t.total.used_core_hours),
          h('td', { class: 'num' }, efficiency(t.total.used_core_hours, t.total.allocated_core_hours)),
          hcell('allocated_gib_hours', t.total.allocated_gib_hours), hcell('used_gib_hours', t.total.used_gib_hours),
          h('td', { class: 'num' }, efficiency(t.total.used_gib_hours, t.total.allocated_gib_hours)),
          h('td', { class: 'muted' }, ago(t.total.since)), h('td', { class: 'muted' }, ago(t.total.updated_at))),
        ...(t.apps || []).map((u) => h('tr', { class: 'app-row', dataset: { app: u.app } }, h('td', { class: 'indent' }, appRef(u.app)),
          hcell('allocated_core_hours', u.allocated_core_hours), hcell('used_core_hours', u.used_core_hours),
          h('td', { class: 'num' }, efficiency(u.used_core_hours, u.allocated_core_hours)),
          hcell('allocated_gib_hours', u.allocated_gib_hours), hcell('used_gib_hours', u.used_gib_hours),
          h('td', { class: 'num' }, efficiency(u.used_gib_hours, u.allocated_gib_hours)),
          h('td', { class: 'muted' }, ago(u.since)), h('td', { class: 'muted' }, ago(u.updated_at)))),
      ]), 'Nothing accounted yet.'),
  ]);
}
