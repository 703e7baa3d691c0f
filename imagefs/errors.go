package imagefs

import (
	"context"
	"errors"

	"github.com/shoalkit/shoal/internal/errs"
)

// Sentinel errors: the kinds. Every error the package returns matches one
// of them with errors.Is (and its cause too, if it has one), so a caller
// can tell bad input, a missing object, corrupt content, a refused archive
// and a failed dependency apart. Their own text is never printed: an error
// reads "imagefs: " once, what was wrong with which value, then the cause.
var (
	// ErrInvalid reports bad input: a malformed recipe, option, reference,
	// manifest or configuration.
	ErrInvalid = errors.New("imagefs: invalid")
	// ErrNotFound reports an image, layer, blob or container that is not there.
	ErrNotFound = errors.New("imagefs: not found")
	// ErrExist reports an object that already exists, such as a container id
	// prepared twice.
	ErrExist = errors.New("imagefs: already exists")
	// ErrInUse reports an image still referenced by a prepared container.
	ErrInUse = errors.New("imagefs: in use")
	// ErrDigestMismatch reports content whose digest, size or diff id is not
	// the one its descriptor or configuration promised.
	ErrDigestMismatch = errors.New("imagefs: digest mismatch")
	// ErrUnsafePath reports a tar entry that would escape the layer root or
	// write through a link.
	ErrUnsafePath = errors.New("imagefs: unsafe path")
	// ErrCorrupt reports an archive or compressed stream that cannot be read:
	// truncated, not a tar, not the compression its media type says.
	ErrCorrupt = errors.New("imagefs: corrupt content")
	// ErrTooLarge reports a layer that unpacks to more than a configured
	// Limits field allows: too many bytes, entries, or too long a file or
	// path, or too large a zstd window. The message names the limit.
	ErrTooLarge = errors.New("imagefs: too large")
	// ErrUnsupportedMediaType reports a manifest, config or layer media type
	// this package does not handle.
	ErrUnsupportedMediaType = errors.New("imagefs: unsupported media type")
	// ErrUnavailable reports a dependency that failed or did not answer:
	// the file system (a full disk, a failed mount), a registry or a peer;
	// or the caller's context that ended first (errors.Is with
	// context.Canceled or context.DeadlineExceeded tells).
	ErrUnavailable = errors.New("imagefs: unavailable")
)

// kindOf returns the kind err already has, ErrUnavailable when it has none
// (an error of the file system, the kernel or a registry): for an error
// that only adds context to its cause.
func kindOf(err error) error {
	// The most specific first.
	for _, k := range []error{
		ErrTooLarge, ErrUnsafePath, ErrDigestMismatch, ErrCorrupt, ErrUnsupportedMediaType,
		ErrInvalid, ErrNotFound, ErrExist, ErrInUse,
	} {
		if errors.Is(err, k) {
			return k
		}
	}
	return ErrUnavailable
}

// newError returns an error of the given kind whose message is
// "imagefs: " + fmt.Sprintf(format, args...).
func newError(kind error, format string, args ...any) error {
	return errs.New("imagefs", kind, format, args...)
}

// wrapError is newError with a cause, appended to the message and matched by
// errors.Is and errors.As as well as the kind.
func wrapError(kind, cause error, format string, args ...any) error {
	return errs.Wrap("imagefs", kind, cause, format, args...)
}

// ctxError is the error of a call whose context ended: what was under way,
// then the context's error.
func ctxError(ctx context.Context, what string) error {
	return wrapError(ErrUnavailable, context.Cause(ctx), "%s", what)
}
