package predict

import (
	"errors"

	"github.com/shoalkit/shoal/internal/errs"
)

// Sentinel errors; every error predict returns wraps one of them.
var (
	// ErrInvalid reports bad input: a series too short or out of order, a
	// configuration value out of range, a malformed Prometheus answer.
	ErrInvalid = errors.New("predict: invalid")
	// ErrUnavailable reports a series source that failed or did not answer.
	ErrUnavailable = errors.New("predict: unavailable")
)

func newError(kind error, format string, args ...any) error {
	return errs.New("predict", kind, format, args...)
}

func wrapError(kind, cause error, format string, args ...any) error {
	return errs.Wrap("predict", kind, cause, format, args...)
}
