package metrics

import (
	"context"
	"path/filepath"
	"time"
)

// node is the collector's state for the host's own metrics.
type node struct {
	stat, loadavg, pidMax, threadsMax, ctCount, ctMax, fileNr, sockstat keptFile

	buf     []byte
	prevCPU NodeCPU
	havePrv bool
}

func newNode(root string) *node {
	p := func(rel string) keptFile { return keptFile{path: filepath.Join(root, rel)} }
	return &node{
		stat:       p("proc/stat"),
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
	for _, k := range []*keptFile{&n.stat, &n.loadavg, &n.pidMax, &n.threadsMax, &n.ctCount, &n.ctMax, &n.fileNr, &n.sockstat} {
		k.close()
	}
}

// sample reads the host's metrics. Each value that cannot be read is left
// out and counted in errors; files that do not exist on this host (the
// conntrack module not loaded) leave their metric absent without an error.
func (n *node) sample(ctx context.Context, col *Collector) (NodeSample, int) {
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
	readUint := func(k *keptFile, dst *uint64) {
		if !read(k) {
			return
		}
		v, err := parseUintFile(filepath.Base(k.path), n.buf)
		if err != nil {
			fail(k.path, err)
			return
		}
		*dst = v
	}

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
	if m, err := col.host.HostMeminfo(ctx); err != nil {
		fail("meminfo", err)
	} else {
		s.Memory = m
	}
	if read(&n.loadavg) {
		l, err := parseLoadavg(n.buf)
		if err != nil {
			fail(n.loadavg.path, err)
		} else {
			s.Load1, s.Load5, s.Load15, s.Threads = l.load1, l.load5, l.load15, l.threads
		}
	}
	readUint(&n.pidMax, &s.PidMax)
	readUint(&n.threadsMax, &s.ThreadsMax)
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
	// Conntrack: absent module, absent metric.
	var ct Usage
	var err error
	if n.buf, err = n.ctCount.read(n.buf); err == nil {
		if ct.Used, err = parseUintFile("nf_conntrack_count", n.buf); err != nil {
			fail(n.ctCount.path, err)
		} else if n.buf, err = n.ctMax.read(n.buf); err != nil {
			fail(n.ctMax.path, err)
		} else if ct.Max, err = parseUintFile("nf_conntrack_max", n.buf); err != nil {
			fail(n.ctMax.path, err)
		} else {
			s.Conntrack = &ct
		}
	} else if !vanished(err) {
		fail(n.ctCount.path, err)
	}
	return s, errors
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
