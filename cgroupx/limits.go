package cgroupx

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"strconv"
	"strings"

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
func (c *Cgroup) SetLimits(ctx context.Context, l Limits) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	steps := []func() error{
		func() error { return c.setCpuset(l) },
		func() error { return c.setCPU(l) },
		func() error { return c.setMemory(l) },
		func() error { return c.setPids(l) },
		func() error { return c.setBlkio(l) },
	}
	for _, step := range steps {
		if err := step(); err != nil {
			return err
		}
	}
	return nil
}

// need returns the directory of a controller or an error naming the knob.
func (c *Cgroup) need(controller, knob string) (where, error) {
	w, err := c.controller(controller)
	if err != nil {
		return where{}, newError(ErrUnsupported, "host lacks knob %s (controller %s)", knob, controller)
	}
	return w, nil
}

func (c *Cgroup) setCpuset(l Limits) error {
	for _, kv := range []struct {
		val  *string
		file string
	}{{l.Cpuset, "cpuset.cpus"}, {l.Mems, "cpuset.mems"}} {
		if kv.val == nil {
			continue
		}
		w, err := c.need("cpuset", kv.file)
		if err != nil {
			return err
		}
		if err := writeKnob(w.dir, kv.file, *kv.val); err != nil {
			return err
		}
	}
	return nil
}

// SharesToWeight converts v1 cpu.shares to cgroup2 cpu.weight the way runc
// and systemd do.
func SharesToWeight(shares uint64) uint64 {
	shares = min(max(shares, 2), 262144)
	return 1 + ((shares-2)*9999)/262142
}

func (c *Cgroup) setCPU(l Limits) error {
	if l.CPUShares == nil && l.CPUQuota == nil && l.CPUPeriod == nil {
		return nil
	}
	w, err := c.need("cpu", "cpu.cfs_quota_us")
	if err != nil {
		return err
	}
	if l.CPUShares != nil {
		if w.v2 {
			err = writeKnob(w.dir, "cpu.weight", strconv.FormatUint(SharesToWeight(*l.CPUShares), 10))
		} else {
			err = writeKnob(w.dir, "cpu.shares", strconv.FormatUint(*l.CPUShares, 10))
		}
		if err != nil {
			return err
		}
	}
	if l.CPUQuota == nil && l.CPUPeriod == nil {
		return nil
	}
	if w.v2 {
		b, err := readInto(filepath.Join(w.dir, "cpu.max"), nil)
		if err != nil {
			return knobError("cpu.max", err)
		}
		q, p, err := parseCPUMax(b)
		if err != nil {
			return err
		}
		if l.CPUQuota != nil {
			q = *l.CPUQuota
		}
		if l.CPUPeriod != nil {
			p = *l.CPUPeriod
		}
		qs := "max"
		if q >= 0 {
			qs = strconv.FormatInt(q, 10)
		}
		return writeKnob(w.dir, "cpu.max", qs+" "+strconv.FormatUint(p, 10))
	}
	// The period first: a quota is checked against the current period.
	if l.CPUPeriod != nil {
		if err := writeKnob(w.dir, "cpu.cfs_period_us", strconv.FormatUint(*l.CPUPeriod, 10)); err != nil {
			return err
		}
	}
	if l.CPUQuota != nil {
		return writeKnob(w.dir, "cpu.cfs_quota_us", strconv.FormatInt(*l.CPUQuota, 10))
	}
	return nil
}

func limitString(v int64, v2 bool) string {
	if v < 0 {
		if v2 {
			return "max"
		}
		return "-1"
	}
	return strconv.FormatInt(v, 10)
}

func (c *Cgroup) setMemory(l Limits) error {
	if l.Memory == nil && l.MemorySwap == nil {
		return nil
	}
	w, err := c.need("memory", "memory.limit_in_bytes")
	if err != nil {
		return err
	}
	if w.v2 {
		if l.Memory != nil {
			if err := writeKnob(w.dir, "memory.max", limitString(*l.Memory, true)); err != nil {
				return err
			}
		}
		if l.MemorySwap != nil {
			mem := int64(-1)
			if l.Memory != nil {
				mem = *l.Memory
			} else if b, err := readInto(filepath.Join(w.dir, "memory.max"), nil); err == nil {
				if v, err := parseLimit(b); err == nil && v != Unlimited {
					mem = int64(v) //nolint:gosec // below v1Unlimited
				}
			}
			swap := int64(-1)
			if *l.MemorySwap >= 0 {
				if mem < 0 || *l.MemorySwap < mem {
					return newError(ErrInvalid, "memory+swap %d below memory %d", *l.MemorySwap, mem)
				}
				swap = *l.MemorySwap - mem
			}
			return writeKnob(w.dir, "memory.swap.max", limitString(swap, true))
		}
		return nil
	}
	// v1 refuses memory above memory+swap: order the writes so that the
	// pair is valid after each one.
	setMem := func() error {
		if l.Memory == nil {
			return nil
		}
		return writeKnob(w.dir, "memory.limit_in_bytes", limitString(*l.Memory, false))
	}
	setSwap := func() error {
		if l.MemorySwap == nil {
			return nil
		}
		return writeKnob(w.dir, "memory.memsw.limit_in_bytes", limitString(*l.MemorySwap, false))
	}
	if err := setMem(); err != nil {
		if !errors.Is(err, ErrInvalid) || l.MemorySwap == nil {
			return err
		}
		if err := setSwap(); err != nil {
			return err
		}
		return setMem()
	}
	return setSwap()
}

func (c *Cgroup) setPids(l Limits) error {
	if l.Pids == nil {
		return nil
	}
	w, err := c.need("pids", "pids.max")
	if err != nil {
		return err
	}
	return writeKnob(w.dir, "pids.max", limitString(*l.Pids, true))
}

func (c *Cgroup) setBlkio(l Limits) error {
	if l.BlkioWeight == nil && len(l.ReadBPS)+len(l.WriteBPS)+len(l.ReadIOPS)+len(l.WriteIOPS) == 0 {
		return nil
	}
	ctrl := "blkio"
	if c.host.mode == ModeV2 {
		ctrl = "io"
	}
	w, err := c.need(ctrl, "blkio.weight")
	if err != nil {
		return err
	}
	if l.BlkioWeight != nil {
		weight := strconv.FormatUint(uint64(*l.BlkioWeight), 10)
		names := []string{"blkio.weight", "blkio.bfq.weight"}
		if w.v2 {
			names = []string{"io.weight", "io.bfq.weight"}
			weight = "default " + weight
		}
		done := false
		for _, n := range names {
			if err := writeKnob(w.dir, n, weight); err == nil {
				done = true
				break
			} else if !errors.Is(err, ErrUnsupported) {
				return err
			}
		}
		if !done {
			return newError(ErrUnsupported, "host lacks knob %s (no CFQ or BFQ I/O scheduler)", names[0])
		}
	}
	throttles := []struct {
		rates []DeviceRate
		v1    string
		v2    string
	}{
		{l.ReadBPS, "blkio.throttle.read_bps_device", "rbps"},
		{l.WriteBPS, "blkio.throttle.write_bps_device", "wbps"},
		{l.ReadIOPS, "blkio.throttle.read_iops_device", "riops"},
		{l.WriteIOPS, "blkio.throttle.write_iops_device", "wiops"},
	}
	for _, th := range throttles {
		for _, r := range th.rates {
			var err error
			if w.v2 {
				rate := "max"
				if r.Rate > 0 {
					rate = strconv.FormatUint(r.Rate, 10)
				}
				err = writeKnob(w.dir, "io.max", fmt.Sprintf("%d:%d %s=%s", r.Major, r.Minor, th.v2, rate))
			} else {
				err = writeKnob(w.dir, th.v1, fmt.Sprintf("%d:%d %d", r.Major, r.Minor, r.Rate))
			}
			if err != nil {
				return err
			}
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
	read := func(controller, name string) ([]byte, bool, error) {
		w, err := c.controller(controller)
		if err != nil {
			return nil, false, nil
		}
		b, err := readInto(filepath.Join(w.dir, name), nil)
		if notFound(err) {
			return nil, false, nil
		}
		if err != nil {
			return nil, false, err
		}
		return bytes.TrimSpace(b), true, nil
	}
	str := func(b []byte) *string { s := string(b); return &s }
	signed := func(name string, b []byte) (*int64, error) {
		v, err := parseLimit(b)
		if err != nil {
			return nil, annotate(err, "%s", name)
		}
		n := int64(-1)
		if v != Unlimited {
			n = int64(v) //nolint:gosec // below v1Unlimited
		}
		return &n, nil
	}
	unsigned := func(name string, b []byte) (*uint64, error) {
		v, ok := atou(b)
		if !ok {
			return nil, newError(ErrInvalid, "%s %q", name, b)
		}
		return &v, nil
	}
	v2 := c.host.mode == ModeV2
	if b, ok, err := read("cpuset", "cpuset.cpus"); err != nil {
		return l, err
	} else if ok {
		l.Cpuset = str(b)
	}
	if b, ok, err := read("cpuset", "cpuset.mems"); err != nil {
		return l, err
	} else if ok {
		l.Mems = str(b)
	}
	var err error
	if v2 {
		if b, ok, rerr := read("cpu", "cpu.max"); rerr != nil {
			return l, rerr
		} else if ok {
			q, p, perr := parseCPUMax(b)
			if perr != nil {
				return l, perr
			}
			l.CPUQuota, l.CPUPeriod = &q, &p
		}
		if b, ok, rerr := read("cpu", "cpu.weight"); rerr != nil {
			return l, rerr
		} else if ok {
			// No exact inverse exists; report the weight's shares equivalent.
			wgt, perr := unsigned("cpu.weight", b)
			if perr != nil {
				return l, perr
			}
			shares := 2 + ((max(*wgt, 1)-1)*262142+9998)/9999
			l.CPUShares = &shares
		}
		if b, ok, rerr := read("memory", "memory.max"); rerr != nil {
			return l, rerr
		} else if ok {
			if l.Memory, err = signed("memory.max", b); err != nil {
				return l, err
			}
		}
		if b, ok, rerr := read("memory", "memory.swap.max"); rerr != nil {
			return l, rerr
		} else if ok && l.Memory != nil {
			sw, serr := signed("memory.swap.max", b)
			if serr != nil {
				return l, serr
			}
			total := int64(-1)
			if *sw >= 0 && *l.Memory >= 0 {
				total = *l.Memory + *sw
			}
			l.MemorySwap = &total
		}
	} else {
		if b, ok, rerr := read("cpu", "cpu.shares"); rerr != nil {
			return l, rerr
		} else if ok {
			if l.CPUShares, err = unsigned("cpu.shares", b); err != nil {
				return l, err
			}
		}
		if b, ok, rerr := read("cpu", "cpu.cfs_quota_us"); rerr != nil {
			return l, rerr
		} else if ok {
			q, okq := atoi(b)
			if !okq {
				return l, newError(ErrInvalid, "cpu.cfs_quota_us %q", b)
			}
			l.CPUQuota = &q
		}
		if b, ok, rerr := read("cpu", "cpu.cfs_period_us"); rerr != nil {
			return l, rerr
		} else if ok {
			if l.CPUPeriod, err = unsigned("cpu.cfs_period_us", b); err != nil {
				return l, err
			}
		}
		for _, kv := range []struct {
			name string
			dst  **int64
		}{{"memory.limit_in_bytes", &l.Memory}, {"memory.memsw.limit_in_bytes", &l.MemorySwap}} {
			if b, ok, rerr := read("memory", kv.name); rerr != nil {
				return l, rerr
			} else if ok {
				if *kv.dst, err = signed(kv.name, b); err != nil {
					return l, err
				}
			}
		}
	}
	if b, ok, rerr := read("pids", "pids.max"); rerr != nil {
		return l, rerr
	} else if ok {
		if l.Pids, err = signed("pids.max", b); err != nil {
			return l, err
		}
	}
	if err := c.readIOLimits(&l, read); err != nil {
		return l, err
	}
	return l, nil
}

func (c *Cgroup) readIOLimits(l *Limits, read func(controller, name string) ([]byte, bool, error)) error {
	if c.host.mode == ModeV2 {
		for _, n := range []string{"io.weight", "io.bfq.weight"} {
			b, ok, err := read("io", n)
			if err != nil {
				return err
			}
			if !ok {
				continue
			}
			l.BlkioWeight = parseWeight(b)
			break
		}
		b, ok, err := read("io", "io.max")
		if err != nil || !ok {
			return err
		}
		return parseIOMax(b, l)
	}
	for _, n := range []string{"blkio.weight", "blkio.bfq.weight"} {
		b, ok, err := read("blkio", n)
		if err != nil {
			return err
		}
		if ok {
			l.BlkioWeight = parseWeight(b)
			break
		}
	}
	for _, th := range []struct {
		name string
		dst  *[]DeviceRate
	}{
		{"blkio.throttle.read_bps_device", &l.ReadBPS},
		{"blkio.throttle.write_bps_device", &l.WriteBPS},
		{"blkio.throttle.read_iops_device", &l.ReadIOPS},
		{"blkio.throttle.write_iops_device", &l.WriteIOPS},
	} {
		b, ok, err := read("blkio", th.name)
		if err != nil {
			return err
		}
		if !ok {
			continue
		}
		var perr error
		eachLine(b, func(line []byte) bool {
			dev, rate, found := bytes.Cut(line, []byte(" "))
			maj, mnr, okd := parseDev(dev)
			r, okr := atou(rate)
			if !found || !okd || !okr {
				perr = newError(ErrInvalid, "%s line %q", th.name, line)
				return false
			}
			*th.dst = append(*th.dst, DeviceRate{Major: maj, Minor: mnr, Rate: r})
			return true
		})
		if perr != nil {
			return perr
		}
	}
	return nil
}

// parseDev parses "major:minor".
func parseDev(b []byte) (major, minor uint32, ok bool) {
	a, z, found := bytes.Cut(b, []byte(":"))
	ma, ok1 := atou(a)
	mi, ok2 := atou(z)
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
			n, okn := atou([]byte(v))
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
		if n, ok := atou(v); ok && n <= 10000 {
			w := uint16(n)
			out = &w
			return false
		}
		return true
	})
	return out
}
