package cgroupx

import (
	"bytes"
	"context"
	"errors"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/shoalkit/shoal/internal/decimal"

	"golang.org/x/sys/unix"
)

// Limits are the knobs of a cgroup that [Cgroup.SetLimits] writes and
// [Cgroup.Limits] reads back. A nil field is left alone (and read back as
// nil when the host lacks the knob). Values are in v1 terms; on cgroup2 they
// are converted (shares to cpu.weight, memory+swap to memory.swap.max).
type Limits struct {
	// Cpuset and Mems are CPU and memory-node lists such as "0-1,3".
	Cpuset, Mems *string
	// CPUShares is the relative CPU weight, 2..262144 (v1 cpu.shares; on v2
	// cpu.weight = 1 + (shares-2)*9999/262142).
	CPUShares *uint64
	// CPUQuota is the CFS quota in µs per CPUPeriod; -1 is unlimited.
	CPUQuota *int64
	// CPUPeriod is the CFS period in µs.
	CPUPeriod *uint64
	// Memory is the memory limit in bytes; -1 is unlimited.
	Memory *int64
	// MemorySwap is the memory+swap limit in bytes (as docker's
	// --memory-swap); -1 is unlimited.
	MemorySwap *int64
	// Pids is the process limit; -1 is unlimited.
	Pids *int64
	// BlkioWeight is the proportional block I/O weight, 1..10000
	// (blkio.weight or blkio.bfq.weight on v1, io.weight or io.bfq.weight
	// on v2). It needs the CFQ or BFQ I/O scheduler.
	BlkioWeight *uint16
	// Per-device throttles; a Rate of 0 removes the device's limit.
	ReadBPS, WriteBPS, ReadIOPS, WriteIOPS []DeviceRate
}

// DeviceRate is a throttle on one block device.
type DeviceRate struct {
	Major, Minor uint32
	Rate         uint64
}

// knobError wraps the error of writing or reading a knob: a missing file
// is a knob the host lacks.
func knobError(knob string, err error) error {
	if notFound(err) {
		return newError(ErrUnsupported, "host lacks knob %s", knob)
	}
	if errors.Is(err, unix.EINVAL) || errors.Is(err, unix.ERANGE) {
		return wrapError(ErrInvalid, err, "knob %s refused the value", knob)
	}
	return annotate(err, "knob %s", knob)
}

// writeKnob writes value to an existing cgroup file; cgroup files cannot
// be created, so a missing one is a knob the host lacks.
func writeKnob(dir, name, value string) error {
	path := filepath.Join(dir, name)
	fd, err := unix.Open(path, unix.O_WRONLY|unix.O_TRUNC|unix.O_CLOEXEC, 0)
	if err != nil {
		return knobError(name, pathError("open", path, err))
	}
	defer unix.Close(fd)
	if _, err := unix.Write(fd, []byte(value)); err != nil {
		return knobError(name, pathError("write", path, err))
	}
	return nil
}

// SetLimits writes every non-nil field of l. It stops at the first knob
// that fails; an error for a knob the host lacks wraps [ErrUnsupported] and
// names it, a value the kernel refuses wraps [ErrInvalid].
//
// Which files are written is decided once per controller, by the hierarchy
// it is on (v1Knobs or v2Knobs); the order of the writes is the one each
// version needs (on v1 the CFS period before the quota, memory and
// memory+swap in whichever order keeps the pair valid).
func (c *Cgroup) SetLimits(ctx context.Context, l Limits) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	steps := []struct {
		controller, knob string // knob names the controller in errors
		wanted           bool
		set              func(k knobs, dir string, l Limits) error
	}{
		{"cpuset", "cpuset.cpus", l.Cpuset != nil || l.Mems != nil, knobs.setCpuset},
		{"cpu", "cpu.cfs_quota_us", l.CPUShares != nil || l.CPUQuota != nil || l.CPUPeriod != nil, knobs.setCPU},
		{"memory", "memory.limit_in_bytes", l.Memory != nil || l.MemorySwap != nil, knobs.setMemory},
		{"pids", "pids.max", l.Pids != nil, knobs.setPids},
		{c.ioController(), "blkio.weight", l.BlkioWeight != nil || len(l.ReadBPS)+len(l.WriteBPS)+len(l.ReadIOPS)+len(l.WriteIOPS) > 0, knobs.setIO},
	}
	// Limits cached by this handle (CacheLimits) are read again after.
	defer c.InvalidateLimits()
	for _, s := range steps {
		if !s.wanted {
			continue
		}
		w, err := c.need(s.controller, s.knob)
		if err != nil {
			return err
		}
		if err := s.set(knobsOf(w), w.dir, l); err != nil {
			return err
		}
	}
	return nil
}

// Limits reads the cgroup's knobs back. Knobs the host lacks stay nil.
func (c *Cgroup) Limits(ctx context.Context) (Limits, error) {
	if err := ctx.Err(); err != nil {
		return Limits{}, err
	}
	var l Limits
	for _, s := range []struct {
		controller string
		get        func(k knobs, dir string, l *Limits) error
	}{
		{"cpuset", knobs.getCpuset},
		{"cpu", knobs.getCPU},
		{"memory", knobs.getMemory},
		{"pids", knobs.getPids},
		{c.ioController(), knobs.getIO},
	} {
		w, err := c.controller(s.controller)
		if err != nil {
			continue // the host lacks the controller: its fields stay nil
		}
		if err := s.get(knobsOf(w), w.dir, &l); err != nil {
			return l, err
		}
	}
	return l, nil
}

// knobs writes and reads the limit files of one cgroup version. Each
// method handles one controller in the directory dir; a getter leaves the
// fields of knobs the host lacks nil.
type knobs interface {
	setCpuset(dir string, l Limits) error
	setCPU(dir string, l Limits) error
	setMemory(dir string, l Limits) error
	setPids(dir string, l Limits) error
	setIO(dir string, l Limits) error
	getCpuset(dir string, l *Limits) error
	getCPU(dir string, l *Limits) error
	getMemory(dir string, l *Limits) error
	getPids(dir string, l *Limits) error
	getIO(dir string, l *Limits) error
}

var (
	_ knobs = v1Knobs{}
	_ knobs = v2Knobs{}
)

// knobsOf returns the knob files of the hierarchy a controller is on.
func knobsOf(w where) knobs {
	if w.v2 {
		return v2Knobs{}
	}
	return v1Knobs{}
}

// ioController is the block I/O controller's name on the host.
func (c *Cgroup) ioController() string {
	if c.host.mode == ModeV2 {
		return "io"
	}
	return "blkio"
}

// need returns the directory of a controller or an error naming the knob.
func (c *Cgroup) need(controller, knob string) (where, error) {
	w, err := c.controller(controller)
	if err != nil {
		return where{}, newError(ErrUnsupported, "host lacks knob %s (controller %s)", knob, controller)
	}
	return w, nil
}

// SharesToWeight converts v1 cpu.shares to cgroup2 cpu.weight the way runc
// and systemd do.
func SharesToWeight(shares uint64) uint64 {
	shares = min(max(shares, 2), 262144)
	return 1 + ((shares-2)*9999)/262142
}

// readKnob reads a knob file, trimmed; ok is false when the host lacks it.
func readKnob(dir, name string) (b []byte, ok bool, err error) {
	b, err = readInto(filepath.Join(dir, name), nil)
	if notFound(err) {
		return nil, false, nil
	}
	if err != nil {
		return nil, false, err
	}
	return bytes.TrimSpace(b), true, nil
}

// Typed readers of knob files; each leaves *dst alone when the host lacks
// the knob.

func readString(dir, name string, dst **string) error {
	b, ok, err := readKnob(dir, name)
	if ok {
		s := string(b)
		*dst = &s
	}
	return err
}

func readSigned(dir, name string, dst **int64) error {
	b, ok, err := readKnob(dir, name)
	if !ok {
		return err
	}
	v, err := parseLimit(b)
	if err != nil {
		return annotate(err, "%s", name)
	}
	n := int64(-1)
	if v != Unlimited {
		n = int64(v) //nolint:gosec // below v1Unlimited
	}
	*dst = &n
	return nil
}

func readUnsigned(dir, name string, dst **uint64) error {
	b, ok, err := readKnob(dir, name)
	if !ok {
		return err
	}
	v, okv := decimal.Uint(b)
	if !okv {
		return newError(ErrInvalid, "%s %q", name, b)
	}
	*dst = &v
	return nil
}

// readWeight reads the first of the weight files names that the host has.
func readWeight(dir string, names []string, dst **uint16) error {
	for _, n := range names {
		b, ok, err := readKnob(dir, n)
		if err != nil {
			return err
		}
		if ok {
			*dst = parseWeight(b)
			return nil
		}
	}
	return nil
}

// setWeight writes weight to the first of the weight files names that the
// host has (the CFQ, then the BFQ file).
func setWeight(dir string, names []string, weight string) error {
	for _, n := range names {
		err := writeKnob(dir, n, weight)
		if err == nil || !errors.Is(err, ErrUnsupported) {
			return err
		}
	}
	return newError(ErrUnsupported, "host lacks knob %s (no CFQ or BFQ I/O scheduler)", names[0])
}

// setCpuset is the same on both versions.
func setCpuset(dir string, l Limits) error {
	if l.Cpuset != nil {
		if err := writeKnob(dir, "cpuset.cpus", *l.Cpuset); err != nil {
			return err
		}
	}
	if l.Mems != nil {
		return writeKnob(dir, "cpuset.mems", *l.Mems)
	}
	return nil
}

func getCpuset(dir string, l *Limits) error {
	if err := readString(dir, "cpuset.cpus", &l.Cpuset); err != nil {
		return err
	}
	return readString(dir, "cpuset.mems", &l.Mems)
}

// setPids is the same on both versions: pids.max takes "max".
func setPids(dir string, l Limits) error {
	return writeKnob(dir, "pids.max", limitString(*l.Pids, true))
}

func getPids(dir string, l *Limits) error { return readSigned(dir, "pids.max", &l.Pids) }

func limitString(v int64, v2 bool) string {
	if v < 0 {
		if v2 {
			return "max"
		}
		return "-1"
	}
	return strconv.FormatInt(v, 10)
}

// throttleFiles pairs the Limits throttle lists with their v1 file and
// their cgroup2 io.max key.
func throttleFiles(l *Limits) [4]struct {
	rates  *[]DeviceRate
	v1, v2 string
} {
	return [4]struct {
		rates  *[]DeviceRate
		v1, v2 string
	}{
		{&l.ReadBPS, "blkio.throttle.read_bps_device", "rbps"},
		{&l.WriteBPS, "blkio.throttle.write_bps_device", "wbps"},
		{&l.ReadIOPS, "blkio.throttle.read_iops_device", "riops"},
		{&l.WriteIOPS, "blkio.throttle.write_iops_device", "wiops"},
	}
}

// parseDev parses "major:minor".
func parseDev(b []byte) (major, minor uint32, ok bool) {
	a, z, found := bytes.Cut(b, []byte(":"))
	ma, ok1 := decimal.Uint(a)
	mi, ok2 := decimal.Uint(z)
	if !found || !ok1 || !ok2 || ma > 1<<32-1 || mi > 1<<32-1 {
		return 0, 0, false
	}
	return uint32(ma), uint32(mi), true
}

// parseIOMax parses cgroup2's io.max ("8:0 rbps=1000 wbps=max riops=max
// wiops=max" a line).
func parseIOMax(b []byte, l *Limits) error {
	var perr error
	eachLine(b, func(line []byte) bool {
		f := strings.Fields(string(line))
		if len(f) == 0 {
			return true
		}
		maj, mnr, ok := parseDev([]byte(f[0]))
		if !ok {
			perr = newError(ErrInvalid, "io.max line %q", line)
			return false
		}
		for _, kv := range f[1:] {
			k, v, found := strings.Cut(kv, "=")
			if !found {
				perr = newError(ErrInvalid, "io.max line %q", line)
				return false
			}
			if v == "max" {
				continue
			}
			n, okn := decimal.Uint([]byte(v))
			if !okn {
				perr = newError(ErrInvalid, "io.max line %q", line)
				return false
			}
			r := DeviceRate{Major: maj, Minor: mnr, Rate: n}
			switch k {
			case "rbps":
				l.ReadBPS = append(l.ReadBPS, r)
			case "wbps":
				l.WriteBPS = append(l.WriteBPS, r)
			case "riops":
				l.ReadIOPS = append(l.ReadIOPS, r)
			case "wiops":
				l.WriteIOPS = append(l.WriteIOPS, r)
			}
		}
		return true
	})
	return perr
}

// parseWeight reads the default weight of a weight file: a plain number
// (blkio.weight) or a "default N" line followed by per-device lines
// (io.weight, the BFQ files).
func parseWeight(b []byte) *uint16 {
	var out *uint16
	eachLine(b, func(line []byte) bool {
		v, _ := bytes.CutPrefix(bytes.TrimSpace(line), []byte("default "))
		if n, ok := decimal.Uint(v); ok && n <= 10000 {
			w := uint16(n)
			out = &w
			return false
		}
		return true
	})
	return out
}
