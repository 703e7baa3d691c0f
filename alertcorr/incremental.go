package alertcorr

import "time"

// Incremental correlation. The solver's result splits into components:
// members that a candidate root's cover or an entity's own alerts tie
// together, directly or through others. Greedy cover never lets one
// component's choice touch another's, and every figure a component's
// evidence cites comes from its own members, so solving a component alone
// gives exactly what solving everything gives for it. Between two rounds
// the engine therefore keeps each component's incidents and re-solves only
// the region a change can reach: the components of the alerts that came,
// went or changed, closed over every candidate that could now tie them to
// others (their host, the apps on it, the switch, rack and wider places
// above it). The property test compares it with a full solve on random
// storms.

// corrIndex counts the correlation input by entity, kept up to date as
// members come and go, so the closure can tell which candidate roots
// exist without looking at every alert. The topology's read lock is held
// while it is used.
type corrIndex struct {
	byEnt     map[int32][]Fingerprint
	hostCount map[int32]int                // members on a host and its containers
	hostDown  map[int32]int                // unreachable alerts on a host
	appConts  map[int32]map[int32]int      // app → alerting container → members
	locHosts  map[int32]map[int32]struct{} // place → hosts below it with members
}

func newCorrIndex() *corrIndex {
	return &corrIndex{
		byEnt:     map[int32][]Fingerprint{},
		hostCount: map[int32]int{},
		hostDown:  map[int32]int{},
		appConts:  map[int32]map[int32]int{},
		locHosts:  map[int32]map[int32]struct{}{},
	}
}

// update adds (d = 1) or removes (d = -1) the member.
func (x *corrIndex) update(t *Topology, m member, d int) {
	e := m.ent
	if e < 0 || int(e) >= len(t.nodes) {
		return
	}
	if d > 0 {
		x.byEnt[e] = append(x.byEnt[e], m.fp)
	} else {
		list := x.byEnt[e]
		for i, fp := range list {
			if fp == m.fp {
				list[i] = list[len(list)-1]
				list = list[:len(list)-1]
				break
			}
		}
		if len(list) == 0 {
			delete(x.byEnt, e)
		} else {
			x.byEnt[e] = list
		}
	}
	n := &t.nodes[e]
	switch n.kind {
	case KindHost:
		if m.unreachable {
			x.hostDown[e] += d
			if x.hostDown[e] == 0 {
				delete(x.hostDown, e)
			}
		}
		x.bumpHost(t, e, d)
	case KindContainer:
		x.bumpHost(t, n.parent, d)
		if n.app >= 0 {
			conts := x.appConts[n.app]
			if conts == nil {
				conts = map[int32]int{}
				x.appConts[n.app] = conts
			}
			conts[e] += d
			if conts[e] == 0 {
				delete(conts, e)
				if len(conts) == 0 {
					delete(x.appConts, n.app)
				}
			}
		}
	}
}

func (x *corrIndex) bumpHost(t *Topology, h int32, d int) {
	if h < 0 {
		return
	}
	was := x.hostCount[h]
	x.hostCount[h] = was + d
	switch {
	case was == 0 && d > 0:
		for _, l := range locations(t, h) {
			hs := x.locHosts[l]
			if hs == nil {
				hs = map[int32]struct{}{}
				x.locHosts[l] = hs
			}
			hs[h] = struct{}{}
		}
	case was+d == 0:
		delete(x.hostCount, h)
		for _, l := range locations(t, h) {
			delete(x.locHosts[l], h)
			if len(x.locHosts[l]) == 0 {
				delete(x.locHosts, l)
			}
		}
	}
}

// closure returns the members reachable from seeds through every candidate
// root that exists for the current input (solve's rules, evaluated on the
// index): a set closed under the solver's ties, so a union of components.
// It may take more than the components (a host's containers always come
// together); never less.
type closure struct {
	t       *Topology
	c       *Correlation
	x       *corrIndex
	members map[Fingerprint]member
	region  map[Fingerprint]bool
	seenEnt map[int32]bool
	appOK   map[int32]bool
	hosts   []int32
	visited map[int32]bool // hosts, apps and places visited
}

func (x *corrIndex) closure(t *Topology, c *Correlation, members map[Fingerprint]member, seeds []Fingerprint) map[Fingerprint]bool {
	cl := &closure{t: t, c: c, x: x, members: members, region: map[Fingerprint]bool{}, seenEnt: map[int32]bool{}, appOK: map[int32]bool{}, visited: map[int32]bool{}}
	for _, fp := range seeds {
		cl.member(fp)
	}
	for len(cl.hosts) > 0 {
		h := cl.hosts[len(cl.hosts)-1]
		cl.hosts = cl.hosts[:len(cl.hosts)-1]
		cl.host(h)
	}
	return cl.region
}

func (cl *closure) member(fp Fingerprint) {
	m, ok := cl.members[fp]
	if !ok {
		return
	}
	if m.ent < 0 || int(m.ent) >= len(cl.t.nodes) {
		cl.region[fp] = true
		return
	}
	n := &cl.t.nodes[m.ent]
	switch n.kind {
	case KindHost:
		cl.hosts = append(cl.hosts, m.ent)
	case KindContainer:
		cl.ent(m.ent)
		if n.parent >= 0 {
			cl.hosts = append(cl.hosts, n.parent)
		}
	case KindApp:
		cl.app(m.ent)
	default:
		cl.place(m.ent)
	}
}

// ent puts the entity's own members into the region.
func (cl *closure) ent(e int32) {
	if cl.seenEnt[e] {
		return
	}
	cl.seenEnt[e] = true
	for _, fp := range cl.x.byEnt[e] {
		cl.region[fp] = true
	}
}

// host takes a host's members and its containers', then every candidate
// that covers them: the places above it, the apps with a container on it.
func (cl *closure) host(h int32) {
	if cl.visited[h] {
		return
	}
	cl.visited[h] = true
	cl.ent(h)
	n := &cl.t.nodes[h]
	for _, ct := range n.children {
		cl.ent(ct)
	}
	for _, l := range locations(cl.t, h) {
		if cl.placeIsCandidate(l) {
			cl.place(l)
		}
	}
	for _, ct := range n.children {
		if a := cl.t.nodes[ct].app; a >= 0 && cl.appIsCandidate(a) {
			cl.app(a)
		}
	}
}

// app takes an app's own members and the hosts its candidate covers.
func (cl *closure) app(a int32) {
	if cl.visited[a] {
		return
	}
	cl.visited[a] = true
	cl.ent(a)
	for ct := range cl.x.appConts[a] {
		cl.hosts = append(cl.hosts, cl.t.nodes[ct].parent)
	}
	if cl.appQualifies(a) {
		for _, ct := range cl.t.nodes[a].members {
			if h := cl.t.nodes[ct].parent; cl.x.hostCount[h] > 0 {
				cl.hosts = append(cl.hosts, h)
			}
		}
	}
}

// place takes a place's own members and, when it is a candidate, the hosts
// below it with members.
func (cl *closure) place(l int32) {
	if cl.visited[l] {
		return
	}
	cl.visited[l] = true
	cl.ent(l)
	if !cl.placeIsCandidate(l) {
		return
	}
	for h := range cl.x.locHosts[l] {
		cl.hosts = append(cl.hosts, h)
	}
}

func (cl *closure) appIsCandidate(a int32) bool {
	ok, known := cl.appOK[a]
	if !known {
		ok = len(cl.x.byEnt[a]) > 0 || cl.appQualifies(a)
		cl.appOK[a] = ok
	}
	return ok
}

// appQualifies is solve's app-spread condition.
func (cl *closure) appQualifies(a int32) bool {
	conts := cl.x.appConts[a]
	if len(conts) == 0 {
		return false
	}
	hosts := map[int32]bool{}
	for ct := range conts {
		hosts[cl.t.nodes[ct].parent] = true
	}
	total := len(cl.t.nodes[a].members)
	return len(hosts) >= cl.c.MinAppHosts && float64(len(conts)) >= cl.c.AppFraction*float64(total)
}

// placeIsCandidate is solve's condition for a switch, rack, room or
// datacenter: its own alerts, or (switch, rack) enough hosts unreachable.
func (cl *closure) placeIsCandidate(l int32) bool {
	if len(cl.x.byEnt[l]) > 0 {
		return true
	}
	n := &cl.t.nodes[l]
	if n.kind != KindSwitch && n.kind != KindRack {
		return false
	}
	down := 0
	for h := range cl.x.locHosts[l] {
		if cl.x.hostDown[h] > 0 {
			down++
		}
	}
	total := len(n.members)
	if n.kind == KindRack {
		total = len(n.children)
	}
	return down >= cl.c.MinSwitchHosts && float64(down) >= cl.c.SwitchFraction*float64(total)
}

// corrState is what the engine keeps between correlation rounds. Only
// Advance touches it (under sendMu), partly without the engine's lock.
type corrState struct {
	valid   bool                   // false: the next round solves everything
	members map[Fingerprint]member // the input of the last round
	gone    []member               // members garbage-collected since
	unitOf  map[Fingerprint]*solvedUnit
	// touched are alerts that arrived, changed or were suppressed since
	// the last round; timers say when an alert comes of age or ends.
	touched     []Fingerprint // may repeat: a second visit changes nothing
	timers      timerHeap
	scanAll     bool      // a silence changed: look at every alert
	nextSilence time.Time // when a silence starts or ends next
	index       *corrIndex
	// full makes every round solve everything (the property test's
	// reference).
	full bool
	// Solved counts the members given to the solver, for tests and
	// benchmarks: what incremental rounds save.
	solved uint64
}

// correlationRound is one round's work, planned under the engine's lock
// and solved without it.
type correlationRound struct {
	ms      []member
	dropped map[*solvedUnit]bool // units the round replaces; nil: all
}

// planCorrelation computes the input at now, updates the index and picks
// the members to solve again; the engine's lock is held. Finding what
// changed still visits every alert held (a few map lookups each); what is
// solved again is only the region the changes reach.
func (e *Engine) planCorrelation(now time.Time, topoChanged bool) correlationRound {
	cs := &e.corr
	if cs.members == nil {
		cs.members, cs.unitOf = map[Fingerprint]member{}, map[Fingerprint]*solvedUnit{}
	}
	if topoChanged {
		e.resolveEntities()
		cs.valid = false
	}
	full := !cs.valid || cs.full
	type change struct {
		old, cur member
		hadOld   bool
		hasCur   bool
	}
	var changes []change
	// Which alerts may have entered or left the input: those touched since
	// (arrived, changed, suppressed) and those whose timer is due (come
	// of age, ended). Silences and inhibit rules can change any alert, so
	// a silence set or coming into or out of force, or any inhibit rule at
	// all, makes the round look at every alert.
	due := cs.popDue(e, now)
	scan := full || cs.scanAll || len(e.inhibit.rules) > 0 || !now.Before(cs.nextSilence)
	if scan {
		e.resolveByRoot(now, nil)
	} else {
		for _, fp := range cs.touched {
			due[fp] = struct{}{}
		}
		e.resolveByRoot(now, due) // may suppress members: touched again
	}
	visit := func(s *storedAlert, m member, in bool) {
		switch {
		case full:
		case in && s.corrIn && s.corrM.ent == m.ent && s.corrM.unreachable == m.unreachable:
			return
		case !in && !s.corrIn:
			return
		default:
			changes = append(changes, change{old: s.corrM, cur: m, hadOld: s.corrIn, hasCur: in})
		}
		s.corrIn, s.corrM = in, m
	}
	if scan {
		e.correlationInput(now, visit)
		cs.scanAll = false
	} else {
		for _, fp := range cs.touched {
			due[fp] = struct{}{}
		}
		for fp := range due {
			if s, ok := e.alerts[fp]; ok {
				m, in := e.inputOf(s, now)
				visit(s, m, in)
			}
		}
		e.nextEval = now.Add(e.cfg.Retention)
		if len(cs.timers) > 0 && cs.timers[0].at.Before(e.nextEval) {
			e.nextEval = cs.timers[0].at
		}
	}
	cs.touched = cs.touched[:0]
	cs.nextSilence = e.silenceNext(now)
	if cs.nextSilence.Before(e.nextEval) {
		e.nextEval = cs.nextSilence
	}
	for _, o := range cs.gone {
		changes = append(changes, change{old: o, hadOld: true})
	}
	cs.gone = cs.gone[:0]
	t := e.cfg.Topology
	t.mu.RLock()
	defer t.mu.RUnlock()
	if full {
		cs.valid = true
		cs.index = newCorrIndex()
		clear(cs.members)
		clear(cs.unitOf)
		ms := make([]member, 0, len(e.alerts))
		for _, s := range e.alerts {
			if s.corrIn {
				cs.members[s.fp] = s.corrM
				cs.index.update(t, s.corrM, 1)
				ms = append(ms, s.corrM)
			}
		}
		return correlationRound{ms: ms}
	}
	var seeds []Fingerprint
	dropped := map[*solvedUnit]bool{}
	drop := func(fp Fingerprint) {
		if u := cs.unitOf[fp]; u != nil && !dropped[u] {
			dropped[u] = true
			for _, f := range u.fps {
				if _, ok := cs.members[f]; ok {
					seeds = append(seeds, f)
				}
			}
		}
	}
	for _, c := range changes {
		if c.hadOld {
			cs.index.update(t, c.old, -1)
			delete(cs.members, c.old.fp)
		}
		if c.hasCur {
			cs.index.update(t, c.cur, 1)
			cs.members[c.cur.fp] = c.cur
		}
	}
	for _, c := range changes {
		if c.hadOld {
			drop(c.old.fp)
		}
		if c.hasCur {
			seeds = append(seeds, c.cur.fp)
		}
	}
	if len(seeds) == 0 {
		return correlationRound{dropped: dropped}
	}
	cur := cs.members
	region := cs.index.closure(t, &e.cfg.Correlation, cur, seeds)
	// The region is closed, so every unit it touches lies inside it; the
	// loop only guards that reasoning: a unit found partly outside is
	// taken whole and the closure extended.
	for {
		seeds = seeds[:0]
		for fp := range region {
			drop(fp)
		}
		grew := false
		for _, fp := range seeds {
			if !region[fp] {
				grew = true
				break
			}
		}
		if !grew {
			break
		}
		for fp := range cs.index.closure(t, &e.cfg.Correlation, cur, seeds) {
			region[fp] = true
		}
	}
	ms := make([]member, 0, len(region))
	for fp := range region {
		ms = append(ms, cur[fp])
	}
	return correlationRound{ms: ms, dropped: dropped}
}

// finishCorrelation replaces the dropped units by the new ones and applies
// the incidents; the engine's lock is held.
func (e *Engine) finishCorrelation(r correlationRound, units []*solvedUnit, now time.Time) {
	cs := &e.corr
	cs.solved += uint64(len(r.ms))
	var stale map[entityKey]bool
	if r.dropped != nil {
		stale = map[entityKey]bool{}
		for u := range r.dropped {
			for _, s := range u.sols {
				stale[s.key] = true
			}
			for _, fp := range u.fps {
				if cs.unitOf[fp] == u {
					delete(cs.unitOf, fp)
				}
			}
		}
	}
	var sols []solvedIncident
	for _, u := range units {
		for _, fp := range u.fps {
			cs.unitOf[fp] = u
		}
		sols = append(sols, u.sols...)
	}
	if stale != nil && len(sols) == 0 && len(stale) == 0 {
		return
	}
	e.applyIncidents(sols, stale, now)
}
