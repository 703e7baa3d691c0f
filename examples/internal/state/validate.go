package state

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"path"
	"strconv"
	"strings"

	"github.com/shoalkit/shoal/internal/errs"
)

// ErrInvalid reports a value that is malformed or breaks a rule; the message
// names the field.
var ErrInvalid = errors.New("state: invalid")

// Limits of a valid Instance.
const (
	// MinMemoryBytes is the smallest memory limit a container can start
	// with (the runtime and the init process need about this much).
	MinMemoryBytes = 6 << 20
	// MaxCPUs bounds Resources.CPUs.
	MaxCPUs = 1024
	// MinVolumeBytes and MaxVolumeBytes bound Volume.SizeBytes.
	MinVolumeBytes = 1 << 20
	MaxVolumeBytes = 16 << 40
	// MaxNameLen bounds ids, app and node names (a DNS label).
	MaxNameLen = 63
	maxListLen = 256
	maxStrLen  = 4096
)

func invalid(format string, args ...any) error {
	return errs.New("state", ErrInvalid, format, args...)
}

// FieldError is an ErrInvalid that names the field it is about, so a Failed
// status can carry it.
type FieldError struct {
	Field string
	Err   error
}

func (e *FieldError) Error() string { return e.Err.Error() }

// Unwrap returns the underlying error.
func (e *FieldError) Unwrap() error { return e.Err }

func fieldErr(field, format string, args ...any) error {
	return &FieldError{Field: field, Err: invalid("%s: "+format, append([]any{field}, args...)...)}
}

// ValidName reports whether s is a DNS label: 1..63 of a-z, 0-9 and '-',
// starting and ending with a letter or digit.
func ValidName(s string) bool {
	if len(s) == 0 || len(s) > MaxNameLen || s[0] == '-' || s[len(s)-1] == '-' {
		return false
	}
	for i := range len(s) {
		c := s[i]
		if (c < 'a' || c > 'z') && (c < '0' || c > '9') && c != '-' {
			return false
		}
	}
	return true
}

// printable reports whether s has no control characters (newlines, NUL).
func printable(s string) bool {
	return !strings.ContainsFunc(s, func(r rune) bool { return r < 0x20 || r == 0x7f })
}

// Validate checks every field of an Instance; the error names the first
// field that is wrong.
func (in *Instance) Validate() error {
	for _, f := range []struct{ name, v string }{{"id", in.ID}, {"app", in.App}, {"node", in.Node}} {
		if !ValidName(f.v) {
			return fieldErr(f.name, "%q is not a name (1..63 of a-z, 0-9, '-')", f.v)
		}
	}
	switch {
	case in.Generation < 1:
		return fieldErr("generation", "%d, want ≥ 1", in.Generation)
	case len(in.RequestID) > 128 || !printable(in.RequestID):
		return fieldErr("request_id", "%d bytes or control characters", len(in.RequestID))
	case in.Image == "" || len(in.Image) > 512 || !printable(in.Image) || strings.ContainsAny(in.Image, " \t"):
		return fieldErr("image", "%q is not an image reference", in.Image)
	case len(in.Command) > maxListLen || len(in.Env) > maxListLen:
		return fieldErr("command", "more than %d arguments or variables", maxListLen)
	}
	for i, a := range in.Command {
		if len(a) > maxStrLen || strings.ContainsRune(a, 0) {
			return fieldErr(fmt.Sprintf("command[%d]", i), "NUL or longer than %d bytes", maxStrLen)
		}
	}
	for i, e := range in.Env {
		k, _, ok := strings.Cut(e, "=")
		if !ok || k == "" || len(e) > maxStrLen || strings.ContainsRune(e, 0) {
			return fieldErr(fmt.Sprintf("env[%d]", i), "%.40q is not KEY=VALUE", e)
		}
	}
	if err := validUser(in.User); err != nil {
		return err
	}
	if err := in.Resources.validate(); err != nil {
		return err
	}
	switch in.Kind {
	case Fat:
		if in.Network == nil {
			return fieldErr("network", "a fat instance needs a VLAN and an IP")
		}
		if err := in.Network.validate(); err != nil {
			return err
		}
	case Thin:
		if in.Network != nil {
			return fieldErr("network", "a thin instance uses the host's network and takes none")
		}
	default:
		return fieldErr("kind", "%q, want %q or %q", in.Kind, Fat, Thin)
	}
	if in.Volume != nil {
		if err := in.Volume.validate(); err != nil {
			return err
		}
	}
	return validBinds(in.Binds)
}

func validUser(u string) error {
	if u == "" {
		return nil
	}
	parts := strings.Split(u, ":")
	for _, p := range parts {
		if n, err := strconv.ParseUint(p, 10, 32); len(parts) > 2 || err != nil || n == math.MaxUint32 {
			return fieldErr("user", "%q, want UID or UID:GID", u)
		}
	}
	return nil
}

func (r *Resources) validate() error {
	switch {
	case math.IsNaN(r.CPUs) || r.CPUs < 0 || r.CPUs > MaxCPUs:
		return fieldErr("resources.cpus", "%v outside 0..%d", r.CPUs, MaxCPUs)
	case r.CPUs > 0 && r.CPUs < 0.01:
		return fieldErr("resources.cpus", "%v below 0.01 (a 1 ms quota per 100 ms period)", r.CPUs)
	case r.CPUWeight > 10000:
		return fieldErr("resources.cpu_weight", "%d outside 1..10000", r.CPUWeight)
	case r.MemoryBytes < 0 || (r.MemoryBytes > 0 && r.MemoryBytes < MinMemoryBytes):
		return fieldErr("resources.memory_bytes", "%d below the runtime's floor %d", r.MemoryBytes, MinMemoryBytes)
	case r.PIDs < 0 || r.PIDs > 1<<22:
		return fieldErr("resources.pids", "%d outside 1..%d", r.PIDs, 1<<22)
	case r.IOWeight != 0 && (r.IOWeight < 10 || r.IOWeight > 1000):
		return fieldErr("resources.io_weight", "%d outside 10..1000", r.IOWeight)
	case len(r.Devices) > 64:
		return fieldErr("resources.devices", "%d devices, at most 64", len(r.Devices))
	case r.CPUSet != "" && (len(r.CPUSet) > 256 || strings.Trim(r.CPUSet, "0123456789,-") != ""):
		return fieldErr("resources.cpuset", "%q is not a CPU list", r.CPUSet)
	}
	for i, d := range r.Devices {
		maj, minor, ok := strings.Cut(d.Device, ":")
		_, e1 := strconv.ParseUint(maj, 10, 32)
		_, e2 := strconv.ParseUint(minor, 10, 32)
		if !ok || e1 != nil || e2 != nil {
			return fieldErr(fmt.Sprintf("resources.devices[%d].device", i), "%q, want MAJOR:MINOR", d.Device)
		}
	}
	return nil
}

func (n *Network) validate() error {
	switch {
	case n.VLAN < 1 || n.VLAN > 4094:
		return fieldErr("network.vlan", "%d out of range 1..4094", n.VLAN)
	case !n.IP.IsValid() || !n.IP.Addr().Is4() || n.IP.Bits() < 8 || n.IP.Bits() > 30:
		return fieldErr("network.ip", "%v, want an IPv4 address with a prefix of /8../30", n.IP)
	case n.Gateway.IsValid() && (!n.IP.Masked().Contains(n.Gateway) || n.Gateway == n.IP.Addr()):
		return fieldErr("network.gateway", "%v is not another address of %v", n.Gateway, n.IP.Masked())
	}
	return nil
}

func (v *Volume) validate() error {
	switch {
	case v.SizeBytes < MinVolumeBytes || v.SizeBytes > MaxVolumeBytes:
		return fieldErr("volume.size_bytes", "%d outside %d..%d", v.SizeBytes, MinVolumeBytes, int64(MaxVolumeBytes))
	case !path.IsAbs(v.Mount) || path.Clean(v.Mount) != v.Mount || v.Mount == "/" || len(v.Mount) > 256 || !printable(v.Mount):
		return fieldErr("volume.mount", "%q, want a clean absolute path other than /", v.Mount)
	case strings.HasPrefix(v.Mount, "/proc") || strings.HasPrefix(v.Mount, "/sys") || strings.HasPrefix(v.Mount, "/dev"):
		return fieldErr("volume.mount", "%q is under /proc, /sys or /dev", v.Mount)
	}
	return nil
}

// Decode reads a JSON value of at most MaxValueBytes into v, refusing
// trailing data, and validates it when it has Validate. Unknown fields are
// ignored, so an older agent reads what a newer controller writes.
func Decode(data []byte, v any) error {
	if len(data) > MaxValueBytes {
		return invalid("value of %d bytes, at most %d", len(data), MaxValueBytes)
	}
	dec := json.NewDecoder(bytes.NewReader(data))
	if err := dec.Decode(v); err != nil {
		return errs.Wrap("state", ErrInvalid, err, "malformed %T", v)
	}
	if dec.More() {
		return invalid("trailing data after %T", v)
	}
	if val, ok := v.(interface{ Validate() error }); ok {
		return val.Validate()
	}
	return nil
}
