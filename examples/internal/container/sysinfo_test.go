package container_test

import (
	"context"
	"errors"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/shoalkit/shoal/cgroupx/procview"
	"github.com/shoalkit/shoal/examples/internal/container"
	"github.com/shoalkit/shoal/examples/internal/state"
	"github.com/shoalkit/shoal/internal/testenv"
)

// TestSysinfoListenerInvalid: a listener path that is not a clean
// absolute path fitting a socket address is refused before anything is
// made.
func TestSysinfoListenerInvalid(t *testing.T) {
	rt, _ := newRuntime(t)
	root := rootfs(t)
	for _, p := range []string{"relative.sock", "/a/../b.sock", "/" + strings.Repeat("x", 120)} {
		_, err := rt.Start(t.Context(), container.Spec{ID: "bad-1", Rootfs: root, Args: []string{"true"}, SysinfoListener: p})
		if !errors.Is(err, container.ErrInvalid) || !strings.HasPrefix(err.Error(), "container: ") {
			t.Errorf("SysinfoListener %q: %v, want container: … ErrInvalid", p, err)
		}
	}
	if _, err := rt.Get("bad-1"); !errors.Is(err, container.ErrNotFound) {
		t.Errorf("a refused container left state: %v", err)
	}
}

// TestSysinfoListener starts a container with 256 MiB and half a CPU whose
// sysinfo(2) goes to procview's AcceptSeccomp: BusyBox free and a Go
// program calling sysinfo see 256 MiB and the container's uptime, while a
// process on the host sees the host. Once the listener is gone (the
// agent exited), sysinfo in the container fails at once with ENOSYS, as
// the kernel answers a notification nobody can receive; it does not hang
// (and BusyBox uptime, which ignores the error, prints zeros).
func TestSysinfoListener(t *testing.T) {
	rt, cfg := newRuntime(t)
	if err := container.SeccompNotifySupported(); err != nil {
		// Asked for all the same, Start says so and makes nothing.
		_, serr := rt.Start(t.Context(), container.Spec{ID: "si-1", Rootfs: rootfs(t), Args: []string{"true"}, SysinfoListener: "/run/x.sock"})
		if !errors.Is(serr, container.ErrUnsupported) || !errors.Is(err, container.ErrUnsupported) {
			t.Errorf("Start with SysinfoListener where unsupported: %v (probe: %v), want ErrUnsupported", serr, err)
		}
		if os.Getenv(testenv.IntegrationEnv) == "require" && container.SeccompAvailable() {
			t.Fatal(err)
		}
		t.Skip(err)
	}
	root := rootfs(t)
	probe := testenv.SysinfoProbe(t, filepath.Join(root, "bin"))
	sock, stop := serveSysinfo(t, cfg.CgroupParent)

	shared := t.TempDir()
	script := "/bin/sysinfo-probe; busybox free | grep Mem:; busybox uptime; echo ready > /x/ready; " +
		"while [ ! -e /x/go ]; do sleep 0.05; done; " +
		"/bin/sysinfo-probe; echo probe=$?; busybox uptime; echo uptime=$?; echo done > /x/done; exec sleep 1000"
	const mem = 256 << 20
	_, err := rt.Start(t.Context(), container.Spec{
		ID: "si-1", Rootfs: root, Args: []string{"/bin/sh", "-c", script},
		Mounts:          []container.Mount{{Source: shared, Destination: "/x"}},
		Resources:       state.Resources{MemoryBytes: mem, CPUs: 0.5},
		SysinfoListener: sock,
	})
	if err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the container's first sysinfo", func() bool { _, err := os.Stat(filepath.Join(shared, "ready")); return err == nil })
	if in, err := rt.Get("si-1"); err != nil || in.SysinfoListener != sock {
		t.Errorf("Get: SysinfoListener %q, %v; want %s", in.SysinfoListener, err, sock)
	}
	hostOut, err := exec.CommandContext(t.Context(), probe).CombinedOutput()
	if err != nil {
		t.Fatalf("probe on the host: %v\n%s", err, hostOut)
	}
	if strings.Contains(string(hostOut), "totalram=268435456 ") {
		t.Errorf("the host sees the container's memory: %s", hostOut)
	}

	stop() // the listener's holder goes away, as when the agent exits
	start := time.Now()
	if err := os.WriteFile(filepath.Join(shared, "go"), nil, 0o644); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "sysinfo after the listener is gone", func() bool { _, err := os.Stat(filepath.Join(shared, "done")); return err == nil })
	t.Logf("sysinfo after the listener closed returned within %v", time.Since(start).Round(time.Millisecond))
	out, err := os.ReadFile(rt.LogPath("si-1"))
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("inside the container:\n%s\non the host:\n%s", out, hostOut)
	lines := strings.Split(string(out), "\n")
	if len(lines) < 7 {
		t.Fatalf("container log:\n%s", out)
	}
	if !strings.HasPrefix(lines[0], "sysinfo totalram=268435456 unit=1 uptime=") {
		t.Errorf("probe in the container: %q, want 256 MiB", lines[0])
	}
	// Its total; "used" is total less free, buffers and the host's cache
	// (BusyBox reads those from /proc/meminfo, which only the FUSE view
	// makes the container's: the agent's tests run both), so the columns
	// may run together here.
	if f := strings.Fields(lines[1]); len(f) < 2 || !strings.HasPrefix(f[1], "262144") {
		t.Errorf("busybox free: %q, want total 262144 KiB", lines[1])
	}
	if !strings.Contains(lines[2], "up 0 min") {
		t.Errorf("busybox uptime: %q, want the container's minutes", lines[2])
	}
	if lines[3] != "sysinfo error=38 function not implemented" || lines[4] != "probe=1" {
		t.Errorf("probe without a listener: %q %q, want ENOSYS", lines[3], lines[4])
	}
	// BusyBox uptime ignores sysinfo's error: it prints its zeroed struct
	// (up 0 min, loads 0.00) and exits 0.
	if !strings.Contains(lines[5], "up 0 min") || lines[6] != "uptime=0" {
		t.Errorf("busybox uptime without a listener: %q %q", lines[5], lines[6])
	}
	if err := rt.Delete(t.Context(), "si-1", 0); err != nil {
		t.Fatal(err)
	}
}

// serveSysinfo answers the sysinfo of containers under the cgroup parent
// with procview's AcceptSeccomp on a socket in a temp dir, until stop
// (also at the end of the test), which checks that it ended with its
// context.
func serveSysinfo(t testing.TB, parent string) (sock string, stop func()) {
	t.Helper()
	srv, err := procview.New(t.Context(), procview.Config{Parents: []string{"/" + parent}})
	if err != nil {
		t.Fatal(err)
	}
	sock = filepath.Join(t.TempDir(), "sysinfo.sock")
	ln, err := net.ListenUnix("unix", &net.UnixAddr{Name: sock, Net: "unix"})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- srv.AcceptSeccomp(ctx, ln) }()
	var once sync.Once
	stop = func() {
		once.Do(func() {
			cancel()
			if err := <-done; !errors.Is(err, context.Canceled) {
				t.Errorf("AcceptSeccomp: %v", err)
			}
			_ = ln.Close()
		})
	}
	t.Cleanup(stop)
	return sock, stop
}
