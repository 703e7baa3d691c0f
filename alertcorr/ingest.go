package alertcorr

import "time"

// Ingest receives alerts at the engine's current time, as Alertmanager's
// POST /api/v2/alerts: a zero start is the receive time, a zero end the
// receive time plus the resolve timeout. Malformed alerts are refused and
// counted, the others accepted; the error, if any, names the first
// refused one and how many were refused.
//
// Checking and fingerprinting happen before the engine's lock is taken,
// once per call; copying a new alert and finding its entity happen under
// it (taking the lock a second time for them cost more, measured, than it
// saved: see BENCHMARKS.md).
func (e *Engine) Ingest(alerts ...Alert) error {
	now := e.cfg.Now()
	var stackBuf [8]arrival
	batch := stackBuf[:0]
	if len(alerts) > len(stackBuf) {
		batch = make([]arrival, 0, len(alerts))
	}
	var first error
	refused, invalid, skew := 0, 0, 0
	for i := range alerts {
		ar, skewed, err := e.check(&alerts[i], now)
		if err != nil {
			invalid++
			refused++
			if first == nil {
				first = err
			}
			continue
		}
		if skewed {
			skew++
		}
		batch = append(batch, ar)
	}
	e.mu.Lock()
	if e.closed {
		e.mu.Unlock()
		return newError(ErrClosed, "engine closed")
	}
	e.stats.Invalid += uint64(invalid)
	e.stats.ClockSkew += uint64(skew)
	for i := range batch {
		ar := &batch[i]
		if old, ok := e.alerts[ar.fp]; ok && e.refresh(old, ar.in, ar.start, ar.end, ar.timeout, now) {
			continue
		}
		if err := e.put(ar, now); err != nil {
			refused++
			if first == nil {
				first = err
			}
		}
	}
	e.mu.Unlock()
	return refusedError(first, refused, len(alerts))
}

func refusedError(first error, refused, n int) error {
	if first != nil {
		return wrapError(ErrInvalid, first, "%d of %d alerts refused, first", refused, n)
	}
	return nil
}

// arrival is one alert of an Ingest call on its way in.
type arrival struct {
	in         *Alert
	fp         Fingerprint
	start, end time.Time
	timeout    bool
	prepared   *Alert // the copy to store
	ent        int32
	unknown    bool
}

// check validates and normalises one alert; it needs no lock.
func (e *Engine) check(in *Alert, now time.Time) (arrival, bool, error) {
	if len(in.Labels) == 0 {
		return arrival{}, false, newError(ErrInvalid, "alert has no labels")
	}
	if err := in.Labels.Validate(); err != nil {
		return arrival{}, false, err
	}
	if err := in.Annotations.Validate(); err != nil {
		return arrival{}, false, err
	}
	start, end, timeout, skewed := in.StartsAt, in.EndsAt, false, false
	if start.IsZero() {
		if end.IsZero() {
			start = now
		} else {
			start = end
		}
	}
	if start.After(now.Add(e.cfg.ClockSkew)) {
		skewed, start = true, now
	}
	if end.IsZero() {
		timeout, end = true, now.Add(e.cfg.ResolveTimeout)
	}
	if end.Before(start) {
		return arrival{}, false, newError(ErrInvalid, "alert %s ends at %s, before it starts at %s", in.Labels, end.Format(time.RFC3339), start.Format(time.RFC3339))
	}
	return arrival{in: in, fp: in.Labels.Fingerprint(), start: start, end: end, timeout: timeout, ent: -1}, skewed, nil
}

// prepare copies a new alert and finds its entity (the topology takes its
// own read lock).
func (e *Engine) prepare(ar *arrival, now time.Time) {
	in := ar.in
	a := &Alert{Labels: in.Labels.Clone(), Annotations: in.Annotations.Clone(), StartsAt: ar.start, EndsAt: ar.end, Timeout: ar.timeout, GeneratorURL: in.GeneratorURL, UpdatedAt: now}
	if len(a.GeneratorURL) > maxValueLen {
		a.GeneratorURL = a.GeneratorURL[:maxValueLen]
	}
	ar.prepared = a
	if t := e.cfg.Topology; t != nil {
		t.mu.RLock()
		ent, named := e.lookupEntity(t, a.Labels)
		t.mu.RUnlock()
		ar.ent, ar.unknown = ent, ent < 0 && named
	}
}

// put stores a new or changed alert; the lock is held. An alert that
// changed (a new start, annotations, a resolution) is merged with the
// stored one as Alertmanager merges.
func (e *Engine) put(ar *arrival, now time.Time) error {
	fp := ar.fp
	old, ok := e.alerts[fp]
	if !ok && len(e.alerts) >= e.cfg.MaxAlerts {
		e.stats.Refused++
		return newError(ErrInvalid, "alert %s refused: %d alerts held, the limit", ar.in.Labels, len(e.alerts))
	}
	e.stats.Received++
	e.prepare(ar, now)
	a := ar.prepared
	if ok {
		wasResolved := old.a.ResolvedAt(now)
		// As Alertmanager's API: merge only with an overlapping earlier
		// version; one that starts after the old one ended is a new firing.
		o := old.a
		if (a.EndsAt.After(o.StartsAt) && a.EndsAt.Before(o.EndsAt)) || (a.StartsAt.After(o.StartsAt) && a.StartsAt.Before(o.EndsAt)) || a.StartsAt.Equal(o.StartsAt) {
			a = merge(o, a)
		} else {
			delete(e.suppress, fp)
		}
		if wasResolved && !a.ResolvedAt(now) {
			old.firstSeen = now
		}
		old.a = a
		if wasResolved != a.ResolvedAt(now) {
			e.dirty = true
		}
		e.trackChange(fp)
		e.trackTime(old, now)
	} else {
		if ar.unknown {
			e.stats.UnknownEntity++
		}
		old = &storedAlert{a: a, fp: fp, ent: ar.ent, firstSeen: now, unreachable: e.unreach[a.Labels["alertname"]]}
		e.alerts[fp] = old
		e.dirty = true
		e.trackChange(fp)
		e.trackTime(old, now)
	}
	e.inhibit.observe(a, fp)
	if e.cfg.Topology == nil {
		e.disp.insert(a, fp, now)
	}
	return nil
}

// refresh updates a stored alert in place when the new version keeps its
// start, annotations and firing state, and reports whether it did; the
// lock is held. The merge rules are merge's: the earliest start, an
// explicit end not overridden by a timeout.
func (e *Engine) refresh(old *storedAlert, in *Alert, start, end time.Time, timeout bool, now time.Time) bool {
	a := old.a
	if start.Before(a.StartsAt) || !sameLabels(a.Annotations, in.Annotations) || in.GeneratorURL != a.GeneratorURL {
		return false
	}
	newEnd, newTimeout := end, timeout
	resolved := !end.After(now)
	if !resolved && a.EndsAt.After(end) && !a.Timeout {
		newEnd, newTimeout = a.EndsAt, false
	}
	if a.ResolvedAt(now) != !newEnd.After(now) || resolved != a.ResolvedAt(now) {
		return false
	}
	e.stats.Received++
	if newEnd.Equal(a.EndsAt) && newTimeout == a.Timeout {
		e.stats.Duplicates++
	}
	if newEnd.Before(e.nextEval) {
		e.nextEval = newEnd
	}
	earlier := newEnd.Before(a.EndsAt)
	a.EndsAt, a.Timeout, a.UpdatedAt = newEnd, newTimeout, now
	if earlier {
		// A later end needs nothing: the pending timer finds it and
		// moves on; an earlier one must not be missed.
		e.trackTime(old, now)
	}
	return true
}

func sameLabels(a, b Labels) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if w, ok := b[k]; !ok || w != v {
			return false
		}
	}
	return true
}

// entityOf finds the most specific entity the labels name, or -1, and
// counts an alert that names one the topology lacks.
func (e *Engine) entityOf(l Labels) int32 {
	t := e.cfg.Topology
	t.mu.RLock()
	defer t.mu.RUnlock()
	i, named := e.lookupEntity(t, l)
	if i < 0 && named {
		e.stats.UnknownEntity++
	}
	return i
}

// resolveEntities finds every held alert's entity again: a topology change
// may have removed one, added one an alert named in vain, or given a freed
// index to another entity. The engine's lock is held.
func (e *Engine) resolveEntities() {
	t := e.cfg.Topology
	t.mu.RLock()
	defer t.mu.RUnlock()
	for _, s := range e.alerts {
		s.ent, _ = e.lookupEntity(t, s.a.Labels)
	}
}

// lookupEntity finds the most specific entity the labels name, or -1, and
// whether they name any; the topology's read lock is held.
func (e *Engine) lookupEntity(t *Topology, l Labels) (int32, bool) {
	named := false
	for _, k := range specificity() {
		for _, name := range e.cfg.Correlation.KindLabels[k] {
			v := l[name]
			if v == "" {
				continue
			}
			named = true
			if i, ok := t.lookup(k, v); ok {
				return i, true
			}
			// Prometheus's instance label is host:port.
			if j := lastColon(v); j > 0 {
				if i, ok := t.lookup(k, v[:j]); ok {
					return i, true
				}
			}
		}
	}
	return -1, named
}

func lastColon(s string) int {
	for i := len(s) - 1; i >= 0; i-- {
		if s[i] == ':' {
			return i
		}
		if s[i] < '0' || s[i] > '9' {
			return -1
		}
	}
	return -1
}
