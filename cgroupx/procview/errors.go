package procview

import (
	"errors"

	"github.com/shoalkit/shoal/internal/errs"
)

// Sentinel errors. Every error procview returns wraps one of them, so a
// caller can tell bad input, a missing process or cgroup, a kernel that
// lacks a feature and a failed dependency apart with errors.Is.
var (
	// ErrInvalid reports bad input: a relative mount point, a negative
	// setting, a malformed handover message or /proc file.
	ErrInvalid = errors.New("procview: invalid")
	// ErrNotFound reports a process or cgroup that does not exist (any
	// more): a reader that exited, a container removed during a read.
	ErrNotFound = errors.New("procview: not found")
	// ErrUnsupported reports a kernel without a feature the call needs
	// (FUSE, seccomp user notification).
	ErrUnsupported = errors.New("procview: unsupported")
	// ErrUnavailable reports a dependency that failed: /dev/fuse, mount(2),
	// the holder's socket, the kernel.
	ErrUnavailable = errors.New("procview: unavailable")
	// ErrClosed reports a call on a closed Holder or Conn, or a FUSE
	// connection the kernel has ended (the file system was unmounted).
	ErrClosed = errors.New("procview: closed")
)

// newError returns an error of the given kind whose message is
// "procview: " + fmt.Sprintf(format, args...).
func newError(kind error, format string, args ...any) error {
	return errs.New("procview", kind, format, args...)
}

// wrapError is newError with a cause, appended to the message and matched
// by errors.Is and errors.As as well as the kind.
func wrapError(kind, cause error, format string, args ...any) error {
	return errs.Wrap("procview", kind, cause, format, args...)
}
