package alertcorr

import (
	"context"
	"slices"
	"sync"
	"testing"
	"time"
)

// clock is a settable clock for tests.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func newClock() *clock { return &clock{t: time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)} }

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *clock) Add(d time.Duration) time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
	return c.t
}

// recorder is a Notifier that keeps what it was sent, and can fail.
type recorder struct {
	mu   sync.Mutex
	got  []Notification
	fail error
}

func (r *recorder) Notify(_ context.Context, n *Notification) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.fail != nil {
		return r.fail
	}
	r.got = append(r.got, *n)
	return nil
}

// take returns and forgets what was sent.
func (r *recorder) take() []Notification {
	r.mu.Lock()
	defer r.mu.Unlock()
	out := r.got
	r.got = nil
	return out
}

// names renders a notification's alerts as "name:status" for comparison.
func summary(n Notification) []string {
	var out []string
	for _, a := range n.Alerts {
		v := a.Labels["c"]
		if v == "" {
			v = a.Labels["alertname"]
		}
		out = append(out, v+":"+a.Status(n.At))
	}
	slices.Sort(out)
	return out
}

// step advances the engine's clock by d and runs Advance.
func step(t *testing.T, e *Engine, c *clock, d time.Duration) {
	t.Helper()
	now := c.Add(d)
	if err := e.Advance(context.Background(), now); err != nil {
		t.Fatalf("Advance(%v): %v", now, err)
	}
}

func mustEngine(t *testing.T, cfg Config) *Engine {
	t.Helper()
	e, err := New(cfg)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	t.Cleanup(func() { _ = e.Close() })
	return e
}

func mustIngest(t *testing.T, e *Engine, as ...Alert) {
	t.Helper()
	if err := e.Ingest(as...); err != nil {
		t.Fatalf("Ingest: %v", err)
	}
}

func ms(t *testing.T, s string) Matchers {
	t.Helper()
	m, err := ParseMatchers(s)
	if err != nil {
		t.Fatalf("ParseMatchers(%q): %v", s, err)
	}
	return m
}
