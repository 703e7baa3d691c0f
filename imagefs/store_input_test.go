package imagefs_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"unicode"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/types"

	"github.com/shoalkit/shoal/imagefs"
	"github.com/shoalkit/shoal/imagefs/imagefstest"
)

// TestStoreVerifiesBlobOfUnpackedLayer is the regression test for a blob
// accepted on its digest alone: when the layer of a diff id is already
// unpacked, Add used to copy a new blob claiming that diff id checking only
// the blob's own digest, so garbage was stored (and served to peers) as the
// layer's blob. It is now decompressed and checked against the diff id;
// the same content under another compression is still accepted.
func TestStoreVerifiesBlobOfUnpackedLayer(t *testing.T) {
	ctx := context.Background()
	s := openStore(t)
	good := tarLayer(t, imagefs.Compression{}, "", imagefstest.Entry{Name: "f", Body: []byte("the layer")})
	if _, err := s.Add(ctx, newImage(t, good), "good"); err != nil {
		t.Fatal(err)
	}
	diffID, err := good.Layer.DiffID()
	if err != nil {
		t.Fatal(err)
	}
	for _, blob := range [][]byte{
		[]byte("garbage whose digest is honest"),
		zstdWithWindow(t, []byte("not the layer's tar at all"), 20),
	} {
		bad := rawLayer{blob: blob, diffID: diffID, mt: types.OCILayerZStd}
		_, err = s.Add(ctx, newImage(t, imagefs.AnnotatedLayer{Layer: bad}), "bad")
		if !errors.Is(err, imagefs.ErrCorrupt) && !errors.Is(err, imagefs.ErrDigestMismatch) {
			t.Fatalf("Add of a garbage blob for an unpacked layer = %v, want ErrCorrupt or ErrDigestMismatch", err)
		}
		if s.HasBlob(sha(blob)) {
			t.Fatalf("the garbage blob %s was stored", sha(blob))
		}
	}
	gz := tarLayer(t, imagefs.Compression{Algorithm: imagefs.Gzip}, "", imagefstest.Entry{Name: "f", Body: []byte("the layer")})
	res, err := s.Add(ctx, newImage(t, gz), "gzip")
	if err != nil {
		t.Fatalf("the same layer under gzip: %v", err)
	}
	if d, _ := gz.Layer.Digest(); !s.HasBlob(d) || res.Unpacked != 0 || res.Fetched != 1 {
		t.Fatalf("gzip blob stored %v, result %+v; want the blob fetched, nothing unpacked", s.HasBlob(d), res)
	}
}

// TestRefsAndIDsRefuseControlCharacters checks that image refs and
// container ids with control characters are refused at the edge with
// ErrInvalid, and never reach error text raw.
func TestRefsAndIDsRefuseControlCharacters(t *testing.T) {
	ctx := context.Background()
	s := openStore(t)
	img := threeLayers(t, imagefs.Compression{})
	if _, err := s.Add(ctx, img, "ok:1"); err != nil {
		t.Fatal(err)
	}
	calls := map[string]func() error{
		"Add name":       func() error { _, err := s.Add(ctx, img, "web\napp:1"); return err },
		"Prepare ref":    func() error { _, err := s.Prepare(ctx, "ok:1\nforged log line", "c1"); return err },
		"Prepare id":     func() error { _, err := s.Prepare(ctx, "ok:1", "c1\n"); return err },
		"Release id":     func() error { return s.Release(ctx, "c1\x1b[2J") },
		"Remove ref":     func() error { return s.Remove(ctx, "ok:1\x1b[31m") },
		"Image ref":      func() error { _, err := s.Image(ctx, "ok:1\r"); return err },
		"Pull reference": func() error { _, err := imagefs.Pull(ctx, "127.0.0.1:1/x:1\n", fastRemote()); return err },
		"Push reference": func() error { _, err := imagefs.Push(ctx, img, "127.0.0.1:1/x:1\x00", fastRemote()); return err },
	}
	for name, call := range calls {
		err := call()
		if !errors.Is(err, imagefs.ErrInvalid) {
			t.Errorf("%s: err = %v, want ErrInvalid", name, err)
			continue
		}
		if strings.ContainsFunc(err.Error(), unicode.IsControl) {
			t.Errorf("%s: error %q holds a raw control character", name, err)
		}
	}
	if imgs, err := s.Images(ctx); err != nil || len(imgs) != 1 {
		t.Fatalf("Images = %v, %v; want only ok:1", imgs, err)
	}
}

// TestStoreVerifiesPairingOfStoredBlobAndLayer checks the other half of
// "verify what is stored": when a blob and a layer are both in the store
// but no image pairs them, a manifest that claims the one is the other is
// refused (it used to be stored without a look), while an image the store
// already holds adds again without reading anything.
func TestStoreVerifiesPairingOfStoredBlobAndLayer(t *testing.T) {
	ctx := context.Background()
	s := openStore(t)
	a := tarLayer(t, imagefs.Compression{}, "", imagefstest.Entry{Name: "a", Body: []byte("layer a")})
	b := tarLayer(t, imagefs.Compression{}, "", imagefstest.Entry{Name: "b", Body: []byte("layer b")})
	imgA, imgB := newImage(t, a), newImage(t, b)
	for name, img := range map[string]v1.Image{"a": imgA, "b": imgB} {
		if _, err := s.Add(ctx, img, name); err != nil {
			t.Fatal(err)
		}
	}
	diffA, err := a.Layer.DiffID()
	if err != nil {
		t.Fatal(err)
	}
	lie := rawLayer{blob: compressedBlob(t, b.Layer), diffID: diffA, mt: types.OCILayerZStd}
	if _, err := s.Add(ctx, newImage(t, imagefs.AnnotatedLayer{Layer: lie}), "lie"); !errors.Is(err, imagefs.ErrDigestMismatch) {
		t.Fatalf("Add pairing b's blob with a's diff id = %v, want ErrDigestMismatch", err)
	}
	if _, err := s.Image(ctx, "lie"); !errors.Is(err, imagefs.ErrNotFound) {
		t.Fatalf("the lying image was stored: %v", err)
	}
	if res, err := s.Add(ctx, imgA, "a-again"); err != nil || res.Fetched != 0 || res.Unpacked != 0 {
		t.Fatalf("re-adding a held image = %+v, %v; want nothing fetched or unpacked", res, err)
	}
}
