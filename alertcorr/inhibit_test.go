package alertcorr

import (
	"testing"
	"time"
)

// The cases of Alertmanager's TestInhibitRuleMatches: two rules with an
// equal label, source alerts for each, one matching both sides.
func TestInhibitRuleMatches(t *testing.T) {
	c := newClock()
	e := mustEngine(t, Config{Now: c.Now, InhibitRules: []InhibitRule{
		{Source: ms(t, `s1="1"`), Target: ms(t, `t1="1"`), Equal: []string{"e"}},
		{Source: ms(t, `s2="1"`), Target: ms(t, `t2="1"`), Equal: []string{"e"}},
	}})
	mustIngest(t, e,
		Alert{Labels: Labels{"s1": "1", "t1": "2", "e": "1"}, StartsAt: c.Now().Add(-time.Minute), EndsAt: c.Now().Add(time.Hour)},
		Alert{Labels: Labels{"s2": "1", "t2": "1", "e": "1"}, StartsAt: c.Now().Add(-time.Minute), EndsAt: c.Now().Add(time.Hour)},
	)
	tests := []struct {
		target Labels
		want   bool
	}{
		{Labels{"t1": "1", "e": "1"}, true},
		{Labels{"t2": "1", "e": "1"}, true},
		{Labels{"t1": "1", "t3": "1", "e": "1"}, true},
		{Labels{"t1": "1", "t2": "1", "e": "1"}, true},
		{Labels{"t1": "0", "e": "1"}, false},
		// Both sides of rule 1, but its source matches only the source side.
		{Labels{"s1": "1", "t1": "1", "e": "1"}, true},
		// Both sides of rule 2, and so does its only source: not muted.
		{Labels{"s2": "1", "t2": "1", "e": "1"}, false},
		{Labels{"s2": "1", "t2": "1", "e": "1", "x": "another"}, false},
		{Labels{"t1": "1", "e": "0"}, false},
		// A missing equal label is the empty value, unequal to "1".
		{Labels{"t1": "1"}, false},
	}
	for _, tt := range tests {
		if _, _, got := e.Muted(tt.target); got != tt.want {
			t.Errorf("Muted(%s) inhibited = %v, want %v", tt.target, got, tt.want)
		}
	}
}

// Alertmanager's TestInhibitRuleHasEqual: a resolved source inhibits
// nothing; no equal labels means any firing source inhibits; a missing
// label on both sides is equal.
func TestInhibitHasEqual(t *testing.T) {
	tests := []struct {
		name    string
		sources []Alert
		equal   []string
		target  Labels
		want    bool
	}{
		{"no sources", nil, nil, Labels{"a": "b"}, false},
		{"no equal labels", []Alert{{Labels: Labels{"src": "1"}}}, nil, Labels{"a": "b"}, true},
		{"matching but resolved", []Alert{{Labels: Labels{"src": "1", "a": "b", "b": "c"}, EndsAt: time.Unix(1, 0)}}, []string{"a", "b"}, Labels{"a": "b", "b": "c"}, false},
		{"matching and firing", []Alert{{Labels: Labels{"src": "1", "a": "b", "c": "f"}}}, []string{"a"}, Labels{"a": "b"}, true},
		{"equal label differs", []Alert{{Labels: Labels{"src": "1", "a": "c"}}}, []string{"a"}, Labels{"a": "b"}, false},
		{"missing on both sides is equal", []Alert{{Labels: Labels{"src": "1"}}}, []string{"zone"}, Labels{"a": "b"}, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := newClock()
			e := mustEngine(t, Config{Now: c.Now, InhibitRules: []InhibitRule{{Source: ms(t, `src="1"`), Target: ms(t, `a="b"`), Equal: tt.equal}}})
			for _, s := range tt.sources {
				if !s.EndsAt.IsZero() {
					s.StartsAt = time.Unix(0, 0)
				}
				mustIngest(t, e, s)
			}
			if _, _, got := e.Muted(tt.target); got != tt.want {
				t.Fatalf("inhibited = %v, want %v", got, tt.want)
			}
		})
	}
}

// An inhibited alert is left out of the notification; when its source
// resolves it is sent.
func TestInhibitedAlertNotNotified(t *testing.T) {
	c := newClock()
	rec := &recorder{}
	e := mustEngine(t, Config{
		Now: c.Now, Notifier: rec, Route: &Route{Receiver: "r", GroupBy: []string{"alertname"}, GroupWait: time.Second, GroupInterval: time.Minute},
		InhibitRules: []InhibitRule{{Source: ms(t, `alertname="HostDown"`), Target: ms(t, `alertname="ContainerDown"`), Equal: []string{"host"}}},
	})
	mustIngest(t, e,
		Alert{Labels: Labels{"alertname": "HostDown", "host": "h1"}},
		Alert{Labels: Labels{"alertname": "ContainerDown", "host": "h1", "c": "c1"}},
		Alert{Labels: Labels{"alertname": "ContainerDown", "host": "h2", "c": "c2"}},
	)
	step(t, e, c, time.Second)
	got := rec.take()
	var sent []string
	for _, n := range got {
		sent = append(sent, summary(n)...)
	}
	if len(sent) != 2 || sent[0] == "c1:firing" || sent[1] == "c1:firing" {
		t.Fatalf("sent %v, want HostDown and c2 but not c1", sent)
	}
	mustIngest(t, e, Alert{Labels: Labels{"alertname": "HostDown", "host": "h1"}, StartsAt: c.Now().Add(-time.Second), EndsAt: c.Now()})
	step(t, e, c, time.Minute)
	sent = nil
	for _, n := range rec.take() {
		sent = append(sent, summary(n)...)
	}
	found := false
	for _, s := range sent {
		if s == "c1:firing" {
			found = true
		}
	}
	if !found {
		t.Fatalf("after the source resolved sent %v, want c1 firing", sent)
	}
}
