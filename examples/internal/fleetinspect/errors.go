package fleetinspect

import (
	"errors"

	"github.com/shoalkit/shoal/internal/errs"
)

// Sentinel kinds, matched with errors.Is.
var (
	// ErrInvalid: a malformed or oversize value, a bad argument.
	ErrInvalid = errors.New("fleetinspect: invalid")
	// ErrNotFound: no spec or report stored yet.
	ErrNotFound = errors.New("fleetinspect: not found")
	// ErrConflict: a spec whose version does not follow the stored one, or
	// a write that lost a race with another writer.
	ErrConflict = errors.New("fleetinspect: conflict")
	// ErrUnavailable: etcd, serf or an HTTP listener failed.
	ErrUnavailable = errors.New("fleetinspect: unavailable")
)

func newError(kind error, format string, args ...any) error {
	return errs.New("fleetinspect", kind, format, args...)
}

func wrapError(kind, cause error, format string, args ...any) error {
	return errs.Wrap("fleetinspect", kind, cause, format, args...)
}
