package metrics

import (
	"bytes"
	"strconv"
	"time"

	"github.com/shoalkit/shoal/internal/decimal"
)

// Parsers of the proc, sys and cgroup files the collector reads that
// cgroupx does not. Each takes the whole file and returns an error for
// anything malformed; none panics (they are fuzzed).

// parseUintFile parses a file holding one number, or "max" (Unlimited).
func parseUintFile(name string, b []byte) (uint64, error) {
	b = bytes.TrimSpace(b)
	if string(b) == "max" {
		return Unlimited, nil
	}
	n, ok := decimal.Uint(b)
	if !ok {
		return 0, newError(ErrInvalid, "%s: not a number: %q", name, clip(b))
	}
	return n, nil
}

// clip shortens a bad value for an error message.
func clip(b []byte) []byte {
	if len(b) > 40 {
		return b[:40]
	}
	return b
}

// eachKV calls f for every "key value" line of b (cpu.stat, memory.events,
// memory.oom_control) and stops at the first error f returns. f gets the
// key as bytes: a switch on string(k) does not allocate.
func eachKV(name string, b []byte, f func(k []byte, v uint64) error) error {
	for len(b) > 0 {
		var line []byte
		line, b, _ = bytes.Cut(b, []byte{'\n'})
		if len(bytes.TrimSpace(line)) == 0 {
			continue
		}
		k, v, ok := bytes.Cut(line, []byte{' '})
		if !ok {
			return newError(ErrInvalid, "%s: line without a value: %q", name, clip(line))
		}
		n, ok := decimal.Uint(bytes.TrimSpace(v))
		if !ok {
			return newError(ErrInvalid, "%s: %s: not a number: %q", name, k, clip(v))
		}
		if err := f(k, n); err != nil {
			return err
		}
	}
	return nil
}

// maxUsec bounds a microsecond count that becomes a time.Duration.
const maxUsec = uint64(1<<63-1) / uint64(time.Microsecond)

// throttling is cpu.stat: the CFS bandwidth part, and on cgroup2 the CPU
// time too.
type throttling struct {
	periods, throttledPeriods uint64
	throttledNs               uint64
	usage, user, system       time.Duration
}

// parseCPUStat parses cpu.stat: v1 "nr_periods nr_throttled throttled_time"
// (ns), v2 the same counts with throttled_usec, and usage_usec, user_usec
// and system_usec.
func parseCPUStat(b []byte) (throttling, error) {
	var t throttling
	err := eachKV("cpu.stat", b, func(k []byte, v uint64) error {
		var d *time.Duration
		switch string(k) {
		case "nr_periods":
			t.periods = v
		case "nr_throttled":
			t.throttledPeriods = v
		case "throttled_time":
			if v > 1<<63-1 {
				return newError(ErrInvalid, "cpu.stat: throttled_time %d out of range", v)
			}
			t.throttledNs = v
		case "throttled_usec":
			if v > maxUsec {
				return newError(ErrInvalid, "cpu.stat: throttled_usec %d out of range", v)
			}
			t.throttledNs = v * 1000
		case "usage_usec":
			d = &t.usage
		case "user_usec":
			d = &t.user
		case "system_usec":
			d = &t.system
		}
		if d != nil {
			if v > maxUsec {
				return newError(ErrInvalid, "cpu.stat: %s %d out of range", k, v)
			}
			*d = time.Duration(v) * time.Microsecond //nolint:gosec // range checked
		}
		return nil
	})
	return t, err
}

// oomCounts are the OOM counters of memory.oom_control (v1) or
// memory.events (v2).
type oomCounts struct {
	kills, events uint64
	haveEvents    bool
}

func parseOOM(name string, b []byte) (oomCounts, error) {
	var o oomCounts
	err := eachKV(name, b, func(k []byte, v uint64) error {
		switch string(k) {
		case "oom_kill":
			o.kills = v
		case "oom":
			o.events, o.haveEvents = v, true
		}
		return nil
	})
	if !o.haveEvents {
		o.events = o.kills
	}
	return o, err
}

// maxInterfaces bounds the interfaces read from one net/dev.
const maxInterfaces = 4096

// parseNetDev parses /proc/<pid>/net/dev into out (reused), two header
// lines then "name: rx_bytes rx_packets rx_errs rx_drop fifo frame
// compressed multicast tx_bytes tx_packets tx_errs tx_drop ..." a line.
// An interface named as in prev at the same place reuses prev's name
// string.
func parseNetDev(b []byte, out, prev []InterfaceStats) ([]InterfaceStats, error) {
	out = out[:0]
	for i := 0; len(b) > 0; i++ {
		var line []byte
		line, b, _ = bytes.Cut(b, []byte{'\n'})
		if i < 2 || len(bytes.TrimSpace(line)) == 0 {
			continue
		}
		name, rest, ok := bytes.Cut(line, []byte{':'})
		if !ok {
			return out, newError(ErrInvalid, "net/dev: line without an interface: %q", clip(line))
		}
		if len(out) >= maxInterfaces {
			return out, newError(ErrInvalid, "net/dev: more than %d interfaces", maxInterfaces)
		}
		var v [16]uint64
		n := 0
		for f := range bytes.FieldsSeq(rest) {
			if n == len(v) {
				break
			}
			x, ok := decimal.Uint(f)
			if !ok {
				return out, newError(ErrInvalid, "net/dev: %s: not a number: %q", bytes.TrimSpace(name), clip(f))
			}
			v[n] = x
			n++
		}
		if n < 12 {
			return out, newError(ErrInvalid, "net/dev: %s: %d fields, want 16", bytes.TrimSpace(name), n)
		}
		nb := bytes.TrimSpace(name)
		var ns string
		if k := len(out); k < len(prev) && prev[k].Name == string(nb) {
			ns = prev[k].Name
		} else {
			ns = string(nb)
		}
		out = append(out, InterfaceStats{
			Name:    ns,
			RxBytes: v[0], RxPackets: v[1], RxErrors: v[2], RxDropped: v[3],
			TxBytes: v[8], TxPackets: v[9], TxErrors: v[10], TxDropped: v[11],
		})
	}
	return out, nil
}

// sockstat is the TCP line of /proc/<pid>/net/sockstat ("TCP: inuse 4
// orphan 0 tw 7 alloc 4 mem 0") or sockstat6 ("TCP6: inuse 1").
type sockstat struct {
	inUse, orphan, tw, alloc uint64
}

// parseSockstat finds the line that starts with proto ("TCP:" or "TCP6:")
// and parses its "name value" pairs.
func parseSockstat(b []byte, proto string) (sockstat, error) {
	var s sockstat
	for len(b) > 0 {
		var line []byte
		line, b, _ = bytes.Cut(b, []byte{'\n'})
		rest, ok := bytes.CutPrefix(line, []byte(proto))
		if !ok {
			continue
		}
		var arr [16][]byte
		f := appendFields(arr[:0], rest)
		if len(f)%2 != 0 {
			return s, newError(ErrInvalid, "sockstat: %s odd number of fields: %q", proto, clip(line))
		}
		for i := 0; i < len(f); i += 2 {
			v, ok := decimal.Uint(f[i+1])
			if !ok {
				return s, newError(ErrInvalid, "sockstat: %s %s: not a number: %q", proto, f[i], clip(f[i+1]))
			}
			switch string(f[i]) {
			case "inuse":
				s.inUse = v
			case "orphan":
				s.orphan = v
			case "tw":
				s.tw = v
			case "alloc":
				s.alloc = v
			}
		}
		return s, nil
	}
	return s, newError(ErrInvalid, "sockstat: no %s line", proto)
}

// userHZ is the unit of /proc/stat times (USER_HZ, 100 on every Linux
// architecture Go supports).
const userHZ = 100

// parseProcStatCPU parses the "cpu" line of /proc/stat and counts the
// "cpuN" lines.
func parseProcStatCPU(b []byte) (NodeCPU, int, error) {
	var c NodeCPU
	cpus, found := 0, false
	for len(b) > 0 {
		var line []byte
		line, b, _ = bytes.Cut(b, []byte{'\n'})
		rest, ok := bytes.CutPrefix(line, []byte("cpu"))
		if !ok {
			if found {
				break // the cpu lines come first
			}
			continue
		}
		if len(rest) > 0 && rest[0] >= '0' && rest[0] <= '9' {
			cpus++
			continue
		}
		var arr [16][]byte
		f := appendFields(arr[:0], rest)
		if len(f) < 4 {
			return c, 0, newError(ErrInvalid, "/proc/stat: cpu line with %d fields: %q", len(f), clip(line))
		}
		var v [8]uint64
		for i := 0; i < len(f) && i < len(v); i++ {
			n, ok := decimal.Uint(f[i])
			if !ok || n > (1<<62)/uint64(time.Second/userHZ) {
				return c, 0, newError(ErrInvalid, "/proc/stat: cpu: bad field %q", clip(f[i]))
			}
			v[i] = n
		}
		tick := func(n uint64) time.Duration { return time.Duration(n) * (time.Second / userHZ) } //nolint:gosec // bounded above
		c = NodeCPU{
			User: tick(v[0]), Nice: tick(v[1]), System: tick(v[2]), Idle: tick(v[3]),
			IOWait: tick(v[4]), IRQ: tick(v[5]), SoftIRQ: tick(v[6]), Steal: tick(v[7]),
		}
		found = true
	}
	if !found {
		return c, 0, newError(ErrInvalid, "/proc/stat: no cpu line")
	}
	return c, cpus, nil
}

// loadavg is /proc/loadavg: "0.52 0.58 0.59 2/315 12345".
type loadavg struct {
	load1, load5, load15 float64
	threads              uint64
}

func parseLoadavg(b []byte) (loadavg, error) {
	var arr [8][]byte
	f := appendFields(arr[:0], b)
	if len(f) < 4 {
		return loadavg{}, newError(ErrInvalid, "/proc/loadavg: %d fields: %q", len(f), clip(b))
	}
	var l loadavg
	for i, p := range []*float64{&l.load1, &l.load5, &l.load15} {
		x, err := strconv.ParseFloat(string(f[i]), 64)
		if err != nil || x < 0 {
			return loadavg{}, newError(ErrInvalid, "/proc/loadavg: bad load %q", clip(f[i]))
		}
		*p = x
	}
	_, total, ok := bytes.Cut(f[3], []byte{'/'})
	n, ok2 := decimal.Uint(total)
	if !ok || !ok2 {
		return loadavg{}, newError(ErrInvalid, "/proc/loadavg: bad task count %q", clip(f[3]))
	}
	l.threads = n
	return l, nil
}

// parseFileNr parses /proc/sys/fs/file-nr: "allocated unused max".
func parseFileNr(b []byte) (Usage, error) {
	var arr [4][]byte
	f := appendFields(arr[:0], b)
	if len(f) != 3 {
		return Usage{}, newError(ErrInvalid, "file-nr: %d fields, want 3: %q", len(f), clip(b))
	}
	used, ok1 := decimal.Uint(f[0])
	maxN, ok2 := decimal.Uint(f[2])
	if !ok1 || !ok2 {
		return Usage{}, newError(ErrInvalid, "file-nr: not numbers: %q", clip(b))
	}
	return Usage{Used: used, Max: maxN}, nil
}

// appendFields appends the fields of b, split at runs of white space, to
// dst: bytes.Fields without its allocation when dst has room (callers pass
// a slice of an array on their stack).
func appendFields(dst [][]byte, b []byte) [][]byte {
	space := func(c byte) bool { return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\v' || c == '\f' }
	for i := 0; i < len(b); {
		for i < len(b) && space(b[i]) {
			i++
		}
		j := i
		for j < len(b) && !space(b[j]) {
			j++
		}
		if j > i {
			dst = append(dst, b[i:j])
		}
		i = j
	}
	return dst
}
