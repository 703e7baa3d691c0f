package imagefs_test

import (
	"context"
	"testing"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"

	"github.com/shoalkit/shoal/imagefs"
	"github.com/shoalkit/shoal/imagefs/imagefstest"
)

// The test sources are BlobSources too.
var (
	_ imagefs.BlobSource = (*deadPeer)(nil)
	_ imagefs.BlobSource = (*failingSource)(nil)
	_ imagefs.BlobSource = (*stallingSource)(nil)
)

// TestBlobSourcesConform runs imagefstest.ValidateBlobSource against every
// BlobSource of the package: a Store, a Peer serving its Handler, and the
// two sources Predistribute gives a child (its parent, and the second
// chance at it).
func TestBlobSourcesConform(t *testing.T) {
	ctx := context.Background()
	s := openStore(t)
	img := threeLayers(t, imagefs.Compression{})
	if _, err := s.Add(ctx, img, "x"); err != nil {
		t.Fatal(err)
	}
	var held [][]byte
	var digests []v1.Hash
	layers, err := img.Layers()
	if err != nil {
		t.Fatal(err)
	}
	for _, l := range layers {
		b := compressedBlob(t, l)
		held = append(held, b)
		digests = append(digests, sha(b))
	}
	cfg, err := img.RawConfigFile()
	if err != nil {
		t.Fatal(err)
	}
	held = append(held, cfg)
	digests = append(digests, sha(cfg))
	url := "http://" + imagefstest.Serve(t, s.Handler())

	tree, retry := imagefs.TreeSources(url, digests)
	for _, c := range []struct {
		name string
		src  imagefs.BlobSource
	}{
		{"Store", s},
		{"Peer", imagefs.Peer{URL: url}},
		{"Peer with Wait and StallTimeout", imagefs.Peer{URL: url, Wait: 50 * time.Millisecond, StallTimeout: time.Minute}},
		{"tree source", tree},
		{"tree retry (after the tree source streamed)", retry},
	} {
		t.Run(c.name, func(t *testing.T) {
			if err := imagefstest.ValidateBlobSource(ctx, c.src, held); err != nil {
				t.Fatal(err)
			}
		})
	}
}
