package cgroupx

import (
	"bufio"
	"errors"
	"io"
	"strconv"
	"strings"
)

// Mode is the cgroup layout of a host.
type Mode int

// The layouts a host can have.
const (
	// ModeUnknown means no cgroup file system is mounted.
	ModeUnknown Mode = iota
	// ModeV1 is the legacy layout: one hierarchy per controller, no cgroup2.
	ModeV1
	// ModeHybrid has the controllers on v1 hierarchies and a cgroup2
	// hierarchy beside them (systemd's "hybrid"), which carries pressure (PSI)
	// files and any controller not bound to v1.
	ModeHybrid
	// ModeV2 is the unified layout: one cgroup2 hierarchy, no v1 controllers.
	ModeV2
)

// String returns "unknown", "v1", "hybrid" or "v2".
func (m Mode) String() string {
	switch m {
	case ModeV1:
		return "v1"
	case ModeHybrid:
		return "hybrid"
	case ModeV2:
		return "v2"
	default:
		return "unknown"
	}
}

// Mount is one line of /proc/<pid>/mountinfo.
type Mount struct {
	// Root is the path inside the file system that is mounted (for a cgroup
	// file system: the cgroup that appears at MountPoint, "/" unless the
	// mount was made inside a cgroup namespace).
	Root string
	// MountPoint is where it is mounted, relative to the process's root.
	MountPoint string
	// FSType is the file system type, such as "cgroup" or "cgroup2".
	FSType string
	// Source is the mount source.
	Source string
	// SuperOptions are the per-superblock options; for a v1 cgroup mount
	// they name the controllers ("rw,cpu,cpuacct").
	SuperOptions []string
}

// Controllers returns the v1 controllers bound to a "cgroup" mount (the
// named hierarchy "name=systemd" included as "name=systemd"), or nil for
// any other file system.
func (m Mount) Controllers() []string {
	if m.FSType != "cgroup" {
		return nil
	}
	var out []string
	for _, o := range m.SuperOptions {
		switch {
		case o == "rw" || o == "ro" || o == "noprefix" || o == "clone_children" || o == "xattr" || o == "cpuset_v2_mode" || o == "favordynmods":
		case strings.HasPrefix(o, "release_agent="):
		default:
			out = append(out, o)
		}
	}
	return out
}

// ParseMountinfo parses the /proc/<pid>/mountinfo format (proc(5)).
// Octal escapes in paths (\040 for a space) are decoded.
func ParseMountinfo(r io.Reader) ([]Mount, error) {
	var mounts []Mount
	sc := newLineScanner(r)
	line := 0
	for sc.Scan() {
		line++
		text := sc.Text()
		if strings.TrimSpace(text) == "" {
			continue
		}
		fields := strings.Fields(text)
		sep := -1
		for i := 6; i < len(fields); i++ {
			if fields[i] == "-" {
				sep = i
				break
			}
		}
		if len(fields) < 7 || sep < 0 || sep+3 > len(fields) {
			return nil, newError(ErrInvalid, "mountinfo line %d: %q", line, text)
		}
		m := Mount{
			Root:       unescapeOctal(fields[3]),
			MountPoint: unescapeOctal(fields[4]),
			FSType:     fields[sep+1],
			Source:     unescapeOctal(fields[sep+2]),
		}
		if sep+3 < len(fields) {
			m.SuperOptions = strings.Split(fields[sep+3], ",")
		}
		mounts = append(mounts, m)
	}
	if err := sc.Err(); err != nil {
		return nil, scanError(err, "mountinfo", line+1)
	}
	return mounts, nil
}

// maxLine bounds a line of mountinfo or /proc/pid/cgroup: the kernel
// writes paths of up to PATH_MAX (4 KiB) a field, so a longer line is not
// the kernel's.
const maxLine = 1 << 20

// newLineScanner returns a scanner over r whose lines may be up to maxLine.
func newLineScanner(r io.Reader) *bufio.Scanner {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 0, 4096), maxLine)
	return sc
}

// scanError is the error of a line scanner over file what, which stopped
// at line n (0 when not counted): a line over the scanner's bound is bad
// input, a failed read the reader's own error.
func scanError(err error, what string, n int) error {
	if errors.Is(err, bufio.ErrTooLong) {
		if n > 0 {
			return newError(ErrInvalid, "%s line %d too long", what, n)
		}
		return newError(ErrInvalid, "%s has a line too long", what)
	}
	return annotate(err, "reading %s", what)
}

// unescapeOctal decodes the \ooo escapes the kernel writes for space, tab,
// newline and backslash in mountinfo paths.
func unescapeOctal(s string) string {
	if !strings.Contains(s, `\`) {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] == '\\' && i+4 <= len(s) {
			if v, err := strconv.ParseUint(s[i+1:i+4], 8, 8); err == nil {
				b.WriteByte(byte(v))
				i += 3
				continue
			}
		}
		b.WriteByte(s[i])
	}
	return b.String()
}

// DetectMode tells the layout from a mount table: v1 controllers and a
// cgroup2 mount make a hybrid host.
func DetectMode(mounts []Mount) Mode {
	var v1, v2 bool
	for _, m := range mounts {
		switch m.FSType {
		case "cgroup":
			for _, c := range m.Controllers() {
				if !strings.HasPrefix(c, "name=") {
					v1 = true
				}
			}
		case "cgroup2":
			v2 = true
		}
	}
	switch {
	case v1 && v2:
		return ModeHybrid
	case v1:
		return ModeV1
	case v2:
		return ModeV2
	default:
		return ModeUnknown
	}
}

// ProcCgroup is one line of /proc/<pid>/cgroup.
type ProcCgroup struct {
	// ID is the hierarchy id; 0 is the cgroup2 hierarchy.
	ID int
	// Controllers lists the v1 controllers of the hierarchy; empty for cgroup2.
	Controllers []string
	// Path is the cgroup's path relative to the hierarchy root (as seen from
	// the reader's cgroup namespace).
	Path string
}

// ParseProcCgroup parses the /proc/<pid>/cgroup format
// ("hierarchy-id:controller-list:path" a line).
func ParseProcCgroup(r io.Reader) ([]ProcCgroup, error) {
	var out []ProcCgroup
	sc := newLineScanner(r)
	line := 0
	for sc.Scan() {
		line++
		text := sc.Text()
		if text == "" {
			continue
		}
		id, rest, ok1 := strings.Cut(text, ":")
		ctrl, path, ok2 := strings.Cut(rest, ":")
		n, err := strconv.Atoi(id)
		if !ok1 || !ok2 || err != nil || n < 0 || !strings.HasPrefix(path, "/") {
			return nil, newError(ErrInvalid, "/proc/pid/cgroup line %d: %q", line, text)
		}
		pc := ProcCgroup{ID: n, Path: path}
		if ctrl != "" {
			pc.Controllers = strings.Split(ctrl, ",")
		}
		out = append(out, pc)
	}
	if err := sc.Err(); err != nil {
		return nil, scanError(err, "/proc/pid/cgroup", line+1)
	}
	return out, nil
}
