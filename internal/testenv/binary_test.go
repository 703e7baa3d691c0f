package testenv_test

import (
	"os/exec"
	"strings"
	"testing"

	"github.com/shoalkit/shoal/internal/testenv"
)

// TestCopyBinary copies Debian's free with its libraries into an empty
// directory and runs it there under chroot: it finds everything it needs.
func TestCopyBinary(t *testing.T) {
	testenv.Require(t, testenv.Root, testenv.Procps)
	dir := t.TempDir()
	p := testenv.CopyBinary(t, dir, "free")
	out, err := exec.CommandContext(t.Context(), "chroot", dir, p, "--version").CombinedOutput()
	if err != nil || !strings.Contains(string(out), "procps") {
		t.Fatalf("chroot free --version: %v\n%s", err, out)
	}
}

// TestSysinfoProbe builds the probe and runs it on the host.
func TestSysinfoProbe(t *testing.T) {
	if _, err := exec.LookPath("go"); err != nil {
		t.Skip("no go command")
	}
	p := testenv.SysinfoProbe(t, t.TempDir())
	out, err := exec.CommandContext(t.Context(), p, "-n", "10").CombinedOutput()
	if err != nil || !strings.HasPrefix(string(out), "sysinfo totalram=") || !strings.Contains(string(out), "calls=10 ") {
		t.Fatalf("probe: %v\n%s", err, out)
	}
	if out, err := exec.CommandContext(t.Context(), p, "-n", "x").CombinedOutput(); err == nil {
		t.Fatalf("probe -n x: no error\n%s", out)
	}
}
