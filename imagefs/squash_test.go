package imagefs_test

import (
	"archive/tar"
	"context"
	"errors"
	"io"
	"maps"
	"runtime"
	"slices"
	"testing"

	"github.com/shoalkit/shoal/imagefs"
	"github.com/shoalkit/shoal/imagefs/imagefstest"
)

// TestSquashMatchesOverlay prepares the original and the squashed image and
// compares what the two overlays show, entry by entry.
func TestSquashMatchesOverlay(t *testing.T) {
	requireRoot(t)
	ctx := context.Background()
	c := imagefs.Compression{}
	img := newImage(t,
		tarLayer(t, c, imagefs.RoleBase,
			imagefstest.Entry{Name: "base/", Type: tar.TypeDir},
			imagefstest.Entry{Name: "base/keep", Body: []byte("base")},
			imagefstest.Entry{Name: "base/del", Body: []byte("deleted by a squashed layer")},
			imagefstest.Entry{Name: "shared/", Type: tar.TypeDir},
			imagefstest.Entry{Name: "shared/old", Body: []byte("hidden by opaque in range")},
		),
		tarLayer(t, c, imagefs.RoleRuntime,
			imagefstest.Entry{Name: "a", Body: []byte("a1")},
			imagefstest.Entry{Name: "d/", Type: tar.TypeDir},
			imagefstest.Entry{Name: "d/x", Body: []byte("x")},
			imagefstest.Entry{Name: "d/y", Body: []byte("y")},
			imagefstest.Entry{Name: "h1", Body: []byte("original h1")},
			imagefstest.Entry{Name: "h2", Type: tar.TypeLink, Linkname: "h1"},
			imagefstest.Entry{Name: "h3", Type: tar.TypeLink, Linkname: "h1"},
			imagefstest.Entry{Name: "gone", Body: []byte("gone")},
			imagefstest.Entry{Name: "dir2file/", Type: tar.TypeDir},
			imagefstest.Entry{Name: "dir2file/child", Body: []byte("c")},
			imagefstest.Entry{Name: "ln", Type: tar.TypeSymlink, Linkname: "/base/keep"},
		),
		tarLayer(t, c, imagefs.RoleRuntime,
			imagefstest.Entry{Name: ".wh.gone"},
			imagefstest.Entry{Name: "base/.wh.del"},
			imagefstest.Entry{Name: "d/", Type: tar.TypeDir, Mode: 0o700},
			imagefstest.Entry{Name: "d/.wh..wh..opq"},
			imagefstest.Entry{Name: "d/z", Body: []byte("z")},
			imagefstest.Entry{Name: "shared/", Type: tar.TypeDir},
			imagefstest.Entry{Name: "shared/.wh..wh..opq"},
			imagefstest.Entry{Name: "shared/new", Body: []byte("new")},
			imagefstest.Entry{Name: "a", Body: []byte("a2")},
			imagefstest.Entry{Name: "h1", Body: []byte("replaced h1")},
			imagefstest.Entry{Name: "dir2file", Body: []byte("now a file")},
		),
		tarLayer(t, c, imagefs.RoleApp,
			imagefstest.Entry{Name: "app", Body: []byte("app")},
			imagefstest.Entry{Name: "d/", Type: tar.TypeDir, Mode: 0o750},
			imagefstest.Entry{Name: "d/w", Body: []byte("w")},
			imagefstest.Entry{Name: ".wh.a"},
		),
	)
	sq, err := imagefs.Squash(ctx, img, 1, 4, imagefs.Compression{Algorithm: imagefs.Gzip})
	if err != nil {
		t.Fatalf("Squash: %v", err)
	}
	if err := imagefs.Validate(ctx, sq, imagefs.ValidateOptions{}); err != nil {
		t.Fatalf("Validate: %v", err)
	}
	om, _ := img.Manifest()
	sm, _ := sq.Manifest()
	if len(sm.Layers) != 2 || sm.Layers[0].Digest != om.Layers[0].Digest || sm.Layers[1].Annotations[imagefs.AnnotationRole] != imagefs.RoleApp {
		t.Fatalf("squashed manifest layers %+v", sm.Layers)
	}
	cfg, _ := sq.ConfigFile()
	if len(cfg.History) != 2 {
		t.Fatalf("history %+v", cfg.History)
	}
	s := openStore(t)
	for _, x := range []struct{ name, id string }{{"orig", "o"}, {"squashed", "s"}} {
		im := img
		if x.id == "s" {
			im = sq
		}
		if _, err := s.Add(ctx, im, x.name); err != nil {
			t.Fatal(err)
		}
	}
	ro, err := s.Prepare(ctx, "orig", "o")
	if err != nil {
		t.Fatal(err)
	}
	defer s.Release(ctx, "o") //nolint:errcheck // cleanup
	rs, err := s.Prepare(ctx, "squashed", "s")
	if err != nil {
		t.Fatal(err)
	}
	defer s.Release(ctx, "s") //nolint:errcheck // cleanup
	want, got := snapshot(t, ro.Path), snapshot(t, rs.Path)
	for _, k := range slices.Sorted(maps.Keys(mergeKeys(want, got))) {
		if k == "." {
			continue
		}
		if want[k] != got[k] {
			t.Errorf("%s:\n  squashed %q\n  original %q", k, got[k], want[k])
		}
	}
	if _, ok := got["h2"]; !ok || got["gone"] != "" || got["a"] != "" {
		t.Errorf("squashed view: h2 %q, gone %q, a %q", got["h2"], got["gone"], got["a"])
	}
}

func TestSquashBadRange(t *testing.T) {
	img := threeLayers(t, imagefs.Compression{})
	for _, r := range [][2]int{{0, 1}, {-1, 2}, {1, 4}, {2, 1}} {
		if _, err := imagefs.Squash(context.Background(), img, r[0], r[1], imagefs.Compression{}); !errors.Is(err, imagefs.ErrInvalid) {
			t.Errorf("range %v: err = %v, want ErrInvalid", r, err)
		}
	}
}

// zeroFileLayer is a layer holding a file of size zero bytes and a hardlink
// to it, compressed as it streams: a few kilobytes however large the file.
func zeroFileLayer(t *testing.T, size int64) imagefs.AnnotatedLayer {
	t.Helper()
	pr, pw := io.Pipe()
	go func() {
		tw := tar.NewWriter(pw)
		err := tw.WriteHeader(&tar.Header{Name: "big", Typeflag: tar.TypeReg, Size: size, Mode: 0o644, Format: tar.FormatPAX})
		if err == nil {
			_, err = io.CopyN(tw, zeroReader{}, size)
		}
		if err == nil {
			err = tw.WriteHeader(&tar.Header{Name: "link", Typeflag: tar.TypeLink, Linkname: "big", Format: tar.FormatPAX})
		}
		if err == nil {
			err = tw.Close()
		}
		pw.CloseWithError(err)
	}()
	l, err := imagefs.LayerFromTar(pr, imagefs.Compression{})
	if err != nil {
		t.Fatal(err)
	}
	return imagefs.AnnotatedLayer{Layer: l}
}

type zeroReader struct{}

func (zeroReader) Read(p []byte) (int, error) { clear(p); return len(p), nil }

// TestSquashStreamsShadowedHardlinks is the regression test for Squash
// reading a whole file into memory: a hard-linked file replaced by a higher
// layer of the range was held with io.ReadAll until its link came. Squash
// of a 256 MiB such file now allocates far less than the file (its content
// is copied through), and the link still gets the original content.
func TestSquashStreamsShadowedHardlinks(t *testing.T) {
	const size = 256 << 20
	ctx := context.Background()
	img := newImage(t, zeroFileLayer(t, size),
		tarLayer(t, imagefs.Compression{}, "", imagefstest.Entry{Name: "big", Body: []byte("replaced")}))
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	sq, err := imagefs.Squash(ctx, img, 0, 2, imagefs.Compression{})
	runtime.ReadMemStats(&after)
	if err != nil {
		t.Fatal(err)
	}
	if alloc := after.TotalAlloc - before.TotalAlloc; alloc > size/4 {
		t.Errorf("Squash allocated %d MiB for a %d MiB shadowed file: it is buffered, not streamed", alloc>>20, size>>20)
	}
	layers, err := sq.Layers()
	if err != nil {
		t.Fatal(err)
	}
	rc, err := layers[0].Uncompressed()
	if err != nil {
		t.Fatal(err)
	}
	defer rc.Close()
	got := map[string]int64{}
	tr := tar.NewReader(rc)
	for {
		h, err := tr.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		n, err := io.Copy(io.Discard, tr)
		if err != nil {
			t.Fatal(err)
		}
		got[h.Name+" "+string(h.Typeflag)+" "+h.Linkname] = n
	}
	want := map[string]int64{"link 0 ": size, "big 0 ": int64(len("replaced"))}
	if !maps.Equal(got, want) {
		t.Fatalf("squashed layer = %v, want %v", got, want)
	}
}
