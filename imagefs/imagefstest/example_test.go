package imagefstest_test

import (
	"archive/tar"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"

	"github.com/shoalkit/shoal/imagefs"
	"github.com/shoalkit/shoal/imagefs/imagefstest"
)

// Entries are written in order and as given, with defaults for what they
// leave out: a regular file, mode 0644 (0755 for a directory) and a fixed
// modification time, so the same entries always make the same bytes.
func ExampleWriteTar() {
	var layer bytes.Buffer
	err := imagefstest.WriteTar(&layer,
		imagefstest.Entry{Name: "etc/", Type: tar.TypeDir},
		imagefstest.Entry{Name: "etc/shadow", Body: []byte("secret\n"), Mode: 0o600, GID: 42},
		imagefstest.Entry{Name: "etc/localtime", Type: tar.TypeSymlink, Linkname: "/usr/share/zoneinfo/UTC"},
		imagefstest.Entry{Name: "bin/tool", Body: []byte("#!/bin/sh\n"), Mode: 0o755, Xattrs: map[string]string{"user.origin": "shoal"}},
		imagefstest.Entry{Name: "../escape", Body: []byte("x")}, // hostile, kept as is
	)
	if err != nil {
		fmt.Println(err)
		return
	}
	tr := tar.NewReader(&layer)
	for {
		h, err := tr.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			fmt.Println(err)
			return
		}
		line := fmt.Sprintf("%c %s %04o %d:%d size=%d %s", h.Typeflag, h.Name, h.Mode, h.Uid, h.Gid, h.Size, h.ModTime.UTC().Format(time.DateOnly))
		if h.Linkname != "" {
			line += " -> " + h.Linkname
		}
		if v, ok := h.PAXRecords["SCHILY.xattr.user.origin"]; ok {
			line += " user.origin=" + v
		}
		fmt.Println(line)
	}
	// Output:
	// 5 etc/ 0755 0:0 size=0 2020-01-02
	// 0 etc/shadow 0600 0:42 size=7 2020-01-02
	// 2 etc/localtime 0644 0:0 size=0 2020-01-02 -> /usr/share/zoneinfo/UTC
	// 0 bin/tool 0755 0:0 size=10 2020-01-02 user.origin=shoal
	// 0 ../escape 0644 0:0 size=1 2020-01-02
}

// A hostile layer for imagefs: UnpackTar must refuse the entry that climbs
// out of the layer root. In a test, imagefstest.Tar(t, ...) returns the
// same bytes and fails the test on error.
func ExampleWriteTar_hostile() {
	dir, err := os.MkdirTemp("", "imagefstest-example")
	if err != nil {
		fmt.Println(err)
		return
	}
	defer os.RemoveAll(dir)
	root := filepath.Join(dir, "root")
	if err := os.Mkdir(root, 0o755); err != nil {
		fmt.Println(err)
		return
	}

	var layer bytes.Buffer
	if err := imagefstest.WriteTar(&layer,
		imagefstest.Entry{Name: "ok", Body: []byte("fine")},
		imagefstest.Entry{Name: "../escape", Body: []byte("x")},
	); err != nil {
		fmt.Println(err)
		return
	}
	_, err = imagefs.UnpackTar(context.Background(), &layer, root)
	fmt.Println("refused:", errors.Is(err, imagefs.ErrUnsafePath))
	_, err = os.Stat(filepath.Join(dir, "escape"))
	fmt.Println("escaped:", err == nil)
	// Output:
	// refused: true
	// escaped: false
}

// mapSource is a BlobSource over blobs in memory, keyed by digest.
type mapSource map[v1.Hash][]byte

func (m mapSource) OpenBlob(_ context.Context, h v1.Hash) (io.ReadCloser, error) {
	if b, ok := m[h]; ok {
		return io.NopCloser(bytes.NewReader(b)), nil
	}
	return nil, fmt.Errorf("%w: blob %s", imagefs.ErrNotFound, h)
}

// lossySource forgets to say "not found" the way imagefs.BlobSource asks.
type lossySource struct{ mapSource }

func (l lossySource) OpenBlob(ctx context.Context, h v1.Hash) (io.ReadCloser, error) {
	rc, err := l.mapSource.OpenBlob(ctx, h)
	if err != nil {
		return nil, errors.New("no such blob")
	}
	return rc, nil
}

// A BlobSource of your own (a cache, another transport) is checked against
// the contract imagefs relies on before a Store is given it.
func ExampleValidateBlobSource() {
	blob := []byte("a layer blob")
	h, _, _ := v1.SHA256(bytes.NewReader(blob))
	src := mapSource{h: blob}
	fmt.Println("map source:", imagefstest.ValidateBlobSource(context.Background(), src, [][]byte{blob}))
	err := imagefstest.ValidateBlobSource(context.Background(), lossySource{src}, [][]byte{blob})
	fmt.Println("lossy source conforms:", err == nil)
	// Output:
	// map source: <nil>
	// lossy source conforms: false
}
