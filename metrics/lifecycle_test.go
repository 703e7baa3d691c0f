package metrics_test

import (
	"context"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/shoalkit/shoal/internal/testenv"
	"github.com/shoalkit/shoal/metrics"
)

// removeCgroup kills the cgroup's processes and removes its directories,
// as a container runtime does when a container stops.
func removeCgroup(t *testing.T, cg *testenv.Cgroup) {
	t.Helper()
	for _, d := range cg.Dirs() {
		deadline := time.Now().Add(10 * time.Second)
		for {
			b, _ := os.ReadFile(filepath.Join(d, "cgroup.procs"))
			for _, f := range strings.Fields(string(b)) {
				if pid, err := strconv.Atoi(f); err == nil {
					_ = syscall.Kill(pid, syscall.SIGKILL)
				}
			}
			err := syscall.Rmdir(d)
			if err == nil {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("remove %s: %v", d, err)
			}
			time.Sleep(20 * time.Millisecond)
		}
	}
}

// recreateCgroup makes the cgroup's directories again (a restarted
// container under the same name); testenv's cleanup removes them.
func recreateCgroup(t *testing.T, cg *testenv.Cgroup) {
	t.Helper()
	for _, d := range cg.Dirs() {
		if err := os.Mkdir(d, 0o755); err != nil {
			t.Fatal(err)
		}
		if _, err := os.Stat(filepath.Join(d, "cpuset.cpus")); err == nil {
			for _, f := range []string{"cpuset.cpus", "cpuset.mems"} {
				b, err := os.ReadFile(filepath.Join(filepath.Dir(d), f))
				if err != nil {
					t.Fatal(err)
				}
				writeFile(t, d, f, string(b))
			}
		}
	}
}

func TestIntegrationContainerRemovedAndRestarted(t *testing.T) {
	a, b := testenv.NewCgroup(t), testenv.NewCgroup(t)
	name, args := helperArgs("spin")
	a.Start(t, name, args...)
	b.Start(t, name, args...)
	c := newCollector(t, metrics.Config{})
	add(t, c, "a", a)
	add(t, c, "b", b)
	ctx := context.Background()
	time.Sleep(300 * time.Millisecond)
	s1, err := c.Sample(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(s1.Containers) != 2 {
		t.Fatalf("first sample has %d containers, errors %v", len(s1.Containers), s1.Errors)
	}
	before, _ := find(s1, "b")

	// b's files are held open by the collector when its cgroup goes.
	removeCgroup(t, b)
	s2, err := c.Sample(ctx)
	if err != nil {
		t.Fatalf("a vanished container failed the sample: %v", err)
	}
	if _, ok := find(s2, "a"); !ok || len(s2.Containers) != 1 {
		t.Fatalf("containers %v, want a alone", s2.Containers)
	}
	if len(s2.Errors) != 1 || s2.Errors[0].ID != "b" || s2.Errors[0].Reason != metrics.ReasonVanished {
		t.Fatalf("errors %+v, want b vanished", s2.Errors)
	}
	if s2.Totals.ContainerErrors[metrics.ReasonVanished] != 1 {
		t.Errorf("vanished count %d, want 1", s2.Totals.ContainerErrors[metrics.ReasonVanished])
	}

	// The container comes back under the same cgroup: its counters
	// restart from zero in the kernel, not in the collector.
	recreateCgroup(t, b)
	b.Start(t, name, args...)
	s3 := sampleUntil(t, c, "b", 5*time.Second, "b back", func(metrics.ContainerSample) bool { return true })
	if s3.Resets != 1 {
		t.Errorf("resets %d after a restart, want 1", s3.Resets)
	}
	if s3.CPU.Usage < before.CPU.Usage {
		t.Errorf("CPU usage went back from %v to %v across the restart", before.CPU.Usage, s3.CPU.Usage)
	}
	if s3.Processes.Processes != 1 {
		t.Errorf("processes %d after the restart, want 1", s3.Processes.Processes)
	}

	// Removed from the collector: no longer sampled, no error.
	if !c.Remove("b") || c.Remove("b") {
		t.Error("Remove reports wrongly")
	}
	s4, err := c.Sample(ctx)
	if err != nil || len(s4.Containers) != 1 || len(s4.Errors) != 0 {
		t.Errorf("after Remove: %d containers, errors %v, err %v", len(s4.Containers), s4.Errors, err)
	}
}
