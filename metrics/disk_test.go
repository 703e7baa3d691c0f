package metrics

import (
	"context"
	"testing"
	"time"
)

// TestDiskProberAllHung: with every slot held by an overdue statfs, a
// new file system is skipped at once instead of waiting for a slot.
func TestDiskProberAllHung(t *testing.T) {
	p := newDiskProber(time.Millisecond)
	long := time.Now().Add(-time.Hour)
	for i := range maxStatfsInFlight {
		p.slots <- struct{}{}
		p.pending[uint64(i)] = &statfsCall{start: long, done: make(chan struct{})}
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Hour)
	defer cancel()
	done := make(chan *statfsCall, 1)
	go func() { done <- p.start(ctx, "/", 1<<40) }()
	select {
	case c := <-done:
		if c != nil {
			t.Errorf("started a statfs with every slot hung")
		}
	case <-time.After(time.Minute):
		t.Fatal("start waits for a slot that hung statfs calls hold")
	}
	// An overdue file system is skipped; one in flight within the timeout
	// is shared.
	if c := p.start(ctx, "/", 0); c != nil {
		t.Error("overdue file system asked again")
	}
	fresh := &statfsCall{start: time.Now().Add(time.Hour), done: make(chan struct{})}
	p.pending[7] = fresh
	if c := p.start(ctx, "/", 7); c != fresh {
		t.Error("statfs in flight not shared")
	}
}
