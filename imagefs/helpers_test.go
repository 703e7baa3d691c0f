package imagefs_test

import (
	"archive/tar"
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"testing"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/types"
	"github.com/klauspost/compress/zstd"
)

func jsonMarshal(v any) ([]byte, error) { return json.Marshal(v) }

func sha(b []byte) v1.Hash {
	h, _, _ := v1.SHA256(bytesReader(b))
	return h
}

func bytesReader(b []byte) *bytes.Reader { return bytes.NewReader(b) }

// layerNames lists the tar entry names of layer k of img.
func layerNames(t *testing.T, img v1.Image, k int) []string {
	t.Helper()
	layers, err := img.Layers()
	if err != nil {
		t.Fatal(err)
	}
	rc, err := layers[k].Uncompressed()
	if err != nil {
		t.Fatal(err)
	}
	defer rc.Close()
	var names []string
	tr := tar.NewReader(rc)
	for {
		h, err := tr.Next()
		if err != nil {
			break
		}
		names = append(names, h.Name)
	}
	return names
}

// rawLayer is a layer of the given compressed bytes, whatever they hold:
// for content that LayerFromTar would never write.
type rawLayer struct {
	blob   []byte
	diffID v1.Hash
	mt     types.MediaType
}

func (l rawLayer) Digest() (v1.Hash, error)            { return sha(l.blob), nil }
func (l rawLayer) DiffID() (v1.Hash, error)            { return l.diffID, nil }
func (l rawLayer) Size() (int64, error)                { return int64(len(l.blob)), nil }
func (l rawLayer) MediaType() (types.MediaType, error) { return l.mt, nil }
func (l rawLayer) Compressed() (io.ReadCloser, error)  { return io.NopCloser(bytesReader(l.blob)), nil }

func (l rawLayer) Uncompressed() (io.ReadCloser, error) {
	return nil, errors.New("rawLayer: not decompressed here")
}

// zstdWithWindow compresses raw into one zstd frame whose header declares a
// window of 1<<windowLog bytes, whatever the encoder needed: what a hostile
// blob can claim to make a decoder allocate.
func zstdWithWindow(t testing.TB, raw []byte, windowLog int) []byte {
	t.Helper()
	var buf bytes.Buffer
	zw, err := zstd.NewWriter(&buf, zstd.WithSingleSegment(false), zstd.WithWindowSize(1<<20), zstd.WithEncoderConcurrency(1))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := zw.Write(raw); err != nil {
		t.Fatal(err)
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	b := buf.Bytes()
	// Magic (4 bytes), frame header descriptor, then the window
	// descriptor unless the frame is a single segment.
	if b[4]&0x20 != 0 {
		t.Fatal("encoder wrote a single-segment frame: no window descriptor to set")
	}
	b[5] = byte(windowLog-10) << 3
	var h zstd.Header
	if err := h.Decode(b); err != nil || h.WindowSize != 1<<windowLog {
		t.Fatalf("crafted frame declares window %d (%v), want %d", h.WindowSize, err, 1<<windowLog)
	}
	return b
}
