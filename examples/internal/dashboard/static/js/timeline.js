// An instance's state over time, from its events (the controller's and its
// agent's) and its last reported status: a band of coloured segments, one
// per state, and the transitions listed below it.

import { h, clock, ago } from './dom.js';

// The state an event puts an instance in; events not listed (a resize, a
// snapshot) are marks on the band, not transitions.
const STATE_OF = {
  InstanceScheduled: ['Scheduled', 'info'], InstanceRescheduled: ['Scheduled', 'info'], InstanceMigrated: ['Migrated', 'info'],
  InstanceUpdated: ['Updating', 'info'], Creating: ['Creating', 'info'], Started: ['Running', 'ok'],
  Restarted: ['Restarting', 'warn'], CreateFailed: ['Failed', 'bad'], Removed: ['Removed', 'off'],
};
const PHASE = { Running: 'ok', Pending: 'info', Creating: 'info', Stopped: 'off', CrashLoop: 'bad', Failed: 'bad' };

/**
 * transitions turns an instance's events (any order) and its status into
 * its states, oldest first: {state, health, from (ms), why}. The status
 * adds the reported phase when no event recorded it (a simulated node
 * writes statuses, not events).
 */
export function transitions(events, status) {
  const evs = events.slice().sort((a, b) => Date.parse(a.time) - Date.parse(b.time));
  const out = [];
  const marks = [];
  for (const e of evs) {
    const s = STATE_OF[e.kind];
    const at = Date.parse(e.time);
    if (!s) { marks.push({ at, kind: e.kind, why: e.message || e.reason || '' }); continue; }
    if (out.length && out[out.length - 1].state === s[0]) continue;
    out.push({ state: s[0], health: s[1], from: at, kind: e.kind, why: [e.reason, e.message].filter(Boolean).join(': ') });
  }
  if (status?.phase) {
    const last = out[out.length - 1];
    const lastState = last?.state;
    const phaseState = status.phase;
    if (lastState !== phaseState) {
      const at = Date.parse(status.started_at && status.phase === 'Running' ? status.started_at : status.updated_at);
      out.push({ state: phaseState, health: PHASE[phaseState] || '', from: Math.max(at || 0, last ? last.from : 0), kind: 'status',
        why: [status.reason, status.message].filter(Boolean).join(': ') || 'reported by the agent' });
    }
  }
  return { states: out, marks };
}

/** timeline draws the states as a band over their time and a list. */
export function timeline(events, status) {
  const { states, marks } = transitions(events, status);
  if (states.length === 0) return h('div', { class: 'card' }, h('div', { class: 'empty' }, 'No state recorded yet.'));
  const start = states[0].from;
  const end = Math.max(Date.now(), states[states.length - 1].from + 1000);
  const span = end - start;
  const pct = (t) => ((100 * (t - start)) / span).toFixed(2) + '%';
  const band = h('div', { class: 'band', id: 'timeline' },
    states.map((s, i) => {
      const to = i + 1 < states.length ? states[i + 1].from : end;
      return h('div', { class: 'seg ' + s.health, style: `left:${pct(s.from)};width:${(Math.max(0.3, (100 * (to - s.from)) / span)).toFixed(2)}%`,
        title: `${s.state} from ${clock(new Date(s.from).toISOString())}${s.why ? ' — ' + s.why : ''}`, dataset: { state: s.state } },
      h('span', {}, s.state));
    }),
    marks.map((m) => h('div', { class: 'tick', style: `left:${pct(m.at)}`, title: `${m.kind} ${m.why}` })));
  return h('div', { class: 'card timeline' },
    band,
    h('div', { class: 'axis' }, h('span', {}, clock(new Date(start).toISOString())), h('span', {}, 'now')),
    h('ol', { class: 'transitions' }, states.map((s) => h('li', { dataset: { state: s.state } },
      h('span', { class: 'dot ' + s.health }), h('span', { class: 'mono muted' }, clock(new Date(s.from).toISOString())), ' ',
      h('b', {}, s.state), ' ', h('span', { class: 'muted' }, `${ago(new Date(s.from).toISOString())} · ${s.kind}${s.why ? ' — ' + s.why : ''}`)))));
}
