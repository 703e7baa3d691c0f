package alertcorr

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"
)

// gate is a Notifier that blocks until released, recording what it got.
type gate struct {
	release chan struct{}
	rec     recorder
}

func (g *gate) Notify(ctx context.Context, n *Notification) error {
	select {
	case <-g.release:
	case <-ctx.Done():
		return ctx.Err()
	}
	return g.rec.Notify(ctx, n)
}

func waitUntil(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// A slow target and a failing one hold up neither the fast one nor the
// caller; the slow one's bounded queue drops the oldest, the failing one
// gives up after its attempts, and both are counted.
func TestFanOutSlowAndFailingTargetsBlockNobody(t *testing.T) {
	slow := &gate{release: make(chan struct{})}
	fast, failing := &recorder{}, &recorder{fail: errors.New("connection refused")}
	other := &recorder{}
	f, err := NewFanOut(FanOutConfig{Attempts: 2, Backoff: time.Millisecond},
		FanOutTarget{Name: "slow", Notifier: slow, QueueSize: 4},
		FanOutTarget{Name: "fast", Notifier: fast},
		FanOutTarget{Name: "failing", Notifier: failing},
		FanOutTarget{Name: "other", Receiver: "other", Notifier: other})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(t.Context())
	var wg sync.WaitGroup
	wg.Go(func() { _ = f.Run(ctx) })
	defer func() { cancel(); wg.Wait() }()

	sent := 0
	notify := func() {
		n := &Notification{Receiver: "default", GroupKey: fmt.Sprintf("g%d", sent), At: time.Now()}
		sent++
		if err := f.Notify(t.Context(), n); err != nil {
			t.Fatal(err)
		}
	}
	notify()
	// The slow target has taken the first and is stuck in it.
	waitUntil(t, "the slow target to take the first", func() bool { s, _ := f.Stats(); return s[0].Queued == 0 })
	for range 9 {
		notify()
	}
	waitUntil(t, "the fast target to get all 10", func() bool { return statsOf(f, "fast").Sent == 10 })
	waitUntil(t, "the failing target to give up on all 10", func() bool { return statsOf(f, "failing").GaveUp == 10 })
	if s := statsOf(f, "failing"); s.Failures != 20 || s.Sent != 0 || s.LastError != "connection refused" {
		t.Fatalf("failing target %+v, want 20 failed attempts (2 each)", s)
	}
	if s := statsOf(f, "slow"); s.Sent != 0 || s.Queued != 4 || s.Dropped != 5 {
		t.Fatalf("slow target %+v, want nothing sent yet, 4 queued (the newest), 5 dropped", s)
	}
	close(slow.release)
	waitUntil(t, "the slow target to deliver what it kept", func() bool { return statsOf(f, "slow").Sent == 5 })
	var keys []string
	for _, n := range slow.rec.take() {
		keys = append(keys, n.GroupKey)
	}
	if fmt.Sprint(keys) != "[g0 g6 g7 g8 g9]" {
		t.Fatalf("slow target delivered %v, want the first and the 4 newest", keys)
	}
	if s := statsOf(f, "other"); s.Sent != 0 || len(other.take()) != 0 {
		t.Fatalf("target of receiver \"other\" got %+v", s)
	}
	if _, unrouted := f.Stats(); unrouted != 0 {
		t.Fatalf("unrouted %d", unrouted)
	}
}

func statsOf(f *FanOut, name string) FanOutStats {
	all, _ := f.Stats()
	for _, s := range all {
		if s.Name == name {
			return s
		}
	}
	return FanOutStats{}
}

func TestFanOutConfig(t *testing.T) {
	if _, err := NewFanOut(FanOutConfig{QueueSize: -1}); !errors.Is(err, ErrInvalid) {
		t.Fatalf("negative queue size: %v", err)
	}
	if _, err := NewFanOut(FanOutConfig{}, FanOutTarget{Name: "x"}); !errors.Is(err, ErrInvalid) {
		t.Fatalf("target without notifier: %v", err)
	}
	f, err := NewFanOut(FanOutConfig{})
	if err != nil {
		t.Fatal(err)
	}
	if f.cfg.QueueSize != 1024 || f.cfg.Attempts != 3 || f.cfg.Backoff != time.Second || f.cfg.Timeout != 30*time.Second {
		t.Fatalf("zero FanOutConfig = %+v, want the documented defaults", f.cfg)
	}
	_ = f.Notify(t.Context(), &Notification{Receiver: "r"})
	if _, unrouted := f.Stats(); unrouted != 1 {
		t.Fatalf("a notification no target takes: unrouted %d, want 1", unrouted)
	}
}
