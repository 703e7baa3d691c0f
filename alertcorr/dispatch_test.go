package alertcorr

import (
	"errors"
	"slices"
	"testing"
	"time"
)

// The cases of Alertmanager's TestAggrGroup, stepped with an injected
// clock instead of waited for, and through the dedup stage (the
// notification log) that sits behind the aggregation group there.
func TestAggregationGroup(t *testing.T) {
	c := newClock()
	rec := &recorder{}
	route := &Route{Receiver: "n1", GroupBy: []string{"a", "b"}, GroupWait: time.Second, GroupInterval: 300 * time.Millisecond, RepeatInterval: time.Hour}
	e := mustEngine(t, Config{Route: route, Notifier: rec, Now: c.Now})
	t0 := c.Now()
	alert := func(v string, start, end time.Duration) Alert {
		return Alert{Labels: Labels{"a": "v1", "b": "v2", "c": v}, StartsAt: t0.Add(start), EndsAt: t0.Add(end)}
	}
	a1, a2, a3 := alert("a1", 0, time.Hour), alert("a2", -time.Hour, 2*time.Hour), alert("a3", 0, 5*time.Hour)

	mustIngest(t, e, a1)
	step(t, e, c, 999*time.Millisecond)
	if got := rec.take(); len(got) != 0 {
		t.Fatalf("notified before group_wait: %v", got)
	}
	step(t, e, c, time.Millisecond)
	got := rec.take()
	if len(got) != 1 || !slices.Equal(summary(got[0]), []string{"a1:firing"}) {
		t.Fatalf("after group_wait got %v, want one notification with a1 firing", got)
	}
	n := got[0]
	if n.Receiver != "n1" || n.GroupLabels.String() != `{a="v1", b="v2"}` || !n.Alerts[0].EndsAt.IsZero() {
		t.Fatalf("notification receiver %q group labels %s ends %v; want n1, {a,b}, firing without end", n.Receiver, n.GroupLabels, n.Alerts[0].EndsAt)
	}

	// A new alert comes out one group_interval after the last flush.
	mustIngest(t, e, a3)
	step(t, e, c, 299*time.Millisecond)
	if got := rec.take(); len(got) != 0 {
		t.Fatalf("notified before group_interval: %v", got)
	}
	step(t, e, c, time.Millisecond)
	if got := rec.take(); len(got) != 1 || !slices.Equal(summary(got[0]), []string{"a1:firing", "a3:firing"}) {
		t.Fatalf("after group_interval got %v, want a1 and a3 firing", got)
	}
	// Unchanged: nothing until the repeat interval.
	for range 3 {
		step(t, e, c, 300*time.Millisecond)
	}
	if got := rec.take(); len(got) != 0 {
		t.Fatalf("unchanged group notified again before repeat_interval: %v", got)
	}

	// Resolving a1: the next flush carries it resolved, then it leaves.
	a1r := a1
	a1r.EndsAt = c.Now()
	mustIngest(t, e, a1r)
	step(t, e, c, 300*time.Millisecond)
	if got := rec.take(); len(got) != 1 || !slices.Equal(summary(got[0]), []string{"a1:resolved", "a3:firing"}) {
		t.Fatalf("after resolving a1 got %v, want a1 resolved and a3 firing", got)
	}
	step(t, e, c, 300*time.Millisecond)
	if got := rec.take(); len(got) != 0 {
		t.Fatalf("resolved alert notified twice: %v", got)
	}

	// Repeat interval: the same firing set is sent again after an hour.
	step(t, e, c, time.Hour)
	if got := rec.take(); len(got) != 1 || !slices.Equal(summary(got[0]), []string{"a3:firing"}) {
		t.Fatalf("after repeat_interval got %v, want a3 firing again", got)
	}

	// Resolving everything: one last notification, then the group is gone.
	a3r := a3
	a3r.EndsAt = c.Now()
	mustIngest(t, e, a3r)
	step(t, e, c, 300*time.Millisecond)
	if got := rec.take(); len(got) != 1 || !slices.Equal(summary(got[0]), []string{"a3:resolved"}) {
		t.Fatalf("after resolving all got %v, want a3 resolved", got)
	}
	e.mu.Lock()
	groups := len(e.disp.groups)
	e.mu.Unlock()
	if groups != 0 {
		t.Fatalf("%d groups left after all alerts resolved and were sent, want 0", groups)
	}

	// An alert that started long ago skips group_wait in a new group.
	mustIngest(t, e, a2)
	step(t, e, c, time.Millisecond)
	if got := rec.take(); len(got) != 1 || !slices.Equal(summary(got[0]), []string{"a2:firing"}) {
		t.Fatalf("old alert in a new group got %v, want it at once", got)
	}
}

// An alert that fires and resolves within group_wait is never sent:
// the receiver never knew of it (Alertmanager's needsUpdate).
func TestResolvedBeforeFirstFlushIsNotSent(t *testing.T) {
	c := newClock()
	rec := &recorder{}
	e := mustEngine(t, Config{Route: &Route{Receiver: "r", GroupWait: 10 * time.Second}, Notifier: rec, Now: c.Now})
	mustIngest(t, e, Alert{Labels: Labels{"alertname": "Blip"}, StartsAt: c.Now(), EndsAt: c.Now().Add(2 * time.Second)})
	step(t, e, c, 10*time.Second)
	if got := rec.take(); len(got) != 0 {
		t.Fatalf("got %v, want nothing for an alert resolved before its first flush", got)
	}
}

// Without an end time an alert resolves after the resolve timeout unless
// it is sent again; a sender's explicit end is not overridden by it.
func TestResolveTimeout(t *testing.T) {
	c := newClock()
	rec := &recorder{}
	e := mustEngine(t, Config{Route: &Route{Receiver: "r", GroupWait: time.Second, GroupInterval: time.Minute}, ResolveTimeout: 5 * time.Minute, Notifier: rec, Now: c.Now})
	a := Alert{Labels: Labels{"alertname": "Load"}}
	mustIngest(t, e, a)
	step(t, e, c, time.Second)
	if got := rec.take(); len(got) != 1 || got[0].Firing() != 1 {
		t.Fatalf("got %v, want the alert firing", got)
	}
	// Renewed at 4 min: still firing at 6 min.
	c.Add(4 * time.Minute)
	mustIngest(t, e, a)
	step(t, e, c, 2*time.Minute)
	if al := e.Alerts(); len(al) != 1 || al[0].ResolvedAt(c.Now()) {
		t.Fatalf("renewed alert resolved at 6 min: %+v", al)
	}
	// Not renewed: resolved 5 min after the last renewal.
	step(t, e, c, 3*time.Minute+time.Second)
	got := rec.take()
	if len(got) == 0 || got[len(got)-1].Firing() != 0 {
		t.Fatalf("got %v, want a resolved notification after the timeout", got)
	}

	// An explicit end time is kept when a later arrival has only a timeout.
	end := c.Now().Add(time.Hour)
	b := Alert{Labels: Labels{"alertname": "Disk"}, StartsAt: c.Now(), EndsAt: end}
	mustIngest(t, e, b)
	c.Add(time.Second)
	mustIngest(t, e, Alert{Labels: b.Labels})
	for _, al := range e.Alerts() {
		if al.Name() == "Disk" && !al.EndsAt.Equal(end) {
			t.Fatalf("explicit end %v replaced by %v", end, al.EndsAt)
		}
	}
}

// A receiver that fails is retried at the next flush, and what it did not
// get is not recorded as sent.
func TestNotifyFailureRetries(t *testing.T) {
	c := newClock()
	rec := &recorder{fail: errors.New("connection refused")}
	e := mustEngine(t, Config{Route: &Route{Receiver: "r", GroupWait: time.Second, GroupInterval: time.Minute}, Notifier: rec, Now: c.Now})
	mustIngest(t, e, Alert{Labels: Labels{"alertname": "X"}})
	if err := e.Advance(t.Context(), c.Add(time.Second)); !errors.Is(err, ErrUnavailable) {
		t.Fatalf("Advance with a failing receiver: %v, want ErrUnavailable", err)
	}
	rec.mu.Lock()
	rec.fail = nil
	rec.mu.Unlock()
	step(t, e, c, time.Minute)
	if got := rec.take(); len(got) != 1 {
		t.Fatalf("after the receiver recovered got %d notifications, want 1", len(got))
	}
	if s := e.Stats(); s.NotifyFailures != 1 || s.Notifications != 1 {
		t.Fatalf("stats %+v, want 1 failure and 1 notification", s)
	}
}

// An alert from a sender whose clock runs ahead is clamped to the receive
// time and counted, not held back until its future start.
func TestClockSkewClamped(t *testing.T) {
	c := newClock()
	rec := &recorder{}
	e := mustEngine(t, Config{Now: c.Now, Notifier: rec, Route: &Route{Receiver: "r", GroupWait: time.Second}})
	mustIngest(t, e,
		Alert{Labels: Labels{"alertname": "Ahead"}, StartsAt: c.Now().Add(time.Hour)},
		Alert{Labels: Labels{"alertname": "Slightly"}, StartsAt: c.Now().Add(30 * time.Second)})
	step(t, e, c, time.Second)
	if got := rec.take(); len(got) != 1 || got[0].Firing() != 2 {
		t.Fatalf("got %v, want both alerts firing", got)
	}
	for _, a := range e.Alerts() {
		if a.Name() == "Ahead" && !a.StartsAt.Equal(c.Now().Add(-time.Second)) {
			t.Fatalf("skewed start %v not clamped to the receive time", a.StartsAt)
		}
	}
	if s := e.Stats(); s.ClockSkew != 1 {
		t.Fatalf("ClockSkew = %d, want 1 (30 s is within the tolerance)", s.ClockSkew)
	}
}
