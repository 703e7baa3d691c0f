package activity_test

import (
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/shoalkit/shoal/internal/testenv"
)

// removeAll kills a test cgroup's processes and removes its directories,
// as a runtime does when a container stops.
func removeAll(t *testing.T, cg *testenv.Cgroup) {
	t.Helper()
	for _, d := range cg.Dirs() {
		for deadline := time.Now().Add(10 * time.Second); ; {
			b, _ := os.ReadFile(filepath.Join(d, "cgroup.procs"))
			for _, f := range strings.Fields(string(b)) {
				if pid, err := strconv.Atoi(f); err == nil {
					_ = syscall.Kill(pid, syscall.SIGKILL)
				}
			}
			if err := syscall.Rmdir(d); err == nil {
				break
			} else if time.Now().After(deadline) {
				t.Fatalf("remove %s: %v", d, err)
			}
			time.Sleep(20 * time.Millisecond)
		}
	}
}
