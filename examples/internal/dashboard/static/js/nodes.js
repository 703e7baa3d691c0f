// What the dashboard knows of the nodes: the controller's last NodeView of
// each, and the last report of a node that has since stopped reporting (the
// controller drops a lost node's report; its rack and capacity stay useful).

import { h, badge } from './dom.js';

const known = new Map();

/** remember records the controller's node list and returns it, each lost
 * node with its last report filled in when this page saw one, and the nodes
 * this page saw that the controller no longer lists (a lost node whose
 * instances moved elsewhere) added as lost. */
export function remember(nodes) {
  const listed = new Set();
  for (const n of nodes) {
    listed.add(n.name);
    const prev = known.get(n.name);
    if (!n.node && prev && prev.node) {
      n.node = prev.node;
      n.remembered = true;
    }
    known.set(n.name, n);
  }
  for (const [name, prev] of known) {
    if (listed.has(name)) continue;
    const gone = {
      name, node: prev.node, live: false, lost_since: prev.lost_since || new Date().toISOString(),
      instances: 0, allocated_cpus: 0, allocated_memory_bytes: 0, remembered: true,
    };
    known.set(name, gone);
    nodes.push(gone);
  }
  return nodes.sort((a, b) => a.name.localeCompare(b.name));
}

export const simulated = (name) => known.get(name)?.node?.version === 'simulated';

export const simBadge = () => badge('SIMULATED', 'sim', 'a simulated node (package simnode): it runs no containers');

/** nodeRef is a node's name linking to its page, with SIMULATED when so. */
export function nodeRef(name) {
  if (!name) return '';
  return h('span', { class: 'noderef' },
    h('a', { href: '#/nodes/' + encodeURIComponent(name) }, name), ' ', simulated(name) ? simBadge() : null);
}

/** status is a node's state as a badge: live, cordoned, draining, or
 * "data report timed out" when its agent's report is gone. */
export function nodeStatus(n) {
  if (!n.live) {
    const since = n.lost_since ? 'no report since ' + new Date(n.lost_since).toLocaleString() : 'no report';
    return badge('data report timed out', 'bad', since);
  }
  if (n.cordon === 'drain') return badge('draining', 'warn', 'instances are being moved off');
  if (n.cordon) return badge('cordoned', 'warn', 'takes no new instances');
  return badge('live', 'ok');
}

export function phaseBadge(phase) {
  if (!phase) return badge('no status', '', 'the agent has not reported this instance yet');
  const kind = { Running: 'ok', Pending: 'info', Creating: 'info', Stopped: '', CrashLoop: 'bad', Failed: 'bad' }[phase];
  return badge(phase, kind ?? '');
}

export function rolloutBadge(rollout) {
  const phase = rollout?.phase;
  if (!phase) return badge('—');
  const kind = { Done: 'ok', Progressing: 'info', RolledBack: 'bad' }[phase];
  return badge(phase, kind ?? '', rollout.message || undefined);
}
