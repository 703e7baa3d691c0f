package alertcorr

import (
	"errors"
	"fmt"
	"hash/fnv"
	"slices"
	"strconv"
	"strings"
	"time"
)

// correlationInput calls visit for every alert held, saying whether it is
// to be correlated at now (inputOf), and sets when time alone changes the
// input next; the lock is held.
func (e *Engine) correlationInput(now time.Time, visit func(s *storedAlert, m member, in bool)) {
	next := e.silenceNext(now)
	soonest := func(at time.Time) {
		if at.After(now) && at.Before(next) {
			next = at
		}
	}
	for _, s := range e.alerts {
		soonest(s.a.EndsAt)
		soonest(s.firstSeen.Add(e.cfg.Correlation.Window))
		m, in := e.inputOf(s, now)
		visit(s, m, in)
	}
	e.nextEval = next
}

// inputOf says whether the alert is to be correlated at now: firing, past
// the correlation window, not muted, not resolved with its root; the lock
// is held.
func (e *Engine) inputOf(s *storedAlert, now time.Time) (member, bool) {
	a := s.a
	if a.ResolvedAt(now) || s.firstSeen.Add(e.cfg.Correlation.Window).After(now) {
		return member{}, false
	}
	if at, ok := e.suppress[s.fp]; ok && !a.StartsAt.After(at) {
		return member{}, false
	}
	if e.muted(a.Labels, now) {
		return member{}, false
	}
	// Label maps are never changed once stored, so the solver may read
	// them without the engine's lock.
	return member{fp: s.fp, labels: a.Labels, ent: s.ent, unreachable: s.unreachable}, true
}

// silenceNext is the next time after now a silence starts or ends, or
// now plus the retention.
func (e *Engine) silenceNext(now time.Time) time.Time {
	next := now.Add(e.cfg.Retention)
	for _, si := range e.silences.byID {
		for _, at := range []time.Time{si.StartsAt, si.EndsAt} {
			if at.After(now) && at.Before(next) {
				next = at
			}
		}
	}
	return next
}

// solvedIncident is one group of the solver with its root resolved to an
// entity.
type solvedIncident struct {
	key      entityKey
	root     Entity
	rule     string
	evidence []string
	fps      []Fingerprint
}

// solvedUnit is one component of the solver's result: its members and the
// incidents they form. Nothing outside it changes them.
type solvedUnit struct {
	fps  []Fingerprint
	sols []solvedIncident
}

// solveIncidents runs the solver; it takes only the topology's read lock,
// so ingest goes on meanwhile. It returns the result by component.
func solveIncidents(t *Topology, c *Correlation, ms []member) []*solvedUnit {
	t.mu.RLock()
	defer t.mu.RUnlock()
	sols, comp := solve(t, c, ms)
	units := map[int32]*solvedUnit{}
	unit := func(i int) *solvedUnit {
		u := units[comp[i]]
		if u == nil {
			u = &solvedUnit{}
			units[comp[i]] = u
		}
		return u
	}
	for i := range ms {
		u := unit(i)
		u.fps = append(u.fps, ms[i].fp)
	}
	for _, s := range sols {
		si := solvedIncident{rule: s.rule, evidence: s.evidence}
		if s.root >= 0 {
			si.root = t.entity(s.root)
		} else {
			si.root = Entity{Kind: KindUnknown, ID: ms[s.members[0]].fp.String()}
		}
		si.key = entityKey{si.root.Kind, si.root.ID}
		si.fps = make([]Fingerprint, len(s.members))
		for i, m := range s.members {
			si.fps[i] = ms[m].fp
		}
		slices.Sort(si.fps)
		u := unit(s.members[0])
		u.sols = append(u.sols, si)
	}
	out := make([]*solvedUnit, 0, len(units))
	for _, k := range sortedKeys(units) {
		out = append(out, units[k])
	}
	return out
}

// applyIncidents opens, updates and closes incidents to match what the
// solver found at now; the lock is held.
// Only the incidents whose keys are in stale may close (nil: any), the
// others belong to components the round did not recompute.
func (e *Engine) applyIncidents(sols []solvedIncident, stale map[entityKey]bool, now time.Time) {
	seen := map[entityKey]bool{}
	owner := map[Fingerprint]string{}
	for _, s := range sols {
		seen[s.key] = true
		fps := s.fps
		in, ok := e.incidents[s.key]
		if !ok {
			in = &Incident{Root: s.root, StartsAt: now, Labels: e.commonLabels(fps)}
			in.ID = incidentID(s.root, now)
			e.incidents[s.key] = in
			e.stats.IncidentsOpened++
			e.persist = true
		}
		for _, fp := range fps {
			owner[fp] = in.ID
		}
		changed := !ok || in.Rule != s.rule || !slices.Equal(in.Members, fps) || !slices.Equal(in.Evidence, s.evidence)
		if !changed {
			continue
		}
		e.setMembers(s.key, in, fps)
		in.Rule, in.Evidence = s.rule, s.evidence
		in.MemberLabels = in.MemberLabels[:0]
		for _, fp := range fps[:min(len(fps), e.cfg.Correlation.MaxListedMembers)] {
			in.MemberLabels = append(in.MemberLabels, e.alerts[fp].a.Labels)
		}
		e.emit(in, now)
	}
	closing := sortedKeysEntity(e.incidents)
	if stale != nil {
		closing = sortedKeysEntity(stale)
	}
	for _, key := range closing {
		in, open := e.incidents[key]
		if !open || seen[key] || now.Before(e.holdUntil) {
			continue
		}
		in.Reason = "members resolved"
		votes := map[string]int{}
		for _, fp := range in.Members {
			if id, ok := owner[fp]; ok {
				votes[id]++
			}
		}
		best, n := "", 0
		for id, v := range votes {
			if v > n || (v == n && id < best) {
				best, n = id, v
			}
		}
		if best != "" {
			in.Reason = "merged into " + best
		}
		e.close(key, in, now)
	}
}

// resolveByRoot closes the incidents whose root alerted itself and no
// longer does: their remaining members resolve with them (they are kept
// out of correlation until they fire anew); the lock is held.
//
// Only the incidents with a member among changed are looked at (nil: all):
// a root alert resolves by arriving resolved or by its end passing, and
// either puts it among the changed alerts of the round.
func (e *Engine) resolveByRoot(now time.Time, changed map[Fingerprint]struct{}) {
	t := e.cfg.Topology
	t.mu.RLock()
	defer t.mu.RUnlock()
	keys := sortedKeysEntity(e.incidents)
	if changed != nil {
		look := map[entityKey]bool{}
		for fp := range changed {
			if k, ok := e.incidentOf[fp]; ok {
				look[k] = true
			}
		}
		keys = sortedKeysEntity(look)
	}
	for _, key := range keys {
		in, open := e.incidents[key]
		if !open || key.kind == KindUnknown {
			continue
		}
		rootAlerted, rootFiring := false, false
		for _, fp := range in.Members {
			s, ok := e.alerts[fp]
			if !ok || !isRootAlert(t, s, in) {
				continue
			}
			rootAlerted = true
			if !s.a.ResolvedAt(now) {
				rootFiring = true
			}
		}
		if !rootAlerted || rootFiring {
			continue
		}
		for _, fp := range in.Members {
			if s, ok := e.alerts[fp]; ok && !s.a.ResolvedAt(now) {
				e.suppress[fp] = now
				e.trackChange(fp)
			}
		}
		in.Reason = "root resolved"
		e.close(key, in, now)
	}
}

// isRootAlert reports whether s is an alert on the incident's root itself;
// the topology's read lock is held.
func isRootAlert(t *Topology, s *storedAlert, in *Incident) bool {
	if s.ent < 0 || int(s.ent) >= len(t.nodes) {
		return false
	}
	n := &t.nodes[s.ent]
	return n.kind == in.Root.Kind && n.id == in.Root.ID
}

// close resolves an open incident at now; the lock is held.
// setMembers gives the incident its members and keeps incidentOf, the
// index from an alert to its open incident; the lock is held.
func (e *Engine) setMembers(key entityKey, in *Incident, fps []Fingerprint) {
	for _, fp := range in.Members {
		if e.incidentOf[fp] == key {
			delete(e.incidentOf, fp)
		}
	}
	in.Members = fps
	for _, fp := range fps {
		e.incidentOf[fp] = key
	}
}

func (e *Engine) close(key entityKey, in *Incident, now time.Time) {
	in.EndsAt = now
	for _, fp := range in.Members {
		if e.incidentOf[fp] == key {
			delete(e.incidentOf, fp)
		}
	}
	delete(e.incidents, key)
	e.closedInc = append(e.closedInc, in)
	e.stats.IncidentsClosed++
	e.persist = true
	e.emit(in, now)
}

// emit puts the incident's alert (a new version of it) into the
// dispatcher; the lock is held.
func (e *Engine) emit(in *Incident, now time.Time) {
	a := e.incidentAlert(in, now)
	fp := a.Fingerprint()
	e.incAlerts[in.ID] = fp
	e.inhibit.observe(a, fp)
	e.disp.insert(a, fp, now)
}

// incidentAlert renders an incident as the alert it is sent as: labels
// that stay fixed for its life, annotations with root, rule, evidence and
// members.
func (e *Engine) incidentAlert(in *Incident, now time.Time) *Alert {
	c := &e.cfg.Correlation
	l := in.Labels.Clone()
	if l == nil {
		l = Labels{}
	}
	if names := c.KindLabels[in.Root.Kind]; len(names) > 0 {
		l[names[0]] = in.Root.ID
	}
	l["alertname"], l["incident"], l["root"], l["root_kind"] = c.IncidentAlertName, in.ID, in.Root.ID, in.Root.Kind.String()
	var lines []string
	for _, ml := range in.MemberLabels {
		lines = append(lines, ml.String())
	}
	if extra := len(in.Members) - len(in.MemberLabels); extra > 0 {
		lines = append(lines, fmt.Sprintf("… and %d more", extra))
	}
	ann := Labels{
		"summary":  fmt.Sprintf("%s %s explains %d alerts (%s)", in.Root.Kind, in.Root.ID, len(in.Members), in.Rule),
		"rule":     in.Rule,
		"evidence": truncateText(strings.Join(in.Evidence, "\n")),
		"members":  strconv.Itoa(len(in.Members)),
		"alerts":   truncateText(strings.Join(lines, "\n")),
	}
	if in.Reason != "" {
		ann["resolution"] = in.Reason
	}
	return &Alert{Labels: l, Annotations: ann, StartsAt: in.StartsAt, EndsAt: in.EndsAt, UpdatedAt: now}
}

// commonLabels returns what the members' labels share, without alertname
// and the entity labels, and their highest severity; the lock is held.
func (e *Engine) commonLabels(fps []Fingerprint) Labels {
	skip := map[string]bool{"alertname": true}
	for _, names := range e.cfg.Correlation.KindLabels {
		for _, n := range names {
			skip[n] = true
		}
	}
	var out Labels
	rank := map[string]int{"info": 1, "warning": 2, "critical": 3}
	severity := ""
	for i, fp := range fps {
		l := e.alerts[fp].a.Labels
		if rank[l["severity"]] > rank[severity] {
			severity = l["severity"]
		}
		if i == 0 {
			out = Labels{}
			for k, v := range l {
				if !skip[k] && k != "severity" {
					out[k] = v
				}
			}
			continue
		}
		for k, v := range out {
			if l[k] != v {
				delete(out, k)
			}
		}
	}
	if severity != "" {
		out["severity"] = severity
	}
	return out
}

func truncateText(s string) string {
	if len(s) > maxValueLen {
		return s[:maxValueLen-3] + "…"
	}
	return s
}

// incidentID is a stable id from the root and the opening time.
func incidentID(root Entity, at time.Time) string {
	h := fnv.New64a()
	_, _ = fmt.Fprintf(h, "%s\xff%s\xff%d", root.Kind, root.ID, at.UnixNano())
	return Fingerprint(h.Sum64()).String()
}

func sortedKeysEntity[V any](m map[entityKey]V) []entityKey {
	out := make([]entityKey, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	slices.SortFunc(out, func(a, b entityKey) int {
		if a.kind != b.kind {
			return int(a.kind) - int(b.kind)
		}
		return compareStrings(a.id, b.id)
	})
	return out
}

// Incidents returns the open incidents, sorted by id.
func (e *Engine) Incidents() []Incident {
	e.mu.Lock()
	defer e.mu.Unlock()
	out := make([]Incident, 0, len(e.incidents))
	for _, in := range e.incidents {
		out = append(out, *in)
	}
	slices.SortFunc(out, func(a, b Incident) int { return compareStrings(a.ID, b.ID) })
	return out
}

// ClosedIncidents returns the incidents resolved within the retention, in
// the order they resolved.
func (e *Engine) ClosedIncidents() []Incident {
	e.mu.Lock()
	defer e.mu.Unlock()
	out := make([]Incident, len(e.closedInc))
	for i, in := range e.closedInc {
		out[i] = *in
	}
	return out
}

func joinErrors(es []error) error {
	switch len(es) {
	case 0:
		return nil
	case 1:
		return es[0]
	}
	return wrapError(ErrUnavailable, errors.Join(es[1:]...), "%d failures, first %v; then", len(es), es[0])
}
