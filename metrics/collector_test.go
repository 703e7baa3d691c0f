package metrics_test

import (
	"context"
	"errors"
	"fmt"
	"sync/atomic"
	"testing"
	"time"

	"github.com/shoalkit/shoal/cgroupx/cgroupxtest"
	"github.com/shoalkit/shoal/internal/errs"
	"github.com/shoalkit/shoal/metrics"
)

func TestDefaultConfig(t *testing.T) {
	d := metrics.DefaultConfig()
	if d.Root != "/" || d.Concurrency != 4 || d.Interval != 10*time.Second || d.DiskInterval != time.Minute ||
		d.DiskTimeout != time.Second || d.LimitInterval != time.Minute || d.FDInterval != 30*time.Second {
		t.Errorf("defaults %+v", d)
	}
	// The zero Config is the defaults: it samples the real host.
	c, err := metrics.New(context.Background(), metrics.Config{})
	if err != nil {
		t.Skipf("no cgroup host here: %v", err)
	}
	defer c.Close()
	s, err := c.Sample(context.Background())
	if err != nil || s.Node.CPUs == 0 || s.Node.PidMax == 0 {
		t.Errorf("zero Config: %+v, %v", s, err)
	}
}

func TestCollectorErrors(t *testing.T) {
	tree := cgroupxtest.New(t, cgroupxtest.V2)
	ctx := context.Background()
	c, err := metrics.New(ctx, metrics.Config{Root: tree.Root})
	if err != nil {
		t.Fatal(err)
	}
	kinds := []error{metrics.ErrInvalid, metrics.ErrNotFound, metrics.ErrConflict, metrics.ErrClosed, metrics.ErrCanceled}
	_, badConc := metrics.New(ctx, metrics.Config{Root: tree.Root, Concurrency: -1})
	_, badDiskTimeout := metrics.New(ctx, metrics.Config{Root: tree.Root, DiskTimeout: -1})
	_, badRoot := metrics.New(ctx, metrics.Config{Root: t.TempDir()})
	noID := c.Add(metrics.Target{Cgroup: "/a"})
	noCgroup := c.Add(metrics.Target{ID: "a"})
	badPID := c.Add(metrics.Target{ID: "a", Cgroup: "/a", PID: -1})
	if err := c.Add(metrics.Target{ID: "a", Cgroup: "/a"}); err != nil {
		t.Fatal(err)
	}
	dup := c.Add(metrics.Target{ID: "a", Cgroup: "/b"})
	cctx, cancel := context.WithCancel(ctx)
	cancel()
	_, canceled := c.Sample(cctx)
	_ = c.Close()
	if err := c.Close(); err != nil {
		t.Errorf("second Close: %v", err)
	}
	_, closed := c.Sample(ctx)
	addClosed := c.Add(metrics.Target{ID: "b", Cgroup: "/b"})
	tests := []struct {
		name string
		err  error
		kind error
	}{
		{"negative concurrency", badConc, metrics.ErrInvalid},
		{"negative disk timeout", badDiskTimeout, metrics.ErrInvalid},
		{"no cgroup host", badRoot, metrics.ErrInvalid},
		{"no id", noID, metrics.ErrInvalid},
		{"no cgroup", noCgroup, metrics.ErrInvalid},
		{"bad pid", badPID, metrics.ErrInvalid},
		{"duplicate", dup, metrics.ErrConflict},
		{"canceled", canceled, metrics.ErrCanceled},
		{"closed", closed, metrics.ErrClosed},
		{"add after close", addClosed, metrics.ErrClosed},
	}
	for _, tt := range tests {
		if err := errs.CheckShape(tt.err, "metrics", kinds...); err != nil {
			t.Errorf("%s: %v", tt.name, err)
		}
		if !errors.Is(tt.err, tt.kind) {
			t.Errorf("%s: %v is not %v", tt.name, tt.err, tt.kind)
		}
	}
	if !errors.Is(canceled, context.Canceled) {
		t.Errorf("canceled sample %v does not wrap context.Canceled", canceled)
	}
}

// sinkFunc adapts a function to metrics.Sink.
type sinkFunc func(*metrics.Snapshot)

func (f sinkFunc) Observe(s *metrics.Snapshot) { f(s) }

func TestRunFeedsSinks(t *testing.T) {
	f := newFixture(t, cgroupxtest.V1)
	got := make(chan *metrics.Snapshot, 10)
	c, err := metrics.New(context.Background(), metrics.Config{
		Root: f.tree.Root, Interval: 10 * time.Millisecond,
		Sinks: []metrics.Sink{sinkFunc(func(s *metrics.Snapshot) { got <- s })},
	})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if err := c.Add(metrics.Target{ID: "app-1", Cgroup: "/app"}); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error)
	go func() { done <- c.Run(ctx) }()
	for i := range 3 {
		s := <-got
		if len(s.Containers) != 1 || s.Totals.Samples != uint64(i+1) {
			t.Errorf("snapshot %d: %d containers, %d samples", i, len(s.Containers), s.Totals.Samples)
		}
	}
	cancel()
	if err := <-done; !errors.Is(err, context.Canceled) {
		t.Errorf("Run returned %v", err)
	}
}

// TestAddRemoveWhileRunning adds and removes targets while Run samples
// (the race detector watches).
func TestAddRemoveWhileRunning(t *testing.T) {
	f := newFixture(t, cgroupxtest.V2)
	var seen atomic.Int64
	c, err := metrics.New(context.Background(), metrics.Config{
		Root: f.tree.Root, Interval: time.Millisecond, DiskInterval: -1,
		Sinks: []metrics.Sink{sinkFunc(func(s *metrics.Snapshot) { seen.Add(int64(len(s.Containers))) })},
	})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error)
	go func() { done <- c.Run(ctx) }()
	for i := range 200 {
		id := fmt.Sprintf("app-%d", i%5)
		if i%2 == 0 {
			_ = c.Add(metrics.Target{ID: id, Cgroup: "/app"})
		} else {
			c.Remove(id)
		}
		time.Sleep(100 * time.Microsecond)
	}
	cancel()
	if err := <-done; !errors.Is(err, context.Canceled) {
		t.Errorf("Run: %v", err)
	}
	if seen.Load() == 0 {
		t.Error("no container was ever sampled")
	}
}
