package imagefs

import (
	"errors"
	"io"
	"runtime"

	"github.com/google/go-containerregistry/pkg/v1/types"
	"github.com/klauspost/compress/gzip"
	"github.com/klauspost/compress/zstd"
)

// Algorithm is a layer compression.
type Algorithm string

// The compressions a layer can have.
const (
	Zstd Algorithm = "zstd" // application/vnd.oci.image.layer.v1.tar+zstd, the default
	Gzip Algorithm = "gzip" // application/vnd.oci.image.layer.v1.tar+gzip, for older clients
	None Algorithm = "none" // application/vnd.oci.image.layer.v1.tar
)

// Compression says how layers are compressed. The zero value means zstd at
// its default level.
type Compression struct {
	// Algorithm is Zstd, Gzip or None; "" means Zstd.
	Algorithm Algorithm
	// Level is the algorithm's own level: 1..22 for zstd (mapped onto the
	// encoder's speed classes, 3 by default), 1..9 for gzip (6 by default).
	// 0 means the default.
	Level int
}

// OCI layer media types.
const (
	mediaTar  = types.OCIUncompressedLayer
	mediaGzip = types.OCILayer
	mediaZstd = types.OCILayerZStd
	// Docker's layer types carry the same bytes; they are read and rewritten
	// as their OCI equivalents.
	dockerGzip = types.DockerLayer
	dockerTar  = types.DockerUncompressedLayer
	// OCI non-distributable layers are not fetched by this package.
)

func (c Compression) normalize() (Compression, error) {
	if c.Algorithm == "" {
		c.Algorithm = Zstd
	}
	switch c.Algorithm {
	case Zstd:
		if c.Level == 0 {
			c.Level = 3
		}
		if c.Level < 1 || c.Level > 22 {
			return c, newError(ErrInvalid, "zstd level %d out of range 1..22", c.Level)
		}
	case Gzip:
		if c.Level == 0 {
			c.Level = gzip.DefaultCompression
		}
		if c.Level != gzip.DefaultCompression && (c.Level < 1 || c.Level > 9) {
			return c, newError(ErrInvalid, "gzip level %d out of range 1..9", c.Level)
		}
	case None:
		c.Level = 0
	default:
		return c, newError(ErrInvalid, "compression %q (want zstd, gzip or none)", c.Algorithm)
	}
	return c, nil
}

func (c Compression) mediaType() types.MediaType {
	switch c.Algorithm {
	case Gzip:
		return mediaGzip
	case None:
		return mediaTar
	default:
		return mediaZstd
	}
}

// algorithmOf returns the compression of a layer media type, and the OCI
// media type the same bytes carry in an OCI manifest.
func algorithmOf(mt types.MediaType) (Algorithm, types.MediaType, error) {
	switch mt {
	case mediaZstd:
		return Zstd, mediaZstd, nil
	case mediaGzip, dockerGzip:
		return Gzip, mediaGzip, nil
	case mediaTar, dockerTar:
		return None, mediaTar, nil
	}
	return "", "", newError(ErrUnsupportedMediaType, "layer media type %q", mt)
}

// compressor returns a writer compressing into w. Both encoders are set up to
// be deterministic: the same input gives the same bytes (a single zstd
// encoder goroutine, no gzip name or time).
func (c Compression) compressor(w io.Writer) (io.WriteCloser, error) {
	switch c.Algorithm {
	case Gzip:
		return gzip.NewWriterLevel(w, c.Level)
	case None:
		return nopWriteCloser{w}, nil
	default:
		return zstd.NewWriter(w,
			zstd.WithEncoderLevel(zstd.EncoderLevelFromZstd(c.Level)),
			zstd.WithEncoderConcurrency(1),
			zstd.WithEncoderCRC(true))
	}
}

type nopWriteCloser struct{ io.Writer }

// Close does nothing: the underlying writer belongs to the caller.
func (nopWriteCloser) Close() error { return nil }

// decompressor returns a reader of the uncompressed bytes of r. The zstd
// decoder decodes ahead in its own goroutines; gzip is read ahead by
// readAhead, so decompression overlaps with whatever consumes the stream.
//
// A zstd frame declaring a window over window bytes (see
// Limits.MaxDecoderWindow) fails the read with ErrTooLarge before the
// decoder allocates it.
func decompressor(alg Algorithm, r io.Reader, window int64) (io.ReadCloser, error) {
	switch alg {
	case Zstd:
		conc := min(runtime.GOMAXPROCS(0), 4)
		window = min(max(window, zstd.MinWindowSize), maxZstdWindow)
		d, err := zstd.NewReader(r, zstd.WithDecoderConcurrency(conc), zstd.WithDecoderLowmem(false),
			zstd.WithDecoderMaxWindow(uint64(window))) //nolint:gosec // clamped above
		if err != nil {
			return nil, wrapError(ErrCorrupt, err, "zstd")
		}
		return &zstdReadCloser{d: d, window: window}, nil
	case Gzip:
		z, err := gzip.NewReader(r)
		if err != nil {
			return nil, wrapError(ErrCorrupt, err, "gzip")
		}
		z.Multistream(true)
		return readAhead(z, 4, 256<<10), nil
	case None:
		return io.NopCloser(r), nil
	}
	return nil, newError(ErrUnsupportedMediaType, "compression %q", alg)
}

// zstdReadCloser has only Read and Close: the decoder's own WriteTo would
// let io.Copy bypass the error mapping of Read.
type zstdReadCloser struct {
	d      *zstd.Decoder
	window int64
}

// Read decompresses, reporting a frame whose window passes the limit as
// ErrTooLarge.
func (z *zstdReadCloser) Read(p []byte) (int, error) {
	n, err := z.d.Read(p)
	if errors.Is(err, zstd.ErrWindowSizeExceeded) || errors.Is(err, zstd.ErrDecoderSizeExceeded) {
		err = newError(ErrTooLarge, "a zstd frame declares a window over MaxDecoderWindow (%d bytes)", z.window)
	}
	return n, err
}

// Close releases the decoder's goroutines.
func (z *zstdReadCloser) Close() error { z.d.Close(); return nil }

// readAhead reads r in a goroutine into up to n chunks of size bytes, so the
// producer (a decompressor) runs while the consumer writes files. Close stops
// the goroutine.
func readAhead(r io.Reader, n, size int) io.ReadCloser {
	ra := &aheadReader{
		full: make(chan []byte, n),
		free: make(chan []byte, n+1),
		done: make(chan struct{}),
	}
	for range n + 1 {
		ra.free <- make([]byte, size)
	}
	go ra.fill(r)
	return ra
}

type aheadReader struct {
	full chan []byte
	free chan []byte
	done chan struct{}
	err  error // set before full is closed
	cur  []byte
	buf  []byte
	shut bool
}

func (a *aheadReader) fill(r io.Reader) {
	defer close(a.full)
	for {
		var b []byte
		select {
		case b = <-a.free:
		case <-a.done:
			return
		}
		n, err := io.ReadFull(r, b[:cap(b)])
		if n > 0 {
			select {
			case a.full <- b[:n]:
			case <-a.done:
				return
			}
		}
		if err != nil {
			if err == io.ErrUnexpectedEOF {
				err = io.EOF
			}
			a.err = err
			return
		}
	}
}

// Read returns bytes the filler goroutine has read ahead.
func (a *aheadReader) Read(p []byte) (int, error) {
	for len(a.cur) == 0 {
		if a.buf != nil {
			a.free <- a.buf
			a.buf = nil
		}
		b, ok := <-a.full
		if !ok {
			return 0, a.err
		}
		a.buf, a.cur = b, b
	}
	n := copy(p, a.cur)
	a.cur = a.cur[n:]
	return n, nil
}

// Close stops the filler goroutine and waits for it to let go.
func (a *aheadReader) Close() error {
	if !a.shut {
		a.shut = true
		close(a.done)
		for range a.full {
		}
	}
	return nil
}

// Decompress returns the uncompressed bytes of a layer blob compressed with
// alg. Decoding runs ahead of the reader in its own goroutines; Close stops
// them.
// A zstd frame is held to DefaultLimits' MaxDecoderWindow.
func Decompress(alg Algorithm, r io.Reader) (io.ReadCloser, error) {
	return decompressor(alg, r, DefaultLimits().decoderWindow())
}
