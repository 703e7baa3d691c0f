package imagefs_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io/fs"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"testing"

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
			s, err := imagefs.OpenStore(context.Background(), cfg)
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
			assertEmptyStore(t, s)
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
