package container_test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/shoalkit/shoal/cgroupx"
	"github.com/shoalkit/shoal/examples/internal/container"
	"github.com/shoalkit/shoal/examples/internal/state"
	"github.com/shoalkit/shoal/internal/errs"
	"github.com/shoalkit/shoal/internal/testenv"
)

func TestMain(m *testing.M) {
	container.Init() // this test binary is the containers' init
	os.Exit(m.Run())
}

// newRuntime is a Runtime with its own state dir and cgroup parent,
// removed when the test ends.
func newRuntime(t testing.TB) (*container.Runtime, container.Config) {
	t.Helper()
	testenv.Require(t, testenv.Root, testenv.Runc, testenv.Cgroups)
	cfg := container.Config{
		Root:         t.TempDir(),
		LogDir:       t.TempDir(),
		CgroupParent: fmt.Sprintf("shoal-test-%d", time.Now().UnixNano()),
	}
	rt, err := container.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		// Whatever a failed test left: stop and destroy its containers,
		// then the parent cgroup in every hierarchy.
		ins, _ := rt.List()
		for _, in := range ins {
			_ = rt.Delete(context.Background(), in.ID, 0)
		}
		dirs, _ := filepath.Glob("/sys/fs/cgroup/*/" + cfg.CgroupParent)
		dirs = append(dirs, "/sys/fs/cgroup/"+cfg.CgroupParent, "/sys/fs/cgroup/unified/"+cfg.CgroupParent)
		for _, d := range dirs {
			_ = os.Remove(d)
		}
	})
	return rt, cfg
}

func rootfs(t testing.TB) string {
	t.Helper()
	dir := t.TempDir()
	testenv.BusyboxRootfs(t, dir)
	return dir
}

func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func TestContainerLifecycle(t *testing.T) {
	rt, cfg := newRuntime(t)
	volume := t.TempDir()
	spec := container.Spec{
		ID:     "life-1",
		Rootfs: rootfs(t),
		Args: []string{"/bin/sh", "-c", "echo hello; touch /export/ok; " +
			"touch /x 2>/dev/null || echo root-is-read-only; hostname; exec sleep 1000"},
		Hostname:  "life-host",
		Mounts:    []container.Mount{{Source: volume, Destination: "/export"}},
		Resources: state.Resources{CPUs: 0.5, MemoryBytes: 64 << 20, PIDs: 50},
	}
	pid, err := rt.Start(t.Context(), spec)
	if err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the container's output", func() bool {
		b, _ := os.ReadFile(rt.LogPath(spec.ID))
		return strings.Contains(string(b), "life-host")
	})
	logText, _ := os.ReadFile(rt.LogPath(spec.ID))
	if got := string(logText); got != "hello\nroot-is-read-only\nlife-host\n" {
		t.Errorf("log = %q", got)
	}
	if _, err := os.Stat(filepath.Join(volume, "ok")); err != nil {
		t.Errorf("the data volume was not writable: %v", err)
	}

	// The limits are on the container's cgroup, as cgroupx reads them.
	host, err := cgroupx.NewHost(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	cg, err := host.OpenPID(t.Context(), pid)
	if err != nil {
		t.Fatal(err)
	}
	lim, err := cg.Limits(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	if lim.Memory == nil || *lim.Memory != 64<<20 || lim.Pids == nil || *lim.Pids != 50 ||
		lim.CPUQuota == nil || *lim.CPUQuota != 50000 {
		t.Errorf("limits memory %v pids %v quota %v, want 64 MiB, 50, 50000", deref(lim.Memory), deref(lim.Pids), deref(lim.CPUQuota))
	}
	if cg.Path() != rt.CgroupPath(spec.ID) {
		t.Errorf("cgroup %q, CgroupPath says %q", cg.Path(), rt.CgroupPath(spec.ID))
	}
	byPath, err := host.Open(t.Context(), rt.CgroupPath(spec.ID))
	if err != nil {
		t.Errorf("open by CgroupPath: %v (dirs by pid %v)", err, cg.Dirs())
	} else if lim, err := byPath.Limits(t.Context()); err != nil || deref(lim.Memory) != 64<<20 {
		t.Errorf("limits by CgroupPath: %v, memory %d", err, deref(lim.Memory))
	}

	// A second Runtime over the same state — a restarted agent — finds it.
	rt2, err := container.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	ins, err := rt2.List()
	if err != nil || len(ins) != 1 || ins[0].ID != spec.ID || ins[0].PID != pid || !ins[0].Running {
		t.Fatalf("List after restart = %+v, %v; want %s running as %d", ins, err, spec.ID, pid)
	}

	// Resize in place.
	if err := rt2.Resize(spec.ID, state.Resources{CPUs: 1, MemoryBytes: 128 << 20, PIDs: 60}); err != nil {
		t.Fatal(err)
	}
	lim, _ = cg.Limits(t.Context())
	if deref(lim.Memory) != 128<<20 || deref(lim.Pids) != 60 || deref(lim.CPUQuota) != 100000 {
		t.Errorf("after Resize: memory %d pids %d quota %d", deref(lim.Memory), deref(lim.Pids), deref(lim.CPUQuota))
	}

	if _, err := rt.Start(t.Context(), spec); !errors.Is(err, container.ErrExist) {
		t.Errorf("second Start = %v, want ErrExist", err)
	}

	// Delete from the second runtime (the process is not its child: it
	// waits through a pidfd).
	if err := rt2.Delete(t.Context(), spec.ID, 100*time.Millisecond); err != nil {
		t.Fatal(err)
	}
	if err := rt.Delete(t.Context(), spec.ID, 0); err != nil {
		t.Errorf("second Delete = %v, want nil", err)
	}
	if _, err := rt.Wait(t.Context(), spec.ID); err != nil { // reap our child
		t.Logf("wait after delete: %v", err)
	}
	if _, err := os.Stat(filepath.Join(cfg.Root, spec.ID)); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("state dir left after Delete: %v", err)
	}
	if err := syscall.Kill(pid, 0); !errors.Is(err, syscall.ESRCH) {
		t.Errorf("pid %d after Delete: kill 0 = %v, want ESRCH", pid, err)
	}
}

func deref[T any](p *T) T {
	var zero T
	if p == nil {
		return zero
	}
	return *p
}

func TestExitCode(t *testing.T) {
	rt, _ := newRuntime(t)
	if _, err := rt.Start(t.Context(), container.Spec{ID: "exit-3", Rootfs: rootfs(t), Args: []string{"/bin/sh", "-c", "exit 3"}}); err != nil {
		t.Fatal(err)
	}
	code, err := rt.Wait(t.Context(), "exit-3")
	if err != nil || code != 3 {
		t.Fatalf("Wait = %d, %v; want 3", code, err)
	}
	in, err := rt.Get("exit-3")
	if err != nil || in.Running || in.PID != 0 {
		t.Fatalf("Get after exit = %+v, %v", in, err)
	}
	if err := rt.Delete(t.Context(), "exit-3", 0); err != nil {
		t.Fatal(err)
	}
}

func TestStartFailsCleanly(t *testing.T) {
	rt, cfg := newRuntime(t)
	good := rootfs(t)
	for _, tt := range []struct {
		name string
		spec container.Spec
		kind error
	}{
		{"bad id", container.Spec{ID: "A/b", Rootfs: good, Args: []string{"true"}}, container.ErrInvalid},
		{"no command", container.Spec{ID: "c1", Rootfs: good}, container.ErrInvalid},
		{"missing rootfs", container.Spec{ID: "c2", Rootfs: "/nonexistent", Args: []string{"true"}}, container.ErrInvalid},
		{"missing binary", container.Spec{ID: "c3", Rootfs: good, Args: []string{"/no/such/binary"}}, container.ErrRuntime},
		{"missing netns", container.Spec{ID: "c4", Rootfs: good, Args: []string{"true"}, Netns: "/run/netns/none-such"}, container.ErrRuntime},
	} {
		t.Run(tt.name, func(t *testing.T) {
			_, err := rt.Start(t.Context(), tt.spec)
			if shape := errs.CheckShape(err, "container", tt.kind); shape != nil || !errors.Is(err, tt.kind) {
				t.Fatalf("Start = %v (%v), want %v", err, shape, tt.kind)
			}
			if entries, _ := os.ReadDir(cfg.Root); len(entries) != 0 {
				t.Errorf("state left behind: %v", entries)
			}
		})
	}
}

func TestRotateLog(t *testing.T) {
	testenv.Require(t, testenv.Root, testenv.Runc, testenv.Cgroups)
	cfg := container.Config{Root: t.TempDir(), LogDir: t.TempDir(), CgroupParent: fmt.Sprintf("shoal-test-%d", time.Now().UnixNano()), LogMaxBytes: 4096}
	rt, err := container.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = rt.Delete(context.Background(), "chatty", 0)
		dirs, _ := filepath.Glob("/sys/fs/cgroup/*/" + cfg.CgroupParent)
		for _, d := range dirs {
			_ = os.Remove(d)
		}
	})
	script := "i=0; while [ $i -lt 1000 ]; do echo line-$i; i=$((i+1)); done; echo done; exec sleep 1000"
	if _, err := rt.Start(t.Context(), container.Spec{ID: "chatty", Rootfs: rootfs(t), Args: []string{"/bin/sh", "-c", script}}); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the output", func() bool {
		b, _ := os.ReadFile(rt.LogPath("chatty"))
		return strings.HasSuffix(string(b), "done\n")
	})
	rotated, err := rt.RotateLog("chatty")
	if err != nil || !rotated {
		t.Fatalf("RotateLog = %v, %v; want a rotation of a log past 4096 bytes", rotated, err)
	}
	old, _ := os.ReadFile(rt.LogPath("chatty") + ".1")
	if !strings.HasPrefix(string(old), "line-0\n") || !strings.HasSuffix(string(old), "done\n") {
		t.Errorf("ID.log.1 holds %d bytes not from line-0 to done", len(old))
	}
	if fi, err := os.Stat(rt.LogPath("chatty")); err != nil || fi.Size() != 0 {
		t.Errorf("the log after rotation: %v, %v; want it empty", fi, err)
	}
	if rotated, err := rt.RotateLog("chatty"); err != nil || rotated {
		t.Errorf("second RotateLog = %v, %v; want nothing to do", rotated, err)
	}
}
