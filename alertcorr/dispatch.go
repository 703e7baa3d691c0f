package alertcorr

import (
	"slices"
	"time"
)

// Notification is what a receiver gets for one aggregation group: the
// group's alerts (resolved ones with their end time, firing ones without),
// as an Alertmanager webhook carries them.
type Notification struct {
	// Receiver is the route's receiver name.
	Receiver string
	// GroupKey identifies the group: the route's key and its labels.
	GroupKey string
	// GroupLabels are the labels the route grouped by.
	GroupLabels Labels
	// Alerts are the group's unmuted alerts, sorted by fingerprint.
	Alerts []Alert
	// At is the time of the flush that produced it.
	At time.Time
}

// Firing returns how many of the alerts fire at n.At.
func (n *Notification) Firing() int {
	c := 0
	for i := range n.Alerts {
		if !n.Alerts[i].ResolvedAt(n.At) {
			c++
		}
	}
	return c
}

// aggrGroup is one aggregation group: the alerts of one route with the
// same group labels, flushed at group_wait, then every group_interval.
type aggrGroup struct {
	route      *routeNode
	labels     Labels
	key        string
	alerts     map[Fingerprint]*Alert
	next       time.Time
	hasFlushed bool
}

// nflogEntry is what was last notified for a group and receiver, as
// Alertmanager's notification log keeps it.
type nflogEntry struct {
	Firing   []Fingerprint `json:"firing"`
	Resolved []Fingerprint `json:"resolved"`
	At       time.Time     `json:"at"`
}

// dispatcher routes alerts into aggregation groups and decides, at each
// flush, whether the receiver must hear of the group. Time only moves when
// the caller passes it in, so tests step through group_wait, group_interval
// and repeat_interval exactly. Not safe for concurrent use.
type dispatcher struct {
	root    *routeNode
	groups  map[string]*aggrGroup
	nflog   map[string]nflogEntry
	noResol map[string]bool
}

func newDispatcher(root *routeNode, withoutResolved []string) *dispatcher {
	d := &dispatcher{root: root, groups: map[string]*aggrGroup{}, nflog: map[string]nflogEntry{}, noResol: map[string]bool{}}
	for _, r := range withoutResolved {
		d.noResol[r] = true
	}
	return d
}

// insert puts a (new version of an) alert into every group its routes
// give it, at now.
func (d *dispatcher) insert(a *Alert, fp Fingerprint, now time.Time) {
	for _, r := range d.root.match(a.Labels) {
		gl := r.groupLabels(a.Labels)
		key := r.key + ":" + gl.String()
		ag, ok := d.groups[key]
		if !ok {
			ag = &aggrGroup{route: r, labels: gl, key: key, alerts: map[Fingerprint]*Alert{}, next: now.Add(r.opts.GroupWait)}
			d.groups[key] = ag
		}
		ag.alerts[fp] = a
		// An alert that started longer than group_wait ago is flushed at
		// once rather than held back a second time.
		if !ag.hasFlushed && a.StartsAt.Add(r.opts.GroupWait).Before(now) {
			ag.next = now
		}
	}
}

// due returns the groups whose flush time has come at now, in order of
// that time and then key, so the order of notifications is deterministic.
func (d *dispatcher) due(now time.Time) []*aggrGroup {
	var out []*aggrGroup
	for _, ag := range d.groups {
		if !ag.next.After(now) {
			out = append(out, ag)
		}
	}
	slices.SortFunc(out, func(a, b *aggrGroup) int {
		if c := a.next.Compare(b.next); c != 0 {
			return c
		}
		return compareStrings(a.key, b.key)
	})
	return out
}

// pendingFlush is a flush whose notification, if any, awaits sending; on
// success its resolved alerts leave the group and the log records it.
type pendingFlush struct {
	group    *aggrGroup
	resolved map[Fingerprint]*Alert
	note     *Notification
	entry    nflogEntry
	logKey   string
}

// flush takes one due group at now, muting with muted, and returns what it
// would notify. The next flush is due a group_interval later.
func (d *dispatcher) flush(ag *aggrGroup, now time.Time, muted func(Labels) bool) *pendingFlush {
	ag.next = now.Add(ag.route.opts.GroupInterval)
	ag.hasFlushed = true
	p := &pendingFlush{group: ag, resolved: map[Fingerprint]*Alert{}}
	fps := make([]Fingerprint, 0, len(ag.alerts))
	for fp := range ag.alerts {
		fps = append(fps, fp)
	}
	slices.Sort(fps)
	var alerts []Alert
	var firing, resolved []Fingerprint
	for _, fp := range fps {
		a := ag.alerts[fp]
		isResolved := a.ResolvedAt(now)
		if isResolved {
			p.resolved[fp] = a
		}
		if muted(a.Labels) {
			continue
		}
		c := *a
		if isResolved {
			resolved = append(resolved, fp)
		} else {
			c.EndsAt = time.Time{}
			firing = append(firing, fp)
		}
		alerts = append(alerts, c)
	}
	receiver := ag.route.opts.Receiver
	p.logKey = ag.key + "|" + receiver
	prev, seen := d.nflog[p.logKey]
	if !d.needsUpdate(prev, seen, firing, resolved, receiver, now, ag.route.opts.RepeatInterval) {
		return p
	}
	if d.noResol[receiver] {
		alerts = slices.DeleteFunc(alerts, func(a Alert) bool { return a.ResolvedAt(now) })
	}
	p.entry = nflogEntry{Firing: firing, Resolved: resolved, At: now}
	if len(alerts) == 0 {
		// Only resolved alerts for a receiver that does not want them:
		// nothing to send, but the log must forget the firing ones.
		return p
	}
	p.note = &Notification{Receiver: receiver, GroupKey: ag.key, GroupLabels: ag.labels, Alerts: alerts, At: now}
	return p
}

// needsUpdate is Alertmanager's dedup decision.
func (d *dispatcher) needsUpdate(prev nflogEntry, seen bool, firing, resolved []Fingerprint, receiver string, now time.Time, repeat time.Duration) bool {
	if !seen {
		return len(firing) > 0
	}
	if !subset(firing, prev.Firing) {
		return true
	}
	if len(firing) == 0 {
		// Everything resolved: tell the receiver if it knew of firing ones.
		return len(prev.Firing) > 0
	}
	if !d.noResol[receiver] && !subset(resolved, prev.Resolved) {
		return true
	}
	return !prev.At.After(now.Add(-repeat))
}

// subset reports whether every element of a (sorted) is in b (sorted).
func subset(a, b []Fingerprint) bool {
	for _, x := range a {
		if _, ok := slices.BinarySearch(b, x); !ok {
			return false
		}
	}
	return true
}

// commit records a flush whose notification was sent (or that had none to
// send): the log entry, and the resolved alerts leave the group unless they
// fired again meanwhile. An empty group is removed.
func (d *dispatcher) commit(p *pendingFlush) {
	if !p.entry.At.IsZero() {
		d.nflog[p.logKey] = p.entry
	}
	for fp, a := range p.resolved {
		if p.group.alerts[fp] == a {
			delete(p.group.alerts, fp)
		}
	}
	if len(p.group.alerts) == 0 {
		delete(d.groups, p.group.key)
	}
}

// gcLog drops log entries older than retention.
func (d *dispatcher) gcLog(now time.Time, retention time.Duration) {
	for k, e := range d.nflog {
		if e.At.Add(retention).Before(now) {
			delete(d.nflog, k)
		}
	}
}
