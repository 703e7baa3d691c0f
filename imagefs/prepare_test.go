package imagefs_test

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/shoalkit/shoal/imagefs"
	"github.com/shoalkit/shoal/imagefs/imagefstest"
)

// markContainer writes by hand what a crash leaves in containers/<id>:
// the directory, and the image marker when image is not empty.
func markContainer(t *testing.T, s *imagefs.Store, id, image string, extra ...string) string {
	t.Helper()
	dir := filepath.Join(s.Root(), "containers", id)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		t.Fatal(err)
	}
	if image != "" {
		if err := os.WriteFile(filepath.Join(dir, "image"), []byte(image+"\n"), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	for _, e := range extra {
		if err := os.MkdirAll(filepath.Join(dir, e), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

func exists(p string) bool {
	_, err := os.Lstat(p)
	return err == nil
}

// TestPrepareCrashLeavesImageInUse writes the on-disk state a crash between
// Prepare's marker and its mount leaves (marker, no mount), and checks that
// the image stays in use through a restart, Remove, a re-tag and GC; that
// directories a crash left without a marker are removed by OpenStore and GC;
// and (as root) that Prepare of the same id then mounts it and Release is
// idempotent.
func TestPrepareCrashLeavesImageInUse(t *testing.T) {
	ctx := context.Background()
	root := t.TempDir()
	s, err := imagefs.OpenStore(context.Background(), imagefs.DefaultStoreConfig(root))
	if err != nil {
		t.Fatal(err)
	}
	l := tarLayer(t, imagefs.Compression{}, "", imagefstest.Entry{Name: "etc/app", Body: []byte("v1")})
	res, err := s.Add(ctx, newImage(t, l), "app")
	if err != nil {
		t.Fatal(err)
	}
	diffID, _ := l.Layer.DiffID()

	c1 := markContainer(t, s, "c1", res.Digest.String())                                                // crash after the marker, before the mount
	markContainer(t, s, "half", "", "rootfs", "upper", ".image-123")                                    // crash before the marker was renamed in
	markContainer(t, s, "released", "", "upper/some/container/file")                                    // crash in Release after dropping the marker
	if s, err = imagefs.OpenStore(context.Background(), imagefs.DefaultStoreConfig(root)); err != nil { // the restart
		t.Fatal(err)
	}
	if !exists(c1) || exists(filepath.Join(root, "containers/half")) || exists(filepath.Join(root, "containers/released")) {
		t.Fatal("OpenStore must keep the marked container and remove the unmarked ones")
	}
	if err := s.Remove(ctx, "app"); !errors.Is(err, imagefs.ErrInUse) {
		t.Fatalf("Remove of an image a crashed Prepare marked: err = %v, want ErrInUse", err)
	}
	markContainer(t, s, "late", "") // a leftover GC must reconcile
	gc, err := s.GC(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if slices.Contains(gc.Layers, diffID) || len(gc.Blobs) != 0 || !exists(s.LayerDir(diffID)) {
		t.Fatalf("GC removed the layers of an image a prepared container uses: %+v", gc)
	}
	if !slices.Equal(gc.Containers, []string{"late"}) || !exists(c1) {
		t.Fatalf("GC containers removed %v, want [late] and c1 kept", gc.Containers)
	}
	if imgs, _ := s.Images(context.Background()); len(imgs) != 1 || imgs[0].Containers != 1 {
		t.Fatalf("Images = %+v, want app used by c1", imgs)
	}

	if os.Geteuid() == 0 {
		requireRoot(t)
		// Prepare of the same id and image finishes the job.
		r, err := s.Prepare(ctx, res.Digest.String(), "c1")
		if err != nil {
			t.Fatalf("Prepare after the crash: %v", err)
		}
		if got := readFile(t, filepath.Join(r.Path, "etc/app")); got != "v1" {
			t.Fatalf("etc/app = %q, want the old image's", got)
		}
		if _, err := s.Prepare(ctx, res.Digest.String(), "c1"); !errors.Is(err, imagefs.ErrExist) {
			t.Fatalf("Prepare of a mounted container: err = %v, want ErrExist", err)
		}
	}
	// Give the name to another image: the old one leaves the index, but
	// c1 still uses it.
	other := tarLayer(t, imagefs.Compression{}, "", imagefstest.Entry{Name: "etc/app", Body: []byte("v2")})
	if _, err := s.Add(ctx, newImage(t, other), "app"); err != nil {
		t.Fatal(err)
	}
	if gc, err := s.GC(ctx); err != nil || len(gc.Layers)+len(gc.Blobs) != 0 {
		t.Fatalf("GC after the re-tag = %+v, %v; want the old image kept for c1", gc, err)
	}
	if os.Geteuid() == 0 {
		if _, err := s.Prepare(ctx, "app", "c1"); !errors.Is(err, imagefs.ErrExist) {
			t.Fatalf("Prepare of c1 from another image: err = %v, want ErrExist", err)
		}
	}
	for range 2 {
		if err := s.Release(ctx, "c1"); err != nil {
			t.Fatalf("Release: %v", err)
		}
	}
	if exists(c1) {
		t.Fatal("c1 left after Release")
	}
	gc, err = s.GC(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Contains(gc.Layers, diffID) {
		t.Fatalf("after Release GC kept the old layer: %+v", gc)
	}
}

// TestPrepareAfterCrashStates drives the states a crash or a reboot leaves
// a real Prepare in: mounted without a marker (what the order before the
// marker-first Prepare could leave), and marked but unmounted (a reboot).
func TestPrepareAfterCrashStates(t *testing.T) {
	requireRoot(t)
	ctx := context.Background()
	s := openStore(t)
	img := threeLayers(t, imagefs.Compression{})
	if _, err := s.Add(ctx, img, "app"); err != nil {
		t.Fatal(err)
	}
	h, _ := img.Digest()

	// Mounted, no marker: nobody was told it is prepared, so Prepare
	// throws it away and starts again.
	r, err := s.Prepare(ctx, "app", "m")
	if err != nil {
		t.Fatal(err)
	}
	if err := os.Remove(filepath.Join(filepath.Dir(r.Path), "image")); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(r.Path, "stale"), []byte("x"), 0o644); err != nil {
		t.Fatal(err)
	}
	if r, err = s.Prepare(ctx, "app", "m"); err != nil {
		t.Fatalf("Prepare over an unmarked mount: %v", err)
	}
	if exists(filepath.Join(r.Path, "stale")) || !isMount(t, r.Path) {
		t.Fatal("Prepare kept the unmarked container instead of starting again")
	}
	if err := s.Release(ctx, "m"); err != nil {
		t.Fatal(err)
	}

	// Marked, unmounted (a reboot): the image stays in use, and Prepare
	// mounts it again over the container's own upper directory.
	r, err = s.Prepare(ctx, "app", "boot")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = s.Release(ctx, "boot") })
	if err := os.WriteFile(filepath.Join(r.Path, "mine"), []byte("kept"), 0o644); err != nil {
		t.Fatal(err)
	}
	unmount(t, r.Path)
	if err := s.Remove(ctx, "app"); !errors.Is(err, imagefs.ErrInUse) {
		t.Fatalf("Remove: err = %v, want ErrInUse", err)
	}
	if gc, err := s.GC(ctx); err != nil || len(gc.Layers)+len(gc.Blobs)+len(gc.Containers) != 0 {
		t.Fatalf("GC = %+v, %v; want nothing removed", gc, err)
	}
	again, err := s.Prepare(ctx, h.String(), "boot")
	if err != nil {
		t.Fatalf("Prepare after a reboot: %v", err)
	}
	if *again != *r {
		t.Fatalf("Prepare again = %+v, want %+v", again, r)
	}
	if got := readFile(t, filepath.Join(again.Path, "mine")); got != "kept" {
		t.Fatalf("mine = %q", got)
	}
	if got := readFile(t, filepath.Join(again.Path, "etc/a")); got != "a from app" {
		t.Fatalf("etc/a = %q", got)
	}
}

func unmount(t *testing.T, p string) {
	t.Helper()
	if err := unix.Unmount(p, 0); err != nil {
		t.Fatalf("unmount %s: %v", p, err)
	}
}

// TestContainersListsPrepared checks Containers against containers/ as
// Prepare and a crash leave it: ids with an image marker, mounted or not,
// sorted; a directory without a marker (a Prepare that never got that far)
// is not a container.
func TestContainersListsPrepared(t *testing.T) {
	s := openStore(t)
	const img = "sha256:0000000000000000000000000000000000000000000000000000000000000001"
	markContainer(t, s, "web-2", img, "upper")
	markContainer(t, s, "web-1", img)
	markContainer(t, s, "half", "")
	got, err := s.Containers(t.Context())
	if err != nil || !slices.Equal(got, []string{"web-1", "web-2"}) {
		t.Fatalf("Containers = %q, %v; want web-1, web-2", got, err)
	}
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	if _, err := s.Containers(ctx); !errors.Is(err, context.Canceled) {
		t.Fatalf("Containers with a cancelled context = %v", err)
	}
}
