package cgroupxtest_test

import (
	"os"
	"path/filepath"
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
