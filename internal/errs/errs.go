// Package errs gives every Shoal package one error shape: the package prefix
// once, what was wrong with which value, then the cause; and a kind (a
// package's sentinel such as ErrInvalid) that errors.Is matches.
//
//	return errs.New("netvlan", ErrInvalid, "vlan %d out of range 1..4094", id)
//	// netvlan: vlan 5000 out of range 1..4094
//	return errs.Wrap("imagefs", ErrNotFound, err, "layer %s", id)
//	// imagefs: layer sha256:…: open …: no such file or directory
//
// Each package keeps its own sentinels (their text is never printed by an
// Error: the message says what was wrong, the kind says which class it is)
// and two small unexported functions that call New and Wrap with its name.
package errs

import (
	"errors"
	"fmt"
	"strings"
)

// Error is an error of one kind with a message that names the problem, and
// optionally the error that caused it.
type Error struct {
	// Pkg is the package's name, printed once at the start.
	Pkg string
	// Kind is the package's sentinel; errors.Is(err, Kind) is true.
	Kind error
	// Msg says what was wrong and with which value.
	Msg string
	// Cause is the underlying error, or nil; errors.Is and errors.As see it.
	Cause error
}

// Error returns "pkg: msg" or "pkg: msg: cause". A cause from the same
// package loses its own prefix, so the prefix appears exactly once.
func (e *Error) Error() string {
	prefix := e.Pkg + ": "
	if e.Cause == nil {
		return prefix + e.Msg
	}
	return prefix + e.Msg + ": " + strings.TrimPrefix(e.Cause.Error(), prefix)
}

// Unwrap returns the kind and, when there is one, the cause.
func (e *Error) Unwrap() []error {
	if e.Cause == nil {
		return []error{e.Kind}
	}
	return []error{e.Kind, e.Cause}
}

// New returns an error of the given kind whose message is
// pkg + ": " + fmt.Sprintf(format, args...).
func New(pkg string, kind error, format string, args ...any) error {
	return &Error{Pkg: pkg, Kind: kind, Msg: fmt.Sprintf(format, args...)}
}

// Wrap is New with a cause, appended to the message and matched by errors.Is
// and errors.As as well as the kind. A nil cause gives New's error.
func Wrap(pkg string, kind, cause error, format string, args ...any) error {
	return &Error{Pkg: pkg, Kind: kind, Msg: fmt.Sprintf(format, args...), Cause: cause}
}

// CheckShape reports what is wrong with err's shape for package pkg, or nil:
// err must match one of kinds with errors.Is, its message must start with
// "pkg: " and contain that prefix once, and it must not print a kind's own
// text (as "%w: ..." with a sentinel does: "cgroupx: pid -1: cgroupx: invalid").
// Packages use it in a table test over their error paths.
func CheckShape(err error, pkg string, kinds ...error) error {
	if err == nil {
		return errors.New("nil error")
	}
	msg := err.Error()
	var problems []string
	if !strings.HasPrefix(msg, pkg+": ") {
		problems = append(problems, fmt.Sprintf("does not start with %q", pkg+": "))
	}
	if n := strings.Count(msg, pkg+": "); n > 1 {
		problems = append(problems, fmt.Sprintf("has the prefix %q %d times", pkg+": ", n))
	}
	matched := false
	for _, k := range kinds {
		if errors.Is(err, k) {
			matched = true
		}
		if strings.Contains(msg, k.Error()) && msg != k.Error() {
			problems = append(problems, fmt.Sprintf("prints the kind's text %q", k.Error()))
		}
	}
	if !matched {
		problems = append(problems, "matches none of the package's kinds")
	}
	if len(problems) > 0 {
		return fmt.Errorf("error %q %s", msg, strings.Join(problems, "; "))
	}
	return nil
}
