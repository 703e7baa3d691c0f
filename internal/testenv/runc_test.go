package testenv

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestBundle runs a real container with runc from a busybox rootfs and reads
// back what it wrote inside its root.
func TestBundle(t *testing.T) {
	b := NewBundle(t, "/bin/sh", "-c", "echo hello from $(hostname); echo done > /tmp/mark")
	out := b.Run(t, uniqueName("shoal-run-"))
	if !strings.Contains(out, "hello from runc") {
		t.Errorf("container said %q, want it to greet from its own hostname runc", out)
	}
	mark, err := os.ReadFile(filepath.Join(b.Rootfs, "tmp", "mark"))
	if err != nil || string(mark) != "done\n" {
		t.Errorf("rootfs/tmp/mark = %q, %v; want done", mark, err)
	}
	if _, err := os.Lstat(filepath.Join(b.Rootfs, "bin", "sleep")); err != nil {
		t.Errorf("busybox applet link missing: %v", err)
	}
}
