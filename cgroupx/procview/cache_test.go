package procview

import (
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/shoalkit/shoal/cgroupx/cgroupxtest"
)

// TestSnapshotMaxAge: a container's file is rendered again once it is
// older than MaxAge, and every time with a negative MaxAge.
func TestSnapshotMaxAge(t *testing.T) {
	cases := []struct {
		name      string
		maxAge    time.Duration
		wantFresh bool
	}{
		{"every read afresh", -1, true},
		{"a minute's snapshot", time.Minute, false},
		{"a snapshot older than MaxAge", time.Nanosecond, true},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			s, tree := fakeServerTree(t, func(cfg *Config) { cfg.MaxAge = c.maxAge })
			before, err := s.content(t.Context(), kindMeminfo, 42)
			if err != nil {
				t.Fatal(err)
			}
			if !strings.Contains(string(before), "MemFree:          159744 kB\n") {
				t.Fatalf("first read:\n%s", before)
			}
			tree.SetMemory("/shoal/web", cgroupxtest.Memory{Limit: 256 << 20, Usage: 200 << 20})
			after, err := s.content(t.Context(), kindMeminfo, 42)
			if err != nil {
				t.Fatal(err)
			}
			fresh := strings.Contains(string(after), "MemFree:           57344 kB\n")
			if fresh != c.wantFresh {
				t.Errorf("second read fresh = %v, want %v:\n%s", fresh, c.wantFresh, after)
			}
		})
	}
}

// TestCallerCache: an entry is a hit only while it is young and its
// thread lives; a dead thread's id is looked up again even if the
// entry is young, and a dropped container is forgotten.
func TestCallerCache(t *testing.T) {
	cmd := exec.Command("sleep", "60")
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })
	pid := uint32(cmd.Process.Pid) //nolint:gosec // a pid
	pidfd := openPidfd(pid)
	if pidfd < 0 {
		t.Fatal("no pidfd for a child process")
	}
	cc := callerCache{maxAge: time.Second}
	defer cc.clear()
	ctr := &container{path: "/shoal/web"}
	now := time.Now()
	cc.put(pid, pidfd, ctr, now)
	checks := []struct {
		name string
		at   time.Time
		want bool
	}{
		{"young", now.Add(500 * time.Millisecond), true},
		{"old", now.Add(time.Second), false},
		{"before it was made", now.Add(-time.Millisecond), false},
		{"unknown", now, false},
	}
	for _, c := range checks {
		id := pid
		if c.name == "unknown" {
			id = pid + 1<<22
		}
		got, ok := cc.get(id, c.at)
		if ok != c.want || (ok && got != ctr) {
			t.Errorf("%s: get = %v, %v; want %v", c.name, got, ok, c.want)
		}
	}
	if err := cmd.Process.Kill(); err != nil {
		t.Fatal(err)
	}
	_ = cmd.Wait()
	if _, ok := cc.get(pid, now); ok {
		t.Error("a dead thread's entry is a hit")
	}
	// drop forgets a container whose cgroup went.
	self := openPidfd(uint32(os.Getpid()))              //nolint:gosec // a pid
	cc.put(uint32(os.Getpid()), self, ctr, now)         //nolint:gosec // a pid
	if _, ok := cc.get(uint32(os.Getpid()), now); !ok { //nolint:gosec // a pid
		t.Fatal("own entry missed")
	}
	cc.drop(ctr)
	if _, ok := cc.get(uint32(os.Getpid()), now); ok { //nolint:gosec // a pid
		t.Error("a dropped container's entry is a hit")
	}
	cc.sweep(now.Add(time.Hour))
	if len(cc.pids) != 0 {
		t.Errorf("%d entries after a sweep", len(cc.pids))
	}
}

// TestSysinfoSnapshot: an answer is served again while younger than
// maxAge, never with a zero or negative maxAge, and an older answer never
// replaces a newer one.
func TestSysinfoSnapshot(t *testing.T) {
	var s sysinfoSnapshot
	t0 := time.Unix(1000, 0)
	if _, ok := s.get(t0, time.Second); ok {
		t.Fatal("an empty snapshot answered")
	}
	s.put(t0, unix.Sysinfo_t{Totalram: 1})
	if si, ok := s.get(t0.Add(5*time.Millisecond), 10*time.Millisecond); !ok || si.Totalram != 1 {
		t.Errorf("within maxAge: %v %v", si.Totalram, ok)
	}
	for _, tc := range []struct {
		now    time.Time
		maxAge time.Duration
	}{{t0.Add(10 * time.Millisecond), 10 * time.Millisecond}, {t0, -1}, {t0, 0}, {t0.Add(-time.Second), time.Minute}} {
		if _, ok := s.get(tc.now, tc.maxAge); ok {
			t.Errorf("get(%v, %v) answered", tc.now.Sub(t0), tc.maxAge)
		}
	}
	s.put(t0.Add(-time.Second), unix.Sysinfo_t{Totalram: 2})
	if si, _ := s.get(t0, time.Second); si.Totalram != 1 {
		t.Errorf("an older answer replaced a newer one: %d", si.Totalram)
	}
}
