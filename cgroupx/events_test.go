package cgroupx_test

import (
	"errors"
	"testing"
	"time"

	"github.com/shoalkit/shoal/cgroupx"
	"github.com/shoalkit/shoal/cgroupx/cgroupxtest"
)

func TestEventCounters(t *testing.T) {
	ctx := t.Context()
	for _, l := range layouts {
		t.Run(l.name, func(t *testing.T) {
			tree := cgroupxtest.New(t, l.layout)
			tree.Mkdir("/ctr")
			if l.layout == cgroupxtest.V2 {
				tree.WriteFile("", "/ctr", "cpu.stat", "usage_usec 10\nuser_usec 5\nsystem_usec 5\nnr_periods 40\nnr_throttled 7\nthrottled_usec 1500\n")
				tree.WriteFile("", "/ctr", "memory.events", "low 0\nhigh 0\nmax 12\noom 2\noom_kill 3\noom_group_kill 0\n")
			} else {
				tree.WriteFile("cpu", "/ctr", "cpu.stat", "nr_periods 40\nnr_throttled 7\nthrottled_time 1500000\n")
				tree.WriteFile("memory", "/ctr", "memory.failcnt", "12\n")
				tree.WriteFile("memory", "/ctr", "memory.oom_control", "oom_kill_disable 0\nunder_oom 0\noom_kill 3\n")
			}
			cg := open(ctx, t, newHost(ctx, t, tree), "/ctr")
			th, err := cg.Throttling(ctx)
			if err != nil {
				t.Fatal(err)
			}
			if th != (cgroupx.Throttling{Periods: 40, ThrottledPeriods: 7, Throttled: 1500 * time.Microsecond}) {
				t.Errorf("throttling %+v", th)
			}
			ev, err := cg.MemoryEvents(ctx)
			if err != nil {
				t.Fatal(err)
			}
			want := cgroupx.MemoryEvents{Max: 12, OOMKill: 3}
			if l.layout == cgroupxtest.V2 {
				want.OOM = 2
			}
			if ev != want {
				t.Errorf("memory events %+v, want %+v", ev, want)
			}
		})
	}
}

func TestEventCountersErrors(t *testing.T) {
	ctx := t.Context()
	tree := cgroupxtest.New(t, cgroupxtest.V2)
	tree.Mkdir("/ctr")
	h := newHost(ctx, t, tree)
	// The fixture's cpu.stat has only the usage keys, as a group without
	// the cpu controller enabled.
	if _, err := open(ctx, t, h, "/ctr").Throttling(ctx); !errors.Is(err, cgroupx.ErrUnsupported) {
		t.Errorf("no throttling keys: %v", err)
	}
	tree.WriteFile("", "/ctr", "cpu.stat", "nr_periods x\n")
	if _, err := open(ctx, t, h, "/ctr").Throttling(ctx); !errors.Is(err, cgroupx.ErrInvalid) {
		t.Errorf("bad nr_periods: %v", err)
	}
	tree.WriteFile("", "/ctr", "memory.events", "oom_kill -1\n")
	if _, err := open(ctx, t, h, "/ctr").MemoryEvents(ctx); !errors.Is(err, cgroupx.ErrInvalid) {
		t.Errorf("bad oom_kill: %v", err)
	}
}
