package inspect

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"maps"
	"regexp"
	"strconv"
	"strings"
	"time"
)

// Limits on a spec, so that a spec from the config center cannot size a
// buffer or a loop without bound.
const (
	// MaxChecks is the most checks a spec may hold. The verdict bitmap of
	// MaxChecks checks still fits serf's 1,024-byte reply.
	MaxChecks = 4096
	// MaxSpecBytes is the largest spec document ParseSpec accepts.
	MaxSpecBytes = 4 << 20
	maxIDLen     = 64
	maxArgs      = 64
)

// Kind is what a check looks at.
type Kind string

// The kinds of check. Key, Want and Op mean, per kind:
const (
	// KindSysctl reads /proc/sys/<Key with dots as slashes>; fixable by
	// writing Fix.Sysctl there.
	KindSysctl Kind = "sysctl"
	// KindKernel reads the kernel release (/proc/sys/kernel/osrelease).
	KindKernel Kind = "kernel"
	// KindOS reads field Key (default VERSION_ID) of /etc/os-release.
	KindOS Kind = "os"
	// KindPackage asks dpkg-query for the installed version of package Key.
	KindPackage Kind = "package"
	// KindBinary runs Args and compares the first line of its output.
	KindBinary Kind = "binary"
	// KindFileHash compares the SHA-256 (hex) of file Key.
	KindFileHash Kind = "filehash"
	// KindProcess counts processes whose command name is Key (Want
	// defaults to ">= 1", Op to ge).
	KindProcess Kind = "process"
	// KindMount compares the filesystem type mounted at Key (Want "" means
	// any: the mount must exist).
	KindMount Kind = "mount"
	// KindDiskFree compares the free bytes (or, when Want ends in %, the
	// free percentage) of the filesystem holding Key; Op defaults to ge.
	KindDiskFree Kind = "diskfree"
	// KindHardware compares a hardware fact Key: "cpus" or "memtotal"
	// (bytes), or "/sys/..." a file such as a driver version.
	KindHardware Kind = "hardware"
	// KindKernelLog fails when a kernel-log line of the last Window matches
	// the regular expression Key (OOM kills, hung tasks).
	KindKernelLog Kind = "kernellog"
	// KindCommand runs Args; it passes when the command exits 0 and, if Want
	// is set, its output's first line compares with Want.
	KindCommand Kind = "command"
)

// known reports whether k is one of the kinds above.
func (k Kind) known() bool {
	switch k {
	case KindSysctl, KindKernel, KindOS, KindPackage, KindBinary, KindFileHash,
		KindProcess, KindMount, KindDiskFree, KindHardware, KindKernelLog, KindCommand:
		return true
	}
	return false
}

// Op compares an observed value with the wanted one.
type Op string

// The comparisons. Ge and Le compare numbers, sizes ("10GiB") or dotted
// versions ("5.10.0-28"), whichever both sides parse as.
const (
	OpEq     Op = "eq" // equal after trimming space (the default)
	OpNe     Op = "ne"
	OpGe     Op = "ge"
	OpLe     Op = "le"
	OpMatch  Op = "match" // Want is a regular expression
	OpPrefix Op = "prefix"
)

// Duration is a time.Duration written as "5s" in JSON.
type Duration time.Duration

// MarshalJSON writes the duration as a string.
func (d Duration) MarshalJSON() ([]byte, error) { return json.Marshal(time.Duration(d).String()) }

// UnmarshalJSON reads "5s" or a number of nanoseconds.
func (d *Duration) UnmarshalJSON(b []byte) error {
	var s string
	if err := json.Unmarshal(b, &s); err != nil {
		var n int64
		if err := json.Unmarshal(b, &n); err != nil {
			return newError(ErrInvalid, "duration %s: want a string such as \"5s\"", b)
		}
		*d = Duration(n)
		return nil
	}
	v, err := time.ParseDuration(s)
	if err != nil {
		return wrapError(ErrInvalid, err, "duration %q", s)
	}
	*d = Duration(v)
	return nil
}

// Fix is how a failed check is repaired. It runs only when asked by an
// authenticated request, never as part of an inspection.
type Fix struct {
	// Sysctl is the value a sysctl check's key is set to.
	Sysctl string `json:"sysctl,omitempty"`
	// Command is run (argv, no shell) to repair the check.
	Command []string `json:"command,omitempty"`
}

// Check is one item of the desired state.
type Check struct {
	// ID names the check: 1..64 of [a-zA-Z0-9._-], unique in the spec.
	ID   string `json:"id"`
	Kind Kind   `json:"kind"`
	// Select limits the check to nodes whose tags have every value given
	// (zone, role, rack...); empty selects every node.
	Select map[string]string `json:"select,omitempty"`
	Key    string            `json:"key,omitempty"`
	Want   string            `json:"want,omitempty"`
	Op     Op                `json:"op,omitempty"`
	Args   []string          `json:"args,omitempty"`
	// Window is how far back a kernellog check looks (default 10m).
	Window Duration `json:"window,omitempty"`
	// Timeout bounds the check (default: the agent's CheckTimeout).
	Timeout Duration `json:"timeout,omitempty"`
	Fix     *Fix     `json:"fix,omitempty"`
}

// Spec is a versioned desired state: the checks, in a fixed order that the
// verdict bitmap indexes.
type Spec struct {
	// Version increases with every change; 0 means "no spec".
	Version uint64  `json:"version"`
	Checks  []Check `json:"checks"`

	index map[string]int
}

var idPattern = regexp.MustCompile(`^[a-zA-Z0-9._-]{1,64}$`)

// ParseSpec reads a JSON spec and validates it.
func ParseSpec(b []byte) (*Spec, error) {
	if len(b) > MaxSpecBytes {
		return nil, newError(ErrInvalid, "spec of %d bytes exceeds %d", len(b), MaxSpecBytes)
	}
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	var s Spec
	if err := dec.Decode(&s); err != nil {
		return nil, wrapError(ErrInvalid, err, "spec")
	}
	if err := s.Validate(); err != nil {
		return nil, err
	}
	return &s, nil
}

// Validate checks the spec and indexes its checks; a Spec must be
// validated before use (ParseSpec does it).
func (s *Spec) Validate() error {
	if s.Version == 0 {
		return newError(ErrInvalid, "spec version 0: versions start at 1")
	}
	if len(s.Checks) > MaxChecks {
		return newError(ErrInvalid, "spec version %d has %d checks, more than %d", s.Version, len(s.Checks), MaxChecks)
	}
	idx := make(map[string]int, len(s.Checks))
	for i := range s.Checks {
		c := &s.Checks[i]
		if err := c.validate(); err != nil {
			return err
		}
		if _, dup := idx[c.ID]; dup {
			return newError(ErrInvalid, "check id %q appears twice", c.ID)
		}
		idx[c.ID] = i
	}
	s.index = idx
	return nil
}

func (c *Check) validate() error {
	if !idPattern.MatchString(c.ID) {
		return newError(ErrInvalid, "check id %q: want 1..%d of [a-zA-Z0-9._-]", c.ID, maxIDLen)
	}
	if !c.Kind.known() {
		return newError(ErrInvalid, "check %s: unknown kind %q", c.ID, c.Kind)
	}
	switch c.Op {
	case "", OpEq, OpNe, OpGe, OpLe, OpPrefix:
	case OpMatch:
		if _, err := regexp.Compile(c.Want); err != nil {
			return wrapError(ErrInvalid, err, "check %s: want %q", c.ID, c.Want)
		}
	default:
		return newError(ErrInvalid, "check %s: unknown op %q", c.ID, c.Op)
	}
	if c.Timeout < 0 || c.Window < 0 {
		return newError(ErrInvalid, "check %s: negative timeout or window", c.ID)
	}
	if len(c.Args) > maxArgs || (c.Fix != nil && len(c.Fix.Command) > maxArgs) {
		return newError(ErrInvalid, "check %s: more than %d arguments", c.ID, maxArgs)
	}
	needKey := map[Kind]bool{
		KindSysctl: true, KindPackage: true, KindFileHash: true, KindProcess: true,
		KindMount: true, KindDiskFree: true, KindHardware: true, KindKernelLog: true,
	}
	if needKey[c.Kind] && c.Key == "" {
		return newError(ErrInvalid, "check %s: kind %s needs a key", c.ID, c.Kind)
	}
	if (c.Kind == KindCommand || c.Kind == KindBinary) && len(c.Args) == 0 {
		return newError(ErrInvalid, "check %s: kind %s needs args", c.ID, c.Kind)
	}
	if c.Kind == KindSysctl && (strings.ContainsAny(c.Key, "/\x00") || strings.Contains(c.Key, "..")) {
		return newError(ErrInvalid, "check %s: sysctl key %q", c.ID, c.Key)
	}
	if c.Kind == KindKernelLog {
		if _, err := regexp.Compile(c.Key); err != nil {
			return wrapError(ErrInvalid, err, "check %s: pattern %q", c.ID, c.Key)
		}
	}
	if f := c.Fix; f != nil {
		switch {
		case f.Sysctl != "" && c.Kind != KindSysctl:
			return newError(ErrInvalid, "check %s: a sysctl fix on a %s check", c.ID, c.Kind)
		case f.Sysctl == "" && len(f.Command) == 0:
			return newError(ErrInvalid, "check %s: empty fix", c.ID)
		}
	}
	return nil
}

// Index returns the position of the check with the given id.
func (s *Spec) Index(id string) (int, bool) {
	i, ok := s.index[id]
	return i, ok
}

// Selects reports whether check i applies to a node with the given tags.
func (s *Spec) Selects(i int, tags map[string]string) bool {
	for k, v := range s.Checks[i].Select {
		if tags[k] != v {
			return false
		}
	}
	return true
}

// Hash returns a short digest of the spec's content (version included),
// gossiped as a tag so that a node holding another spec shows without a
// query.
func (s *Spec) Hash() string {
	b, _ := json.Marshal(struct {
		V uint64  `json:"v"`
		C []Check `json:"c"`
	}{s.Version, s.Checks}) // maps marshal sorted: the digest is stable
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:6])
}

// SpecTag is the serf tag that carries "<version>:<hash>" of the spec a
// node holds.
const SpecTag = "inspect-spec"

// specTagValue is SpecTag's value for s (nil: "0").
func specTagValue(s *Spec) string {
	if s == nil {
		return "0"
	}
	return strconv.FormatUint(s.Version, 10) + ":" + s.Hash()
}

// copyTags returns a copy of tags with SpecTag set for s.
func copyTags(tags map[string]string, s *Spec) map[string]string {
	out := maps.Clone(tags)
	if out == nil {
		out = map[string]string{}
	}
	out[SpecTag] = specTagValue(s)
	return out
}

// String names the spec for logs.
func (s *Spec) String() string {
	return fmt.Sprintf("spec v%d (%d checks, %s)", s.Version, len(s.Checks), s.Hash())
}
