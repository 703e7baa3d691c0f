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

	"github.com/shoalkit/shoal/cgroupx"
	"github.com/shoalkit/shoal/internal/testenv"
)

// BenchmarkRead reads /proc/meminfo and /proc/loadavg the way a tool
// does (open, read, close) through the view and through lxcfs, on the
// same machine in the same run, from inside a container (the benchmark
// process moves itself into one). The view's server runs in this
// process. "paired" alternates runs of reads both ways (see pairRun), so
// the ratio holds while the machine's load changes.
func BenchmarkRead(b *testing.B) {
	testenv.Require(b, testenv.Lxcfs)
	f := newFixtureTB(b, false)
	f.startServer(b)
	lxcfs, lxcfsPid := startLxcfs(b)
	joinContainer(b, f)
	benchmarkRead(b, f, lxcfs, lxcfsPid, 0)
}

// BenchmarkReadServerProcess is BenchmarkRead with the view's server in a
// process of its own (the test binary re-executed, as the agent is), so
// that reader and server do not share this process's Go scheduler, as
// they do not in a node, and as lxcfs and its reader do not: a server
// thread woken by a request never waits for a P that the blocked reader
// holds. "cpu-ns/read" is the reader's and the server's.
func BenchmarkReadServerProcess(b *testing.B) {
	testenv.Require(b, testenv.Lxcfs)
	f := newFixtureTB(b, false)
	srv := f.startServerProcess(b)
	lxcfs, lxcfsPid := startLxcfs(b)
	joinContainer(b, f)
	benchmarkRead(b, f, lxcfs, lxcfsPid, srv.Pid)
}

// benchmarkRead reads through the view of f and through lxcfs mounted at
// lxcfs; serverPid is the view's server when it is not this process (0).
func benchmarkRead(b *testing.B, f *fixture, lxcfs string, lxcfsPid, serverPid int) {
	serverCPU := func(b *testing.B) int64 {
		if serverPid == 0 {
			return 0 // counted in selfCPU
		}
		return threadsCPU(b, serverPid)
	}
	// open, read and close as a tool in C does: not os.Open, which also
	// registers the file with the runtime's epoll instance (two system
	// calls more, the same through either server).
	buf := make([]byte, 8192)
	read := func(b *testing.B, path string) {
		fd, err := unix.Open(path, unix.O_RDONLY|unix.O_CLOEXEC, 0)
		if err != nil {
			b.Fatal(err)
		}
		if _, err := unix.Read(fd, buf); err != nil {
			b.Fatal(err)
		}
		_ = unix.Close(fd)
	}
	for _, file := range []string{"meminfo", "loadavg"} {
		ours := filepath.Join(f.mnt, "proc", file)
		b.Run("procview/"+file, func(b *testing.B) {
			cpu0, s0 := selfCPU(b), serverCPU(b)
			for b.Loop() {
				read(b, ours)
			}
			// The reader (this process) and the server.
			b.ReportMetric(float64(selfCPU(b)-cpu0+serverCPU(b)-s0)/float64(b.N), "cpu-ns/read")
		})
		b.Run("lxcfs/"+file, func(b *testing.B) {
			theirs := filepath.Join(lxcfs, "proc", file)
			cpu0, l0 := selfCPU(b), threadsCPU(b, lxcfsPid)
			for b.Loop() {
				read(b, theirs)
			}
			// The reader (this process) and lxcfs.
			cpu := selfCPU(b) - cpu0 + threadsCPU(b, lxcfsPid) - l0
			b.ReportMetric(float64(cpu)/float64(b.N), "cpu-ns/read")
		})
		b.Run("paired/"+file, func(b *testing.B) {
			paths := [2]string{ours, filepath.Join(lxcfs, "proc", file)}
			var took [2]time.Duration
			var reads [2]int
			i := 0
			for b.Loop() {
				k := i / pairRun % 2
				i++
				t0 := time.Now()
				read(b, paths[k])
				took[k] += time.Since(t0)
				reads[k]++
			}
			ns := func(k int) float64 { return float64(took[k].Nanoseconds()) / float64(max(reads[k], 1)) }
			b.ReportMetric(ns(0), "procview-ns/read")
			b.ReportMetric(ns(1), "lxcfs-ns/read")
			b.ReportMetric(ns(1)/ns(0), "lxcfs/procview")
		})
	}
}

// pairRun is how many reads "paired" makes through one server before it
// turns to the other: both see the machine in the same state while its
// load changes, and a read seldom follows one of the other server's.
// lxcfs finishes a read's release on threads of its own after close
// returns, and a read right after competes with them for the CPUs (on 2
// vCPUs, a read of the view that follows one of lxcfs's takes 40 µs
// more).
const pairRun = 16

// joinContainer moves this process into the container until the
// benchmark ends, then back where it was.
func joinContainer(b *testing.B, f *fixture) {
	b.Helper()
	host, err := cgroupx.NewHost(b.Context())
	if err != nil {
		b.Fatal(err)
	}
	own, err := host.OpenPID(b.Context(), os.Getpid())
	if err != nil {
		b.Fatal(err)
	}
	pid := []byte(strconv.Itoa(os.Getpid()))
	b.Cleanup(func() {
		for _, d := range own.Dirs() {
			_ = os.WriteFile(filepath.Join(d, "cgroup.procs"), pid, 0o644)
		}
	})
	f.enter(b, os.Getpid())
}

// startLxcfs runs lxcfs in the foreground with the given options on a
// private mount point and stops it by pid (it unmounts on SIGTERM); a
// lazy unmount follows in case it did not.
func startLxcfs(b testing.TB, opts ...string) (string, int) {
	b.Helper()
	mnt := filepath.Join(b.TempDir(), "lxcfs")
	if err := os.Mkdir(mnt, 0o755); err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { _ = exec.Command("umount", "-l", mnt).Run() })
	args := append([]string{"-f", "--pidfile", filepath.Join(filepath.Dir(mnt), "lxcfs.pid")}, opts...)
	p := testenv.StartProcess(b, "lxcfs", append(args, mnt)...)
	deadline := time.Now().Add(10 * time.Second)
	for {
		if _, err := os.Stat(filepath.Join(mnt, "proc/meminfo")); err == nil {
			return mnt, p.Pid
		}
		if time.Now().After(deadline) {
			b.Fatal("lxcfs did not mount")
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// selfCPU is this process's user and system CPU time in ns.
func selfCPU(b *testing.B) int64 {
	var ru unix.Rusage
	if err := unix.Getrusage(unix.RUSAGE_SELF, &ru); err != nil {
		b.Fatal(err)
	}
	return ru.Utime.Nano() + ru.Stime.Nano()
}

// threadsCPU is the CPU time in ns of every thread of process pid, from
// /proc/PID/task/TID/schedstat (nanoseconds on CPU).
func threadsCPU(b *testing.B, pid int) int64 {
	tasks, err := os.ReadDir(filepath.Join("/proc", strconv.Itoa(pid), "task"))
	if err != nil {
		b.Fatal(err)
	}
	var sum int64
	for _, t := range tasks {
		data, err := os.ReadFile(filepath.Join("/proc", strconv.Itoa(pid), "task", t.Name(), "schedstat"))
		if err != nil {
			continue // exited
		}
		if f := strings.Fields(string(data)); len(f) > 0 {
			n, _ := strconv.ParseInt(f[0], 10, 64)
			sum += n
		}
	}
	return sum
}
