package imagefs_test

import (
	"bytes"
	"context"
	"errors"
	"path/filepath"
	"testing"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/types"

	"github.com/shoalkit/shoal/imagefs"
	"github.com/shoalkit/shoal/imagefs/imagefstest"
	"github.com/shoalkit/shoal/internal/errs"
)

var allKinds = []error{
	imagefs.ErrInvalid, imagefs.ErrNotFound, imagefs.ErrExist, imagefs.ErrInUse, imagefs.ErrDigestMismatch,
	imagefs.ErrUnsafePath, imagefs.ErrCorrupt, imagefs.ErrTooLarge, imagefs.ErrUnsupportedMediaType, imagefs.ErrUnavailable,
}

// TestErrorShape walks the package's error paths and checks every error
// has the one shape (errs.CheckShape: "imagefs: " once, no kind's own text,
// a kind errors.Is matches) and the kind the path promises.
func TestErrorShape(t *testing.T) {
	ctx := context.Background()
	cancelled, cancel := context.WithCancel(ctx)
	cancel()
	s := openStore(t)
	img := threeLayers(t, imagefs.Compression{})
	if _, err := s.Add(ctx, img, "x:1"); err != nil {
		t.Fatal(err)
	}
	layers, err := img.Layers()
	if err != nil {
		t.Fatal(err)
	}
	peerURL := "http://" + imagefstest.Serve(t, s.Handler())
	missing := sha([]byte("not in any store"))
	bomb := tarLayer(t, imagefs.Compression{}, "", imagefstest.Entry{Name: "zeros", Body: make([]byte, 2<<20)})
	hostile := imagefstest.Tar(t, imagefstest.Entry{Name: "../escape", Body: []byte("x")})
	docker := mutate.MediaType(img, types.DockerManifestSchema2)

	fresh := []*imagefs.Store{openStore(t), openStore(t), openStore(t)}
	cases := []struct {
		name string
		kind error
		call func() error
	}{
		{"OpenStore zero config", imagefs.ErrInvalid, func() error { _, err := imagefs.OpenStore(ctx, imagefs.StoreConfig{}); return err }},
		{"OpenStore root is a file", imagefs.ErrInvalid, func() error {
			p := filepath.Join(t.TempDir(), "f")
			writeFile(t, p, []byte("x"))
			_, err := imagefs.OpenStore(ctx, imagefs.DefaultStoreConfig(p))
			return err
		}},
		{"Add cancelled", imagefs.ErrUnavailable, func() error {
			_, err := fresh[0].Add(cancelled, img, "y")
			return err
		}},
		{"Add corrupt blob", imagefs.ErrCorrupt, func() error {
			_, err := fresh[1].Add(ctx, newImage(t, imagefs.AnnotatedLayer{Layer: corruptLayer{Layer: layers[0]}}), "")
			return err
		}},
		{"Add bomb", imagefs.ErrTooLarge, func() error {
			cfg := imagefs.DefaultStoreConfig(t.TempDir())
			cfg.Limits.MaxLayerBytes = 1 << 20
			st, err := imagefs.OpenStore(ctx, cfg)
			if err != nil {
				return err
			}
			_, err = st.Add(ctx, newImage(t, bomb), "")
			return err
		}},
		{"Add Docker v1 manifest", imagefs.ErrUnsupportedMediaType, func() error {
			_, err := fresh[2].Add(ctx, mutate.MediaType(img, types.DockerManifestSchema1), "")
			return err
		}},
		{"Add bad name", imagefs.ErrInvalid, func() error { _, err := s.Add(ctx, img, "a\nb"); return err }},
		{"Image missing", imagefs.ErrNotFound, func() error { _, err := s.Image(ctx, "nope"); return err }},
		{"Images cancelled", imagefs.ErrUnavailable, func() error { _, err := s.Images(cancelled); return err }},
		{"LayerRefs cancelled", imagefs.ErrUnavailable, func() error { _, err := s.LayerRefs(cancelled); return err }},
		{"Remove missing", imagefs.ErrNotFound, func() error { return s.Remove(ctx, "nope") }},
		{"Remove cancelled", imagefs.ErrUnavailable, func() error { return s.Remove(cancelled, "x:1") }},
		{"GC cancelled", imagefs.ErrUnavailable, func() error { _, err := s.GC(cancelled); return err }},
		{"Prepare missing", imagefs.ErrNotFound, func() error { _, err := s.Prepare(ctx, "nope", "c1"); return err }},
		{"Prepare bad id", imagefs.ErrInvalid, func() error { _, err := s.Prepare(ctx, "x:1", "../c"); return err }},
		{"Commit not prepared", imagefs.ErrNotFound, func() error { _, _, err := s.Commit(ctx, "c9", imagefs.CommitOptions{}); return err }},
		{"Commit bad id", imagefs.ErrInvalid, func() error { _, _, err := s.Commit(ctx, "../c", imagefs.CommitOptions{}); return err }},
		{"Release bad id", imagefs.ErrInvalid, func() error { return s.Release(ctx, "") }},
		{"OpenBlob missing", imagefs.ErrNotFound, func() error { _, err := s.OpenBlob(ctx, missing); return err }},
		{"OpenBlob malformed", imagefs.ErrInvalid, func() error { _, err := s.OpenBlob(ctx, v1.Hash{Algorithm: "md5"}); return err }},
		{"Peer missing", imagefs.ErrNotFound, func() error { _, err := imagefs.Peer{URL: peerURL}.OpenBlob(ctx, missing); return err }},
		{"Peer malformed", imagefs.ErrInvalid, func() error { _, err := imagefs.Peer{URL: peerURL}.OpenBlob(ctx, v1.Hash{}); return err }},
		{"Peer unreachable", imagefs.ErrUnavailable, func() error {
			_, err := imagefs.Peer{URL: "http://127.0.0.1:1"}.OpenBlob(ctx, missing)
			return err
		}},
		{"Predistribute bad config", imagefs.ErrInvalid, func() error {
			_, err := imagefs.Predistribute(ctx, img, "x", nil, imagefs.DistributeConfig{Fanout: -1})
			return err
		}},
		{"Predistribute node without store", imagefs.ErrInvalid, func() error {
			_, err := imagefs.Predistribute(ctx, img, "x", []imagefs.Node{{URL: peerURL}}, imagefs.DistributeConfig{})
			return err
		}},
		{"UnpackTar hostile", imagefs.ErrUnsafePath, func() error {
			_, err := imagefs.UnpackTar(ctx, bytes.NewReader(hostile), t.TempDir())
			return err
		}},
		{"UnpackTar garbage", imagefs.ErrCorrupt, func() error {
			_, err := imagefs.UnpackTar(ctx, bytes.NewReader(bytes.Repeat([]byte("garbage!"), 100)), t.TempDir())
			return err
		}},
		{"UnpackTar cancelled", imagefs.ErrUnavailable, func() error {
			_, err := imagefs.UnpackTar(cancelled, bytes.NewReader(hostile), t.TempDir())
			return err
		}},
		{"UnpackTar missing dir", imagefs.ErrUnavailable, func() error {
			_, err := imagefs.UnpackTar(ctx, bytes.NewReader(hostile), filepath.Join(t.TempDir(), "none"))
			return err
		}},
		{"UnpackCompressed unknown algorithm", imagefs.ErrUnsupportedMediaType, func() error {
			return imagefs.UnpackCompressed(ctx, bytes.NewReader(nil), "lz4", t.TempDir())
		}},
		{"UnpackCompressed not zstd", imagefs.ErrCorrupt, func() error {
			return imagefs.UnpackCompressed(ctx, bytes.NewReader(hostile), imagefs.Zstd, t.TempDir())
		}},
		{"Decompress unknown algorithm", imagefs.ErrUnsupportedMediaType, func() error { _, err := imagefs.Decompress("lz4", nil); return err }},
		{"Build relative target", imagefs.ErrInvalid, func() error {
			_, _, err := imagefs.Build(ctx, t.TempDir(), imagefs.Recipe{Target: "rel"})
			return err
		}},
		{"Build missing dir", imagefs.ErrNotFound, func() error {
			_, _, err := imagefs.Build(ctx, filepath.Join(t.TempDir(), "missing"), imagefs.Recipe{})
			return err
		}},
		{"Build cancelled", imagefs.ErrUnavailable, func() error {
			dir := t.TempDir()
			writeFile(t, filepath.Join(dir, "f"), []byte("x"))
			_, _, err := imagefs.Build(cancelled, dir, imagefs.Recipe{})
			return err
		}},
		{"Squash bad range", imagefs.ErrInvalid, func() error { _, err := imagefs.Squash(ctx, img, 2, 1, imagefs.Compression{}); return err }},
		{"Squash cancelled", imagefs.ErrUnavailable, func() error { _, err := imagefs.Squash(cancelled, img, 0, 3, imagefs.Compression{}); return err }},
		{"Recompress bad level", imagefs.ErrInvalid, func() error {
			_, err := imagefs.Recompress(ctx, img, imagefs.Compression{Algorithm: imagefs.Gzip, Level: 12})
			return err
		}},
		{"Validate Docker manifest", imagefs.ErrUnsupportedMediaType, func() error { return imagefs.Validate(ctx, docker, imagefs.ValidateOptions{}) }},
		{"Validate cancelled", imagefs.ErrUnavailable, func() error { return imagefs.Validate(cancelled, img, imagefs.ValidateOptions{}) }},
		{"Validate corrupt layer", imagefs.ErrCorrupt, func() error {
			return imagefs.Validate(ctx, newImage(t, imagefs.AnnotatedLayer{Layer: corruptLayer{Layer: layers[0]}}), imagefs.ValidateOptions{})
		}},
		{"NewImage nil layer", imagefs.ErrInvalid, func() error { _, err := imagefs.NewImage(nil, imagefs.AnnotatedLayer{}); return err }},
		{"LayerFromTar bad compression", imagefs.ErrInvalid, func() error {
			_, err := imagefs.LayerFromTar(bytes.NewReader(nil), imagefs.Compression{Algorithm: "lz4"})
			return err
		}},
		{"Pull bad reference", imagefs.ErrInvalid, func() error { _, err := imagefs.Pull(ctx, "UPPER/case:tag:x", fastRemote()); return err }},
		{"Pull unreachable registry", imagefs.ErrUnavailable, func() error {
			c := fastRemote()
			c.Retries = -1
			_, err := imagefs.Pull(ctx, "127.0.0.1:1/x:1", c)
			return err
		}},
		{"Push bad config", imagefs.ErrInvalid, func() error {
			_, err := imagefs.Push(ctx, img, "127.0.0.1:1/x:1", imagefs.RemoteConfig{Jobs: -1})
			return err
		}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			err := c.call()
			if shape := errs.CheckShape(err, "imagefs", allKinds...); shape != nil {
				t.Fatal(shape)
			}
			if !errors.Is(err, c.kind) {
				t.Fatalf("error %q is not %v", err, c.kind)
			}
		})
	}
}
