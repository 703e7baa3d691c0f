package testenv

import (
	"errors"
	"os"
	"testing"
)

// RequireFUSE skips t unless it runs as root on a kernel with FUSE
// (/dev/fuse present), and fails it instead when SHOAL_INTEGRATION=require.
// Tests that mount a FUSE file system of their own (no fusermount: mount(2)
// directly) use it; lxcfs tests use Require(t, Lxcfs).
func RequireFUSE(t testing.TB) {
	t.Helper()
	Require(t, Root)
	var missing error
	if _, err := os.Stat("/dev/fuse"); err != nil {
		missing = errors.New("testenv: FUSE: " + err.Error() + " (the kernel's fuse module is not loaded)")
	}
	msg, fatal := decide(os.Getenv(IntegrationEnv), missing)
	switch {
	case fatal:
		t.Fatal(msg)
	case msg != "":
		t.Skip(msg)
	}
}
