package kubepeer

import (
	"errors"

	"github.com/shoalkit/shoal/internal/errs"
)

// Sentinel errors. Every error kubepeer returns wraps one of them.
var (
	// ErrInvalid reports a bad configuration: a fleet too small for its
	// racks, a count of zero, a request sched itself rejects.
	ErrInvalid = errors.New("kubepeer: invalid")
	// ErrInexpressible reports a request that one scheduler can express and
	// the other cannot (at most 2 per rack has no kube-scheduler form); it is
	// reported, never translated into something else.
	ErrInexpressible = errors.New("kubepeer: inexpressible")
	// ErrUnavailable reports a scheduler that could not be set up or did not
	// place the stream in time.
	ErrUnavailable = errors.New("kubepeer: unavailable")
	// ErrViolation reports a placement that schedtest's checker rejects, or a
	// replica one side left unplaced.
	ErrViolation = errors.New("kubepeer: violation")
)

func newError(kind error, format string, args ...any) error {
	return errs.New("kubepeer", kind, format, args...)
}

func wrapError(kind, cause error, format string, args ...any) error {
	return errs.Wrap("kubepeer", kind, cause, format, args...)
}
