package imagefs_test

import (
	"archive/tar"
	"bytes"
	"context"
	"maps"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/layout"

	"github.com/shoalkit/shoal/imagefs"
	"github.com/shoalkit/shoal/imagefs/imagefstest"
	"github.com/shoalkit/shoal/internal/testenv"
)

// TestUmociUnpacksImage gives an image imagefs built to umoci, an unpacker
// that shares no code with imagefs, from an OCI layout, and compares
// umoci's rootfs with the rootfs imagefs prepares (an overlay mount of its
// own unpacked layers): the same files, modes, owners, contents, links,
// devices, with whiteouts and opaque directories applied. gzip, and zstd
// recompressed to gzip, as umoci 0.4.7 reads no zstd.
func TestUmociUnpacksImage(t *testing.T) {
	testenv.Require(t, testenv.Root, testenv.Umoci)
	for _, c := range []imagefs.Compression{{Algorithm: imagefs.Gzip}, {Algorithm: imagefs.Zstd}} {
		t.Run(string(c.Algorithm), func(t *testing.T) {
			img := newImage(t,
				tarLayer(t, c, imagefs.RoleBase,
					imagefstest.Entry{Name: "etc/", Type: tar.TypeDir, Mode: 0o755},
					imagefstest.Entry{Name: "etc/passwd", Body: []byte("root:x:0:0::/root:/bin/sh\n")},
					imagefstest.Entry{Name: "etc/shadow", Body: []byte("secret\n"), Mode: 0o600, GID: 42},
					imagefstest.Entry{Name: "etc/passwd-link", Type: tar.TypeLink, Linkname: "etc/passwd"},
					imagefstest.Entry{Name: "etc/localtime", Type: tar.TypeSymlink, Linkname: "/usr/share/zoneinfo/UTC"},
					imagefstest.Entry{Name: "usr/bin/tool", Body: bytes.Repeat([]byte("x"), 70000), Mode: 0o4755, UID: 1000, GID: 1000},
					imagefstest.Entry{Name: "usr/bin/tool2", Type: tar.TypeLink, Linkname: "usr/bin/tool"},
					imagefstest.Entry{Name: "var/cache/", Type: tar.TypeDir, Mode: 0o700, UID: 5, GID: 6},
					imagefstest.Entry{Name: "var/cache/old", Body: []byte("stale")},
					imagefstest.Entry{Name: "var/lib/db", Body: []byte("old db")},
					imagefstest.Entry{Name: "gone", Body: []byte("deleted above")},
					imagefstest.Entry{Name: "dev/null", Type: tar.TypeChar, Mode: 0o666, Devmajor: 1, Devminor: 3},
					imagefstest.Entry{Name: "run/fifo", Type: tar.TypeFifo, Mode: 0o600},
				),
				tarLayer(t, c, imagefs.RoleApp,
					imagefstest.Entry{Name: ".wh.gone"},
					imagefstest.Entry{Name: "var/cache/", Type: tar.TypeDir, Mode: 0o700, UID: 5, GID: 6},
					imagefstest.Entry{Name: "var/cache/.wh..wh..opq"},
					imagefstest.Entry{Name: "var/cache/new", Body: []byte("fresh")},
					imagefstest.Entry{Name: "var/lib/.wh.db"},
					imagefstest.Entry{Name: "etc/passwd", Body: []byte("root:x:0:0::/root:/bin/ash\n")},
					imagefstest.Entry{Name: "app/run", Body: []byte("#!/bin/sh\necho hi\n"), Mode: 0o755},
				),
			)

			// umoci's view: unpacked from an OCI layout.
			forUmoci := img
			if c.Algorithm == imagefs.Zstd {
				// umoci 0.4.7 (Debian 12) predates zstd layers: it must
				// refuse them by media type, and take the image once
				// imagefs has recompressed it to gzip.
				if out, err := umociUnpack(t, img); err == nil || !strings.Contains(out, "blob is not correct mediatype: application/vnd.oci.image.layer.v1.tar+zstd") {
					t.Fatalf("umoci unpack of zstd layers: %v, want the media type refused\n%s", err, out)
				}
				var err error
				if forUmoci, err = imagefs.Recompress(t.Context(), img, imagefs.Compression{Algorithm: imagefs.Gzip}); err != nil {
					t.Fatal(err)
				}
			}
			rootfs, err := umociUnpack(t, forUmoci)
			if err != nil {
				t.Fatalf("umoci unpack: %v\n%s", err, rootfs)
			}
			want := comparable(snapshot(t, rootfs))

			// imagefs's view: the prepared overlay.
			s := openStore(t)
			res, err := s.Add(t.Context(), img, "t")
			if err != nil {
				t.Fatal(err)
			}
			r, err := s.Prepare(t.Context(), res.Digest.String(), "umoci-"+string(c.Algorithm))
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { _ = s.Release(context.Background(), r.ID) })
			got := comparable(snapshot(t, r.Path))

			if len(want) < 15 {
				t.Fatalf("umoci unpacked only %d entries: %v", len(want), want)
			}
			for _, gone := range []string{"gone", "var/cache/old", "var/lib/db"} {
				if _, ok := want[gone]; ok {
					t.Errorf("umoci kept %s, which the image deletes", gone)
				}
			}
			for _, k := range slices.Sorted(maps.Keys(mergeKeys(want, got))) {
				if want[k] != got[k] {
					t.Errorf("%s:\n  imagefs %q\n  umoci   %q", k, got[k], want[k])
				}
			}
		})
	}
}

// umociUnpack writes img to an OCI layout and unpacks it with umoci; it
// returns the rootfs, or umoci's output and error.
func umociUnpack(t *testing.T, img v1.Image) (string, error) {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "oci")
	p, err := layout.Write(dir, empty.Index)
	if err != nil {
		t.Fatal(err)
	}
	if err := p.AppendImage(img, layout.WithAnnotations(map[string]string{imagefs.AnnotationRefName: "t"})); err != nil {
		t.Fatal(err)
	}
	bundle := filepath.Join(t.TempDir(), "bundle")
	out, err := exec.CommandContext(t.Context(), "umoci", "unpack", "--image", dir+":t", bundle).CombinedOutput()
	if err != nil {
		return string(out), err
	}
	return filepath.Join(bundle, "rootfs"), nil
}

// dirMtime matches the mtime of a directory's description.
var dirMtime = regexp.MustCompile(` mtime=\d+`)

// comparable drops what legitimately differs between an overlay mount and
// a directory unpacked in place: the mtimes of directories (a directory
// written to by a later layer has a new mtime in one and not the other)
// and the root directory itself (umoci's comes from its bundle).
func comparable(snap map[string]string) map[string]string {
	out := map[string]string{}
	for k, v := range snap {
		if k == "." {
			continue
		}
		if len(v) > 7 && v[:7] == "mode=40" {
			v = dirMtime.ReplaceAllString(v, "")
		}
		out[k] = v
	}
	return out
}
