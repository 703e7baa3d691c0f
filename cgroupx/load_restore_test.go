package cgroupx_test

import (
	"testing"

	"github.com/shoalkit/shoal/cgroupx"
)

// TestLoadRestore: a tracker restored from another's Load goes on exactly
// as the other would have.
func TestLoadRestore(t *testing.T) {
	a := cgroupx.NewLoadTracker(nil, cgroupx.LoadConfig{})
	for range 30 {
		a.Fold(cgroupx.TaskCount{Running: 3, Total: 10, LastPID: 99}, 1)
	}
	b := cgroupx.NewLoadTracker(nil, cgroupx.LoadConfig{})
	b.Restore(a.Load())
	if b.Load() != a.Load() {
		t.Fatalf("restored %+v, saved %+v", b.Load(), a.Load())
	}
	a.Fold(cgroupx.TaskCount{Running: 1}, 4)
	b.Fold(cgroupx.TaskCount{Running: 1}, 4)
	if b.Load() != a.Load() {
		t.Errorf("after 4 intervals: %+v, want %+v", b.Load(), a.Load())
	}
	if b.Load().Load1 <= 0 {
		t.Errorf("Load1 = %v", b.Load().Load1)
	}
}
