package autoscale

import (
	"errors"
	"fmt"

	"github.com/shoalkit/shoal/internal/errs"
)

// ErrInvalid marks a configuration or an observation that cannot be used:
// a NaN, negative or missing target, min above max, an unknown metric kind,
// a missing MaxReplicas. The message names the field:
// "autoscale: MaxReplicas: required (...)".
var ErrInvalid = errors.New("autoscale: invalid input")

// ErrUnreadable marks a metric that could not be read in one decision (no
// sample from any counted instance, a NaN or negative sample, a sample
// without its request). It is reported per metric in [MetricProposal.Err];
// it blocks a scale-in but not a scale-out.
var ErrUnreadable = errors.New("autoscale: metric unreadable")

// newError returns an error of the given kind whose message is
// "autoscale: " + fmt.Sprintf(format, args...).
func newError(kind error, format string, args ...any) error {
	return errs.New("autoscale", kind, format, args...)
}

// invalid returns an ErrInvalid naming field: "autoscale: FIELD: what".
func invalid(field, format string, args ...any) error {
	return errs.New("autoscale", ErrInvalid, "%s: %s", field, fmt.Sprintf(format, args...))
}

// unreadable returns an ErrUnreadable for MetricProposal.Err.
func unreadable(format string, args ...any) error {
	return newError(ErrUnreadable, format, args...)
}

// message returns err's text without the package prefix, for embedding in
// an explanation.
func message(err error) string {
	var e *errs.Error
	if errors.As(err, &e) && e.Pkg == "autoscale" && e.Cause == nil {
		return e.Msg
	}
	return err.Error()
}
