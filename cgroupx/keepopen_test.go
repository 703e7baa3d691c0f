package cgroupx_test

import (
	"slices"
	"testing"
	"time"

	"github.com/shoalkit/shoal/cgroupx"
	"github.com/shoalkit/shoal/internal/testenv"
)

// TestIntegrationKeepOpenSeesNewProcess adds a process to a cgroup that a
// KeepOpen handle has just listed, and reads it back within 100 ms. A v1
// cgroup.procs kept open and re-read from offset 0 serves the kernel's
// cached pid list of its first read for as long as it is re-read within a
// second, so a handle sampled faster than that would never see the new
// process.
func TestIntegrationKeepOpenSeesNewProcess(t *testing.T) {
	testenv.Require(t, testenv.Cgroups)
	ctx := t.Context()
	cg := testenv.NewCgroup(t)
	host, err := cgroupx.NewHost(ctx)
	if err != nil {
		t.Fatal(err)
	}
	plain, err := host.Open(ctx, cg.Name)
	if err != nil {
		t.Fatal(err)
	}
	kept := plain.KeepOpen()
	defer kept.Close()

	first := cg.Start(t, "sleep", "1000")
	pids, err := kept.PIDs(ctx)
	if err != nil || !slices.Equal(pids, []int{first.Pid}) {
		t.Fatalf("pids %v %v, want [%d]", pids, err, first.Pid)
	}
	for range 3 {
		if _, err := kept.PIDs(ctx); err != nil {
			t.Fatal(err)
		}
	}
	second := cg.Start(t, "sleep", "1000")
	added := time.Now()

	pids, err = kept.PIDs(ctx)
	if err != nil {
		t.Fatal(err)
	}
	procs, err := kept.Processes(ctx)
	if err != nil {
		t.Fatal(err)
	}
	tasks, err := kept.CountTasks(ctx)
	if err != nil {
		t.Fatal(err)
	}
	// Read back well within the kernel's second: past it the cached list
	// would expire and this test could not fail.
	t.Logf("read back %v after the process joined", time.Since(added))
	if !slices.Contains(pids, second.Pid) || len(pids) != 2 {
		t.Errorf("kept PIDs %v right after %d joined, want both %d and %d", pids, second.Pid, first.Pid, second.Pid)
	}
	if len(procs) != 2 {
		t.Errorf("kept Processes %+v, want 2", procs)
	}
	if tasks.Total != 2 {
		t.Errorf("kept CountTasks %+v, want 2 tasks", tasks)
	}
}
