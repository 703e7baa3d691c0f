package metrics

import (
	"context"
	"path/filepath"
	"sync/atomic"
	"time"

	"github.com/shoalkit/shoal/cgroupx"
)

// node is the collector's state for the host's own metrics.
type node struct {
	stat, meminfo, loadavg, fileNr, sockstat, ctCount keptFile
	pidMax, threadsMax, ctMax                         keptFile // limits

	buf     []byte
	prevCPU NodeCPU
	havePrv bool

	// The limits, read every LimitInterval (limitsStale: at the next
	// sample) with whether the conntrack module is loaded.
	limitsValid          bool
	limitsTime           time.Time
	limitsStale          atomic.Bool
	pidMaxV, threadsMaxV uint64
	ctMaxV               uint64
	conntrack            bool
}

func newNode(root string) *node {
	p := func(rel string) keptFile { return keptFile{path: filepath.Join(root, rel)} }
	return &node{
		stat:       p("proc/stat"),
		meminfo:    p("proc/meminfo"),
		loadavg:    p("proc/loadavg"),
		pidMax:     p("proc/sys/kernel/pid_max"),
		threadsMax: p("proc/sys/kernel/threads-max"),
		ctCount:    p("proc/sys/net/netfilter/nf_conntrack_count"),
		ctMax:      p("proc/sys/net/netfilter/nf_conntrack_max"),
		fileNr:     p("proc/sys/fs/file-nr"),
		sockstat:   p("proc/net/sockstat"),
	}
}

func (n *node) close() {
	for _, k := range []*keptFile{&n.stat, &n.meminfo, &n.loadavg, &n.pidMax, &n.threadsMax, &n.ctCount, &n.ctMax, &n.fileNr, &n.sockstat} {
		k.close()
	}
}

// sample reads the host's metrics. Each value that cannot be read is left
// out and counted in errors; files that do not exist on this host (the
// conntrack module not loaded) leave their metric absent without an error.
func (n *node) sample(ctx context.Context, col *Collector, now time.Time) (NodeSample, int) {
	var s NodeSample
	errors := 0
	fail := func(what string, err error) {
		errors++
		col.logger.Warn("node metric", "file", what, "err", err)
	}
	read := func(k *keptFile) bool {
		var err error
		n.buf, err = k.read(n.buf)
		if err != nil {
			fail(k.path, err)
			return false
		}
		return true
	}
	readUint := func(k *keptFile, dst *uint64) bool {
		if !read(k) {
			return false
		}
		v, err := parseUintFile(filepath.Base(k.path), n.buf)
		if err != nil {
			fail(k.path, err)
			return false
		}
		*dst = v
		return true
	}

	if err := ctx.Err(); err != nil {
		return s, 0
	}
	n.readLimits(col, now, readUint, fail)
	s.PidMax, s.ThreadsMax = n.pidMaxV, n.threadsMaxV

	if read(&n.stat) {
		cpu, cpus, err := parseProcStatCPU(n.buf)
		if err != nil {
			fail(n.stat.path, err)
		} else {
			s.CPU, s.CPUs = cpu, cpus
			if n.havePrv {
				s.CPUPercent, s.CPUPercentValid = busyPercent(n.prevCPU, cpu)
			}
			n.prevCPU, n.havePrv = cpu, true
		}
	}
	if read(&n.meminfo) {
		if m, err := cgroupx.ParseMeminfoBytes(n.buf); err != nil {
			fail(n.meminfo.path, err)
		} else {
			s.Memory = m
		}
	}
	if read(&n.loadavg) {
		l, err := parseLoadavg(n.buf)
		if err != nil {
			fail(n.loadavg.path, err)
		} else {
			s.Load1, s.Load5, s.Load15, s.Threads = l.load1, l.load5, l.load15, l.threads
		}
	}
	if read(&n.fileNr) {
		u, err := parseFileNr(n.buf)
		if err != nil {
			fail(n.fileNr.path, err)
		} else {
			s.Files = u
		}
	}
	if read(&n.sockstat) {
		st, err := parseSockstat(n.buf, "TCP:")
		if err != nil {
			fail(n.sockstat.path, err)
		} else {
			s.TCP = NodeTCP{InUse: st.inUse, TimeWait: st.tw, Orphaned: st.orphan, Alloc: st.alloc}
		}
	}
	// Conntrack: absent module, absent metric; whether it is loaded is
	// looked at with the limits.
	if n.conntrack {
		var err error
		n.buf, err = n.ctCount.read(n.buf)
		switch {
		case vanished(err):
			n.conntrack = false // unloaded since
		case err != nil:
			fail(n.ctCount.path, err)
		default:
			ct := Usage{Max: n.ctMaxV}
			if ct.Used, err = parseUintFile("nf_conntrack_count", n.buf); err != nil {
				fail(n.ctCount.path, err)
			} else {
				s.Conntrack = &ct
			}
		}
	}
	return s, errors
}

// readLimits reads pid_max, threads-max and nf_conntrack_max when
// LimitInterval has passed (or LimitsChanged was called), and looks again
// whether the conntrack module is loaded.
func (n *node) readLimits(col *Collector, now time.Time, readUint func(*keptFile, *uint64) bool, fail func(string, error)) {
	every := col.cfg.LimitInterval
	stale := n.limitsStale.Swap(false)
	if n.limitsValid && !stale && every >= 0 && now.Sub(n.limitsTime) < every {
		return
	}
	n.limitsValid, n.limitsTime = true, now
	n.pidMaxV, n.threadsMaxV = 0, 0
	readUint(&n.pidMax, &n.pidMaxV)
	readUint(&n.threadsMax, &n.threadsMaxV)
	var err error
	n.buf, err = n.ctMax.read(n.buf)
	n.conntrack = false
	switch {
	case vanished(err):
		// The module is not loaded: no files, no metric.
		n.ctCount.close()
		n.ctMax.close()
	case err != nil:
		fail(n.ctMax.path, err)
	default:
		v, err := parseUintFile("nf_conntrack_max", n.buf)
		if err != nil {
			fail(n.ctMax.path, err)
			return
		}
		n.ctMaxV, n.conntrack = v, true
	}
}

// busyPercent is the share of CPU time not idle (idle and iowait) between
// two readings of /proc/stat.
func busyPercent(a, b NodeCPU) (float64, bool) {
	total := func(c NodeCPU) time.Duration {
		return c.User + c.Nice + c.System + c.Idle + c.IOWait + c.IRQ + c.SoftIRQ + c.Steal
	}
	dt := total(b) - total(a)
	idle := (b.Idle + b.IOWait) - (a.Idle + a.IOWait)
	if dt <= 0 || idle < 0 || idle > dt {
		return 0, false
	}
	return 100 * float64(dt-idle) / float64(dt), true
}
