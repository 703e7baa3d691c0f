package imagefs_test

import (
	"context"
	"errors"
	"io"
	"strings"
	"testing"

	v1 "github.com/google/go-containerregistry/pkg/v1"

	"github.com/shoalkit/shoal/imagefs"
	"github.com/shoalkit/shoal/imagefs/imagefstest"
)

// cancellingLayer cancels a context on the first read of its blob: a
// deadline that passes while a layer streams.
type cancellingLayer struct {
	v1.Layer
	cancel context.CancelFunc
}

func (l cancellingLayer) Compressed() (io.ReadCloser, error) {
	rc, err := l.Layer.Compressed()
	if err != nil {
		return nil, err
	}
	return struct {
		io.Reader
		io.Closer
	}{readerFunc(func(p []byte) (int, error) { l.cancel(); return rc.Read(p) }), rc}, nil
}

// TestValidateStopsInsideALayer is the regression test for Validate
// ignoring its context and the size limits inside a layer: a context that
// ends while a layer streams stops Validate with the context's error (it
// used to read the layer to its end and return nil), and a layer that
// inflates past Limits is refused with ErrTooLarge as unpacking refuses it.
func TestValidateStopsInsideALayer(t *testing.T) {
	zeros := tarLayer(t, imagefs.Compression{}, "", imagefstest.Entry{Name: "zeros", Body: make([]byte, 4<<20)})

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	img := newImage(t, imagefs.AnnotatedLayer{Layer: cancellingLayer{Layer: zeros.Layer, cancel: cancel}})
	if err := imagefs.Validate(ctx, img, imagefs.ValidateOptions{}); !errors.Is(err, context.Canceled) {
		t.Fatalf("Validate with a context cancelled mid-layer = %v, want context.Canceled", err)
	}

	img = newImage(t, zeros)
	bg := context.Background()
	err := imagefs.Validate(bg, img, imagefs.ValidateOptions{Limits: imagefs.Limits{MaxLayerBytes: 1 << 20}})
	if !errors.Is(err, imagefs.ErrTooLarge) || !strings.Contains(err.Error(), "MaxLayerBytes") {
		t.Fatalf("Validate of a layer over MaxLayerBytes = %v, want ErrTooLarge naming it", err)
	}
	err = imagefs.Validate(bg, img, imagefs.ValidateOptions{Limits: imagefs.Limits{MaxExpansion: 8, ExpansionFloor: 1 << 20}})
	if !errors.Is(err, imagefs.ErrTooLarge) || !strings.Contains(err.Error(), "MaxExpansion") {
		t.Fatalf("Validate of a layer over MaxExpansion = %v, want ErrTooLarge naming it", err)
	}
	if err := imagefs.Validate(bg, img, imagefs.ValidateOptions{}); err != nil {
		t.Fatalf("Validate within the default limits: %v", err)
	}
}
