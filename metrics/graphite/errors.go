package graphite

import (
	"errors"

	"github.com/shoalkit/shoal/internal/errs"
)

// Sentinel errors. Every error graphite returns wraps one of them.
var (
	// ErrInvalid reports bad input: a missing address, a bad Config value.
	ErrInvalid = errors.New("graphite: invalid")
	// ErrUnavailable reports a carbon server that cannot be reached or
	// written to; the Writer keeps trying.
	ErrUnavailable = errors.New("graphite: unavailable")
	// ErrClosed reports a call on a closed Writer.
	ErrClosed = errors.New("graphite: closed")
)

func newError(kind error, format string, args ...any) error {
	return errs.New("graphite", kind, format, args...)
}

func wrapError(kind, cause error, format string, args ...any) error {
	return errs.Wrap("graphite", kind, cause, format, args...)
}
