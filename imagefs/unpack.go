package imagefs

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"hash"
	"io"

	v1 "github.com/google/go-containerregistry/pkg/v1"
)

// Overlayfs whiteout conventions the unpacker writes.
const (
	whiteoutPrefix = ".wh."
	whiteoutOpaque = ".wh..wh..opq"
	// whiteoutMeta prefixes AUFS bookkeeping entries (.wh..wh.plnk and the
	// like) that carry nothing for overlayfs.
	whiteoutMeta  = ".wh..wh."
	opaqueXattr   = "trusted.overlay.opaque"
	xattrPAX      = "SCHILY.xattr."
	overlayXattrs = "trusted.overlay."
)

// UnpackStats counts what an unpack wrote.
type UnpackStats struct {
	DiffID    v1.Hash // sha256 of the uncompressed tar stream
	Entries   int     // tar entries applied, whiteouts included
	Bytes     int64   // bytes of regular file content written
	Whiteouts int     // whiteouts and opaque markers converted
}

// UnpackTar writes the uncompressed layer tar read from r into dir, which must
// exist and should be empty, converting OCI whiteouts into their overlayfs
// form: ".wh.x" becomes a 0/0 character device x and ".wh..wh..opq" sets
// trusted.overlay.opaque=y on its directory.
//
// Every entry is created relative to dir with openat2(RESOLVE_BENEATH |
// RESOLVE_NO_SYMLINKS): names with ".." that leave dir, hardlinks to outside
// it and entries below a symlink are refused with ErrUnsafePath. Symlink
// targets are stored as they are (an absolute target resolves inside the
// container's root when the container runs, never while unpacking).
// Ownership is kept when the process may chown, modes, times and xattrs
// always (trusted.overlay.* xattrs in the archive are dropped). A directory
// the archive implies without listing it is made 0755, owned by root, with
// the time of the entry that implied it: the same layer gives the same tree
// whatever the umask and the clock. Directory metadata is applied last, so
// read-only directories still receive their children. Nothing is fsynced:
// callers that need durability sync the file system once (the Store does,
// with syncfs).
//
// A stream that ends right after an entry, without the end-of-archive
// marker, was cut off and is refused with ErrCorrupt (an empty stream is an
// empty layer); so are device numbers Linux cannot represent (a major over
// 4095, a minor over 1048575), which mknod would silently truncate.
//
// The layer is held to DefaultLimits; UnpackTarWith takes others.
//
// On error dir holds a partial tree; the caller removes it.
func UnpackTar(ctx context.Context, r io.Reader, dir string) (UnpackStats, error) {
	return unpackTar(ctx, r, dir, DefaultLimits().bounds(0))
}

// UnpackTarWith is UnpackTar with the given limits (zero fields take their
// defaults). A layer that passes one fails with an error wrapping
// ErrTooLarge as soon as the stream shows it, before the excess is written.
func UnpackTarWith(ctx context.Context, r io.Reader, dir string, lim Limits) (UnpackStats, error) {
	return unpackTar(ctx, r, dir, lim.bounds(0))
}

func unpackTar(ctx context.Context, r io.Reader, dir string, b bounds) (UnpackStats, error) {
	h := sha256.New()
	u, err := newUnpacker(dir, b)
	if err != nil {
		return UnpackStats{}, err
	}
	defer u.close()
	u.in = &cappedReader{r: r, b: &u.b}
	tee := io.TeeReader(u.in, h)
	if err := u.run(ctx, tee); err != nil {
		if u.in.err != nil {
			// The tar reader wraps read errors as corrupt content; the
			// limit is the real reason.
			return u.stats, u.in.err
		}
		return u.stats, err
	}
	// The tar end marker may be followed by padding that is part of the
	// diff id (and is held to the same cap).
	if _, err := io.Copy(io.Discard, tee); err != nil {
		if u.in.err != nil {
			return u.stats, u.in.err
		}
		return u.stats, readErr(err, "reading past tar end")
	}
	u.stats.DiffID = v1.Hash{Algorithm: "sha256", Hex: hex.EncodeToString(h.Sum(nil))}
	return u.stats, nil
}

// unpackLayer unpacks a compressed layer stream into dir within b, verifying
// its digest and diff id; a zero want hash skips that check. abort, when
// not nil, is called on failure before the decoder is closed: closing it
// waits for its goroutine's read of compressed, which abort must end (a
// stream still waiting for bytes would otherwise hold the failure up).
func unpackLayer(ctx context.Context, compressed io.Reader, alg Algorithm, dir string, wantDigest, wantDiffID v1.Hash, b bounds, abort func()) (_ UnpackStats, err error) {
	if alg == None {
		// The blob is the tar: its digest is the diff id, hashed once.
		st, err := unpackTar(ctx, compressed, dir, b)
		if err != nil {
			return st, err
		}
		if wantDigest.Hex != "" && st.DiffID != wantDigest {
			return st, newError(ErrDigestMismatch, "layer is %s, want %s", st.DiffID, wantDigest)
		}
		if wantDiffID.Hex != "" && st.DiffID != wantDiffID {
			return st, newError(ErrDigestMismatch, "layer diff id is %s, config says %s", st.DiffID, wantDiffID)
		}
		return st, nil
	}
	ch := sha256.New()
	tee := io.TeeReader(compressed, ch)
	d, err := decompressor(alg, tee, b.window)
	if err != nil {
		return UnpackStats{}, err
	}
	defer func() {
		if err != nil && abort != nil {
			abort()
		}
		_ = d.Close()
	}()
	st, err := unpackTar(ctx, d, dir, b)
	if err != nil {
		return st, err
	}
	if _, err := io.Copy(io.Discard, tee); err != nil {
		return st, readErr(err, "reading compressed layer")
	}
	if err := checkHash("layer", ch, wantDigest); err != nil {
		return st, err
	}
	if wantDiffID.Hex != "" && st.DiffID != wantDiffID {
		return st, newError(ErrDigestMismatch, "layer diff id is %s, config says %s", st.DiffID, wantDiffID)
	}
	return st, nil
}

// verifyLayer reads a compressed layer stream to its end without writing
// anything, and checks its digest and that it decompresses, within b, to
// the diff id: for a blob whose layer is already unpacked, which must not
// be kept (and served to peers) on its digest alone. abort is as for
// unpackLayer.
func verifyLayer(ctx context.Context, compressed io.Reader, alg Algorithm, wantDigest, wantDiffID v1.Hash, b bounds, abort func()) (err error) {
	ch := sha256.New()
	tee := io.TeeReader(compressed, ch)
	d, err := decompressor(alg, tee, b.window)
	if err != nil {
		return err
	}
	defer func() {
		if err != nil && abort != nil {
			abort()
		}
		_ = d.Close()
	}()
	dh := sha256.New()
	content := &cappedReader{r: ctxReader{ctx: ctx, r: d}, b: &b}
	if _, err := io.Copy(dh, content); err != nil {
		switch {
		case content.err != nil:
			return content.err
		case ctx.Err() != nil:
			return ctxError(ctx, "verify layer")
		}
		return readErr(err, "reading layer")
	}
	if _, err := io.Copy(io.Discard, tee); err != nil {
		return readErr(err, "reading compressed layer")
	}
	if err := checkHash("layer", ch, wantDigest); err != nil {
		return err
	}
	return checkHash("layer content (diff id)", dh, wantDiffID)
}

// readErr is the error of a failed read of a layer stream: corrupt
// content, unless a limit stopped it (the decoder's window), which says so
// itself.
func readErr(err error, what string) error {
	if errors.Is(err, ErrTooLarge) {
		return err
	}
	return wrapError(ErrCorrupt, err, "%s", what)
}

func checkHash(what string, h hash.Hash, want v1.Hash) error {
	if want.Hex == "" {
		return nil
	}
	if want.Algorithm != "sha256" {
		return newError(ErrUnsupportedMediaType, "%s digest algorithm %q", what, want.Algorithm)
	}
	if got := hex.EncodeToString(h.Sum(nil)); got != want.Hex {
		return newError(ErrDigestMismatch, "%s is sha256:%s, want %s", what, got, want)
	}
	return nil
}

// UnpackCompressed unpacks a compressed layer stream (as its media type's
// algorithm says) into dir, like UnpackTar, with decompression running ahead
// of the file writes. It checks no digest; Store.Add does. The layer is held
// to DefaultLimits.
func UnpackCompressed(ctx context.Context, r io.Reader, alg Algorithm, dir string) error {
	_, err := unpackLayer(ctx, r, alg, dir, v1.Hash{}, v1.Hash{}, DefaultLimits().bounds(0), nil)
	return err
}
