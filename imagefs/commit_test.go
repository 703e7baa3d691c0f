package imagefs_test

import (
	"archive/tar"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"testing"

	"github.com/shoalkit/shoal/imagefs"
)

// TestCommit changes a prepared container (a new file, a file owned by
// another user, a deleted file, a directory emptied and made again), commits
// it, checks the new layer's entries (whiteouts in OCI form), then adds the
// committed image to a second store and checks that a container prepared
// from it sees the changes and not what was deleted.
func TestCommit(t *testing.T) {
	requireRoot(t)
	ctx := context.Background()
	s := openStoreCtx(ctx, t)
	if _, err := s.Add(ctx, threeLayers(t, imagefs.Compression{}), "app:1"); err != nil {
		t.Fatal(err)
	}
	r, err := s.Prepare(ctx, "app:1", "c1")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = s.Release(ctx, "c1") })
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	must(os.WriteFile(filepath.Join(r.Path, "etc/new"), []byte("written in the container"), 0o640))
	must(os.Chown(filepath.Join(r.Path, "etc/new"), 1000, 1000))
	must(os.Remove(filepath.Join(r.Path, "app/run")))
	must(os.RemoveAll(filepath.Join(r.Path, "etc")))
	must(os.Mkdir(filepath.Join(r.Path, "etc"), 0o755))
	must(os.WriteFile(filepath.Join(r.Path, "etc/only"), []byte("alone"), 0o644))

	img, lr, err := s.Commit(ctx, "c1", imagefs.CommitOptions{Dir: t.TempDir(), CreatedBy: "test"})
	if err != nil {
		t.Fatal(err)
	}
	layers, err := img.Layers()
	if err != nil || len(layers) != 4 {
		t.Fatalf("committed image has %d layers (%v), want 4", len(layers), err)
	}
	top := layers[3]
	if d, _ := top.Digest(); d != lr.Digest {
		t.Errorf("top layer %s, report %s", d, lr.Digest)
	}
	rc, err := top.Uncompressed()
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	owners := map[string]int{}
	tr := tar.NewReader(rc)
	for {
		h, err := tr.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		names = append(names, h.Name)
		owners[h.Name] = h.Uid
	}
	rc.Close()
	// etc was removed and made again: overlay makes it opaque, so etc/new
	// (written before) is gone and etc/a of the lower layers is hidden.
	for _, want := range []string{"app/", "app/.wh.run", "etc/", "etc/.wh..wh..opq", "etc/only"} {
		if !slices.Contains(names, want) {
			t.Errorf("layer lacks %q; has %v", want, names)
		}
	}
	if slices.Contains(names, "etc/new") {
		t.Errorf("layer has etc/new, removed with etc: %v", names)
	}
	if lr.Files != len(names) {
		t.Errorf("report says %d files, layer has %d", lr.Files, len(names))
	}

	// The committed image elsewhere.
	s2 := openStoreCtx(ctx, t)
	if _, err := s2.Add(ctx, img, "app:snap"); err != nil {
		t.Fatal(err)
	}
	r2, err := s2.Prepare(ctx, "app:snap", "c2")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = s2.Release(ctx, "c2") })
	if got := readFile(t, filepath.Join(r2.Path, "etc/only")); got != "alone" {
		t.Errorf("etc/only = %q", got)
	}
	for _, gone := range []string{"app/run", "etc/a", "gone"} {
		if _, err := os.Lstat(filepath.Join(r2.Path, gone)); !errors.Is(err, os.ErrNotExist) {
			t.Errorf("%s visible in the committed image (%v)", gone, err)
		}
	}
	if got := readFile(t, filepath.Join(r2.Path, "d/z")); got != "z" {
		t.Errorf("d/z = %q, want the base's", got)
	}
}

// TestCommitOwners keeps a file's owner in the layer.
func TestCommitOwners(t *testing.T) {
	requireRoot(t)
	ctx := context.Background()
	s := openStoreCtx(ctx, t)
	if _, err := s.Add(ctx, threeLayers(t, imagefs.Compression{}), "app:1"); err != nil {
		t.Fatal(err)
	}
	r, err := s.Prepare(ctx, "app:1", "c1")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = s.Release(ctx, "c1") })
	p := filepath.Join(r.Path, "mine")
	if err := os.WriteFile(p, []byte("x"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Chown(p, 1000, 1001); err != nil {
		t.Fatal(err)
	}
	img, _, err := s.Commit(ctx, "c1", imagefs.CommitOptions{})
	if err != nil {
		t.Fatal(err)
	}
	layers, _ := img.Layers()
	rc, err := layers[len(layers)-1].Uncompressed()
	if err != nil {
		t.Fatal(err)
	}
	defer rc.Close()
	h, err := tar.NewReader(rc).Next()
	if err != nil || h.Name != "mine" || h.Uid != 1000 || h.Gid != 1001 || h.Mode != 0o600 {
		t.Fatalf("first entry %+v, %v; want mine 1000:1001 0600", h, err)
	}
	if _, _, err := s.Commit(ctx, "nope", imagefs.CommitOptions{}); !errors.Is(err, imagefs.ErrNotFound) {
		t.Errorf("Commit of an unprepared container: %v, want ErrNotFound", err)
	}
	if _, _, err := s.Commit(ctx, "../x", imagefs.CommitOptions{}); !errors.Is(err, imagefs.ErrInvalid) {
		t.Errorf("Commit of a bad id: %v, want ErrInvalid", err)
	}
}

// TestDirLayer puts a directory at a path in an image, owners kept.
func TestDirLayer(t *testing.T) {
	requireRoot(t)
	dir := t.TempDir()
	writeFile(t, filepath.Join(dir, "data"), []byte("kept"))
	if err := os.Chown(filepath.Join(dir, "data"), 1000, 1000); err != nil {
		t.Fatal(err)
	}
	l, lr, err := imagefs.DirLayer(context.Background(), dir, "/srv/export", imagefs.CommitOptions{})
	if err != nil {
		t.Fatal(err)
	}
	rc, err := l.Uncompressed()
	if err != nil {
		t.Fatal(err)
	}
	defer rc.Close()
	var got []string
	tr := tar.NewReader(rc)
	for {
		h, err := tr.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		got = append(got, fmt.Sprintf("%s %d", h.Name, h.Uid))
	}
	want := []string{"srv/ 0", "srv/export/ 0", "srv/export/data 1000"}
	if !slices.Equal(got, want) || lr.Files != 3 {
		t.Errorf("layer %v (%d files), want %v", got, lr.Files, want)
	}
	for _, bad := range []string{"", "/", "rel", "/a/../b"} {
		if _, _, err := imagefs.DirLayer(context.Background(), dir, bad, imagefs.CommitOptions{}); !errors.Is(err, imagefs.ErrInvalid) {
			t.Errorf("DirLayer target %q: %v, want ErrInvalid", bad, err)
		}
	}
}
