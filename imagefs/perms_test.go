package imagefs_test

import (
	"archive/tar"
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	v1 "github.com/google/go-containerregistry/pkg/v1"

	"github.com/shoalkit/shoal/imagefs"
	"github.com/shoalkit/shoal/imagefs/imagefstest"
)

// nobody is the unprivileged host user the probes run as.
const nobody = 65534

// asNobody runs name with args as uid and gid 65534, with extra as fd 3 when
// set, and returns its combined output and error.
func asNobody(t *testing.T, extra *os.File, name string, args ...string) (string, error) {
	t.Helper()
	cmd := exec.Command(name, args...)
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: nobody, Gid: nobody, NoSetGroups: true}}
	cmd.Dir = "/"
	cmd.Env = []string{"PATH=/usr/bin:/bin"}
	if extra != nil {
		cmd.ExtraFiles = []*os.File{extra}
	}
	out, err := cmd.CombinedOutput()
	return string(out), err
}

// worldDir returns a fresh directory every user may traverse, as /var/lib
// is: the store's own permissions must keep other users out.
func worldDir(t *testing.T) string {
	t.Helper()
	dir, err := os.MkdirTemp("", "imagefs-perms-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = os.RemoveAll(dir) })
	if err := os.Chmod(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	return dir
}

// hostileLayerImage is an image whose layer root is 0777, with a
// setuid-root executable, a file owned by uid 65534 and a world-readable
// file: what an unprivileged host user must not reach through the store.
func hostileLayerImage(t *testing.T) v1.Image {
	t.Helper()
	exe, err := os.ReadFile("/bin/true")
	if err != nil {
		t.Fatal(err)
	}
	return newImage(t, tarLayer(t, imagefs.Compression{}, imagefs.RoleBase,
		imagefstest.Entry{Name: "./", Type: tar.TypeDir, Mode: 0o777},
		imagefstest.Entry{Name: "bin/", Type: tar.TypeDir},
		imagefstest.Entry{Name: "bin/suid", Body: exe, Mode: 0o4755},
		imagefstest.Entry{Name: "etc/", Type: tar.TypeDir},
		imagefstest.Entry{Name: "etc/readable", Body: []byte("image content\n"), Mode: 0o644},
		imagefstest.Entry{Name: "home/", Type: tar.TypeDir},
		imagefstest.Entry{Name: "home/nobody", Body: []byte("owned by 65534\n"), Mode: 0o644, UID: nobody, GID: nobody},
	))
}

// probeStore tries, as uid 65534, to execute, read and write layer files
// and to create a file in the 0777 layer root, through every path of the
// store that leads to them: the unpacked layer and the container's overlay.
// Each attempt must fail.
func probeStore(t *testing.T, s *imagefs.Store, diffID v1.Hash, rootfs string) {
	t.Helper()
	for _, base := range []string{s.LayerDir(diffID), rootfs} {
		probes := []struct {
			what string
			cmd  []string
		}{
			{"execute the setuid binary", []string{filepath.Join(base, "bin/suid")}},
			{"read a file", []string{"cat", filepath.Join(base, "etc/readable")}},
			{"write a file it owns in the image", []string{"sh", "-c", `echo rewritten > "$1"`, "sh", filepath.Join(base, "home/nobody")}},
			{"create a file in the 0777 layer root", []string{"touch", filepath.Join(base, "planted")}},
			{"list the layer", []string{"ls", base}},
		}
		for _, p := range probes {
			if out, err := asNobody(t, nil, p.cmd[0], p.cmd[1:]...); err == nil {
				t.Errorf("uid %d could %s through %s (%v): %s", nobody, p.what, base, p.cmd, out)
			}
		}
	}
	for _, d := range []string{"oci/blobs/sha256", "layers", "containers", "tmp"} {
		if out, err := asNobody(t, nil, "ls", filepath.Join(s.Root(), d)); err == nil {
			t.Errorf("uid %d could list %s: %s", nobody, d, out)
		}
	}
	if b, err := os.ReadFile(filepath.Join(s.LayerDir(diffID), "home/nobody")); err != nil || string(b) != "owned by 65534\n" {
		t.Errorf("home/nobody = %q, %v; want it untouched", b, err)
	}
	if _, err := os.Lstat(filepath.Join(s.LayerDir(diffID), "planted")); err == nil {
		t.Errorf("a file was planted in the layer root")
	}
}

// TestStoreKeepsHostUsersOut is the regression test for host users reaching
// unpacked layers (the class of containerd CVE-2021-41103 and moby
// CVE-2021-41091): as uid 65534, no layer file can be executed, read or
// written through the store's paths, also in a store that an older version
// left with 0755 directories; while a process inside the container's root
// (reached through a descriptor, as after pivot_root) still reads the image
// as its modes allow, so overlay mounts are unaffected.
func TestStoreKeepsHostUsersOut(t *testing.T) {
	requireRoot(t)
	ctx := context.Background()
	root := filepath.Join(worldDir(t), "images")
	s, err := imagefs.OpenStore(ctx, imagefs.DefaultStoreConfig(root))
	if err != nil {
		t.Fatal(err)
	}
	img := hostileLayerImage(t)
	if _, err := s.Add(ctx, img, "hostile:1"); err != nil {
		t.Fatal(err)
	}
	cfg, err := img.ConfigFile()
	if err != nil {
		t.Fatal(err)
	}
	diffID := cfg.RootFS.DiffIDs[0]
	r, err := s.Prepare(ctx, "hostile:1", "c1")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = s.Release(ctx, "c1") })
	probeStore(t, s, diffID, r.Path)

	// The container's own view: its processes are not host users.
	dir, err := os.Open(r.Path)
	if err != nil {
		t.Fatal(err)
	}
	defer dir.Close()
	if out, err := asNobody(t, dir, "cat", "/proc/self/fd/3/etc/readable"); err != nil || out != "image content\n" {
		t.Errorf("uid %d inside the container's root read %q, %v; want the image's content", nobody, out, err)
	}

	// A store an older version made with 0755 directories is tightened
	// when opened.
	for _, d := range []string{"", "oci", "oci/blobs", "oci/blobs/sha256", "layers", "containers", "tmp"} {
		if err := os.Chmod(filepath.Join(root, d), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	if out, err := asNobody(t, nil, "cat", filepath.Join(s.LayerDir(diffID), "etc/readable")); err != nil {
		t.Fatalf("the loosened store is not readable, so the test proves nothing: %v: %s", err, out)
	}
	s2, err := imagefs.OpenStore(ctx, imagefs.DefaultStoreConfig(root))
	if err != nil {
		t.Fatal(err)
	}
	probeStore(t, s2, diffID, r.Path)
	fi, err := os.Stat(root)
	if err != nil {
		t.Fatal(err)
	}
	if perm := fi.Mode().Perm(); perm&0o077 != 0 {
		t.Errorf("store root mode %o gives others access", perm)
	}
	if !strings.HasPrefix(r.Path, root) {
		t.Errorf("rootfs %s is outside the store", r.Path)
	}
}
