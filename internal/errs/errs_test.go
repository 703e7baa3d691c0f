package errs_test

import (
	"errors"
	"fmt"
	"io/fs"
	"testing"

	"github.com/shoalkit/shoal/internal/errs"
)

var (
	errInvalid  = errors.New("pkg: invalid")
	errNotFound = errors.New("pkg: not found")
)

func TestShape(t *testing.T) {
	inner := errs.New("pkg", errNotFound, "layer %s", "a")
	tests := []struct {
		name    string
		err     error
		want    string
		kind    error
		cause   error
		shapeOK bool
	}{
		{"plain", errs.New("pkg", errInvalid, "vlan %d out of range 1..4094", 5000), "pkg: vlan 5000 out of range 1..4094", errInvalid, nil, true},
		{"with cause", errs.Wrap("pkg", errNotFound, fs.ErrNotExist, "open %q", "/x"), `pkg: open "/x": file does not exist`, errNotFound, fs.ErrNotExist, true},
		{"same-package cause loses its prefix", errs.Wrap("pkg", errInvalid, inner, "image %s", "b"), "pkg: image b: layer a", errInvalid, errNotFound, true},
		{"nil cause", errs.Wrap("pkg", errInvalid, nil, "x"), "pkg: x", errInvalid, nil, true},
		{"sentinel printed", fmt.Errorf("pkg: pid -1: %w", errInvalid), "pkg: pid -1: pkg: invalid", errInvalid, nil, false},
		{"no prefix", fmt.Errorf("bad: %w", errs.New("other", errInvalid, "x")), "bad: other: x", errInvalid, nil, false},
		{"no kind", errors.New("pkg: x"), "pkg: x", nil, nil, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := tt.err.Error(); got != tt.want {
				t.Errorf("Error() = %q, want %q", got, tt.want)
			}
			if tt.kind != nil && !errors.Is(tt.err, tt.kind) {
				t.Errorf("errors.Is(err, %v) = false", tt.kind)
			}
			if tt.cause != nil && !errors.Is(tt.err, tt.cause) {
				t.Errorf("errors.Is(err, cause %v) = false", tt.cause)
			}
			err := errs.CheckShape(tt.err, "pkg", errInvalid, errNotFound)
			if (err == nil) != tt.shapeOK {
				t.Errorf("CheckShape = %v, want ok=%v", err, tt.shapeOK)
			}
		})
	}
}

func TestAs(t *testing.T) {
	var pe *fs.PathError
	err := errs.Wrap("pkg", errNotFound, &fs.PathError{Op: "open", Path: "/x", Err: fs.ErrNotExist}, "layer")
	if !errors.As(err, &pe) || pe.Path != "/x" {
		t.Fatalf("errors.As did not find the cause: %v", err)
	}
	var e *errs.Error
	if !errors.As(err, &e) || !errors.Is(e.Kind, errNotFound) || e.Msg != "layer" {
		t.Fatalf("errors.As(*errs.Error) = %+v", e)
	}
}

func ExampleNew() {
	errInvalid := errors.New("netvlan: invalid")
	err := errs.New("netvlan", errInvalid, "vlan %d out of range 1..4094", 5000)
	fmt.Println(err, errors.Is(err, errInvalid))
	// Output: netvlan: vlan 5000 out of range 1..4094 true
}
