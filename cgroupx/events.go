package cgroupx

import (
	"context"
	"time"

	"github.com/shoalkit/shoal/internal/decimal"
)

// Throttling counts what a CPU quota did to a cgroup: how many enforcement
// periods have passed while it had runnable tasks, in how many it ran out
// of quota, and how long its tasks waited for the next period.
type Throttling struct {
	Periods, ThrottledPeriods uint64
	Throttled                 time.Duration
}

// Throttling reads the cgroup's throttling counters (nr_periods,
// nr_throttled and throttled_usec, or throttled_time in ns on v1, from the
// cpu controller's cpu.stat). A host without the cpu controller gives an
// error wrapping [ErrUnsupported].
func (c *Cgroup) Throttling(ctx context.Context) (Throttling, error) {
	if err := ctx.Err(); err != nil {
		return Throttling{}, err
	}
	w, err := c.controller("cpu")
	if err != nil {
		return Throttling{}, err
	}
	var out Throttling
	c.host.withBuf(func(buf []byte) []byte {
		if buf, err = c.read(c.join(w.dir, "cpu.stat"), buf); err != nil {
			return buf
		}
		out, err = parseThrottling(buf, w.v2)
		return buf
	})
	return out, err
}

func parseThrottling(b []byte, v2 bool) (Throttling, error) {
	var out Throttling
	var err error
	seen := 0
	eachKV(b, func(k, v []byte) {
		var dst *uint64
		var unit time.Duration
		switch string(k) {
		case "nr_periods":
			dst = &out.Periods
		case "nr_throttled":
			dst = &out.ThrottledPeriods
		case "throttled_usec":
			if !v2 {
				return
			}
			unit = time.Microsecond
		case "throttled_time":
			if v2 {
				return
			}
			unit = time.Nanosecond
		default:
			return
		}
		n, ok := decimal.Uint(v)
		if !ok || (unit != 0 && n > uint64(1<<63-1)/uint64(unit)) {
			err = newError(ErrInvalid, "cpu.stat %s %q", k, v)
			return
		}
		seen++
		if dst != nil {
			*dst = n
			return
		}
		out.Throttled = time.Duration(n) * unit //nolint:gosec // range checked
	})
	if err == nil && seen == 0 {
		// cgroup2 writes the throttling keys only where the cpu
		// controller is enabled for the group.
		err = newError(ErrUnsupported, "cpu.stat has no throttling counters")
	}
	return out, err
}

// MemoryEvents counts what the memory limit did to a cgroup and its
// descendants.
type MemoryEvents struct {
	// Max is how often usage hit the limit (cgroup2 memory.events "max",
	// v1 memory.failcnt).
	Max uint64
	// OOM is how often the OOM killer was invoked for the cgroup (cgroup2
	// only; 0 on v1, which keeps no such count).
	OOM uint64
	// OOMKill is how many processes the OOM killer killed (memory.events
	// "oom_kill", v1 memory.oom_control "oom_kill", Linux 4.13+).
	OOMKill uint64
}

// MemoryEvents reads the cgroup's memory event counters. A host without the
// memory controller gives an error wrapping [ErrUnsupported].
func (c *Cgroup) MemoryEvents(ctx context.Context) (MemoryEvents, error) {
	if err := ctx.Err(); err != nil {
		return MemoryEvents{}, err
	}
	w, err := c.controller("memory")
	if err != nil {
		return MemoryEvents{}, err
	}
	var out MemoryEvents
	c.host.withBuf(func(buf []byte) []byte {
		if w.v2 {
			if buf, err = c.read(c.join(w.dir, "memory.events"), buf); err != nil {
				return buf
			}
			err = parseCounters(buf, "memory.events", map[string]*uint64{"max": &out.Max, "oom": &out.OOM, "oom_kill": &out.OOMKill})
			return buf
		}
		if buf, err = c.read(c.join(w.dir, "memory.failcnt"), buf); err != nil {
			return buf
		}
		if out.Max, err = parseUintFile(buf); err != nil {
			return buf
		}
		if buf, err = c.read(c.join(w.dir, "memory.oom_control"), buf); err != nil {
			return buf
		}
		err = parseCounters(buf, "memory.oom_control", map[string]*uint64{"oom_kill": &out.OOMKill})
		return buf
	})
	return out, err
}

// parseCounters parses the flat keyed file name into the counters of keys;
// other keys are skipped.
func parseCounters(b []byte, name string, keys map[string]*uint64) error {
	var err error
	eachKV(b, func(k, v []byte) {
		dst, ok := keys[string(k)]
		if !ok || err != nil {
			return
		}
		n, okn := decimal.Uint(v)
		if !okn {
			err = newError(ErrInvalid, "%s %s %q", name, k, v)
			return
		}
		*dst = n
	})
	return err
}
