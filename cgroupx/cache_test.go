package cgroupx

import (
	"errors"
	"os"
	"path/filepath"
	"testing"
	"time"
)

// The KeepOpen tests live inside the package to look at the cache.

func TestKeepOpenSweepsExitedThreads(t *testing.T) {
	ctx := t.Context()
	root := t.TempDir()
	writeFixture(t, root)
	h, err := NewHost(ctx, WithRoot(root))
	if err != nil {
		t.Fatal(err)
	}
	plain, err := h.Open(ctx, "/ctr")
	if err != nil {
		t.Fatal(err)
	}
	kept := plain.KeepOpen()
	defer kept.Close()
	tc, err := kept.CountTasks(ctx)
	if err != nil || tc.Total != 3 || tc.Running != 1 || tc.Uninterruptible != 1 {
		t.Fatalf("count %+v %v", tc, err)
	}
	if len(kept.files.tasks) != 3 {
		t.Fatalf("%d task files cached", len(kept.files.tasks))
	}
	// Thread 12 exits: its file goes, and its descriptor with the next scan.
	if err := os.RemoveAll(root + "/proc/10/task/12"); err != nil {
		t.Fatal(err)
	}
	tc, err = kept.CountTasks(ctx)
	if err != nil || tc.Total != 2 || tc.Uninterruptible != 0 {
		t.Fatalf("after exit %+v %v", tc, err)
	}
	if len(kept.files.tasks) != 2 {
		t.Errorf("%d task files cached after the exit", len(kept.files.tasks))
	}
	if err := kept.Close(); err != nil {
		t.Fatal(err)
	}
	if err := kept.Close(); err != nil {
		t.Fatal(err)
	}
	if len(kept.files.tasks)+len(kept.files.fds) != 0 {
		t.Errorf("descriptors left after Close")
	}
	if _, err := kept.Meminfo(ctx); !errors.Is(err, ErrClosed) {
		t.Errorf("after Close: %v", err)
	}
	if _, err := kept.CountTasks(ctx); err == nil {
		t.Errorf("count after Close: no error")
	}
	if err := plain.Close(); err != nil {
		t.Errorf("plain close: %v", err)
	}
}

// writeFixture writes a minimal cgroup2 host by hand: process 10 with
// threads 10 (R), 11 (S) and 12 (D) in /ctr. (cgroupxtest imports this
// package, so the internal tests cannot use it.)
func writeFixture(t *testing.T, root string) {
	t.Helper()
	files := map[string]string{
		"proc/self/mountinfo":              "26 1 0:24 / /sys/fs/cgroup rw - cgroup2 cgroup2 rw\n",
		"proc/meminfo":                     "MemTotal: 1000 kB\nMemFree: 500 kB\nSwapTotal: 0 kB\n",
		"sys/devices/system/cpu/online":    "0-1\n",
		"sys/fs/cgroup/cgroup.controllers": "cpu memory pids\n",
		"sys/fs/cgroup/ctr/cgroup.procs":   "10\n",
		"sys/fs/cgroup/ctr/memory.stat":    "anon 1024\nfile 0\n",
		"sys/fs/cgroup/ctr/memory.current": "2048\n",
		"sys/fs/cgroup/ctr/memory.max":     "max\n",
		"proc/10/task/10/stat":             "10 (a) R 1 10 10 0 -1 0 0 0 0 0 0 0 0 0 20 0 3 0 100 0 0\n",
		"proc/10/task/11/stat":             "11 (a) S 1 10 10 0 -1 0 0 0 0 0 0 0 0 0 20 0 3 0 100 0 0\n",
		"proc/10/task/12/stat":             "12 (a) D 1 10 10 0 -1 0 0 0 0 0 0 0 0 0 20 0 3 0 100 0 0\n",
	}
	for name, content := range files {
		p := filepath.Join(root, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

func TestKeepOpenCachesLimits(t *testing.T) {
	ctx := t.Context()
	root := t.TempDir()
	writeFixture(t, root)
	dir := filepath.Join(root, "sys/fs/cgroup/ctr")
	write := func(name, content string) {
		t.Helper()
		if err := os.WriteFile(filepath.Join(dir, name), []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write("cpu.max", "50000 100000\n")
	write("memory.max", "4096\n")
	h, err := NewHost(ctx, WithRoot(root))
	if err != nil {
		t.Fatal(err)
	}
	plain, err := h.Open(ctx, "/ctr")
	if err != nil {
		t.Fatal(err)
	}
	kept := plain.KeepOpen()
	defer kept.Close()
	kept.CacheLimits(-1)
	check := func(what string, limit, usage uint64, quota float64) {
		t.Helper()
		m, err := kept.Meminfo(ctx)
		if err != nil || m.Limit != limit || m.Usage != usage {
			t.Errorf("%s: meminfo limit %d usage %d (%v), want %d and %d", what, m.Limit, m.Usage, err, limit, usage)
		}
		c, err := kept.CPUs(ctx)
		if err != nil || c.Quota != quota {
			t.Errorf("%s: quota %v (%v), want %v", what, c.Quota, err, quota)
		}
	}
	check("first read", 4096, 2048, 0.5)

	// Limits changed behind the handle's back: the cached ones stay,
	// usage is read afresh.
	write("cpu.max", "max 100000\n")
	write("memory.max", "8192\n")
	write("memory.current", "3072\n")
	check("cached", 4096, 3072, 0.5)
	if c, err := plain.CPUs(ctx); err != nil || c.Quota != 0 {
		t.Errorf("a plain handle reads the limit every time: %+v %v", c, err)
	}
	kept.InvalidateLimits()
	check("after InvalidateLimits", 8192, 3072, 0)

	// Set through the handle: the cache is dropped.
	if err := kept.SetLimits(ctx, Limits{Memory: ptrTo(int64(16384))}); err != nil {
		t.Fatal(err)
	}
	check("after SetLimits", 16384, 3072, 0)

	// A TTL: still cached within it; the cache off reads every time.
	kept.CacheLimits(time.Hour)
	check("ttl", 16384, 3072, 0)
	write("memory.max", "32768\n")
	check("within the ttl", 16384, 3072, 0)
	kept.CacheLimits(0)
	check("cache off", 32768, 3072, 0)
}

func ptrTo[T any](v T) *T { return &v }
