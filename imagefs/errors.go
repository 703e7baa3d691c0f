package imagefs

import "errors"

// Sentinel errors. Every error the package returns wraps one of them (or an
// error of a dependency such as a registry or the file system), so a caller can
// tell bad input, a missing object, corrupt content and a refused archive apart
// with errors.Is.
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
	// path. The message names the limit.
	ErrTooLarge = errors.New("imagefs: too large")
	// ErrUnsupportedMediaType reports a manifest, config or layer media type
	// this package does not handle.
	ErrUnsupportedMediaType = errors.New("imagefs: unsupported media type")
)
