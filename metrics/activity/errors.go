package activity

import (
	"errors"

	"github.com/shoalkit/shoal/internal/errs"
)

// Sentinel errors. Every error activity returns wraps one of them.
var (
	// ErrInvalid reports bad input: a negative weight, a bad Config value,
	// a mail without a recipient.
	ErrInvalid = errors.New("activity: invalid")
	// ErrWrite reports a report that could not be written out.
	ErrWrite = errors.New("activity: write failed")
)

func newError(kind error, format string, args ...any) error {
	return errs.New("activity", kind, format, args...)
}

func wrapError(kind, cause error, format string, args ...any) error {
	return errs.Wrap("activity", kind, cause, format, args...)
}
