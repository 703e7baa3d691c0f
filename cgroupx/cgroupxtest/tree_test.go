package cgroupxtest_test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/shoalkit/shoal/cgroupx/cgroupxtest"
)

func TestNewAtRecordsErrors(t *testing.T) {
	// A regular file where the tree's directory should be.
	file := filepath.Join(t.TempDir(), "file")
	if err := os.WriteFile(file, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	tree := cgroupxtest.NewAt(file, cgroupxtest.V2)
	tree.SetMemory("/a", cgroupxtest.Memory{Limit: 1})
	if tree.Err() == nil {
		t.Fatal("no error for a tree under a regular file")
	}
	ok := cgroupxtest.NewAt(t.TempDir(), cgroupxtest.V1)
	ok.SetMemory("/a", cgroupxtest.Memory{Limit: 1 << 20})
	if err := ok.Err(); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(ok.Dir("memory", "/a"), "memory.limit_in_bytes")); err != nil {
		t.Fatal(err)
	}
}

func TestLayouts(t *testing.T) {
	for _, l := range []cgroupxtest.Layout{cgroupxtest.V1, cgroupxtest.V2, cgroupxtest.Hybrid} {
		tree := cgroupxtest.New(t, l)
		tree.AddProcess("/x/y", cgroupxtest.Process{PID: 9})
		for _, f := range []string{"proc/self/mountinfo", "proc/meminfo", "proc/9/task/9/stat", "proc/9/cgroup"} {
			if _, err := os.Stat(filepath.Join(tree.Root, f)); err != nil {
				t.Errorf("layout %d: %v", l, err)
			}
		}
	}
}

// A zero Layout, Host or Process pid is refused naming the field, never a
// silently empty machine.
func TestZeroValuesRefused(t *testing.T) {
	if err := cgroupxtest.NewAt(t.TempDir(), 0).Err(); err == nil || !strings.Contains(err.Error(), "Layout 0") {
		t.Errorf("zero layout: %v", err)
	}
	tr := cgroupxtest.NewAt(t.TempDir(), cgroupxtest.V2)
	tr.SetHost(cgroupxtest.Host{})
	if err := tr.Err(); err == nil || !strings.Contains(err.Error(), "Host.MemTotal 0") {
		t.Errorf("zero host: %v", err)
	}
	tr = cgroupxtest.NewAt(t.TempDir(), cgroupxtest.V2)
	tr.AddProcess("/", cgroupxtest.Process{})
	if err := tr.Err(); err == nil || !strings.Contains(err.Error(), "Process.PID 0") {
		t.Errorf("zero pid: %v", err)
	}
}
