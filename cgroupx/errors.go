package cgroupx

import "errors"

// Sentinel errors. Every error returned by this package wraps one of them
// (or an error from the operating system), so callers can tell bad input,
// a missing cgroup and a host that lacks a feature apart with errors.Is.
var (
	// ErrNotFound reports a cgroup, process or file that does not exist.
	ErrNotFound = errors.New("cgroupx: not found")
	// ErrInvalid reports bad input: a malformed file under /proc or /sys,
	// a path outside the hierarchy, a value out of range.
	ErrInvalid = errors.New("cgroupx: invalid")
	// ErrUnsupported reports a controller or knob the host does not have.
	ErrUnsupported = errors.New("cgroupx: unsupported")
	// ErrClosed reports the use of a KeepOpen handle after Close.
	ErrClosed = errors.New("cgroupx: cgroup handle closed")
)
