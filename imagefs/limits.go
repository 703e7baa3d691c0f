package imagefs

import (
	"fmt"
	"io"
	"math"
)

// Limits bound what one layer may unpack to, so that a hostile blob — a few
// kilobytes of zstd inflating to terabytes of zeros, millions of empty
// entries, names a megabyte long — is refused while it streams, before it
// fills the disk or the inode table, rather than at the end when its digest
// is checked. A refused layer fails with an error wrapping ErrTooLarge that
// names the limit.
//
// A zero field takes its default (see DefaultLimits); a negative field
// turns that limit off.
type Limits struct {
	// MaxLayerBytes caps the uncompressed tar stream of one layer, headers
	// and padding included, and the size a manifest may claim for its
	// compressed blob. Default 64 GiB.
	MaxLayerBytes int64
	// MaxExpansion caps the uncompressed stream of a stored layer at this
	// multiple of its compressed blob's size, but never below
	// ExpansionFloor. Image layers inflate 2–10×, text-heavy ones a few
	// dozen times; a bomb of zeros inflates thousands of times. It applies
	// where the compressed size is known (Store.Add), not to UnpackTarWith.
	// Default 256.
	MaxExpansion int64
	// ExpansionFloor is the least MaxExpansion allows, so small layers of
	// very compressible content still unpack. Default 1 GiB.
	ExpansionFloor int64
	// MaxEntries caps the tar entries of one layer, whiteouts included.
	// Default 1,048,576.
	MaxEntries int
	// MaxFileBytes caps one regular file. Default 16 GiB.
	MaxFileBytes int64
	// MaxPathBytes caps the length of an entry's name and of a link's
	// target. Default 4096 (Linux's PATH_MAX).
	MaxPathBytes int
	// MaxPathDepth caps how many components deep an entry lies ("a/b/c"
	// is 3). Default 256.
	MaxPathDepth int
	// MaxDecoderWindow caps the window a zstd frame of a layer may
	// declare. The decoder holds that much history in memory whatever
	// the layer's size, so a frame of a few bytes declaring a 1 GiB
	// window costs 1 GiB; a frame declaring more than this is refused with
	// ErrTooLarge before anything is allocated. Default 128 MiB: what
	// "zstd --long" and "--ultra -22" write (the usual levels and
	// klauspost/compress use 8 MiB or less).
	MaxDecoderWindow int64
	// MaxDecoderMemory caps the zstd windows a Store's layers may hold at
	// once: each zstd layer reserves MaxDecoderWindow (or this, if less)
	// while it decodes, and waits while the reservations of the others
	// leave no room, so memory is bounded across Parallel layers rather
	// than multiplied by it. Default 512 MiB (four layers at the default
	// window). Store only.
	MaxDecoderMemory int64
}

// DefaultLimits returns the limits a Store and UnpackTar use by default:
// generous for real images, small enough that a bomb is stopped long before
// a node's disk fills.
func DefaultLimits() Limits {
	return Limits{
		MaxLayerBytes:  64 << 30,
		MaxExpansion:   256,
		ExpansionFloor: 1 << 30,
		MaxEntries:     1 << 20,
		MaxFileBytes:   16 << 30,
		MaxPathBytes:   4096,
		MaxPathDepth:   256,

		MaxDecoderWindow: 128 << 20,
		MaxDecoderMemory: 512 << 20,
	}
}

// withDefaults fills zero fields with their defaults.
func (l Limits) withDefaults() Limits {
	d := DefaultLimits()
	set64 := func(v *int64, def int64) {
		if *v == 0 {
			*v = def
		}
	}
	set := func(v *int, def int) {
		if *v == 0 {
			*v = def
		}
	}
	set64(&l.MaxLayerBytes, d.MaxLayerBytes)
	set64(&l.MaxExpansion, d.MaxExpansion)
	set64(&l.ExpansionFloor, d.ExpansionFloor)
	set(&l.MaxEntries, d.MaxEntries)
	set64(&l.MaxFileBytes, d.MaxFileBytes)
	set(&l.MaxPathBytes, d.MaxPathBytes)
	set(&l.MaxPathDepth, d.MaxPathDepth)
	set64(&l.MaxDecoderWindow, d.MaxDecoderWindow)
	set64(&l.MaxDecoderMemory, d.MaxDecoderMemory)
	return l
}

// bounds are Limits resolved for one layer: defaults applied, "off" turned
// into the largest value, the stream cap computed from the blob size.
type bounds struct {
	stream    int64  // cap on the uncompressed tar stream
	streamWhy string // the limit behind stream, for errors
	entries   int
	file      int64
	pathBytes int
	pathDepth int
	window    int64 // largest zstd window a frame may declare
}

// maxZstdWindow is the largest window the zstd decoder accepts at all; a
// MaxDecoderWindow that is off means this.
const maxZstdWindow = 1 << 41

// decoderWindow is the largest zstd window a layer may use: MaxDecoderWindow,
// or MaxDecoderMemory when that is smaller (a layer must fit the budget
// alone).
func (l Limits) decoderWindow() int64 {
	l = l.withDefaults()
	w := min(orMax64(l.MaxDecoderWindow), orMax64(l.MaxDecoderMemory), maxZstdWindow)
	return max(w, 1<<10) // the zstd minimum
}

func orMax64(v int64) int64 {
	if v < 0 {
		return math.MaxInt64
	}
	return v
}

func orMax(v int) int {
	if v < 0 {
		return math.MaxInt
	}
	return v
}

// bounds resolves the limits for a layer whose compressed blob is compressed
// bytes long (0 when unknown).
func (l Limits) bounds(compressed int64) bounds {
	l = l.withDefaults()
	b := bounds{
		stream:    orMax64(l.MaxLayerBytes),
		entries:   orMax(l.MaxEntries),
		file:      orMax64(l.MaxFileBytes),
		pathBytes: orMax(l.MaxPathBytes),
		pathDepth: orMax(l.MaxPathDepth),
		window:    l.decoderWindow(),
	}
	b.streamWhy = fmt.Sprintf("MaxLayerBytes (%d bytes)", b.stream)
	if compressed > 0 && l.MaxExpansion > 0 {
		e := int64(math.MaxInt64)
		if compressed <= math.MaxInt64/l.MaxExpansion {
			e = compressed * l.MaxExpansion
		}
		e = max(e, l.ExpansionFloor)
		if e < b.stream {
			b.stream = e
			b.streamWhy = fmt.Sprintf("MaxExpansion (%d× the %d-byte blob, at least ExpansionFloor %d: %d bytes)",
				l.MaxExpansion, compressed, l.ExpansionFloor, e)
		}
	}
	return b
}

func (b bounds) streamErr() error {
	return newError(ErrTooLarge, "uncompressed layer exceeds %s", b.streamWhy)
}

// cappedReader reads r until more than b.stream bytes have come, then fails
// for good with an ErrTooLarge error: it stops a decompression bomb as it streams.
type cappedReader struct {
	r   io.Reader
	n   int64 // bytes read so far
	b   *bounds
	err error // set once b.stream is passed
}

func (c *cappedReader) Read(p []byte) (int, error) {
	if c.err != nil {
		return 0, c.err
	}
	// Read at most one byte past the cap: enough to tell it was passed.
	if rem := c.b.stream - c.n; rem < int64(len(p)) {
		p = p[:rem+1]
	}
	n, err := c.r.Read(p)
	c.n += int64(n)
	if over := c.n - c.b.stream; over > 0 {
		c.err = c.b.streamErr()
		return n - int(over), c.err
	}
	return n, err
}
