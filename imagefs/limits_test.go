package imagefs_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-containerregistry/pkg/v1/types"

	"github.com/shoalkit/shoal/imagefs"
	"github.com/shoalkit/shoal/imagefs/imagefstest"
)

// TestStoreRefusesBombs adds layers that pass one of the configured limits
// — zstd bombs of zeros, too many entries, a file too big, paths too long or
// too deep — and checks that Add fails with ErrTooLarge naming the limit and
// the layer, and that the store holds nothing afterwards: no layer, no blob,
// nothing in tmp/.
func TestStoreRefusesBombs(t *testing.T) {
	ctx := context.Background()
	zeros := make([]byte, 4<<20)
	noise := make([]byte, 64<<10)
	rng := rand.New(rand.NewPCG(1, 2)) //nolint:gosec // test data
	for k := range noise {
		noise[k] = byte(rng.Uint32())
	}
	many := func(n int) []imagefstest.Entry {
		var es []imagefstest.Entry
		for k := range n {
			es = append(es, imagefstest.Entry{Name: fmt.Sprintf("f%04d", k)})
		}
		return es
	}
	layerOf := func(t *testing.T, raw []byte) imagefs.AnnotatedLayer {
		l, err := imagefs.LayerFromTar(bytes.NewReader(raw), imagefs.Compression{})
		if err != nil {
			t.Fatal(err)
		}
		return imagefs.AnnotatedLayer{Layer: l}
	}
	cases := []struct {
		name  string
		lim   imagefs.Limits
		layer func(t *testing.T) imagefs.AnnotatedLayer
		limit string // the limit the error must name; "" means Add succeeds
	}{
		{
			name: "zstd bomb: one file of zeros",
			lim:  imagefs.Limits{MaxLayerBytes: 1 << 20},
			layer: func(t *testing.T) imagefs.AnnotatedLayer {
				return tarLayer(t, imagefs.Compression{}, "", imagefstest.Entry{Name: "zeros", Body: zeros})
			},
			limit: "MaxLayerBytes",
		},
		{
			name: "zstd bomb: many files of zeros",
			lim:  imagefs.Limits{MaxLayerBytes: 1 << 20},
			layer: func(t *testing.T) imagefs.AnnotatedLayer {
				var es []imagefstest.Entry
				for k := range 64 {
					es = append(es, imagefstest.Entry{Name: fmt.Sprintf("z%02d", k), Body: zeros[:64<<10]})
				}
				return tarLayer(t, imagefs.Compression{}, "", es...)
			},
			limit: "MaxLayerBytes",
		},
		{
			// Nothing is written past the tar end, but the padding is part
			// of the diff id, so it is read, and must be capped too.
			name: "zstd bomb: zeros after the tar end",
			lim:  imagefs.Limits{MaxLayerBytes: 1 << 20},
			layer: func(t *testing.T) imagefs.AnnotatedLayer {
				raw := imagefstest.Tar(t, imagefstest.Entry{Name: "small", Body: []byte("x")})
				return layerOf(t, append(raw, zeros...))
			},
			limit: "MaxLayerBytes",
		},
		{
			name: "zstd bomb: expansion over the floor",
			lim:  imagefs.Limits{MaxExpansion: 8, ExpansionFloor: 256 << 10},
			layer: func(t *testing.T) imagefs.AnnotatedLayer {
				return tarLayer(t, imagefs.Compression{}, "", imagefstest.Entry{Name: "zeros", Body: zeros[:1<<20]})
			},
			limit: "MaxExpansion",
		},
		{
			name: "expansion floor lets a small compressible layer in",
			lim:  imagefs.Limits{MaxExpansion: 8, ExpansionFloor: 2 << 20},
			layer: func(t *testing.T) imagefs.AnnotatedLayer {
				return tarLayer(t, imagefs.Compression{}, "", imagefstest.Entry{Name: "zeros", Body: zeros[:1<<20]})
			},
		},
		{
			name:  "too many entries",
			lim:   imagefs.Limits{MaxEntries: 100},
			layer: func(t *testing.T) imagefs.AnnotatedLayer { return tarLayer(t, imagefs.Compression{}, "", many(101)...) },
			limit: "MaxEntries",
		},
		{
			name:  "entries at the limit",
			lim:   imagefs.Limits{MaxEntries: 100},
			layer: func(t *testing.T) imagefs.AnnotatedLayer { return tarLayer(t, imagefs.Compression{}, "", many(100)...) },
		},
		{
			name: "file too big",
			lim:  imagefs.Limits{MaxFileBytes: 64<<10 - 1},
			layer: func(t *testing.T) imagefs.AnnotatedLayer {
				return tarLayer(t, imagefs.Compression{}, "", imagefstest.Entry{Name: "big", Body: noise})
			},
			limit: "MaxFileBytes",
		},
		{
			name: "file at the limit",
			lim:  imagefs.Limits{MaxFileBytes: 64 << 10},
			layer: func(t *testing.T) imagefs.AnnotatedLayer {
				return tarLayer(t, imagefs.Compression{}, "", imagefstest.Entry{Name: "big", Body: noise})
			},
		},
		{
			name: "gzip bomb",
			lim:  imagefs.Limits{MaxLayerBytes: 1 << 20},
			layer: func(t *testing.T) imagefs.AnnotatedLayer {
				return tarLayer(t, imagefs.Compression{Algorithm: imagefs.Gzip}, "", imagefstest.Entry{Name: "zeros", Body: zeros})
			},
			limit: "MaxLayerBytes",
		},
		{
			name: "blob bigger than a layer may be",
			lim:  imagefs.Limits{MaxLayerBytes: 32 << 10},
			layer: func(t *testing.T) imagefs.AnnotatedLayer {
				return tarLayer(t, imagefs.Compression{Algorithm: imagefs.None}, "", imagefstest.Entry{Name: "noise", Body: noise})
			},
			limit: "MaxLayerBytes",
		},
		{
			name: "path too deep",
			lim:  imagefs.Limits{MaxPathDepth: 4},
			layer: func(t *testing.T) imagefs.AnnotatedLayer {
				return tarLayer(t, imagefs.Compression{}, "", imagefstest.Entry{Name: "a/b/c/d/e", Body: []byte("x")})
			},
			limit: "MaxPathDepth",
		},
		{
			name: "name too long",
			lim:  imagefs.Limits{MaxPathBytes: 64},
			layer: func(t *testing.T) imagefs.AnnotatedLayer {
				return tarLayer(t, imagefs.Compression{}, "", imagefstest.Entry{Name: strings.Repeat("n", 65), Body: []byte("x")})
			},
			limit: "MaxPathBytes",
		},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			cfg := imagefs.DefaultStoreConfig(t.TempDir())
			cfg.Limits = c.lim
			s, err := imagefs.OpenStore(ctx, cfg)
			if err != nil {
				t.Fatal(err)
			}
			l := c.layer(t)
			digest, err := l.Layer.Digest()
			if err != nil {
				t.Fatal(err)
			}
			_, err = s.Add(ctx, newImage(t, l), "bomb")
			if c.limit == "" {
				if err != nil {
					t.Fatalf("Add within the limits: %v", err)
				}
				return
			}
			if !errors.Is(err, imagefs.ErrTooLarge) {
				t.Fatalf("err = %v, want ErrTooLarge", err)
			}
			if msg := err.Error(); !strings.Contains(msg, c.limit) || !strings.Contains(msg, digest.String()) {
				t.Fatalf("error %q does not name the limit %s and the layer %s", msg, c.limit, digest)
			}
			assertEmptyStore(ctx, t, s)
		})
	}
}

// TestUnpackTarWithStopsEarly checks that a refused stream is stopped before
// the excess reaches the disk: what was written stays within the cap.
func TestUnpackTarWithStopsEarly(t *testing.T) {
	var es []imagefstest.Entry
	for k := range 64 {
		es = append(es, imagefstest.Entry{Name: fmt.Sprintf("z%02d", k), Body: make([]byte, 64<<10)})
	}
	dir := t.TempDir()
	lim := imagefs.Limits{MaxLayerBytes: 1 << 20}
	st, err := imagefs.UnpackTarWith(context.Background(), bytes.NewReader(imagefstest.Tar(t, es...)), dir, lim)
	if !errors.Is(err, imagefs.ErrTooLarge) || !strings.Contains(err.Error(), "MaxLayerBytes") {
		t.Fatalf("err = %v, want ErrTooLarge naming MaxLayerBytes", err)
	}
	if written := treeBytes(t, dir); written > lim.MaxLayerBytes || st.Bytes > lim.MaxLayerBytes {
		t.Fatalf("wrote %d bytes (stats %d) with a cap of %d", written, st.Bytes, lim.MaxLayerBytes)
	}
	if _, err := imagefs.UnpackTarWith(context.Background(), bytes.NewReader(imagefstest.Tar(t, es[:8]...)), t.TempDir(), lim); err != nil {
		t.Fatalf("a layer within the cap: %v", err)
	}
}

// treeBytes sums the sizes of the regular files below dir.
func treeBytes(t testing.TB, dir string) int64 {
	t.Helper()
	var n int64
	err := filepath.WalkDir(dir, func(_ string, d fs.DirEntry, err error) error {
		if err != nil || !d.Type().IsRegular() {
			return err
		}
		fi, err := d.Info()
		if err != nil {
			return err
		}
		n += fi.Size()
		return nil
	})
	if err != nil && !errors.Is(err, os.ErrNotExist) {
		t.Fatal(err)
	}
	return n
}

// TestZstdWindowIsBounded is the regression test for zstd window memory: a
// few kilobytes whose frame declares a 1 GiB window made the decoder hold
// 1 GiB per layer. Such a frame is now refused with ErrTooLarge naming
// MaxDecoderWindow, by Store.Add (leaving nothing), UnpackCompressed,
// Decompress and Validate; a frame within the limit still passes.
func TestZstdWindowIsBounded(t *testing.T) {
	ctx := context.Background()
	raw := imagefstest.Tar(t, imagefstest.Entry{Name: "f", Body: bytes.Repeat([]byte("shoal "), 5000)})
	diffID := sha(raw)
	huge := zstdWithWindow(t, raw, 30)
	fine := zstdWithWindow(t, raw, 23)
	tooLarge := func(t *testing.T, what string, err error) {
		t.Helper()
		if !errors.Is(err, imagefs.ErrTooLarge) || !strings.Contains(err.Error(), "MaxDecoderWindow") {
			t.Errorf("%s: err = %v, want ErrTooLarge naming MaxDecoderWindow", what, err)
		}
	}

	s := openStore(t)
	img := newImage(t, imagefs.AnnotatedLayer{Layer: rawLayer{blob: huge, diffID: diffID, mt: types.OCILayerZStd}})
	_, err := s.Add(ctx, img, "window")
	tooLarge(t, "Store.Add", err)
	assertEmptyStore(t.Context(), t, s)
	tooLarge(t, "Validate", imagefs.Validate(ctx, img, imagefs.ValidateOptions{}))
	tooLarge(t, "UnpackCompressed", imagefs.UnpackCompressed(ctx, bytes.NewReader(huge), imagefs.Zstd, t.TempDir()))
	rc, err := imagefs.Decompress(imagefs.Zstd, bytes.NewReader(huge))
	if err != nil {
		t.Fatal(err)
	}
	_, err = io.Copy(io.Discard, rc)
	_ = rc.Close()
	tooLarge(t, "Decompress", err)

	ok := newImage(t, imagefs.AnnotatedLayer{Layer: rawLayer{blob: fine, diffID: diffID, mt: types.OCILayerZStd}})
	if _, err := s.Add(ctx, ok, "window"); err != nil {
		t.Fatalf("a layer with an 8 MiB window: %v", err)
	}
	if err := imagefs.Validate(ctx, ok, imagefs.ValidateOptions{}); err != nil {
		t.Fatalf("Validate of a layer with an 8 MiB window: %v", err)
	}

	// The limit is the configured one, not a constant.
	cfg := imagefs.DefaultStoreConfig(t.TempDir())
	cfg.Limits.MaxDecoderWindow = 4 << 20
	small, err := imagefs.OpenStore(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	_, err = small.Add(ctx, ok, "window")
	tooLarge(t, "Store.Add with MaxDecoderWindow 4 MiB", err)
}

// TestStoreBoundsDecoderMemoryAcrossLayers checks that layers decoding in
// parallel together reserve no more zstd window than MaxDecoderMemory: with
// room for two 8 MiB windows and Parallel 4, four zstd layers all unpack,
// never more than two at once.
func TestStoreBoundsDecoderMemoryAcrossLayers(t *testing.T) {
	ctx := context.Background()
	cfg := imagefs.DefaultStoreConfig(t.TempDir())
	cfg.Parallel = 4
	cfg.Limits.MaxDecoderWindow = 8 << 20
	cfg.Limits.MaxDecoderMemory = 16 << 20
	s, err := imagefs.OpenStore(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	var layers []imagefs.AnnotatedLayer
	for k := range 4 {
		layers = append(layers, tarLayer(t, imagefs.Compression{}, "", imagefstest.Entry{Name: fmt.Sprintf("f%d", k), Body: noise(256<<10, uint64(k))}))
	}
	res, err := s.Add(ctx, newImage(t, layers...), "four")
	if err != nil {
		t.Fatal(err)
	}
	if res.Unpacked != 4 {
		t.Fatalf("unpacked %d layers, want 4", res.Unpacked)
	}
	now, peak := imagefs.DecoderReservations(s)
	if now != 0 || peak < 8<<20 || peak > 16<<20 {
		t.Fatalf("reserved now %d, at most %d; want 0 now and a peak within (0, 16 MiB]", now, peak)
	}
}
