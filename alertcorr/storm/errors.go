package storm

import (
	"errors"

	"github.com/shoalkit/shoal/internal/errs"
)

// ErrInvalid reports a Config that cannot describe a storm: a negative
// count, a missing share outside 0..1, more faults than disjoint hosts.
var ErrInvalid = errors.New("storm: invalid")

// newError returns an error of the given kind whose message is
// "storm: " + fmt.Sprintf(format, args...).
func newError(kind error, format string, args ...any) error {
	return errs.New("storm", kind, format, args...)
}
