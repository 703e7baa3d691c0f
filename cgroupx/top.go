package cgroupx

import (
	"context"
	"os"
	"sort"
	"strconv"
	"time"
)

// ProcessSample is one process of a cgroup at one moment.
type ProcessSample struct {
	PID     int
	Comm    string
	State   byte
	Threads int
	// CPU is the user and system time the process has used.
	CPU time.Duration
	// RSS is its resident memory in bytes.
	RSS uint64
}

// Processes samples every process of the cgroup and its descendants from
// /proc/<pid>/stat. Processes that exit during the scan are left out.
func (c *Cgroup) Processes(ctx context.Context) ([]ProcessSample, error) {
	pids, err := c.PIDs(ctx)
	if err != nil {
		return nil, err
	}
	page := uint64(os.Getpagesize()) //nolint:gosec // positive
	out := make([]ProcessSample, 0, len(pids))
	for _, pid := range pids {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		st, rerr := c.procStat(pid)
		if notFound(rerr) {
			continue
		}
		if rerr != nil {
			return nil, rerr
		}
		ticks := min(st.UTime+st.STime, 1<<62/uint64(time.Second/userHZ))
		out = append(out, ProcessSample{
			PID: st.PID, Comm: st.Comm, State: st.State, Threads: st.NumThreads,
			CPU: time.Duration(ticks) * (time.Second / userHZ), //nolint:gosec // bounded
			RSS: st.RSSPages * page,
		})
	}
	return out, nil
}

// TopEntry is a process with its CPU use over an interval.
type TopEntry struct {
	ProcessSample
	// CPUPercent is the share of one CPU the process used over the
	// interval, as top shows it (200 for two busy CPUs).
	CPUPercent float64
}

// Top compares two samples taken interval apart and returns the processes
// of cur, busiest first (then by pid). A process missing from prev counts
// from zero only if it started within the interval, which top cannot know;
// here it gets 0%.
func Top(prev, cur []ProcessSample, interval time.Duration) []TopEntry {
	before := make(map[int]time.Duration, len(prev))
	for _, p := range prev {
		before[p.PID] = p.CPU
	}
	out := make([]TopEntry, 0, len(cur))
	for _, p := range cur {
		e := TopEntry{ProcessSample: p}
		if b, ok := before[p.PID]; ok && interval > 0 && p.CPU >= b {
			e.CPUPercent = 100 * float64(p.CPU-b) / float64(interval)
		}
		out = append(out, e)
	}
	sort.SliceStable(out, func(i, j int) bool {
		if out[i].CPUPercent != out[j].CPUPercent {
			return out[i].CPUPercent > out[j].CPUPercent
		}
		return out[i].PID < out[j].PID
	})
	return out
}

// Top samples the cgroup's processes, waits interval (or until ctx is
// done) and samples again.
func (c *Cgroup) Top(ctx context.Context, interval time.Duration) ([]TopEntry, error) {
	prev, err := c.Processes(ctx)
	if err != nil {
		return nil, err
	}
	start := time.Now()
	t := time.NewTimer(interval)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return nil, ctx.Err()
	case <-t.C:
	}
	cur, err := c.Processes(ctx)
	if err != nil {
		return nil, err
	}
	return Top(prev, cur, time.Since(start)), nil
}

// procStat reads and parses /proc/<pid>/stat through the host's buffer.
func (c *Cgroup) procStat(pid int) (ProcStat, error) {
	var st ProcStat
	var err error
	c.host.withBuf(func(buf []byte) []byte {
		if buf, err = readInto(c.host.proc(strconv.Itoa(pid)+"/stat"), buf); err == nil {
			st, err = parseProcStat(buf)
		}
		return buf
	})
	return st, err
}
