package netvlan

import (
	"errors"

	"github.com/shoalkit/shoal/internal/errs"
)

// Sentinel errors. Every error netvlan returns wraps one of them, so a caller
// can tell bad input, a missing object, a conflict, an exhausted pool and a
// failed dependency apart with errors.Is.
var (
	// ErrInvalid reports bad input: a VLAN outside 1..4094, a malformed CIDR,
	// overlapping pools, a bad hostname rule.
	ErrInvalid = errors.New("netvlan: invalid")
	// ErrNotFound reports a bridge, namespace, link or port that does not exist.
	ErrNotFound = errors.New("netvlan: not found")
	// ErrConflict reports a container id or address that is already in use.
	ErrConflict = errors.New("netvlan: conflict")
	// ErrExhausted reports an address pool with no free address left.
	ErrExhausted = errors.New("netvlan: exhausted")
	// ErrUnavailable reports a dependency that failed or did not answer in
	// time: ovsdb-server, ovs-vswitchd, the kernel.
	ErrUnavailable = errors.New("netvlan: unavailable")
	// ErrClosed reports a call on a closed Switch.
	ErrClosed = errors.New("netvlan: closed")
)

// newError returns an error of the given kind whose message is
// "netvlan: " + fmt.Sprintf(format, args...).
func newError(kind error, format string, args ...any) error {
	return errs.New("netvlan", kind, format, args...)
}

// wrapError is newError with a cause, appended to the message and matched by
// errors.Is and errors.As as well as the kind.
func wrapError(kind, cause error, format string, args ...any) error {
	return errs.Wrap("netvlan", kind, cause, format, args...)
}
