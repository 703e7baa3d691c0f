package netvlan

import (
	"errors"
	"fmt"
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

// kindError is an error of one of the sentinel kinds with a message that
// names the problem, and optionally the error that caused it.
type kindError struct {
	kind  error
	msg   string
	cause error
}

func (e *kindError) Error() string {
	if e.cause == nil {
		return "netvlan: " + e.msg
	}
	return "netvlan: " + e.msg + ": " + e.cause.Error()
}

func (e *kindError) Unwrap() []error {
	if e.cause == nil {
		return []error{e.kind}
	}
	return []error{e.kind, e.cause}
}

// newError returns an error of the given kind whose message is
// "netvlan: " + fmt.Sprintf(format, args...).
func newError(kind error, format string, args ...any) error {
	return &kindError{kind: kind, msg: fmt.Sprintf(format, args...)}
}

// wrapError is newError with a cause, appended to the message and matched by
// errors.Is and errors.As as well as the kind.
func wrapError(kind, cause error, format string, args ...any) error {
	return &kindError{kind: kind, msg: fmt.Sprintf(format, args...), cause: cause}
}
