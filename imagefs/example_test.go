package imagefs_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"testing/iotest"

	v1 "github.com/google/go-containerregistry/pkg/v1"

	"github.com/shoalkit/shoal/imagefs"
)

// Build an image from a directory, leaving out logs, and validate it.
func ExampleBuild() {
	ctx := context.Background()
	dir, _ := os.MkdirTemp("", "imagefs-example-")
	defer os.RemoveAll(dir)
	_ = os.WriteFile(filepath.Join(dir, "run"), []byte("#!/bin/sh\necho hello\n"), 0o755)
	_ = os.WriteFile(filepath.Join(dir, "debug.log"), []byte("noise"), 0o644)

	img, report, err := imagefs.Build(ctx, dir, imagefs.Recipe{
		Clear:      []string{"*.log"},
		Labels:     map[string]string{"team": "shoal"},
		Entrypoint: []string{"/run"},
	})
	if err != nil {
		fmt.Println(err)
		return
	}
	m, _ := img.Manifest()
	fmt.Println(m.MediaType)
	fmt.Println(m.Layers[0].MediaType, m.Layers[0].Annotations[imagefs.AnnotationRole])
	fmt.Printf("cleared %d file(s), %d bytes\n", report.ClearedFiles, report.ClearedBytes)
	fmt.Println(imagefs.Validate(ctx, img, imagefs.ValidateOptions{}))
	// Output:
	// application/vnd.oci.image.manifest.v1+json
	// application/vnd.oci.image.layer.v1.tar+zstd app
	// cleared 1 file(s), 5 bytes
	// <nil>
}

// Recompress a zstd image to gzip for an older client: the diff ids stay.
func ExampleRecompress() {
	ctx := context.Background()
	dir, _ := os.MkdirTemp("", "imagefs-example-")
	defer os.RemoveAll(dir)
	_ = os.WriteFile(filepath.Join(dir, "data"), []byte("same content"), 0o644)
	img, _, _ := imagefs.Build(ctx, dir, imagefs.Recipe{})
	gz, err := imagefs.Recompress(ctx, img, imagefs.Compression{Algorithm: imagefs.Gzip, Level: 9})
	if err != nil {
		fmt.Println(err)
		return
	}
	a, _ := img.ConfigFile()
	b, _ := gz.ConfigFile()
	m, _ := gz.Manifest()
	fmt.Println(m.Layers[0].MediaType)
	fmt.Println(a.RootFS.DiffIDs[0] == b.RootFS.DiffIDs[0])
	// Output:
	// application/vnd.oci.image.layer.v1.tar+gzip
	// true
}

// deadPeer sends the first bytes of a blob and then fails, as a peer that
// dies mid-transfer.
type deadPeer struct{ img v1.Image }

func (p deadPeer) OpenBlob(_ context.Context, h v1.Hash) (io.ReadCloser, error) {
	l, err := p.img.LayerByDigest(h)
	if err != nil {
		return nil, err
	}
	rc, err := l.Compressed()
	if err != nil {
		return nil, err
	}
	broken := io.MultiReader(io.LimitReader(rc, 8), iotest.ErrReader(errors.New("peer died")))
	return struct {
		io.Reader
		io.Closer
	}{broken, rc}, nil
}

// Add an image whose peer dies part-way through a blob: the store discards
// what it got and fetches the blob again from the image's origin.
func ExampleStore_AddWith() {
	ctx := context.Background()
	dir, _ := os.MkdirTemp("", "imagefs-example-")
	defer os.RemoveAll(dir)
	src := filepath.Join(dir, "src")
	_ = os.Mkdir(src, 0o755)
	_ = os.WriteFile(filepath.Join(src, "data"), []byte("some content"), 0o644)
	img, _, _ := imagefs.Build(ctx, src, imagefs.Recipe{})

	store, err := imagefs.OpenStore(context.Background(), imagefs.DefaultStoreConfig(filepath.Join(dir, "store")))
	if err != nil {
		fmt.Println(err)
		return
	}
	res, err := store.AddWith(ctx, img, "app:1", imagefs.AddOptions{
		Sources: []imagefs.BlobSource{deadPeer{img}},
		OnFetch: func(d v1.Descriptor) { fmt.Println("fetching", d.MediaType) },
	})
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Printf("fetched %d, from peers %d, retried %d\n", res.Fetched, res.FromSources, res.Retried)
	// Output:
	// fetching application/vnd.oci.image.layer.v1.tar+zstd
	// fetching application/vnd.oci.image.layer.v1.tar+zstd
	// fetched 1, from peers 0, retried 1
}
