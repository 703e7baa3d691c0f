// An app's replicas and load over time (uPlot, vendored), with its scaling
// decisions marked where they happened and explained in their title and in
// the list below the chart.

import uPlot from '../vendor/uplot/uPlot.esm.js';
import { h, badge, clock, num } from './dom.js';

/** SCALE_KINDS are the events that change, propose or hold an app's
 * replica count. */
export const SCALE_KINDS = new Set(['AppScaled', 'AutoScaled', 'ScaleProposed', 'ScaleApproved', 'ScaleFailed', 'AutoscaleHeld']);

const MARK_CLASS = { AppScaled: 'manual', AutoScaled: 'auto', ScaleApproved: 'auto', ScaleProposed: 'proposed', ScaleFailed: 'failed', AutoscaleHeld: 'held' };

/**
 * scaleDecisions picks the scaling events out of an app's events, oldest
 * first; the two events of one autoscale decision (the decision with its
 * reason, and the change it made, under one request id) become one.
 */
export function scaleDecisions(events) {
  const out = [];
  const byReq = new Map();
  for (const e of events) {
    if (!SCALE_KINDS.has(e.kind)) continue;
    const key = e.request_id ? e.kind + '/' + e.request_id : null;
    const prev = key && byReq.get(key);
    if (prev) {
      prev.reason = prev.reason || e.reason;
      if (e.message && !prev.messages.includes(e.message)) prev.messages.push(e.message);
      continue;
    }
    const d = { time: e.time, t: Date.parse(e.time) / 1000, kind: e.kind, reason: e.reason || '', request_id: e.request_id || '', messages: e.message ? [e.message] : [] };
    out.push(d);
    if (key) byReq.set(key, d);
  }
  return out.sort((a, b) => a.t - b.t);
}

function explain(d) {
  const what = { AppScaled: 'scaled by request', AutoScaled: 'scaled by the autoscaler', ScaleApproved: 'proposal approved',
    ScaleProposed: 'autoscaler proposes', ScaleFailed: 'scaling failed', AutoscaleHeld: 'autoscaler holds' }[d.kind];
  return `${what}${d.reason ? ' (' + d.reason + ')' : ''}: ${d.messages.join('; ')}`;
}

function marksPlugin(getMarks) {
  const draw = (u) => {
    const layer = u.over;
    for (const el of [...layer.querySelectorAll('.scale-mark')]) el.remove();
    const [lo, hi] = [u.scales.x.min, u.scales.x.max];
    // Labels of marks close together are stacked rather than overlaid.
    const placed = [];
    for (const d of getMarks()) {
      if (d.t < lo || d.t > hi) continue;
      const left = u.valToPos(d.t, 'x');
      const row = placed.filter((x) => left - x < 110).length;
      placed.push(left);
      const right = left > layer.clientWidth - 110;
      layer.append(h('div', {
        class: 'scale-mark ' + (MARK_CLASS[d.kind] || '') + (right ? ' flip' : ''), style: `left:${left.toFixed(1)}px`,
        title: `${clock(d.time)} ${explain(d)}`, dataset: { kind: d.kind },
      }, h('span', { style: `top:${2 + 16 * (row % 6)}px` }, d.kind)));
    }
  };
  return { hooks: { draw } };
}

/**
 * appChart makes the chart of one app: update(history, decisions) draws
 * it (the first call once the box is on the page), and again on refresh.
 */
export function appChart() {
  const box = h('div', { class: 'chart', id: 'app-chart' });
  let plot = null;
  let marks = [];
  let hasRPS = false;
  const size = () => ({ width: Math.max(300, box.clientWidth - 2), height: 260 });
  const onResize = () => { if (plot && box.isConnected) plot.setSize(size()); };
  window.addEventListener('resize', onResize);

  function make(rps) {
    hasRPS = rps;
    if (plot) plot.destroy();
    const series = [
      {},
      { label: 'Replicas', scale: 'n', stroke: '#0f7c8c', width: 2, paths: uPlot.paths.stepped({ align: 1 }), value: (_, v) => (v === null ? '—' : v) },
      { label: 'Ready', scale: 'n', stroke: '#1f9d55', width: 1.5, dash: [5, 3], paths: uPlot.paths.stepped({ align: 1 }), value: (_, v) => (v === null ? '—' : v) },
      { label: 'CPU cores', scale: 'cpu', stroke: '#d88b0b', fill: 'rgba(216,139,11,0.10)', width: 1.5, value: (_, v) => num(v) },
    ];
    const axes = [
      { stroke: '#6b7587', grid: { stroke: '#edf0f4' } },
      { scale: 'n', label: 'instances', stroke: '#6b7587', grid: { stroke: '#edf0f4' }, incrs: [1, 2, 5, 10, 20, 50, 100, 200, 500, 1000] },
      { scale: 'cpu', side: 1, label: 'CPU cores', stroke: '#a86800', grid: { show: false } },
    ];
    if (rps) {
      series.push({ label: 'Requests/s', scale: 'rps', stroke: '#7a4fd6', width: 1.5, value: (_, v) => num(v, 1) });
      axes.push({ scale: 'rps', side: 1, label: 'req/s', stroke: '#7a4fd6', grid: { show: false } });
    }
    plot = new uPlot({
      ...size(), series, axes,
      scales: { x: { time: true, range: (_, lo, hi) => (lo === null || hi === null ? [Date.now() / 1000 - 60, Date.now() / 1000]
        : [lo, Math.max(hi, lo + 1, ...marks.map((m) => m.t))]) }, n: { range: (_, lo, hi) => [0, Math.max(1, hi) * 1.15] }, cpu: { range: (_, lo, hi) => [0, Math.max(0.1, hi) * 1.15] } },
      legend: { live: true },
      cursor: { drag: { x: true, y: false } },
      plugins: [marksPlugin(() => marks)],
    }, [[], [], [], [], ...(rps ? [[]] : [])], box);
  }

  return {
    box,
    /** update draws the history's samples and the decisions since its
     * first sample. */
    update(history, decisions) {
      const s = history.samples || [];
      const rps = s.some((x) => x.requests_per_second !== null && x.requests_per_second !== undefined);
      const first = s.length ? Date.parse(s[0].at) / 1000 : 0;
      marks = decisions.filter((d) => d.t >= first);
      if (!plot || rps !== hasRPS || !box.contains(plot.root)) make(rps);
      const data = [s.map((x) => Date.parse(x.at) / 1000), s.map((x) => x.replicas), s.map((x) => x.ready), s.map((x) => x.cpu_cores)];
      if (rps) data.push(s.map((x) => x.requests_per_second ?? null));
      plot.setData(data);
      if (box.clientWidth && Math.abs(plot.width - size().width) > 2) plot.setSize(size());
    },
    destroy() {
      window.removeEventListener('resize', onResize);
      if (plot) plot.destroy();
      plot = null;
    },
  };
}

/** decisionsTable lists the scaling decisions, newest first, with why. */
export function decisionsTable(decisions, reqRef) {
  if (decisions.length === 0) return h('div', { class: 'card' }, h('div', { class: 'empty' }, 'No scaling decisions recorded.'));
  return h('div', { class: 'card' }, h('table', { id: 'scale-decisions' },
    h('thead', {}, h('tr', {}, ['Time', 'Decision', 'Reason', 'Explanation', 'Request'].map((c) => h('th', {}, c)))),
    h('tbody', {}, decisions.slice().reverse().map((d) => h('tr', { dataset: { kind: d.kind } },
      h('td', { class: 'mono muted' }, clock(d.time)),
      h('td', {}, badge(d.kind, { AutoScaled: 'info', ScaleApproved: 'info', ScaleProposed: 'warn', ScaleFailed: 'bad', AppScaled: 'ok' }[d.kind] || '')),
      h('td', {}, d.reason || h('span', { class: 'muted' }, '—')),
      h('td', { class: 'msg' }, d.messages.join('; ')),
      h('td', {}, reqRef(d.request_id)))))));
}
