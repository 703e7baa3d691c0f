package procview_test

import (
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/shoalkit/shoal/cgroupx/procview"
	"github.com/shoalkit/shoal/internal/testenv"
)

// BenchmarkTop runs Debian's procps `top -bn1` in a container of 100
// processes and on the host, each iteration one top through nsenter (the
// host's through nsenter into this process's own namespaces, so both pay the same
// setns and fork). The container is a pid and mount namespace made by
// unshare on the host's root file system (so top and its libraries are
// the host's), in the fixture's container cgroup (256 MiB), with
// /proc mounted for its pid namespace and the view's files bind-mounted
// over it as BindMounts lists them. "cpu-ns/op" is the CPU of top and
// nsenter (RUSAGE_CHILDREN) plus, for the container, this process's,
// which runs the view's server.
func BenchmarkTop(b *testing.B) {
	testenv.Require(b, testenv.Procps)
	f := newFixtureTB(b, false)
	f.startServer(b)
	// pid 1 of the namespace and 99 sleeps: 100 processes.
	init := f.startNamespaced(b, "for i in $(seq 99); do sleep 100000 & done")
	top := func(b *testing.B, target int, want string) {
		out, err := exec.Command("nsenter", "-t", strconv.Itoa(target), "-m", "-p", "top", "-bn1").CombinedOutput()
		if err != nil {
			b.Fatalf("top: %v\n%s", err, out)
		}
		if !strings.Contains(string(out), want) {
			b.Fatalf("top shows no %q:\n%s", want, out)
		}
	}
	b.Run("host", func(b *testing.B) {
		c0 := childrenCPU(b)
		for b.Loop() {
			top(b, os.Getpid(), "MiB Mem")
		}
		b.ReportMetric(float64(childrenCPU(b)-c0)/float64(b.N), "cpu-ns/op")
	})
	b.Run("container", func(b *testing.B) {
		joinContainer(b, f) // top's cgroup is its parent's
		c0, s0 := childrenCPU(b), selfCPU(b)
		// 256 MiB: procps top shows "MiB Mem :    256.0 total".
		for b.Loop() {
			top(b, init, "256.0 total")
		}
		c, s := childrenCPU(b)-c0, selfCPU(b)-s0
		b.ReportMetric(float64(c+s)/float64(b.N), "cpu-ns/op")
		b.ReportMetric(float64(s)/float64(b.N), "server-cpu-ns/op")
	})
}

// startNamespaced starts a container for procps: a pid and mount
// namespace made by unshare on the host's root file system (so procps and
// its libraries are the host's), in the fixture's container cgroup, with
// /proc mounted for its pid namespace and the view's files bind-mounted
// over it as BindMounts lists them. Its init runs script, then waits for
// its children; it returns the init's pid (for nsenter). The container is
// stopped by pid when the test ends.
func (f *fixture) startNamespaced(tb testing.TB, script string) int {
	tb.Helper()
	var binds strings.Builder
	for _, m := range procview.BindMounts(f.mnt) {
		binds.WriteString("mount --bind " + m.Source + " " + m.Destination + " || exit 98; ")
	}
	var join strings.Builder
	for _, d := range f.ctrDirs {
		join.WriteString("echo $$ > '" + filepath.Join(d, "cgroup.procs") + "' || exit 99; ")
	}
	file := filepath.Join(tb.TempDir(), "init.sh")
	if err := os.WriteFile(file, []byte(binds.String()+script+"\necho ready; wait\n"), 0o644); err != nil {
		tb.Fatal(err)
	}
	ctr := testenv.StartProcess(tb, "/bin/sh", "-c", join.String()+"exec unshare -m -p -f --mount-proc /bin/sh "+file)
	deadline := time.Now().Add(20 * time.Second)
	for !strings.Contains(ctr.Output(), "ready") {
		select {
		case <-ctr.Done():
			tb.Fatalf("container exited: %v\n%s", ctr.Err(), ctr.Output())
		default:
		}
		if time.Now().After(deadline) {
			tb.Fatalf("container did not start:\n%s", ctr.Output())
		}
		time.Sleep(10 * time.Millisecond)
	}
	return childPid(tb, ctr.Pid)
}

// childPid is the one child of process pid.
func childPid(b testing.TB, pid int) int {
	b.Helper()
	data, err := os.ReadFile(filepath.Join("/proc", strconv.Itoa(pid), "task", strconv.Itoa(pid), "children"))
	if err != nil {
		b.Fatal(err)
	}
	f := strings.Fields(string(data))
	if len(f) != 1 {
		b.Fatalf("process %d has children %q, want one", pid, f)
	}
	n, err := strconv.Atoi(f[0])
	if err != nil {
		b.Fatal(err)
	}
	return n
}

// childrenCPU is the user and system CPU time in ns of this process's
// waited-for children.
func childrenCPU(b *testing.B) int64 {
	var ru unix.Rusage
	if err := unix.Getrusage(unix.RUSAGE_CHILDREN, &ru); err != nil {
		b.Fatal(err)
	}
	return ru.Utime.Nano() + ru.Stime.Nano()
}

// BenchmarkIdle measures the CPU time of a holder and a server, each a
// process of its own, over 10 s with nothing to read and one container
// under the parent (whose load the server scans every 5 s).
func BenchmarkIdle(b *testing.B) {
	f := newFixtureOf(b, false, false)
	holder := f.startHolderProcess(b)
	srv := f.startServerProcess(b)
	time.Sleep(time.Second) // settle after start
	var hold, serve, wall int64
	for b.Loop() {
		h0, s0, t0 := threadsCPU(b, holder.Pid), threadsCPU(b, srv.Pid), time.Now()
		time.Sleep(10 * time.Second)
		hold += threadsCPU(b, holder.Pid) - h0
		serve += threadsCPU(b, srv.Pid) - s0
		wall += time.Since(t0).Nanoseconds()
	}
	b.ReportMetric(100*float64(serve)/float64(wall), "server-%cpu")
	b.ReportMetric(100*float64(hold)/float64(wall), "holder-%cpu")
	b.ReportMetric(float64(serve)/float64(b.N), "server-cpu-ns/10s")
}
