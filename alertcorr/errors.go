package alertcorr

import (
	"errors"

	"github.com/shoalkit/shoal/internal/errs"
)

// Sentinel errors. Every error alertcorr returns wraps one of them, so a
// caller can tell bad input, a missing object, a conflict and a failed
// dependency apart with errors.Is.
var (
	// ErrInvalid reports bad input: a malformed alert, matcher, route,
	// silence or webhook payload, a configuration value out of range.
	ErrInvalid = errors.New("alertcorr: invalid")
	// ErrNotFound reports a silence or entity that does not exist.
	ErrNotFound = errors.New("alertcorr: not found")
	// ErrConflict reports a change that contradicts existing state: an
	// entity whose parent has another kind than its place requires, a
	// silence that expired already.
	ErrConflict = errors.New("alertcorr: conflict")
	// ErrUnavailable reports a dependency that failed: a receiver that did
	// not accept a notification, a snapshot file that cannot be written, a
	// Prometheus that did not answer.
	ErrUnavailable = errors.New("alertcorr: unavailable")
	// ErrClosed reports a call on a closed Engine.
	ErrClosed = errors.New("alertcorr: closed")
)

// newError returns an error of the given kind whose message is
// "alertcorr: " + fmt.Sprintf(format, args...).
func newError(kind error, format string, args ...any) error {
	return errs.New("alertcorr", kind, format, args...)
}

// wrapError is newError with a cause, appended to the message and matched by
// errors.Is and errors.As as well as the kind.
func wrapError(kind, cause error, format string, args ...any) error {
	return errs.Wrap("alertcorr", kind, cause, format, args...)
}
