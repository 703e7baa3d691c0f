package cgroupx_test

import (
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"syscall"
	"testing"
	"time"

	"github.com/shoalkit/shoal/cgroupx"
	"github.com/shoalkit/shoal/cgroupx/cgroupxtest"
	"github.com/shoalkit/shoal/internal/testenv"
)

// benchContainer is a real cgroup with a small workload: four sleeping
// processes and a 256 MiB limit, as a typical idle container.
func benchContainer(b *testing.B, procs int) *cgroupx.Cgroup {
	b.Helper()
	testenv.Require(b, testenv.Cgroups)
	ctx := b.Context()
	cg := testenv.NewCgroup(b)
	host, err := cgroupx.NewHost(ctx)
	if err != nil {
		b.Fatal(err)
	}
	ctr, err := host.Open(ctx, cg.Name)
	if err != nil {
		b.Fatal(err)
	}
	if err := ctr.SetLimits(ctx, cgroupx.Limits{Memory: ptr(int64(256 << 20)), CPUQuota: ptr(int64(50000))}); err != nil {
		b.Fatal(err)
	}
	for range procs {
		cg.Start(b, "sleep", "1000")
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		tc, err := ctr.CountTasks(ctx)
		if err != nil {
			b.Fatal(err)
		}
		if tc.Total == procs {
			break
		}
		if time.Now().After(deadline) {
			b.Fatalf("%d of %d processes", tc.Total, procs)
		}
		time.Sleep(10 * time.Millisecond)
	}
	return ctr
}

func BenchmarkMeminfo(b *testing.B) {
	for _, keep := range []bool{false, true} {
		b.Run("real/"+handle(keep), func(b *testing.B) {
			ctr := benchContainer(b, 4)
			if keep {
				ctr = ctr.KeepOpen()
				defer ctr.Close()
			}
			ctx := b.Context()
			b.ReportAllocs()
			for b.Loop() {
				if _, err := ctr.Meminfo(ctx); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
	for _, l := range layouts {
		b.Run("fixture-"+l.name, func(b *testing.B) {
			ctx := b.Context()
			tree := cgroupxtest.New(b, l.layout)
			tree.SetMemory("/pod", cgroupxtest.Memory{Limit: 1 << 30})
			tree.SetMemory("/pod/ctr", cgroupxtest.Memory{Limit: 256 << 20, Usage: 100 << 20})
			cg := open(ctx, b, newHost(ctx, b, tree), "/pod/ctr")
			b.ReportAllocs()
			for b.Loop() {
				if _, err := cg.Meminfo(ctx); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkMeminfoVsLxcfs reads /proc/meminfo of the same cgroup through
// lxcfs (started here on a private mount) and through cgroupx, rendering
// included. lxcfs answers for the cgroup of the reader's pid-namespace init,
// pid 1, so both read pid 1's cgroup.
func BenchmarkMeminfoVsLxcfs(b *testing.B) {
	testenv.Require(b, testenv.Cgroups)
	ctx := b.Context()
	host, err := cgroupx.NewHost(ctx)
	if err != nil {
		b.Fatal(err)
	}
	init, err := host.OpenPID(ctx, 1)
	if err != nil {
		b.Fatal(err)
	}
	for _, keep := range []bool{false, true} {
		b.Run("cgroupx/"+handle(keep), func(b *testing.B) {
			cg := init
			if keep {
				cg = init.KeepOpen()
				defer cg.Close()
			}
			var out nopWriter
			b.ReportAllocs()
			for b.Loop() {
				m, err := cg.Meminfo(ctx)
				if err != nil {
					b.Fatal(err)
				}
				if err := cgroupx.WriteMeminfo(&out, m, nil); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
	// Paired: each iteration reads both ways back to back, so that the
	// ratio holds on a machine whose load changes during the run.
	b.Run("paired", func(b *testing.B) {
		testenv.Require(b, testenv.Lxcfs)
		mnt := startLxcfs(b)
		path := filepath.Join(mnt, "proc/meminfo")
		kept := init.KeepOpen()
		defer kept.Close()
		buf := make([]byte, 8192)
		var out nopWriter
		var ours, keptT, theirs time.Duration
		for b.Loop() {
			t0 := time.Now()
			m, err := init.Meminfo(ctx)
			if err != nil {
				b.Fatal(err)
			}
			if err := cgroupx.WriteMeminfo(&out, m, nil); err != nil {
				b.Fatal(err)
			}
			t1 := time.Now()
			if m, err = kept.Meminfo(ctx); err != nil {
				b.Fatal(err)
			}
			if err := cgroupx.WriteMeminfo(&out, m, nil); err != nil {
				b.Fatal(err)
			}
			t2 := time.Now()
			f, err := os.Open(path)
			if err != nil {
				b.Fatal(err)
			}
			if _, err := f.Read(buf); err != nil {
				b.Fatal(err)
			}
			f.Close()
			t3 := time.Now()
			ours, keptT, theirs = ours+t1.Sub(t0), keptT+t2.Sub(t1), theirs+t3.Sub(t2)
		}
		b.ReportMetric(float64(theirs)/float64(ours), "lxcfs/open")
		b.ReportMetric(float64(theirs)/float64(keptT), "lxcfs/keepopen")
	})
	b.Run("lxcfs", func(b *testing.B) {
		testenv.Require(b, testenv.Lxcfs)
		mnt := startLxcfs(b)
		path := filepath.Join(mnt, "proc/meminfo")
		b.ReportAllocs()
		buf := make([]byte, 8192)
		for b.Loop() {
			f, err := os.Open(path)
			if err != nil {
				b.Fatal(err)
			}
			if _, err := f.Read(buf); err != nil {
				b.Fatal(err)
			}
			f.Close()
		}
	})
}

type nopWriter struct{}

func (nopWriter) Write(p []byte) (int, error) { return len(p), nil }

// startLxcfs runs lxcfs in the foreground on a private mount point and
// stops it by pid (it unmounts on SIGTERM); a lazy unmount follows in case
// it did not.
func startLxcfs(b *testing.B) string {
	b.Helper()
	mnt := filepath.Join(b.TempDir(), "lxcfs")
	if err := os.Mkdir(mnt, 0o755); err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { _ = exec.Command("umount", "-l", mnt).Run() })
	testenv.StartProcess(b, "lxcfs", "-f", "--pidfile", filepath.Join(filepath.Dir(mnt), "lxcfs.pid"), mnt)
	deadline := time.Now().Add(10 * time.Second)
	for {
		if _, err := os.Stat(filepath.Join(mnt, "proc/meminfo")); err == nil {
			return mnt
		}
		if time.Now().After(deadline) {
			b.Fatal("lxcfs did not mount")
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// handle names the kind of handle a benchmark reads through.
func handle(keep bool) string {
	if keep {
		return "keepopen"
	}
	return "open"
}

// BenchmarkSample is a full Sample through a plain handle, a KeepOpen
// one, and a KeepOpen one whose limits are cached (CacheLimits), with the
// process's CPU time per sample beside the wall time.
func BenchmarkSample(b *testing.B) {
	for _, mode := range []string{"open", "keepopen", "keepopen-cachelimits"} {
		b.Run(mode, func(b *testing.B) {
			ctr := benchContainer(b, 4)
			if mode != "open" {
				ctr = ctr.KeepOpen()
				defer ctr.Close()
			}
			if mode == "keepopen-cachelimits" {
				cacheLimits(ctr)
			}
			ctx := b.Context()
			b.ReportAllocs()
			n, cpu0 := 0, processCPU()
			for b.Loop() {
				if _, err := ctr.Sample(ctx); err != nil {
					b.Fatal(err)
				}
				n++
			}
			b.ReportMetric(float64(processCPU()-cpu0)/float64(n), "cpu-ns/op")
		})
	}
}

// cacheLimits keeps the limits a handle reads until invalidated.
func cacheLimits(c *cgroupx.Cgroup) { c.CacheLimits(-1) }

// processCPU is the CPU time this process has used, user and system:
// steadier than wall time on a shared machine.
func processCPU() time.Duration {
	var ru syscall.Rusage
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// BenchmarkLoadScan counts the threads of a container and reports the
// cost per thread.
func BenchmarkLoadScan(b *testing.B) {
	for _, procs := range []int{10, 100} {
		for _, keep := range []bool{false, true} {
			b.Run(strconv.Itoa(procs)+"procs/"+handle(keep), func(b *testing.B) {
				benchLoadScan(b, procs, keep)
			})
		}
	}
}

func benchLoadScan(b *testing.B, procs int, keep bool) {
	ctr := benchContainer(b, procs)
	if keep {
		ctr = ctr.KeepOpen()
		defer ctr.Close()
	}
	ctx := b.Context()
	b.ReportAllocs()
	threads := 0
	for b.Loop() {
		tc, err := ctr.CountTasks(ctx)
		if err != nil {
			b.Fatal(err)
		}
		threads = tc.Total
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/float64(threads), "ns/thread")
}

func BenchmarkCPUs(b *testing.B) {
	ctr := benchContainer(b, 1)
	ctx := b.Context()
	b.ReportAllocs()
	for b.Loop() {
		if _, err := ctr.CPUs(ctx); err != nil {
			b.Fatal(err)
		}
	}
}
