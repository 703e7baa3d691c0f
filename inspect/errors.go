package inspect

import (
	"errors"

	"github.com/shoalkit/shoal/internal/errs"
)

// Sentinel errors. Every error inspect returns wraps one of them, so a caller
// can tell bad input, a missing object, a refused request and a failed
// dependency apart with errors.Is.
var (
	// ErrInvalid reports bad input: a malformed spec, check or verdict, an
	// oversize payload, a bad configuration value.
	ErrInvalid = errors.New("inspect: invalid")
	// ErrNotFound reports a check, member or spec version that does not exist.
	ErrNotFound = errors.New("inspect: not found")
	// ErrDenied reports a request that is not authenticated or not allowed:
	// a fix without a valid signature, a fix for a check that has none.
	ErrDenied = errors.New("inspect: denied")
	// ErrRateLimited reports a request refused because an earlier one was too
	// recent: a fix, or a round on a new spec version.
	ErrRateLimited = errors.New("inspect: rate limited")
	// ErrUnavailable reports a dependency that failed or did not answer in
	// time: serf, a node's detail endpoint, a check's command.
	ErrUnavailable = errors.New("inspect: unavailable")
	// ErrClosed reports a call on a closed Node.
	ErrClosed = errors.New("inspect: closed")
)

// newError returns an error of the given kind whose message is
// "inspect: " + fmt.Sprintf(format, args...).
func newError(kind error, format string, args ...any) error {
	return errs.New("inspect", kind, format, args...)
}

// wrapError is newError with a cause, appended to the message and matched by
// errors.Is and errors.As as well as the kind.
func wrapError(kind, cause error, format string, args ...any) error {
	return errs.Wrap("inspect", kind, cause, format, args...)
}
