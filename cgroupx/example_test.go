package cgroupx_test

import (
	"context"
	"fmt"
	"os"
	"time"

	"github.com/shoalkit/shoal/cgroupx"
	"github.com/shoalkit/shoal/cgroupx/cgroupxtest"
)

// fixture writes a cgroup2 host with one container, /kubepods/pod1/ctr,
// limited to 256 MiB by its pod and to 1.5 CPUs, for the Examples to read.
// On a real host, cgroupx.NewHost(ctx) needs no root option.
func fixture() (*cgroupxtest.Tree, func()) {
	dir, err := os.MkdirTemp("", "cgroupx-example")
	if err != nil {
		panic(err)
	}
	tree := cgroupxtest.NewAt(dir, cgroupxtest.V2)
	tree.SetMemory("/kubepods/pod1", cgroupxtest.Memory{Limit: 256 << 20})
	tree.SetMemory("/kubepods/pod1/ctr", cgroupxtest.Memory{
		Limit: 1 << 30, Usage: 100 << 20, RSS: 60 << 20, Cache: 40 << 20, Shmem: 8 << 20,
		ActiveAnon: 50 << 20, InactiveAnon: 18 << 20, ActiveFile: 20 << 20, InactiveFile: 12 << 20,
	})
	tree.SetCPU("/kubepods/pod1/ctr", 150000, 100000)
	tree.AddProcess("/kubepods/pod1/ctr", cgroupxtest.Process{
		PID: 4242, Comm: "app", State: 'R', StartTime: 40000,
		Threads: []cgroupxtest.Thread{{TID: 4243, State: 'S'}, {TID: 4244, State: 'D'}},
	})
	if err := tree.Err(); err != nil {
		panic(err)
	}
	return tree, func() { os.RemoveAll(dir) }
}

func ExampleCgroup_Meminfo() {
	tree, cleanup := fixture()
	defer cleanup()
	ctx := context.Background()
	host, err := cgroupx.NewHost(ctx, cgroupx.WithRoot(tree.Root))
	if err != nil {
		fmt.Println(err)
		return
	}
	cg, err := host.OpenPID(ctx, 4242)
	if err != nil {
		fmt.Println(err)
		return
	}
	m, err := cg.Meminfo(ctx)
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Printf("%s: total %d MiB, free %d MiB, available %d MiB\n", cg.Path(), m.MemTotal>>20, m.MemFree>>20, m.MemAvailable>>20)
	// Output: /kubepods/pod1/ctr: total 256 MiB, free 156 MiB, available 188 MiB
}

func ExampleWriteMeminfo() {
	tree, cleanup := fixture()
	defer cleanup()
	ctx := context.Background()
	host, _ := cgroupx.NewHost(ctx, cgroupx.WithRoot(tree.Root))
	cg, _ := host.Open(ctx, "/kubepods/pod1/ctr")
	m, _ := cg.Meminfo(ctx)
	// With nil for the host's file, only the lines cgroupx computes.
	if err := cgroupx.WriteMeminfo(os.Stdout, cgroupx.Meminfo{MemTotal: m.MemTotal, MemFree: m.MemFree}, nil); err != nil {
		fmt.Println(err)
	}
	// Output:
	// MemTotal:         262144 kB
	// MemFree:          159744 kB
	// MemAvailable:          0 kB
	// Buffers:               0 kB
	// Cached:                0 kB
	// SwapCached:            0 kB
	// Active:                0 kB
	// Inactive:              0 kB
	// Active(anon):          0 kB
	// Inactive(anon):        0 kB
	// Active(file):          0 kB
	// Inactive(file):        0 kB
	// Unevictable:           0 kB
	// SwapTotal:             0 kB
	// SwapFree:              0 kB
	// Dirty:                 0 kB
	// Writeback:             0 kB
	// AnonPages:             0 kB
	// Mapped:                0 kB
	// Shmem:                 0 kB
	// Slab:                  0 kB
	// SReclaimable:          0 kB
	// SUnreclaim:            0 kB
}

func ExampleCgroup_CPUs() {
	tree, cleanup := fixture()
	defer cleanup()
	ctx := context.Background()
	host, _ := cgroupx.NewHost(ctx, cgroupx.WithRoot(tree.Root))
	cg, _ := host.Open(ctx, "/kubepods/pod1/ctr")
	c, err := cg.CPUs(ctx)
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Printf("nproc %d, quota %.2f CPUs, cpuset %s\n", c.Effective, c.Quota, cgroupx.FormatCPUList(c.Cpuset))
	// Output: nproc 2, quota 1.50 CPUs, cpuset 0-3
}

func ExampleLoadTracker() {
	tree, cleanup := fixture()
	defer cleanup()
	ctx := context.Background()
	host, _ := cgroupx.NewHost(ctx, cgroupx.WithRoot(tree.Root))
	cg, _ := host.Open(ctx, "/kubepods/pod1/ctr")
	// Run(ctx) would scan every 5 s; here twelve scans, one minute.
	lt := cgroupx.NewLoadTracker(cg, cgroupx.LoadConfig{})
	for range 12 {
		if err := lt.Sample(ctx); err != nil {
			fmt.Println(err)
			return
		}
	}
	if err := cgroupx.WriteLoadavg(os.Stdout, lt.Load()); err != nil {
		fmt.Println(err)
	}
	// Output: 1.27 0.37 0.13 1/3 4244
}

func ExampleCgroup_Uptime() {
	tree, cleanup := fixture()
	defer cleanup()
	ctx := context.Background()
	host, _ := cgroupx.NewHost(ctx, cgroupx.WithRoot(tree.Root))
	cg, _ := host.Open(ctx, "/kubepods/pod1/ctr")
	u, err := cg.Uptime(ctx)
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println("up", u.Uptime.Round(time.Second), "init pid", u.InitPID)
	// Output: up 10m0s init pid 4242
}
