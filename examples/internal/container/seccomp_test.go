package container_test

import (
	"os"
	"testing"

	"github.com/shoalkit/shoal/examples/internal/container"
)

// TestSeccomp runs unshare(CLONE_NEWUSER), clone with CLONE_NEWUSER and
// clone3 in a container. A root user without CAP_SYS_ADMIN can make a user
// namespace (and mount inside it) unless a filter stops it: with the
// seccomp tag the default profile refuses it with EPERM; built without the
// tag, the same container runs and the call succeeds, which shows that the
// profile, not the capabilities, is what refuses it.
func TestSeccomp(t *testing.T) {
	rt, cfg := newRuntime(t)
	script := "if unshare -U true 2>/dev/null; then echo unshare=allowed; else echo unshare=denied; fi; " +
		"if unshare -U -r true 2>&1 | grep -q 'Operation not permitted'; then echo eperm=yes; else echo eperm=no; fi"
	if _, err := rt.Start(t.Context(), container.Spec{ID: "sec-1", Rootfs: rootfs(t), Args: []string{"/bin/sh", "-c", script}}); err != nil {
		t.Fatal(err)
	}
	if code, err := rt.Wait(t.Context(), "sec-1"); err != nil || code != 0 {
		t.Fatalf("Wait = %d, %v", code, err)
	}
	out, err := os.ReadFile(rt.LogPath("sec-1"))
	if err != nil {
		t.Fatal(err)
	}
	want := "unshare=allowed\neperm=no\n"
	if container.SeccompAvailable() {
		want = "unshare=denied\neperm=yes\n"
	} else {
		t.Log("built without the seccomp tag: containers run without a filter")
	}
	if string(out) != want {
		t.Errorf("container printed %q, want %q (seccomp available: %v, log dir %s)", out, want, container.SeccompAvailable(), cfg.LogDir)
	}
	if err := rt.Delete(t.Context(), "sec-1", 0); err != nil {
		t.Fatal(err)
	}
}
