package testenv

import (
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// Bundle is an OCI runtime bundle for runc: a config.json made by
// `runc spec` and a rootfs holding a static busybox and its applets.
type Bundle struct {
	Dir    string // the bundle directory (config.json, rootfs/)
	Rootfs string // Dir/rootfs
	State  string // runc's --root: container state, private to the test
}

// BusyboxRootfs fills dir with a minimal root filesystem: /bin/busybox with
// a symlink for every applet, /etc/passwd and /etc/group for root, and the
// mount points runc expects.
func BusyboxRootfs(t testing.TB, dir string) {
	t.Helper()
	Require(t, Runc)
	bin := filepath.Join(dir, "bin")
	for _, d := range []string{bin, "proc", "sys", "dev", "tmp", "etc", "root"} {
		if !filepath.IsAbs(d) {
			d = filepath.Join(dir, d)
		}
		if err := os.MkdirAll(d, 0o755); err != nil {
			t.Fatalf("testenv: rootfs: %v", err)
		}
	}
	src := path(t, "busybox")
	b, err := os.ReadFile(src)
	if err != nil {
		t.Fatalf("testenv: rootfs: %v", err)
	}
	if err := os.WriteFile(filepath.Join(bin, "busybox"), b, 0o755); err != nil {
		t.Fatalf("testenv: rootfs: %v", err)
	}
	for applet := range strings.FieldsSeq(run(t, src, "--list")) {
		if applet == "busybox" {
			continue
		}
		if err := os.Symlink("busybox", filepath.Join(bin, applet)); err != nil {
			t.Fatalf("testenv: rootfs: %v", err)
		}
	}
	files := map[string]string{
		"etc/passwd": "root:x:0:0:root:/root:/bin/sh\n",
		"etc/group":  "root:x:0:\n",
	}
	for name, body := range files {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(body), 0o644); err != nil {
			t.Fatalf("testenv: rootfs: %v", err)
		}
	}
}

// NewBundle makes a bundle in a temp dir whose container runs args (a
// command inside the busybox rootfs) without a terminal, on a writable root. Containers run
// from it are deleted in t.Cleanup.
func NewBundle(t testing.TB, args ...string) *Bundle {
	t.Helper()
	Require(t, Runc)
	dir := t.TempDir()
	b := &Bundle{Dir: dir, Rootfs: filepath.Join(dir, "rootfs"), State: filepath.Join(dir, "state")}
	BusyboxRootfs(t, b.Rootfs)
	runc := path(t, "runc")
	cmd := exec.Command(runc, "spec") //nolint:noctx // short helper command
	cmd.Dir = dir
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("testenv: runc spec: %v: %s", err, out)
	}
	b.editConfig(t, func(c map[string]any) {
		p, _ := c["process"].(map[string]any)
		if p == nil {
			t.Fatal("testenv: runc spec wrote no process")
		}
		p["terminal"] = false
		p["args"] = args
		// runc spec makes the root read-only; tests write to it.
		if r, ok := c["root"].(map[string]any); ok {
			r["readonly"] = false
		}
	})
	return b
}

// editConfig rewrites config.json through edit.
func (b *Bundle) editConfig(t testing.TB, edit func(map[string]any)) {
	t.Helper()
	file := filepath.Join(b.Dir, "config.json")
	raw, err := os.ReadFile(file)
	if err != nil {
		t.Fatalf("testenv: %v", err)
	}
	var c map[string]any
	if err := json.Unmarshal(raw, &c); err != nil {
		t.Fatalf("testenv: config.json: %v", err)
	}
	edit(c)
	if raw, err = json.MarshalIndent(c, "", "\t"); err != nil {
		t.Fatalf("testenv: config.json: %v", err)
	}
	if err := os.WriteFile(file, raw, 0o644); err != nil {
		t.Fatalf("testenv: %v", err)
	}
}

// Run runs a container with the given id from the bundle to completion and
// returns its combined output, failing the test when runc fails.
func (b *Bundle) Run(t testing.TB, id string) string {
	t.Helper()
	runc := path(t, "runc")
	t.Cleanup(func() {
		// Gone already after a clean exit; --force covers a failed run.
		_ = exec.Command(runc, "--root", b.State, "delete", "--force", id).Run() //nolint:noctx // cleanup
	})
	t.Logf("testenv: started runc container %s", id)
	return run(t, runc, "--root", b.State, "run", "--bundle", b.Dir, id)
}
