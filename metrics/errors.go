package metrics

import (
	"errors"

	"github.com/shoalkit/shoal/internal/errs"
)

// Sentinel errors. Every error metrics returns wraps one of them, so a caller
// can tell bad input, a container that is gone and a closed collector apart
// with errors.Is.
var (
	// ErrInvalid reports bad input: a malformed file under /proc or a cgroup
	// file, a target without an id, a bad Config value.
	ErrInvalid = errors.New("metrics: invalid")
	// ErrNotFound reports a container (cgroup or process) that does not
	// exist, or vanished while it was sampled.
	ErrNotFound = errors.New("metrics: not found")
	// ErrConflict reports a target id that is already collected.
	ErrConflict = errors.New("metrics: conflict")
	// ErrClosed reports a call on a closed Collector.
	ErrClosed = errors.New("metrics: closed")
	// ErrCanceled reports a sample cut short by its context; the context's
	// error is the cause.
	ErrCanceled = errors.New("metrics: canceled")
)

// newError returns an error of the given kind whose message is
// "metrics: " + fmt.Sprintf(format, args...).
func newError(kind error, format string, args ...any) error {
	return errs.New("metrics", kind, format, args...)
}

// wrapError is newError with a cause, appended to the message and matched by
// errors.Is and errors.As as well as the kind.
func wrapError(kind, cause error, format string, args ...any) error {
	return errs.Wrap("metrics", kind, cause, format, args...)
}
