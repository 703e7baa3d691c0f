package metrics

import (
	"context"
	"errors"
	"path/filepath"
	"slices"
	"strconv"
	"sync/atomic"
	"time"

	"golang.org/x/sys/unix"

	"github.com/shoalkit/shoal/cgroupx"
)

// container is the collector's state for one target. Its sample method is
// called by one goroutine at a time (the collector's sample holds it).
type container struct {
	target Target
	start  time.Time

	cg *cgroupx.Cgroup // KeepOpen handle, limits cached; nil until opened, or after it vanished
	// opened tells a re-open after the cgroup vanished (a restart) from the
	// first open.
	opened bool

	// Files of the cgroup the collector reads itself.
	cpuStat, oom, pidsCur, pidsMax keptFile
	v2                             bool // cpu.stat, oom are the cgroup2 files

	// limits are re-read every LimitInterval, or at the next sample after
	// LimitsChanged (limitsStale).
	limits      limitState
	limitsStale atomic.Bool
	// throttle is cpu.stat's throttling as last read: on v1 the file is
	// read only while a quota is set (without one its counters stand).
	throttle throttling

	// Files of the namespace process.
	pid                      int
	netns                    uint64  // inode of the namespace the net files were opened in
	procDir                  procDir // /proc/<pid> of the namespace process, kept open
	netDev, sockstat, sockV6 keptFile
	net                      []InterfaceStats // the last sample's, whose names are reused

	buf []byte

	disks     []DiskStats
	diskTime  time.Time
	diskValid bool
	diskErrs  int // mounts left out since the collector last summed them

	fds      uint64
	fdsTime  time.Time
	fdsValid bool

	counters counterState
	prev     rateBase
	resets   uint64
}

// limitState is what the container may use, read every LimitInterval.
type limitState struct {
	valid bool
	time  time.Time
	cpus  cgroupx.CPUs
	pids  uint64
}

// rateBase is what rates are computed from: the adjusted counters of the
// previous sample.
type rateBase struct {
	valid                      bool
	time                       time.Time
	cpu, throttled             time.Duration
	rx, tx                     uint64
	rBytes, wBytes, rOps, wOps uint64
}

// close releases every file the container keeps open.
func (c *container) close() {
	if c.cg != nil {
		_ = c.cg.Close()
		c.cg = nil
	}
	for _, k := range []*keptFile{&c.cpuStat, &c.oom, &c.pidsCur, &c.pidsMax, &c.netDev, &c.sockstat, &c.sockV6} {
		k.close()
	}
	c.procDir.close()
}

// open opens the cgroup and finds the paths of the files read beside
// cgroupx.
func (c *container) open(ctx context.Context, host *cgroupx.Host) error {
	cg, err := host.Open(ctx, c.target.Cgroup)
	if err != nil {
		return err
	}
	restart := c.opened
	c.close()
	c.cg, c.opened = cg.KeepOpen(), true
	// Limits are read again when the collector says (LimitInterval,
	// LimitsChanged), not at every sample.
	c.cg.CacheLimits(-1)
	c.limits.valid = false
	c.throttle = throttling{}
	c.fdsValid = false
	if restart {
		c.counters.restart()
		c.resets++
	}
	dirs := cg.Dirs()
	v2dir, hasV2 := dirs[""]
	c.v2 = cg.Version() == 2
	pick := func(ctrl string) string {
		if d, ok := dirs[ctrl]; ok {
			return d
		}
		if hasV2 && c.v2 {
			return v2dir
		}
		return ""
	}
	set := func(k *keptFile, dir, name string) {
		k.path = ""
		if dir != "" {
			k.path = filepath.Join(dir, name)
		}
	}
	set(&c.cpuStat, pick("cpu"), "cpu.stat")
	mem := pick("memory")
	if c.v2 {
		set(&c.oom, mem, "memory.events")
	} else {
		set(&c.oom, mem, "memory.oom_control")
	}
	pids := pick("pids")
	set(&c.pidsCur, pids, "pids.current")
	set(&c.pidsMax, pids, "pids.max")
	return nil
}

// sample reads the container. An error means the container is left out
// of this snapshot.
func (c *container) sample(ctx context.Context, col *Collector, now time.Time) (ContainerSample, error) {
	if c.cg == nil {
		if err := c.open(ctx, col.host); err != nil {
			return ContainerSample{}, err
		}
	}
	s := ContainerSample{Target: c.target, Time: now, Start: c.start}
	err := c.read(ctx, col, &s, now)
	if err != nil {
		if vanished(err) || errors.Is(err, cgroupx.ErrNotFound) {
			// Reopen at the next sample: a container made again under the
			// same cgroup is a restart.
			c.close()
		}
		return ContainerSample{}, err
	}
	c.counters.adjust(&s, &c.resets)
	s.Resets = c.resets
	s.Rates = c.rates(&s)
	return s, nil
}

func (c *container) read(ctx context.Context, col *Collector, s *ContainerSample, now time.Time) error {
	cg := c.cg
	refreshed, err := c.readLimits(ctx, col, now)
	if err != nil {
		return err
	}
	mem, err := cg.Meminfo(ctx)
	if err != nil {
		return err
	}
	s.Memory = MemoryStats{
		Usage: mem.Usage, Limit: mem.Limit,
		Cache: mem.Cached, RSS: mem.AnonPages, MappedFile: mem.Mapped,
		// The swap the group uses (v1 memory.stat total_swap, v2
		// memory.swap.current): SwapTotal caps it by the swap the group
		// may use, which the kernel enforces anyway.
		Swap: mem.SwapTotal - mem.SwapFree,
	}
	if mem.Usage > mem.InactiveFile {
		s.Memory.WorkingSet = mem.Usage - mem.InactiveFile
	}
	if err := c.readOOM(s); err != nil {
		return err
	}
	if err := c.readCPU(ctx, s, refreshed); err != nil {
		return err
	}

	io, err := cg.IO(ctx)
	switch {
	case errors.Is(err, cgroupx.ErrUnsupported):
	case err != nil:
		return err
	default:
		s.IO = make([]IOStats, len(io))
		for i, d := range io {
			s.IO[i] = IOStats{
				Major: d.Major, Minor: d.Minor, Device: col.deviceName(d.Major, d.Minor),
				ReadBytes: d.ReadBytes, WriteBytes: d.WriteBytes, ReadOps: d.ReadOps, WriteOps: d.WriteOps,
			}
		}
	}

	p, err := cg.Pressure(ctx)
	switch {
	case errors.Is(err, cgroupx.ErrUnsupported):
	case err != nil:
		return err
	default:
		s.Pressure = &p
	}

	pids, err := cg.PIDs(ctx)
	if err != nil {
		return err
	}
	if err := c.readProcesses(ctx, col, s, pids, now); err != nil {
		return err
	}
	if err := c.readNet(col, s, pids); err != nil {
		return err
	}
	c.readDisks(ctx, col, s, now)
	return nil
}

// readLimits re-reads the limits when LimitInterval has passed or
// LimitsChanged was called: the CPU quota and cpuset (and, through the
// handle's limit cache, the memory limits walked up a cgroup2 tree) and
// pids.max.
func (c *container) readLimits(ctx context.Context, col *Collector, now time.Time) (bool, error) {
	every := col.cfg.LimitInterval
	stale := c.limitsStale.Swap(false)
	if c.limits.valid && !stale && every >= 0 && now.Sub(c.limits.time) < every {
		return false, nil
	}
	c.cg.InvalidateLimits()
	cpus, err := c.cg.CPUs(ctx)
	if err != nil {
		return false, err
	}
	l := limitState{valid: true, time: now, cpus: cpus, pids: Unlimited}
	if c.pidsMax.path != "" {
		c.buf, err = c.pidsMax.read(c.buf)
		switch {
		case vanishedFile(err) && c.v2:
			// A cgroup2 group without the pids controller enabled.
			c.pidsMax.path, c.pidsCur.path = "", ""
		case err != nil:
			return false, err
		default:
			if l.pids, err = parseUintFile("pids.max", c.buf); err != nil {
				return false, err
			}
		}
	}
	c.limits = l
	return true, nil
}

// readCPU reads CPU time and throttling. On cgroup2 one cpu.stat holds
// both; on v1 cpuacct holds the time and cpu.stat the throttling, which
// only moves while a quota is set.
func (c *container) readCPU(ctx context.Context, s *ContainerSample, limitsRead bool) error {
	cpus := &c.limits.cpus
	s.CPU.LimitCores, s.CPU.QuotaMicros, s.CPU.PeriodMicros, s.CPU.Cores = cpus.Quota, cpus.QuotaMicros, cpus.PeriodMicros, cpus.Effective
	if c.v2 && c.cpuStat.path != "" {
		var err error
		if c.buf, err = c.cpuStat.read(c.buf); err != nil {
			return err
		}
		t, err := parseCPUStat(c.buf)
		if err != nil {
			return err
		}
		s.CPU.Usage, s.CPU.User, s.CPU.System = t.usage, t.user, t.system
		c.throttle = t
	} else {
		cpuTime, err := c.cg.CPUTime(ctx)
		if err != nil {
			return err
		}
		s.CPU.Usage, s.CPU.User, s.CPU.System = cpuTime.Total, cpuTime.User, cpuTime.System
		// Read at each limit refresh, and at every sample while a quota
		// is set at any level.
		if c.cpuStat.path != "" && (cpus.QuotaMicros >= 0 || limitsRead) {
			if c.buf, err = c.cpuStat.read(c.buf); err != nil {
				return err
			}
			if c.throttle, err = parseCPUStat(c.buf); err != nil {
				return err
			}
		}
	}
	t := &c.throttle
	s.CPU.Periods, s.CPU.ThrottledPeriods, s.CPU.Throttled = t.periods, t.throttledPeriods, time.Duration(t.throttledNs) //nolint:gosec // bounded by the parser
	return nil
}

// readOOM reads the OOM counters.
func (c *container) readOOM(s *ContainerSample) error {
	if c.oom.path == "" {
		return nil
	}
	var err error
	if c.buf, err = c.oom.read(c.buf); err != nil {
		if vanishedFile(err) {
			return nil // a kernel without the file; the cgroup's own reads tell a vanished one
		}
		return err
	}
	o, err := parseOOM(filepath.Base(c.oom.path), c.buf)
	if err != nil {
		return err
	}
	s.Memory.OOMKills, s.Memory.OOMEvents = o.kills, o.events
	return nil
}

// vanishedFile tells a file that does not exist; the caller decides
// whether its cgroup is gone too (cgroupx's own reads tell that).
func vanishedFile(err error) bool { return err != nil && vanished(err) }

// readProcesses counts processes (cgroup.procs over the subtree, every
// sample), threads (pids.current, which counts every task of the subtree,
// every sample; a scan of the processes' stat files without the pids
// controller) and open files (one stat per process, every FDInterval),
// with the pids limit.
func (c *container) readProcesses(ctx context.Context, col *Collector, s *ContainerSample, pids []int, now time.Time) error {
	s.Processes.Processes = uint64(len(pids))
	s.Processes.PidsLimit = c.limits.pids
	var err error
	if c.pidsCur.path != "" {
		c.buf, err = c.pidsCur.read(c.buf)
		if vanishedFile(err) && c.v2 {
			// A cgroup2 group without the pids controller enabled.
			c.pidsCur.path = ""
		}
	}
	if c.pidsCur.path != "" {
		if err != nil {
			return err
		}
		if s.Processes.Threads, err = parseUintFile("pids.current", c.buf); err != nil {
			return err
		}
	} else {
		ps, err := c.cg.Processes(ctx)
		if err != nil {
			return err
		}
		for _, p := range ps {
			s.Processes.Threads += uint64(max(p.Threads, 0))
		}
	}
	every := col.cfg.FDInterval
	if every >= 0 && (!c.fdsValid || now.Sub(c.fdsTime) >= every) {
		var n uint64
		for _, pid := range pids {
			n += col.fdCounter.count(pid)
		}
		c.fds, c.fdsTime, c.fdsValid = n, now, true
	}
	s.Processes.FDs = c.fds
	return nil
}

// readNet reads the interface counters and TCP counts of the container's
// network namespace through /proc/<pid>/net of one of its processes.
func (c *container) readNet(col *Collector, s *ContainerSample, pids []int) error {
	pid := c.target.PID
	if pid == 0 {
		if len(pids) == 0 {
			return nil // no process, no namespace to read
		}
		// Keep the process already used while it is in the cgroup.
		pid = pids[0]
		if c.pid != 0 && slices.Contains(pids, c.pid) {
			pid = c.pid
		}
	}
	// An open net file stays in the namespace it was opened in, and a
	// process can change namespace (ip netns exec, setns): compare the
	// namespace's inode every time.
	var st unix.Stat_t
	if err := c.statNetns(col, pid, &st); err != nil {
		// The process exited since the cgroup was listed: this sample has
		// no network figures; the next one picks another process.
		col.logger.Debug("network namespace", "id", c.target.ID, "pid", pid, "err", err)
		c.pid = 0
		return nil
	}
	if pid != c.pid || st.Ino != c.netns {
		for _, k := range []*keptFile{&c.netDev, &c.sockstat, &c.sockV6} {
			k.close()
		}
		dir := filepath.Join(col.procDir, strconv.Itoa(pid), "net")
		c.netDev.path, c.sockstat.path, c.sockV6.path = filepath.Join(dir, "dev"), filepath.Join(dir, "sockstat"), filepath.Join(dir, "sockstat6")
		c.netDev.records = true
		c.pid, c.netns = pid, st.Ino
	}
	var err error
	if c.buf, err = c.netDev.read(c.buf); err != nil {
		return err
	}
	if s.Net, err = parseNetDev(c.buf, nil, c.net); err != nil {
		return err
	}
	c.net = s.Net
	if c.buf, err = c.sockstat.read(c.buf); err != nil {
		return err
	}
	ss, err := parseSockstat(c.buf, "TCP:")
	if err != nil {
		return err
	}
	s.TCP.InUse, s.TCP.TimeWait = ss.inUse, ss.tw
	c.buf, err = c.sockV6.read(c.buf)
	switch {
	case vanishedFile(err):
		c.sockV6.path = "" // no IPv6 on this host
	case err != nil:
		return err
	default:
		st6, err := parseSockstat(c.buf, "TCP6:")
		if err != nil {
			return err
		}
		s.TCP.InUse6 = st6.inUse
	}
	return nil
}

// procDir is a process's /proc/<pid> directory kept open (O_PATH), so that
// a stat of its ns/net walks two names instead of five.
type procDir struct {
	pid  int
	fd   int
	open bool
}

func (d *procDir) close() {
	if d.open {
		_ = unix.Close(d.fd)
		d.open = false
	}
}

// statNetns stats /proc/<pid>/ns/net. A process that exited (or whose pid
// names another process since) fails: its kept directory is gone.
func (c *container) statNetns(col *Collector, pid int, st *unix.Stat_t) error {
	d := &c.procDir
	if !d.open || d.pid != pid {
		d.close()
		fd, err := unix.Open(filepath.Join(col.procDir, strconv.Itoa(pid)), unix.O_PATH|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
		if err != nil {
			return err
		}
		d.pid, d.fd, d.open = pid, fd, true
	}
	if err := unix.Fstatat(d.fd, "ns/net", st, 0); err != nil {
		d.close()
		return err
	}
	return nil
}

// readDisks refreshes the file system usage every DiskInterval; the
// samples between reuse it (statfs of every mount costs more than the rest
// of a sample together). The statfs calls run off this goroutine, bounded
// by DiskTimeout (disk.go); mounts that fail are counted in diskErrs.
func (c *container) readDisks(ctx context.Context, col *Collector, s *ContainerSample, now time.Time) {
	if col.cfg.DiskInterval < 0 {
		return
	}
	// Without a process there is no mount namespace to look at: keep the
	// last figures and try again at the next sample.
	if c.pid != 0 && (!c.diskValid || now.Sub(c.diskTime) >= col.cfg.DiskInterval) {
		c.diskTime, c.diskValid = now, true
		c.disks = c.disks[:0]
		pidDir := filepath.Join(col.procDir, strconv.Itoa(c.pid))
		var err error
		c.buf, err = readMountinfo(filepath.Join(pidDir, "mountinfo"), c.buf)
		var mounts []mountEntry
		if err == nil {
			mounts, err = parseMountinfo(c.buf)
		}
		switch {
		case vanishedFile(err):
			// The process exited since it was picked: no figures this time.
		case err != nil:
			c.diskErrs++
			col.logger.Debug("mount table", "id", c.target.ID, "err", err)
		default:
			var failed int
			c.disks, failed = col.disk.usage(ctx, filepath.Join(pidDir, "root"), mounts)
			c.diskErrs += failed
			if failed > 0 {
				col.logger.Debug("disk usage: mounts left out (failed, hung or skipped)", "id", c.target.ID, "mounts", failed)
			}
		}
	}
	s.Disks = slices.Clone(c.disks)
}

// rates computes per-second values against the previous sample and keeps
// this one for the next.
func (c *container) rates(s *ContainerSample) Rates {
	var cur rateBase
	cur.valid, cur.time = true, s.Time
	cur.cpu, cur.throttled = s.CPU.Usage, s.CPU.Throttled
	for _, n := range s.Net {
		if n.Name == "lo" {
			continue
		}
		cur.rx += n.RxBytes
		cur.tx += n.TxBytes
	}
	for _, d := range s.IO {
		cur.rBytes += d.ReadBytes
		cur.wBytes += d.WriteBytes
		cur.rOps += d.ReadOps
		cur.wOps += d.WriteOps
	}
	prev := c.prev
	c.prev = cur
	dt := cur.time.Sub(prev.time)
	if !prev.valid || dt <= 0 {
		return Rates{}
	}
	sec := dt.Seconds()
	per := func(a, b uint64) float64 {
		if a < b {
			return 0 // an interface or device that went away
		}
		return float64(a-b) / sec
	}
	r := Rates{
		Valid: true, Interval: dt,
		CPUCores:  max(0, (cur.cpu-prev.cpu).Seconds()/sec),
		Throttled: max(0, (cur.throttled-prev.throttled).Seconds()/sec),
		NetRx:     per(cur.rx, prev.rx), NetTx: per(cur.tx, prev.tx),
		DiskRead: per(cur.rBytes, prev.rBytes), DiskWrite: per(cur.wBytes, prev.wBytes),
		DiskReadOps: per(cur.rOps, prev.rOps), DiskWriteOps: per(cur.wOps, prev.wOps),
	}
	cores := s.CPU.LimitCores
	if cores <= 0 {
		cores = float64(s.CPU.Cores)
	}
	if cores > 0 {
		r.CPUPercent = 100 * r.CPUCores / cores
	}
	return r
}
