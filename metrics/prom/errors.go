package prom

import (
	"errors"

	"github.com/shoalkit/shoal/internal/errs"
)

// Sentinel errors. Every error prom returns wraps one of them.
var (
	// ErrInvalid reports bad input: a nil source, a bad Config value.
	ErrInvalid = errors.New("prom: invalid")
	// ErrConflict reports a registry that already has these metrics.
	ErrConflict = errors.New("prom: conflict")
)

func newError(kind error, format string, args ...any) error {
	return errs.New("prom", kind, format, args...)
}

func wrapError(kind, cause error, format string, args ...any) error {
	return errs.Wrap("prom", kind, cause, format, args...)
}
