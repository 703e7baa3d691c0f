package state

import (
	"fmt"
	"path"
	"strings"
)

// MaxBinds bounds Instance.Binds.
const MaxBinds = 16

// Bind is a directory of the node bound into an instance (a shared tool
// tree, a log directory). The agent binds only paths under the volume
// roots it is configured with; anything else fails the instance naming
// the field.
type Bind struct {
	// HostPath is the node's directory, a clean absolute path.
	HostPath string `json:"host_path"`
	// Mount is where it appears in the container.
	Mount string `json:"mount"`
	// ReadOnly binds it read-only.
	ReadOnly bool `json:"read_only,omitempty"`
}

// validBinds checks the binds' form; which host paths are allowed is the
// agent's to say.
func validBinds(binds []Bind) error {
	if len(binds) > MaxBinds {
		return fieldErr("binds", "%d binds, at most %d", len(binds), MaxBinds)
	}
	clean := func(p string) bool {
		return path.IsAbs(p) && path.Clean(p) == p && p != "/" && len(p) <= 256 && printable(p)
	}
	for i, b := range binds {
		field := fmt.Sprintf("binds[%d]", i)
		switch {
		case !clean(b.HostPath):
			return fieldErr(field+".host_path", "%q, want a clean absolute path other than /", b.HostPath)
		case !clean(b.Mount):
			return fieldErr(field+".mount", "%q, want a clean absolute path other than /", b.Mount)
		case strings.HasPrefix(b.Mount, "/proc") || strings.HasPrefix(b.Mount, "/sys") || strings.HasPrefix(b.Mount, "/dev"):
			return fieldErr(field+".mount", "%q is under /proc, /sys or /dev", b.Mount)
		}
	}
	return nil
}
