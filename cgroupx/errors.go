package cgroupx

import (
	"errors"

	"github.com/shoalkit/shoal/internal/errs"
)

// Sentinel errors. Every error this package returns (other than the
// context's own, when ctx is done) wraps one of them, so callers can tell bad
// input, a missing cgroup, a host that lacks a feature and a kernel that
// failed apart with errors.Is. The error's text never prints the sentinel's:
// it says what was wrong and with which value ("cgroupx: pid -1"), then the
// cause. An error from the operating system stays matchable too
// (errors.Is(err, fs.ErrPermission), errors.As(err, &errno)).
var (
	// ErrNotFound reports a cgroup, process or file that does not exist.
	ErrNotFound = errors.New("cgroupx: not found")
	// ErrInvalid reports bad input: a malformed file under /proc or /sys,
	// a path outside the hierarchy, a value out of range.
	ErrInvalid = errors.New("cgroupx: invalid")
	// ErrUnsupported reports a controller or knob the host does not have.
	ErrUnsupported = errors.New("cgroupx: unsupported")
	// ErrClosed reports the use of a KeepOpen handle after Close.
	ErrClosed = errors.New("cgroupx: cgroup handle closed")
	// ErrUnavailable reports a read or write that failed for another
	// reason: a kernel file refused it (permission denied, EBUSY, an I/O
	// error) or the caller's io.Reader or io.Writer did.
	ErrUnavailable = errors.New("cgroupx: unavailable")
)

// newError returns an error of the given kind whose message is
// "cgroupx: " + fmt.Sprintf(format, args...).
func newError(kind error, format string, args ...any) error {
	return errs.New("cgroupx", kind, format, args...)
}

// wrapError is newError with a cause, appended to the message and matched by
// errors.Is and errors.As as well as the kind.
func wrapError(kind, cause error, format string, args ...any) error {
	return errs.Wrap("cgroupx", kind, cause, format, args...)
}

// annotate wraps an error from inside the package with what was being done,
// keeping its kind; a cause of no known kind is ErrUnavailable.
func annotate(cause error, format string, args ...any) error {
	return wrapError(kindOf(cause), cause, format, args...)
}

// kindOf returns the first sentinel err matches, or ErrUnavailable.
func kindOf(err error) error {
	for _, k := range [...]error{ErrNotFound, ErrInvalid, ErrUnsupported, ErrClosed, ErrUnavailable} {
		if errors.Is(err, k) {
			return k
		}
	}
	return ErrUnavailable
}
