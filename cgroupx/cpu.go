package cgroupx

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"math"
	"slices"
	"time"

	"github.com/shoalkit/shoal/internal/decimal"
)

// CPUs is how much CPU a container has.
type CPUs struct {
	// Effective is what nproc should say inside the container:
	// min(ceil(Quota), len(Cpuset), len(Online)), at least 1.
	Effective int
	// Quota is the smallest CFS quota/period over the cgroup and its
	// ancestors, as a fraction of CPUs (0.5 for 50000/100000); 0 when no
	// level sets a quota.
	Quota float64
	// QuotaMicros and PeriodMicros are the raw quota and period of the level
	// that sets Quota; QuotaMicros is -1 when no level sets a quota.
	QuotaMicros  int64
	PeriodMicros uint64
	// Cpuset is the CPUs the cgroup may run on (the effective cpuset),
	// ascending.
	Cpuset []int
	// Online is the host's online CPUs, ascending.
	Online []int
}

// CPUs returns the container's CPU limits: the quota over the cgroup and its
// ancestors, its cpuset and the host's online CPUs.
func (c *Cgroup) CPUs(ctx context.Context) (CPUs, error) {
	if err := ctx.Err(); err != nil {
		return CPUs{}, err
	}
	out := CPUs{QuotaMicros: -1}
	_, _, online, err := c.host.totals(ctx)
	if err != nil {
		return CPUs{}, err
	}
	out.Online = slices.Clone(online)
	out.Cpuset = out.Online
	c.host.withBuf(func(buf []byte) []byte {
		if w, werr := c.controller("cpu"); werr == nil {
			if buf, err = c.quota(w, buf, &out); err != nil {
				return buf
			}
		}
		if w, werr := c.controller("cpuset"); werr == nil {
			if buf, err = c.cpuset(w, buf, &out); err != nil {
				return buf
			}
		}
		return buf
	})
	if err != nil {
		return CPUs{}, err
	}
	n := min(len(out.Cpuset), len(out.Online))
	if out.Quota > 0 {
		n = min(n, int(math.Ceil(out.Quota)))
	}
	out.Effective = max(n, 1)
	return out, nil
}

// quota walks the CFS bandwidth limit up the tree and keeps the tightest.
func (c *Cgroup) quota(w where, buf []byte, out *CPUs) ([]byte, error) {
	var err error
	for _, d := range ancestors(w.dir, w.base) {
		var q int64
		var p uint64
		if d == w.base {
			break // the root cgroup has no quota, on v1 or v2
		}
		if w.v2 {
			if buf, err = c.readLimit(c.join(d, "cpu.max"), buf); err != nil {
				if notFound(err) {
					continue
				}
				return buf, err
			}
			if q, p, err = parseCPUMax(buf); err != nil {
				return buf, err
			}
		} else {
			if buf, err = c.readLimit(c.join(d, "cpu.cfs_quota_us"), buf); err != nil {
				if notFound(err) {
					continue
				}
				return buf, err
			}
			n, ok := atoi(bytes.TrimSpace(buf))
			if !ok {
				return buf, newError(ErrInvalid, "%s/cpu.cfs_quota_us %q", d, bytes.TrimSpace(buf))
			}
			q = n
			if q < 0 {
				continue
			}
			if buf, err = c.readLimit(c.join(d, "cpu.cfs_period_us"), buf); err != nil {
				return buf, err
			}
			if p, err = parseUintFile(buf); err != nil {
				return buf, err
			}
		}
		if q < 0 || p == 0 {
			continue
		}
		f := float64(q) / float64(p)
		if out.Quota == 0 || f < out.Quota {
			out.Quota, out.QuotaMicros, out.PeriodMicros = f, q, p
		}
	}
	return buf, nil
}

// parseCPUMax parses cgroup2's cpu.max ("max 100000" or "50000 100000");
// an unlimited quota is returned as -1.
func parseCPUMax(b []byte) (quota int64, period uint64, err error) {
	f := bytes.Fields(b)
	if len(f) != 2 {
		return 0, 0, newError(ErrInvalid, "cpu.max %q", bytes.TrimSpace(b))
	}
	p, ok := decimal.Uint(f[1])
	if !ok || p == 0 {
		return 0, 0, newError(ErrInvalid, "cpu.max period %q", f[1])
	}
	if string(f[0]) == "max" {
		return -1, p, nil
	}
	q, ok := atoi(f[0])
	if !ok || q < 0 {
		return 0, 0, newError(ErrInvalid, "cpu.max quota %q", f[0])
	}
	return q, p, nil
}

func (c *Cgroup) cpuset(w where, buf []byte, out *CPUs) ([]byte, error) {
	names := []string{"cpuset.effective_cpus", "cpuset.cpus"}
	if w.v2 {
		names = []string{"cpuset.cpus.effective"}
	}
	var err error
	for _, name := range names {
		buf, err = c.readLimit(c.join(w.dir, name), buf)
		if notFound(err) {
			continue
		}
		if err != nil {
			return buf, err
		}
		if len(bytes.TrimSpace(buf)) == 0 {
			continue
		}
		set, err := parseCPUList(buf)
		if err != nil {
			return buf, err
		}
		out.Cpuset = set
		return buf, nil
	}
	return buf, nil
}

// maxCPU bounds CPU numbers in lists, far above any machine (the kernel's
// NR_CPUS is at most 8192), so that a corrupt file cannot make us allocate
// without bound.
const maxCPU = 1 << 16

// ParseCPUList parses the kernel's CPU list format ("0-3,5,7-8", as in
// cpuset.cpus or /sys/devices/system/cpu/online) into ascending CPU numbers.
// An empty list is an empty slice.
func ParseCPUList(r io.Reader) ([]int, error) {
	b, err := io.ReadAll(io.LimitReader(r, 1<<20))
	if err != nil {
		return nil, annotate(err, "reading cpu list")
	}
	return parseCPUList(b)
}

func parseCPUList(b []byte) ([]int, error) {
	b = bytes.TrimSpace(b)
	out := []int{}
	if len(b) == 0 {
		return out, nil
	}
	last := -1
	for part := range bytes.SplitSeq(b, []byte(",")) {
		lo, hi, isRange := bytes.Cut(part, []byte("-"))
		a, ok1 := decimal.Uint(lo)
		z, ok2 := a, true
		if isRange {
			z, ok2 = decimal.Uint(hi)
		}
		if !ok1 || !ok2 || z < a || z >= maxCPU || int(a) <= last { //nolint:gosec // bounded by maxCPU
			return nil, newError(ErrInvalid, "cpu list %q", b)
		}
		for i := a; i <= z; i++ {
			out = append(out, int(i)) //nolint:gosec // bounded by maxCPU
		}
		last = int(z) //nolint:gosec // bounded by maxCPU
	}
	return out, nil
}

// FormatCPUList formats ascending CPU numbers in the kernel's list format,
// ranges joined: []int{0,1,2,5} is "0-2,5".
func FormatCPUList(cpus []int) string {
	var b []byte
	for i := 0; i < len(cpus); {
		j := i
		for j+1 < len(cpus) && cpus[j+1] == cpus[j]+1 {
			j++
		}
		if len(b) > 0 {
			b = append(b, ',')
		}
		b = fmt.Appendf(b, "%d", cpus[i])
		if j > i {
			b = fmt.Appendf(b, "-%d", cpus[j])
		}
		i = j + 1
	}
	return string(b)
}

// CPUTime is the CPU time a cgroup's tasks have used since it was created.
type CPUTime struct {
	Total, User, System time.Duration
}

// CPUTime returns the CPU time used by the cgroup and its descendants
// (cpuacct.usage and cpuacct.stat on v1, cpu.stat on v2).
func (c *Cgroup) CPUTime(ctx context.Context) (CPUTime, error) {
	if err := ctx.Err(); err != nil {
		return CPUTime{}, err
	}
	w, err := c.controller("cpuacct")
	if err != nil {
		if w, err = c.controller("cpu"); err != nil {
			return CPUTime{}, err
		}
	}
	var out CPUTime
	c.host.withBuf(func(buf []byte) []byte {
		if w.v2 {
			if buf, err = c.read(c.join(w.dir, "cpu.stat"), buf); err != nil {
				return buf
			}
			out, err = parseCPUStatV2(buf)
			return buf
		}
		if buf, err = c.read(c.join(w.dir, "cpuacct.usage"), buf); err != nil {
			return buf
		}
		var ns uint64
		if ns, err = parseUintFile(buf); err != nil {
			return buf
		}
		if buf, err = c.read(c.join(w.dir, "cpuacct.stat"), buf); err != nil {
			return buf
		}
		out, err = parseCPUAcctStat(buf)
		out.Total = time.Duration(ns) //nolint:gosec // nanoseconds of CPU time fit int64 for 292 years
		return buf
	})
	return out, err
}

func parseCPUStatV2(b []byte) (CPUTime, error) {
	var out CPUTime
	var err error
	eachKV(b, func(k, v []byte) {
		var d *time.Duration
		switch string(k) {
		case "usage_usec":
			d = &out.Total
		case "user_usec":
			d = &out.User
		case "system_usec":
			d = &out.System
		default:
			return
		}
		n, ok := decimal.Uint(v)
		if !ok || n > math.MaxInt64/1000 {
			err = newError(ErrInvalid, "cpu.stat %s %q", k, v)
			return
		}
		*d = time.Duration(n) * time.Microsecond //nolint:gosec // range checked
	})
	return out, err
}

// userHZ is the kernel's USER_HZ, the unit of clock ticks in /proc and
// cpuacct.stat; it is 100 on every architecture Linux supports today.
const userHZ = 100

func parseCPUAcctStat(b []byte) (CPUTime, error) {
	var out CPUTime
	var err error
	eachKV(b, func(k, v []byte) {
		var d *time.Duration
		switch string(k) {
		case "user":
			d = &out.User
		case "system":
			d = &out.System
		default:
			return
		}
		n, ok := decimal.Uint(v)
		if !ok || n > math.MaxInt64/uint64(time.Second/userHZ) {
			err = newError(ErrInvalid, "cpuacct.stat %s %q", k, v)
			return
		}
		*d = time.Duration(n) * (time.Second / userHZ) //nolint:gosec // range checked
	})
	return out, err
}
