package cgroupx_test

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/shoalkit/shoal/cgroupx"
	"github.com/shoalkit/shoal/cgroupx/cgroupxtest"
)

// TestCalcLoadGolden drives the tracker's fold with the sequence of
// testdata/calc_load.c, which is the kernel's code, and compares every
// fixed-point value and every rendered /proc/loadavg triple.
func TestCalcLoadGolden(t *testing.T) {
	f, err := os.Open("testdata/calc_load.golden")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	tree := cgroupxtest.New(t, cgroupxtest.V2)
	lt := cgroupx.NewLoadTracker(open(t.Context(), t, newHost(t.Context(), t, tree), "/"), cgroupx.LoadConfig{})
	sc := bufio.NewScanner(f)
	lines := 0
	for sc.Scan() {
		lines++
		var active int
		var n uint
		var want [3]uint64
		var l1, l5, l15 string
		if _, err := fmt.Sscan(sc.Text(), &active, &n, &want[0], &want[1], &want[2], &l1, &l5, &l15); err != nil {
			t.Fatal(err)
		}
		lt.Fold(cgroupx.TaskCount{Running: active / 2, Uninterruptible: active - active/2, Total: 100}, n)
		got := lt.Load()
		if got.Avenrun != want {
			t.Fatalf("line %d: avenrun %v, want %v", lines, got.Avenrun, want)
		}
		var buf bytes.Buffer
		if err := cgroupx.WriteLoadavg(&buf, got); err != nil {
			t.Fatal(err)
		}
		if prefix := l1 + " " + l5 + " " + l15 + " "; !strings.HasPrefix(buf.String(), prefix) {
			t.Fatalf("line %d: rendered %q, want prefix %q", lines, buf.String(), prefix)
		}
	}
	if lines != 600 {
		t.Fatalf("%d golden lines", lines)
	}
}

func TestCalcLoadConverges(t *testing.T) {
	// With one task always active the kernel's rounding makes the
	// 1-minute average reach exactly 1.00.
	var a uint64
	for range 1000 {
		a = cgroupx.CalcLoad(a, cgroupx.Exp1, cgroupx.Fixed1)
	}
	if a != cgroupx.Fixed1 {
		t.Errorf("load %d, want %d", a, cgroupx.Fixed1)
	}
	if got := cgroupx.CalcLoadN(a, cgroupx.Exp1, 0, 0); got != a {
		t.Errorf("n=0 changed the load: %d", got)
	}
}

func TestCountTasks(t *testing.T) {
	ctx := t.Context()
	for _, l := range layouts {
		t.Run(l.name, func(t *testing.T) {
			tree := cgroupxtest.New(t, l.layout)
			tree.AddProcess("/ctr", cgroupxtest.Process{PID: 100, State: 'S', Threads: []cgroupxtest.Thread{{TID: 101, State: 'R'}, {TID: 102, State: 'D'}}})
			tree.AddProcess("/ctr/sub", cgroupxtest.Process{PID: 200, Comm: "a (b) c", State: 'R'})
			tree.AddProcess("/ctr/sub/deeper", cgroupxtest.Process{PID: 300, State: 'D', Threads: []cgroupxtest.Thread{{TID: 305, State: 'Z'}}})
			tree.AddProcess("/other", cgroupxtest.Process{PID: 400, State: 'R'})
			h := newHost(ctx, t, tree)
			cg := open(ctx, t, h, "/ctr")
			tc, err := cg.CountTasks(ctx)
			if err != nil {
				t.Fatal(err)
			}
			want := cgroupx.TaskCount{Running: 2, Uninterruptible: 2, Total: 6, LastPID: 305}
			if tc != want {
				t.Errorf("count %+v, want %+v", tc, want)
			}
			// A process that exits between listing and reading is skipped.
			tree.AddProcess("/ctr", cgroupxtest.Process{PID: 500, State: 'R'})
			if err := os.RemoveAll(tree.Root + "/proc/500"); err != nil {
				t.Fatal(err)
			}
			tc, err = cg.CountTasks(ctx)
			if err != nil || tc != want {
				t.Errorf("after exit: %+v %v", tc, err)
			}
		})
	}
}

// fakeTicker is a Ticker driven by the test.
type fakeTicker struct{ c chan time.Time }

func (f fakeTicker) Chan() <-chan time.Time { return f.c }
func (f fakeTicker) Stop()                  {}

func TestLoadTrackerRun(t *testing.T) {
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	tree := cgroupxtest.New(t, cgroupxtest.Hybrid)
	tree.AddProcess("/ctr", cgroupxtest.Process{PID: 10, State: 'R', Threads: []cgroupxtest.Thread{{TID: 11, State: 'D'}}})
	cg := open(ctx, t, newHost(ctx, t, tree), "/ctr")
	tk := fakeTicker{c: make(chan time.Time)}
	var gotInterval time.Duration
	lt := cgroupx.NewLoadTracker(cg, cgroupx.LoadConfig{NewTicker: func(d time.Duration) cgroupx.Ticker {
		gotInterval = d
		return tk
	}})
	done := make(chan error, 1)
	go func() { done <- lt.Run(ctx) }()
	t0 := time.Unix(1000, 0)
	for i, tick := range []struct {
		at      time.Time
		samples uint64
	}{
		{t0, 1},
		{t0.Add(5 * time.Second), 2},
		{t0.Add(5 * time.Second * 11), 12}, // ten intervals at once
		{t0.Add(5 * time.Second * 12), 13},
	} {
		tk.c <- tick.at
		deadline := time.Now().Add(10 * time.Second)
		for lt.Load().Samples != tick.samples {
			if time.Now().After(deadline) {
				t.Fatalf("tick %d: samples %d, want %d", i, lt.Load().Samples, tick.samples)
			}
			time.Sleep(time.Millisecond)
		}
	}
	cancel()
	if err := <-done; !errors.Is(err, context.Canceled) {
		t.Fatalf("run: %v", err)
	}
	if gotInterval != cgroupx.LoadFreq {
		t.Errorf("interval %v", gotInterval)
	}
	// The reference: the same folds by hand.
	var want [3]uint64
	for i, e := range []uint64{cgroupx.Exp1, cgroupx.Exp5, cgroupx.Exp15} {
		a := cgroupx.CalcLoad(0, e, 2*cgroupx.Fixed1)
		a = cgroupx.CalcLoad(a, e, 2*cgroupx.Fixed1)
		a = cgroupx.CalcLoadN(a, e, 2*cgroupx.Fixed1, 10)
		a = cgroupx.CalcLoad(a, e, 2*cgroupx.Fixed1)
		want[i] = a
	}
	got := lt.Load()
	if got.Avenrun != want || got.Running != 1 || got.Total != 2 || got.LastPID != 11 || got.Samples != 13 {
		t.Errorf("load %+v, want avenrun %v", got, want)
	}
}

func TestLoadTrackerCgroupGone(t *testing.T) {
	ctx := t.Context()
	tree := cgroupxtest.New(t, cgroupxtest.V2)
	tree.Mkdir("/ctr")
	cg := open(ctx, t, newHost(ctx, t, tree), "/ctr")
	if err := os.RemoveAll(tree.Dir("", "/ctr")); err != nil {
		t.Fatal(err)
	}
	tk := fakeTicker{c: make(chan time.Time, 1)}
	tk.c <- time.Now()
	lt := cgroupx.NewLoadTracker(cg, cgroupx.LoadConfig{NewTicker: func(time.Duration) cgroupx.Ticker { return tk }})
	if err := lt.Run(ctx); !errors.Is(err, cgroupx.ErrNotFound) {
		t.Errorf("run on a removed cgroup: %v", err)
	}
}

func TestParseProcStat(t *testing.T) {
	line := cgroupxtest.StatLine(42, "we) ird (x", 'D', 3, cgroupxtest.Process{PID: 42, UTime: 7, STime: 8, StartTime: 9000, RSSPages: 256})
	st, err := cgroupx.ParseProcStat(strings.NewReader(line))
	if err != nil {
		t.Fatal(err)
	}
	want := cgroupx.ProcStat{PID: 42, Comm: "we) ird (x", State: 'D', PPID: 1, UTime: 7, STime: 8, NumThreads: 3, StartTime: 9000, RSSPages: 256}
	if st != want {
		t.Errorf("got %+v\nwant %+v", st, want)
	}
	real, err := os.ReadFile("/proc/self/stat")
	if err == nil {
		if st, err := cgroupx.ParseProcStat(bytes.NewReader(real)); err != nil || st.PID != os.Getpid() {
			t.Errorf("/proc/self/stat: %+v %v", st, err)
		}
	}
	for _, bad := range []string{"", "1 (x) R", "x (y) R 1 2 3", "1 (x) RR 1 1 1 0 -1 0 0 0 0 0 0 0 0 0 20 0 1 0 5 0 0"} {
		if _, err := cgroupx.ParseProcStat(strings.NewReader(bad)); !errors.Is(err, cgroupx.ErrInvalid) {
			t.Errorf("%q: %v", bad, err)
		}
	}
}

func FuzzParseProcStat(f *testing.F) {
	f.Add(cgroupxtest.StatLine(1, "init", 'S', 1, cgroupxtest.Process{PID: 1}))
	f.Add("12 (a b) R 1 12 12 0 -1 4194560 100 0 0 0 1 2 0 0 20 0 1 0 500 100 10 0\n")
	f.Fuzz(func(t *testing.T, in string) {
		st, err := cgroupx.ParseProcStat(strings.NewReader(in))
		if err != nil {
			if !errors.Is(err, cgroupx.ErrInvalid) {
				t.Fatal(err)
			}
			return
		}
		if st.PID < 0 || st.PPID < 0 || st.NumThreads < 0 {
			t.Fatalf("%+v", st)
		}
	})
}

func TestLoadTrackerClosedHandle(t *testing.T) {
	ctx := t.Context()
	tree := cgroupxtest.New(t, cgroupxtest.V1)
	tree.AddProcess("/ctr", cgroupxtest.Process{PID: 5, State: 'R'})
	kept := open(ctx, t, newHost(ctx, t, tree), "/ctr").KeepOpen()
	if err := kept.Close(); err != nil {
		t.Fatal(err)
	}
	tk := fakeTicker{c: make(chan time.Time, 1)}
	tk.c <- time.Now()
	lt := cgroupx.NewLoadTracker(kept, cgroupx.LoadConfig{NewTicker: func(time.Duration) cgroupx.Ticker { return tk }})
	if err := lt.Run(ctx); !errors.Is(err, cgroupx.ErrClosed) {
		t.Errorf("run on a closed handle: %v", err)
	}
}
