package metrics_test

import (
	"context"
	"fmt"
	"os"

	"github.com/shoalkit/shoal/cgroupx/cgroupxtest"
	"github.com/shoalkit/shoal/metrics"
)

// A collector over a fake host: one container with 100 MiB in use, 30 MiB
// of it inactive page cache.
func Example() {
	dir, _ := os.MkdirTemp("", "metrics-example")
	defer os.RemoveAll(dir)
	tree := cgroupxtest.NewAt(dir, cgroupxtest.V2)
	tree.SetMemory("/web-1", cgroupxtest.Memory{Limit: 256 << 20, Usage: 100 << 20, InactiveFile: 30 << 20})
	tree.AddProcess("/web-1", cgroupxtest.Process{PID: 42, Comm: "web"})
	if tree.Err() != nil {
		fmt.Println(tree.Err())
		return
	}

	ctx := context.Background()
	c, err := metrics.New(ctx, metrics.Config{Root: dir, DiskInterval: -1})
	if err != nil {
		fmt.Println(err)
		return
	}
	defer c.Close()
	_ = c.Add(metrics.Target{ID: "web-1", App: "web", Cgroup: "/web-1"})
	_ = c.Add(metrics.Target{ID: "gone", App: "web", Cgroup: "/gone"})
	snap, err := c.Sample(ctx)
	if err != nil {
		fmt.Println(err)
		return
	}
	for _, s := range snap.Containers {
		fmt.Printf("%s: working set %d MiB of %d MiB, %d process\n", s.Target.ID, s.Memory.WorkingSet>>20, s.Memory.Limit>>20, s.Processes.Processes)
	}
	for _, e := range snap.Errors {
		fmt.Printf("%s left out: %s\n", e.ID, e.Reason)
	}
	// Output:
	// web-1: working set 70 MiB of 256 MiB, 1 process
	// gone left out: vanished
}

// Limits are read once a minute (Config.LimitInterval); after changing a
// container's limits, LimitsChanged makes the next sample read them.
func ExampleCollector_LimitsChanged() {
	dir, _ := os.MkdirTemp("", "metrics-example")
	defer os.RemoveAll(dir)
	tree := cgroupxtest.NewAt(dir, cgroupxtest.V2)
	tree.SetMemory("/web-1", cgroupxtest.Memory{Limit: 256 << 20, Usage: 100 << 20})
	tree.SetCPU("/web-1", 50000, 100000)
	tree.AddProcess("/web-1", cgroupxtest.Process{PID: 42, Comm: "web"})
	if tree.Err() != nil {
		fmt.Println(tree.Err())
		return
	}
	ctx := context.Background()
	c, err := metrics.New(ctx, metrics.Config{Root: dir, DiskInterval: -1})
	if err != nil {
		fmt.Println(err)
		return
	}
	defer c.Close()
	_ = c.Add(metrics.Target{ID: "web-1", Cgroup: "/web-1"})
	show := func() {
		snap, err := c.Sample(ctx)
		if err != nil || len(snap.Containers) != 1 {
			fmt.Println(err)
			return
		}
		s := snap.Containers[0]
		fmt.Printf("%.1f CPUs, %d MiB\n", s.CPU.LimitCores, s.Memory.Limit>>20)
	}
	show()
	tree.SetCPU("/web-1", 200000, 100000) // the platform scales the container up
	tree.SetMemory("/web-1", cgroupxtest.Memory{Limit: 512 << 20, Usage: 100 << 20})
	show() // within LimitInterval: the limits read a moment ago
	c.LimitsChanged("web-1")
	show()
	// Output:
	// 0.5 CPUs, 256 MiB
	// 0.5 CPUs, 256 MiB
	// 2.0 CPUs, 512 MiB
}
