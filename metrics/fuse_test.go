package metrics_test

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"sync"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/shoalkit/shoal/internal/testenv"
	"github.com/shoalkit/shoal/metrics"
)

// hungFUSE mounts, in a mount namespace of the calling test's own, a FUSE
// file system whose server never answers (the kernel's INIT request is
// never read, so every request waits until the connection is aborted),
// and returns its mount point and a func that aborts the connection
// (closing the server's end), which ends every hung call. The test's
// goroutine stays locked to its thread, which carries the namespace:
// processes it starts are in it, and the thread ends with the test.
// Cleanup aborts and unmounts.
func hungFUSE(t *testing.T) (string, func()) {
	t.Helper()
	mnt := filepath.Join(t.TempDir(), "hung")
	if err := os.Mkdir(mnt, 0o755); err != nil {
		t.Fatal(err)
	}
	runtime.LockOSThread() // never unlocked: the namespace goes with the thread
	if err := unix.Unshare(unix.CLONE_NEWNS); err != nil {
		t.Fatalf("unshare mount namespace: %v", err)
	}
	if err := unix.Mount("", "/", "", unix.MS_REC|unix.MS_PRIVATE, ""); err != nil {
		t.Fatalf("make mounts private: %v", err)
	}
	fd, err := unix.Open("/dev/fuse", unix.O_RDWR|unix.O_CLOEXEC, 0)
	if err != nil {
		t.Fatal(err)
	}
	opts := fmt.Sprintf("fd=%d,rootmode=40000,user_id=0,group_id=0,allow_other", fd)
	if err := unix.Mount("shoal-hung", mnt, "fuse", unix.MS_NOSUID|unix.MS_NODEV, opts); err != nil {
		_ = unix.Close(fd)
		t.Fatalf("mount fuse: %v", err)
	}
	var once sync.Once
	abort := func() { once.Do(func() { _ = unix.Close(fd) }) }
	t.Cleanup(func() {
		abort()
		_ = unix.Unmount(mnt, unix.MNT_DETACH)
	})
	return mnt, abort
}

// TestIntegrationHungFUSE: a container whose mount namespace holds a FUSE
// mount whose server never answers. A sample returns after DiskTimeout
// with the container's other metrics and the rest of its disks, the hung
// mount left out and counted; the next refresh does not wait for it again
// (its statfs is still outstanding) and counts it again.
func TestIntegrationHungFUSE(t *testing.T) {
	// lxcfs's requirements are FUSE's: root and /dev/fuse.
	testenv.Require(t, testenv.Cgroups, testenv.Lxcfs)
	cg := testenv.NewCgroup(t)
	mnt, abort := hungFUSE(t)
	p := cg.Start(t, "sleep", "1000") // forked on this thread: in the namespace with the mount
	mi, err := os.ReadFile(fmt.Sprintf("/proc/%d/mountinfo", p.Pid))
	if err != nil || !bytes.Contains(mi, []byte(" "+mnt+" ")) {
		t.Fatalf("the container does not see %s (%v):\n%s", mnt, err, mi)
	}

	const timeout = 300 * time.Millisecond
	c := newCollector(t, metrics.Config{DiskInterval: time.Nanosecond, DiskTimeout: timeout})
	add(t, c, "fuse", cg)
	// First of the cleanups: a sample that hangs holds the collector,
	// whose Close would wait for it.
	t.Cleanup(abort)
	sample := func() (*metrics.Snapshot, time.Duration) {
		t.Helper()
		type result struct {
			s   *metrics.Snapshot
			err error
		}
		done := make(chan result, 1)
		start := time.Now()
		go func() {
			s, err := c.Sample(context.Background())
			done <- result{s, err}
		}()
		select {
		case r := <-done:
			if r.err != nil {
				t.Fatal(r.err)
			}
			return r.s, time.Since(start)
		case <-time.After(30 * time.Second):
			abort()
			t.Fatal("a sample hangs on the FUSE mount")
		}
		return nil, 0
	}
	var errs uint64
	for i := range 3 {
		s, took := sample()
		cs, ok := find(s, "fuse")
		if !ok {
			t.Fatalf("sample %d: container left out: %v", i, s.Errors)
		}
		if cs.Processes.Processes != 1 || cs.Memory.Usage == 0 {
			t.Errorf("sample %d: other metrics missing: %+v %+v", i, cs.Processes, cs.Memory)
		}
		if !slices.ContainsFunc(cs.Disks, func(d metrics.DiskStats) bool { return d.MountPoint == "/" && d.Total > 0 }) {
			t.Errorf("sample %d: root file system missing: %+v", i, cs.Disks)
		}
		if slices.ContainsFunc(cs.Disks, func(d metrics.DiskStats) bool { return d.MountPoint == mnt }) {
			t.Errorf("sample %d: the hung mount has figures: %+v", i, cs.Disks)
		}
		if s.Totals.DiskErrors <= errs {
			t.Errorf("sample %d: disk errors %d, not counted (before %d)", i, s.Totals.DiskErrors, errs)
		}
		errs = s.Totals.DiskErrors
		t.Logf("sample %d took %v, disk errors %d", i, took, errs)
	}
}
