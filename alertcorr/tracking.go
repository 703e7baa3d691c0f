package alertcorr

import "time"

// What makes an alert enter or leave the correlation input between two
// rounds: its arrival or change (touched) and time (timers for coming of
// age and ending). Only correlation (a Topology) keeps them.

// timer is when an alert's place in the input may change by time alone.
type timer struct {
	at time.Time
	fp Fingerprint
}

// timerHeap is a min-heap by time, without container/heap's interface
// (which boxes every pushed value: an allocation per arriving alert).
type timerHeap []timer

func (h *timerHeap) push(t timer) {
	*h = append(*h, t)
	q := *h
	for i := len(q) - 1; i > 0; {
		p := (i - 1) / 2
		if !q[i].at.Before(q[p].at) {
			break
		}
		q[i], q[p] = q[p], q[i]
		i = p
	}
}

func (h *timerHeap) pop() timer {
	q := *h
	top := q[0]
	last := len(q) - 1
	q[0] = q[last]
	q = q[:last]
	for i := 0; ; {
		l, small := 2*i+1, i
		if l < len(q) && q[l].at.Before(q[small].at) {
			small = l
		}
		if r := l + 1; r < len(q) && q[r].at.Before(q[small].at) {
			small = r
		}
		if small == i {
			break
		}
		q[i], q[small] = q[small], q[i]
		i = small
	}
	*h = q
	return top
}

// touch notes an alert that may have entered or left the input. Without
// rounds to drain them (no Advance), the notes are bounded: past the
// alerts held, the next round looks at every alert instead.
func (cs *corrState) touch(fp Fingerprint, held int) {
	if cs.scanAll {
		return
	}
	if len(cs.touched) > held+1024 {
		cs.touched, cs.scanAll = cs.touched[:0], true
		return
	}
	cs.touched = append(cs.touched, fp)
}

// schedule makes sure a timer is pending for the alert's next time after
// now (coming of age, ending) unless one is due sooner already; the
// engine's lock is held.
func (cs *corrState) schedule(s *storedAlert, window time.Duration, now time.Time) {
	next := time.Time{}
	for _, at := range []time.Time{s.firstSeen.Add(window), s.a.EndsAt} {
		if at.After(now) && (next.IsZero() || at.Before(next)) {
			next = at
		}
	}
	if next.IsZero() || (!s.timerAt.IsZero() && !s.timerAt.After(next)) {
		return
	}
	s.timerAt = next
	cs.timers.push(timer{at: next, fp: s.fp})
}

// compactTimers drops superseded timers once they outnumber the alerts,
// so the heap stays bounded when rounds are rare; the engine's lock is
// held.
func (cs *corrState) compactTimers(alerts map[Fingerprint]*storedAlert) {
	if len(cs.timers) <= 2*len(alerts)+1024 {
		return
	}
	cs.timers = cs.timers[:0]
	for _, s := range alerts {
		if !s.timerAt.IsZero() {
			cs.timers.push(timer{at: s.timerAt, fp: s.fp})
		}
	}
}

// popDue takes the timers due at now and returns their alerts; each gets
// its next timer. A timer superseded by a sooner one is dropped.
func (cs *corrState) popDue(e *Engine, now time.Time) map[Fingerprint]struct{} {
	due := map[Fingerprint]struct{}{}
	for len(cs.timers) > 0 && !cs.timers[0].at.After(now) {
		tm := cs.timers.pop()
		s, ok := e.alerts[tm.fp]
		if !ok || !s.timerAt.Equal(tm.at) {
			continue
		}
		s.timerAt = time.Time{}
		due[tm.fp] = struct{}{}
		cs.schedule(s, e.cfg.Correlation.Window, now)
	}
	return due
}

// trackChange notes an alert whose place in the input may have changed,
// when there is correlation; the engine's lock is held.
func (e *Engine) trackChange(fp Fingerprint) {
	if e.cfg.Topology != nil {
		e.corr.touch(fp, len(e.alerts))
	}
}

// trackTime schedules the alert's next timer, when there is correlation;
// the engine's lock is held.
func (e *Engine) trackTime(s *storedAlert, now time.Time) {
	if e.cfg.Topology != nil {
		e.corr.schedule(s, e.cfg.Correlation.Window, now)
		e.corr.compactTimers(e.alerts)
	}
}
