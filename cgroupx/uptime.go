package cgroupx

import (
	"bytes"
	"context"
	"io"
	"math"
	"time"

	"github.com/shoalkit/shoal/internal/decimal"
)

// Uptime is how long a container has been up, as /proc/uptime would say
// inside it.
type Uptime struct {
	// Uptime is the time since the container's init started: the process of
	// the cgroup subtree that started first.
	Uptime time.Duration
	// Idle is the CPU time the container's CPUs spent idle over Uptime,
	// summed over CPUs as the kernel sums it: Uptime × effective CPUs minus
	// the CPU time the cgroup used, never below zero.
	Idle time.Duration
	// InitPID is the pid of the container's init.
	InitPID int
}

// ParseUptime parses /proc/uptime ("12345.67 54321.89").
func ParseUptime(r io.Reader) (uptime, idle time.Duration, err error) {
	b, err := io.ReadAll(io.LimitReader(r, 4096))
	if err != nil {
		return 0, 0, annotate(err, "reading uptime")
	}
	return parseUptime(b)
}

func parseUptime(b []byte) (uptime, idle time.Duration, err error) {
	f := bytes.Fields(b)
	if len(f) != 2 {
		return 0, 0, newError(ErrInvalid, "uptime %q", trunc(b))
	}
	var d [2]time.Duration
	for i, s := range f {
		whole, frac, ok := bytes.Cut(s, []byte("."))
		w, ok1 := decimal.Uint(whole)
		c, ok2 := decimal.Uint(frac)
		if !ok || !ok1 || !ok2 || len(frac) != 2 || w > math.MaxInt64/uint64(time.Second)-1 {
			return 0, 0, newError(ErrInvalid, "uptime %q", trunc(b))
		}
		d[i] = time.Duration(w)*time.Second + time.Duration(c)*10*time.Millisecond //nolint:gosec // range checked
	}
	return d[0], d[1], nil
}

// HostUptime reads the host's /proc/uptime.
func (h *Host) HostUptime(ctx context.Context) (uptime, idle time.Duration, err error) {
	if err := ctx.Err(); err != nil {
		return 0, 0, err
	}
	h.withBuf(func(buf []byte) []byte {
		if buf, err = readInto(h.proc("uptime"), buf); err == nil {
			uptime, idle, err = parseUptime(buf)
		}
		return buf
	})
	return uptime, idle, err
}

// Uptime returns the container's uptime and idle time. A cgroup with no
// processes has no uptime: the error wraps [ErrNotFound]. It is
// [Cgroup.Oldest] then [Cgroup.UptimeSince].
func (c *Cgroup) Uptime(ctx context.Context) (Uptime, error) {
	first, err := c.Oldest(ctx)
	if err != nil {
		return Uptime{}, err
	}
	return c.UptimeSince(ctx, first)
}

// Oldest returns the stat of the cgroup's oldest process, the one a
// container's uptime counts from. It reads every process's stat: a caller
// that asks for the uptime often can keep the answer and call
// [Cgroup.UptimeSince] meanwhile. A cgroup with no processes: the error
// wraps [ErrNotFound].
func (c *Cgroup) Oldest(ctx context.Context) (ProcStat, error) {
	pids, err := c.PIDs(ctx)
	if err != nil {
		return ProcStat{}, err
	}
	var first ProcStat
	found := false
	for _, pid := range pids {
		st, rerr := c.procStat(pid)
		if notFound(rerr) {
			continue // exited
		}
		if rerr != nil {
			return ProcStat{}, rerr
		}
		if !found || st.StartTime < first.StartTime {
			first, found = st, true
		}
	}
	if !found {
		return ProcStat{}, newError(ErrNotFound, "cgroup %s has no processes", c.path)
	}
	return first, nil
}

// UptimeSince is [Cgroup.Uptime] for a container whose oldest process is
// first (as [Cgroup.Oldest] returned it); it reads no process's stat.
func (c *Cgroup) UptimeSince(ctx context.Context, first ProcStat) (Uptime, error) {
	hostUp, _, err := c.host.HostUptime(ctx)
	if err != nil {
		return Uptime{}, err
	}
	start := time.Duration(min(first.StartTime, math.MaxInt64/uint64(time.Second/userHZ))) * (time.Second / userHZ) //nolint:gosec // bounded
	u := Uptime{InitPID: first.PID, Uptime: max(hostUp-start, 0)}
	cpus, err := c.CPUs(ctx)
	if err != nil {
		return Uptime{}, err
	}
	used, err := c.CPUTime(ctx)
	if err != nil {
		return Uptime{}, err
	}
	u.Idle = max(u.Uptime*time.Duration(cpus.Effective)-used.Total, 0)
	return u, nil
}
