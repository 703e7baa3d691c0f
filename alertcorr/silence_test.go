package alertcorr

import (
	"context"
	"errors"
	"slices"
	"testing"
	"time"
)

// Alertmanager's validateSilence cases.
func TestSilenceValidation(t *testing.T) {
	c := newClock()
	e := mustEngine(t, Config{Now: c.Now})
	now := c.Now()
	tests := []struct {
		name string
		s    Silence
		ok   bool
	}{
		{"valid", Silence{Matchers: ms(t, `a="b"`), EndsAt: now.Add(time.Hour)}, true},
		{"no matchers", Silence{EndsAt: now.Add(time.Hour)}, false},
		{"only empty matchers", Silence{Matchers: ms(t, `a="", b=~".*"`), EndsAt: now.Add(time.Hour)}, false},
		{"one non-empty matcher is enough", Silence{Matchers: ms(t, `a="", b="x"`), EndsAt: now.Add(time.Hour)}, true},
		{"ends before it starts", Silence{Matchers: ms(t, `a="b"`), StartsAt: now.Add(time.Hour), EndsAt: now.Add(time.Minute)}, false},
		{"no end", Silence{Matchers: ms(t, `a="b"`)}, false},
		{"ends in the past", Silence{Matchers: ms(t, `a="b"`), StartsAt: now.Add(-2 * time.Hour), EndsAt: now.Add(-time.Hour)}, false},
	}
	for _, tt := range tests {
		_, err := e.SetSilence(context.Background(), tt.s)
		if (err == nil) != tt.ok {
			t.Errorf("%s: SetSilence error %v, want ok=%v", tt.name, err, tt.ok)
		}
		if err != nil && !errors.Is(err, ErrInvalid) {
			t.Errorf("%s: error %v is not ErrInvalid", tt.name, err)
		}
	}
}

// A silence mutes only while active; pending and expired ones do not;
// expiring ends it now; changing matchers of an active one makes a new
// silence and expires the old (Alertmanager's Silences.Set).
func TestSilenceLifecycle(t *testing.T) {
	c := newClock()
	rec := &recorder{}
	e := mustEngine(t, Config{Now: c.Now, Notifier: rec, Route: &Route{Receiver: "r", GroupWait: time.Second, GroupInterval: time.Minute}})
	l := Labels{"alertname": "X", "team": "a"}
	pending, err := e.SetSilence(context.Background(), Silence{Matchers: ms(t, `team="a"`), StartsAt: c.Now().Add(time.Hour), EndsAt: c.Now().Add(2 * time.Hour)})
	if err != nil {
		t.Fatal(err)
	}
	if ids, _, _ := e.Muted(l); len(ids) != 0 {
		t.Fatalf("pending silence mutes: %v", ids)
	}
	active, err := e.SetSilence(context.Background(), Silence{Matchers: ms(t, `team="a"`), EndsAt: c.Now().Add(time.Hour), Comment: "maintenance"})
	if err != nil {
		t.Fatal(err)
	}
	if ids, _, _ := e.Muted(l); !slices.Equal(ids, []string{active}) {
		t.Fatalf("muted by %v, want [%s]", ids, active)
	}
	mustIngest(t, e, Alert{Labels: l})
	step(t, e, c, time.Second)
	if got := rec.take(); len(got) != 0 {
		t.Fatalf("silenced alert notified: %v", got)
	}
	// Extending an active silence keeps its id.
	ext := Silence{ID: active, Matchers: ms(t, `team="a"`), StartsAt: silenceByID(t, e, active).StartsAt, EndsAt: c.Now().Add(3 * time.Hour)}
	if id, err := e.SetSilence(context.Background(), ext); err != nil || id != active {
		t.Fatalf("extending: id %s err %v, want %s", id, err, active)
	}
	// Changing its matchers expires it and makes a new one.
	changed, err := e.SetSilence(context.Background(), Silence{ID: active, Matchers: ms(t, `team="b"`), EndsAt: c.Now().Add(time.Hour)})
	if err != nil || changed == active {
		t.Fatalf("changing matchers: id %s err %v, want a new id", changed, err)
	}
	if old := silenceByID(t, e, active); old.State(c.Now()) != SilenceExpired {
		st := old.State(c.Now())
		t.Fatalf("old silence is %s, want expired", st)
	}
	step(t, e, c, time.Minute)
	if got := rec.take(); len(got) != 1 {
		t.Fatalf("after the silence ended got %d notifications, want 1", len(got))
	}
	if err := e.ExpireSilence(context.Background(), pending); err != nil {
		t.Fatal(err)
	}
	if err := e.ExpireSilence(context.Background(), pending); !errors.Is(err, ErrConflict) {
		t.Fatalf("expiring twice: %v, want ErrConflict", err)
	}
	if err := e.ExpireSilence(context.Background(), "nope"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("expiring unknown: %v, want ErrNotFound", err)
	}
}

func silenceByID(t *testing.T, e *Engine, id string) Silence {
	t.Helper()
	for _, s := range e.Silences() {
		if s.ID == id {
			return s
		}
	}
	t.Fatalf("silence %s not found", id)
	return Silence{}
}
