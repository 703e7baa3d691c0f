package sched

import (
	"errors"

	"github.com/shoalkit/shoal/internal/errs"
)

// Sentinel errors. Every error returned by this package wraps exactly one of
// them, so callers can tell bad input, a missing object, a conflict with the
// current state and a request that does not fit apart with errors.Is.
var (
	// ErrInvalid reports bad input: an unknown topology key, a negative
	// resource, a count outside 1..MaxCount, contradictory rules. The message names
	// the field.
	ErrInvalid = errors.New("sched: invalid")
	// ErrNotFound reports an unknown node or allocation.
	ErrNotFound = errors.New("sched: not found")
	// ErrConflict reports an operation that contradicts the current state:
	// a node added twice, an allocation that does not fit its node.
	ErrConflict = errors.New("sched: conflict")
	// ErrUnschedulable reports that some replicas of a request could not
	// be placed; the Result's WhyNot says why.
	ErrUnschedulable = errors.New("sched: unschedulable")
)

// newError returns an error of the given kind whose message is
// "sched: " + fmt.Sprintf(format, args...).
func newError(kind error, format string, args ...any) error {
	return errs.New("sched", kind, format, args...)
}

// wrapError is newError with a cause, appended to the message and matched
// by errors.Is and errors.As as well as the kind.
func wrapError(kind, cause error, format string, args ...any) error {
	return errs.Wrap("sched", kind, cause, format, args...)
}
