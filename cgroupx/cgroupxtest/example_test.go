package cgroupxtest_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/shoalkit/shoal/cgroupx"
	"github.com/shoalkit/shoal/cgroupx/cgroupxtest"
)

// Write a cgroup2 host with one limited container and read it back through
// cgroupx, as a test of code that uses cgroupx would. NewAt takes no
// testing.TB; in a test, cgroupxtest.New(t, layout) writes into t.TempDir()
// and fails the test on error instead.
func ExampleNewAt() {
	dir, err := os.MkdirTemp("", "cgroupxtest-example")
	if err != nil {
		fmt.Println(err)
		return
	}
	defer os.RemoveAll(dir)

	tree := cgroupxtest.NewAt(dir, cgroupxtest.V2)
	tree.SetMemory("/app", cgroupxtest.Memory{Limit: 256 << 20, Usage: 100 << 20})
	tree.SetCPU("/app", 150000, 100000) // 1.5 CPUs
	tree.AddProcess("/app", cgroupxtest.Process{PID: 42, Comm: "app"})
	if err := tree.Err(); err != nil {
		fmt.Println(err)
		return
	}

	ctx := context.Background()
	host, err := cgroupx.NewHost(ctx, cgroupx.WithRoot(tree.Root))
	if err != nil {
		fmt.Println(err)
		return
	}
	cg, err := host.OpenPID(ctx, 42)
	if err != nil {
		fmt.Println(err)
		return
	}
	mem, err := cg.Meminfo(ctx)
	if err != nil {
		fmt.Println(err)
		return
	}
	cpus, err := cg.CPUs(ctx)
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println("mode:", host.Mode(), "cgroup:", cg.Path())
	fmt.Printf("memory: %d MiB total, %d MiB free\n", mem.MemTotal>>20, mem.MemFree>>20)
	fmt.Printf("cpus: quota %.1f, nproc %d of %d online\n", cpus.Quota, cpus.Effective, len(cpus.Online))
	// Output:
	// mode: v2 cgroup: /app
	// memory: 256 MiB total, 156 MiB free
	// cpus: quota 1.5, nproc 2 of 4 online
}

// The same setter writes the files of whichever layout the tree has; Dir
// tells where they are, for assertions on what code under test wrote.
func ExampleTree_Dir() {
	for _, layout := range []cgroupxtest.Layout{cgroupxtest.V1, cgroupxtest.V2} {
		dir, err := os.MkdirTemp("", "cgroupxtest-example")
		if err != nil {
			fmt.Println(err)
			return
		}
		tree := cgroupxtest.NewAt(dir, layout)
		tree.SetCPU("/app", 50000, 100000)
		if err := tree.Err(); err != nil {
			fmt.Println(err)
			return
		}
		cpuDir := tree.Dir("cpu", "/app")
		rel, _ := filepath.Rel(tree.Root, cpuDir)
		fmt.Println(rel)
		for _, name := range []string{"cpu.cfs_quota_us", "cpu.max"} {
			if b, err := os.ReadFile(filepath.Join(cpuDir, name)); err == nil {
				fmt.Printf("  %s: %s\n", name, strings.TrimSpace(string(b)))
			}
		}
		_ = os.RemoveAll(dir)
	}
	// Output:
	// sys/fs/cgroup/cpu,cpuacct/app
	//   cpu.cfs_quota_us: 50000
	// sys/fs/cgroup/app
	//   cpu.max: 50000 100000
}
