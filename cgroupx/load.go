package cgroupx

import (
	"bytes"
	"context"
	"errors"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"time"
	"unsafe"

	"github.com/shoalkit/shoal/internal/decimal"

	"golang.org/x/sys/unix"
)

// Fixed-point constants of the kernel's load average
// (include/linux/sched/loadavg.h).
const (
	FShift = 11          // bits of precision
	Fixed1 = 1 << FShift // 1.0 as fixed-point
	Exp1   = 1884        // 1/exp(5s/1min) as fixed-point
	Exp5   = 2014        // 1/exp(5s/5min)
	Exp15  = 2037        // 1/exp(5s/15min)
)

// LoadFreq is the kernel's load sampling period, LOAD_FREQ (5 s; the
// kernel adds one tick).
const LoadFreq = 5 * time.Second

// CalcLoad is the kernel's calc_load: one step of the exponentially
// decaying average, in fixed-point, rounding up while the load rises.
// active is the number of active tasks times [Fixed1].
func CalcLoad(load, exp, active uint64) uint64 {
	newload := load*exp + active*(Fixed1-exp)
	if active >= load {
		newload += Fixed1 - 1
	}
	return newload / Fixed1
}

// CalcLoadN is the kernel's calc_load_n: n steps at once with the same
// active count, as the kernel does after a tickless idle period.
func CalcLoadN(load, exp, active uint64, n uint) uint64 {
	return CalcLoad(load, fixedPowerInt(exp, FShift, n), active)
}

// fixedPowerInt is the kernel's fixed_power_int: x**n in fixed-point with
// frac bits, rounding at each step.
func fixedPowerInt(x uint64, frac uint, n uint) uint64 {
	result := uint64(1) << frac
	if n == 0 {
		return result
	}
	for {
		if n&1 != 0 {
			result *= x
			result += 1 << (frac - 1)
			result >>= frac
		}
		n >>= 1
		if n == 0 {
			break
		}
		x *= x
		x += 1 << (frac - 1)
		x >>= frac
	}
	return result
}

// TaskCount is one scan of a cgroup subtree's threads.
type TaskCount struct {
	// Running counts threads in state R, Uninterruptible those in state D.
	Running, Uninterruptible int
	// Total counts every thread.
	Total int
	// LastPID is the highest thread id seen (the host's numbering).
	LastPID int
}

// CountTasks scans every thread of every process in the cgroup and its
// descendants, reading /proc/<pid>/task/<tid>/stat.
func (c *Cgroup) CountTasks(ctx context.Context) (TaskCount, error) {
	pids, err := c.PIDs(ctx)
	if err != nil {
		return TaskCount{}, err
	}
	var tc TaskCount
	if c.files != nil {
		c.files.beginScan()
		defer c.files.endScan()
	}
	p, _ := c.host.bufs.Get().(*[]byte)
	if p == nil {
		b := make([]byte, 0, 8192)
		p = &b
	}
	defer c.host.bufs.Put(p)
	buf := (*p)[:cap(*p)]
	if len(buf) < 8192 {
		buf = make([]byte, 8192)
		*p = buf[:0]
	}
	for _, pid := range pids {
		if err := ctx.Err(); err != nil {
			return TaskCount{}, err
		}
		countProcess(c.host.proc(strconv.Itoa(pid)+"/task"), pid, buf, &tc, c.files)
	}
	return tc, nil
}

// countProcess adds the threads of one process. The leader's
// /proc/<pid>/task/<pid>/stat is read first: it says how many threads the
// process has, and a single-threaded process (most of them) needs no
// listing of its task directory. A process that exits during the scan is
// skipped, as the kernel would no longer count it either.
func countProcess(taskDir string, pid int, buf []byte, tc *TaskCount, cache *fileCache) {
	dirents := buf[:4096]
	statBuf := buf[4096:]
	if cache != nil {
		countProcessCached(taskDir, pid, dirents, statBuf, tc, cache)
		return
	}
	// The leader by its full path: no directory to open for a
	// single-threaded process.
	var pathArr [512]byte
	path := append(pathArr[:0], taskDir...)
	path = append(path, '/')
	path = strconv.AppendInt(path, int64(pid), 10)
	path = append(path, "/stat\x00"...)
	leader, threads, ok := readLeaderStat(atFDCWD, &path[0], statBuf)
	if ok {
		tc.add(leader, pid)
		if threads == 1 {
			return
		}
	}
	var name [32]byte
	forEachTask(taskDir, dirents, func(dfd int, tid uint64, tidName []byte) {
		l := len(tidName)
		if l+len("/stat")+1 > len(name) || (ok && tid == uint64(pid)) { //nolint:gosec // pid is positive
			return
		}
		copy(name[:], tidName)
		copy(name[l:], "/stat\x00")
		if b, okr := readStat(dfd, &name[0], statBuf); okr {
			if state, oks := statState(b); oks {
				tc.add(state, int(tid)) //nolint:gosec // a tid fits int
			}
		}
	})
}

// forEachTask lists a task directory with getdents into dirents, without
// allocating, and calls fn with the directory's descriptor and each numeric
// entry's id and name.
func forEachTask(taskDir string, dirents []byte, fn func(dfd int, tid uint64, name []byte)) {
	dfd, err := unix.Open(taskDir, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return
	}
	defer unix.Close(dfd)
	for {
		n, err := unix.ReadDirent(dfd, dirents)
		if err != nil || n <= 0 {
			return
		}
		// struct linux_dirent64: ino 8, off 8, reclen 2, type 1, name.
		for off := 0; off+19 <= n; {
			reclen := int(*(*uint16)(unsafe.Pointer(&dirents[off+16])))
			if reclen <= 0 || off+reclen > n {
				return
			}
			name := dirents[off+19 : off+reclen]
			off += reclen
			if l := bytes.IndexByte(name, 0); l >= 0 {
				name = name[:l]
			}
			if tid, ok := decimal.Uint(name); ok {
				fn(dfd, tid, name)
			}
		}
	}
}

// countProcessCached is countProcess through a KeepOpen handle's cache.
func countProcessCached(taskDir string, pid int, dirents, statBuf []byte, tc *TaskCount, cache *fileCache) {
	b, ok := cache.taskStat(taskDir, pid, statBuf)
	if ok {
		state, threads, okl := leaderStat(b)
		if okl {
			tc.add(state, pid)
			if threads == 1 {
				return
			}
		} else {
			ok = false
		}
	}
	forEachTask(taskDir, dirents, func(_ int, tid uint64, _ []byte) {
		if tid > 1<<22 || (ok && tid == uint64(pid)) { //nolint:gosec // pid is positive
			return
		}
		if b, okr := cache.taskStat(taskDir, int(tid), statBuf); okr {
			if state, oks := statState(b); oks {
				tc.add(state, int(tid))
			}
		}
	})
}

func (tc *TaskCount) add(state byte, tid int) {
	tc.Total++
	switch state {
	case 'R':
		tc.Running++
	case 'D':
		tc.Uninterruptible++
	}
	tc.LastPID = max(tc.LastPID, tid)
}

// readLeaderStat reads a leader's stat and returns its state and the
// process's thread count (field 20).
func readLeaderStat(dirfd int, path *byte, buf []byte) (state byte, threads int, ok bool) {
	b, ok := readStat(dirfd, path, buf)
	if !ok {
		return 0, 0, false
	}
	return leaderStat(b)
}

// leaderStat returns the state and thread count (field 20) of a stat line.
func leaderStat(b []byte) (state byte, threads int, ok bool) {
	state, ok = statState(b)
	if !ok {
		return 0, 0, false
	}
	// Field 20 is the 18th field after the state (field 3).
	i := bytes.LastIndexByte(b, ')') + 2
	for field := 3; field < 20; field++ {
		j := bytes.IndexByte(b[i:], ' ')
		if j < 0 {
			return state, 0, true
		}
		i += j + 1
	}
	end := bytes.IndexByte(b[i:], ' ')
	if end < 0 {
		return state, 0, true
	}
	n, okn := decimal.Uint(b[i : i+end])
	if !okn || n > 1<<22 {
		return state, 0, true // unknown: list the task directory
	}
	return state, int(n), true
}

// atFDCWD makes openat resolve a relative path from the working directory,
// and ignore the directory for an absolute one.
const atFDCWD = -100

// readStat reads <dirfd>/<path> (a NUL-terminated "tid/stat") into buf.
func readStat(dirfd int, path *byte, buf []byte) ([]byte, bool) {
	fd, _, errno := unix.Syscall6(unix.SYS_OPENAT, uintptr(dirfd), //nolint:gosec // AT_FDCWD is negative by design
		uintptr(unsafe.Pointer(path)),
		uintptr(unix.O_RDONLY|unix.O_CLOEXEC), 0, 0, 0)
	if errno != 0 {
		return nil, false
	}
	defer unix.Close(int(fd))
	n, err := unix.Read(int(fd), buf)
	if err != nil || n <= 0 {
		return nil, false
	}
	return buf[:n], true
}

// PIDs returns the processes of the cgroup and its descendants, read from
// cgroup.procs.
//
// A KeepOpen handle keeps cgroup.procs open only on cgroup2. A v1
// cgroup.procs (like tasks) re-read from offset 0 on the same open file
// serves the pid list the kernel built at its first read, kept until a
// second after the last read: a collector re-reading it faster than that
// would never see a process come or go. On v1 it is opened for every call.
func (c *Cgroup) PIDs(ctx context.Context) ([]int, error) {
	w, err := c.procsDir()
	if err != nil {
		return nil, err
	}
	read := func(dir string, buf []byte) ([]byte, error) {
		return c.read(filepath.Join(dir, "cgroup.procs"), buf)
	}
	if !w.v2 {
		read = c.readProcsFresh
	}
	var pids []int
	var walk func(dir string, top bool) error
	walk = func(dir string, top bool) error {
		if err := ctx.Err(); err != nil {
			return err
		}
		var rerr error
		c.host.withBuf(func(buf []byte) []byte {
			buf, rerr = read(dir, buf)
			if rerr != nil {
				return buf
			}
			eachLine(buf, func(line []byte) bool {
				n, ok := decimal.Uint(line)
				if !ok || n > 1<<22 {
					rerr = newError(ErrInvalid, "%s/cgroup.procs: %q", dir, line)
					return false
				}
				pids = append(pids, int(n))
				return true
			})
			return buf
		})
		if rerr != nil {
			if !top && notFound(rerr) {
				return nil // removed during the walk
			}
			return rerr
		}
		// A directory's link count is 2 + its subdirectories on kernfs
		// (and tmpfs, ext4): a leaf cgroup needs no listing.
		if c.links(dir) == 2 {
			return nil
		}
		entries, err := os.ReadDir(dir)
		if err != nil {
			if !top && errors.Is(err, os.ErrNotExist) {
				return nil
			}
			cause := err
			var pe *fs.PathError
			if errors.As(err, &pe) {
				cause = pe.Err
			}
			return pathError("readdir", dir, cause)
		}
		for _, e := range entries {
			if e.IsDir() {
				if err := walk(filepath.Join(dir, e.Name()), false); err != nil {
					return err
				}
			}
		}
		return nil
	}
	if err := walk(w.dir, true); err != nil {
		return nil, err
	}
	return pids, nil
}

// LoadAvg is a container's load average, as /proc/loadavg shows it.
type LoadAvg struct {
	// Avenrun holds the 1, 5 and 15-minute averages in the kernel's
	// fixed-point (divide by [Fixed1]).
	Avenrun [3]uint64
	// Load1, Load5 and Load15 are Avenrun as numbers.
	Load1, Load5, Load15 float64
	// Running and Total are the runnable and all threads of the last scan,
	// LastPID the highest thread id it saw.
	Running, Total, LastPID int
	// Samples is how many scans have been folded in.
	Samples uint64
}

// Ticker is the part of *time.Ticker a LoadTracker uses, so tests can drive
// it with a fake clock.
type Ticker interface {
	Chan() <-chan time.Time
	Stop()
}

// LoadConfig configures a LoadTracker. A zero field is its default (see
// DefaultLoadConfig), so the zero LoadConfig is the default configuration.
type LoadConfig struct {
	// Interval between scans; zero (or negative) is [LoadFreq] (5 s), the
	// kernel's, for which the EXP_* constants are made.
	Interval time.Duration
	// NewTicker makes the ticker that paces Run; nil is time.NewTicker.
	NewTicker func(time.Duration) Ticker
	// Logger receives scan errors that Run survives; nil discards them.
	Logger *slog.Logger
}

// DefaultLoadConfig returns the configuration a zero LoadConfig stands for:
// scans every LoadFreq paced by time.NewTicker, errors discarded.
func DefaultLoadConfig() LoadConfig {
	return LoadConfig{}.withDefaults()
}

func (cfg LoadConfig) withDefaults() LoadConfig {
	if cfg.Interval <= 0 {
		cfg.Interval = LoadFreq
	}
	if cfg.NewTicker == nil {
		cfg.NewTicker = func(d time.Duration) Ticker { return timeTicker{time.NewTicker(d)} }
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	return cfg
}

// LoadTracker keeps a container's load average: every Interval it counts
// the runnable (R) and uninterruptible (D) threads of the cgroup subtree and
// folds the count into 1, 5 and 15-minute averages with the kernel's
// calc_load, bit for bit. Its methods are safe for concurrent use; Run must
// be called by one goroutine at a time.
//
// The count is what /proc shows. It differs from the kernel's own in one
// case: a task frozen by the v1 freezer shows as D and is counted here,
// while the kernel has left frozen tasks out of its load since Linux 6.1.
type LoadTracker struct {
	cg  *Cgroup
	cfg LoadConfig

	mu       sync.Mutex
	avg      LoadAvg
	lastTick time.Time
}

type timeTicker struct{ *time.Ticker }

// Chan returns the ticker's channel.
func (t timeTicker) Chan() <-chan time.Time { return t.C }

// NewLoadTracker returns a tracker for cg, with averages at zero as after a
// boot.
func NewLoadTracker(cg *Cgroup, cfg LoadConfig) *LoadTracker {
	return &LoadTracker{cg: cg, cfg: cfg.withDefaults()}
}

// Run scans at every tick until ctx is done, then returns ctx's error. When
// ticks were missed (a stopped process, a slow scan), the averages decay by
// the missed intervals at once, with calc_load_n as the kernel does after
// idling. It returns early with an error wrapping [ErrNotFound] when the
// cgroup is removed, or [ErrClosed] when its KeepOpen handle is closed.
func (t *LoadTracker) Run(ctx context.Context) error {
	tk := t.cfg.NewTicker(t.cfg.Interval)
	defer tk.Stop()
	for {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case now := <-tk.Chan():
			if err := t.sampleAt(ctx, now); err != nil {
				if errors.Is(err, ErrNotFound) || errors.Is(err, ErrClosed) || ctx.Err() != nil {
					return err
				}
				t.cfg.Logger.WarnContext(ctx, "cgroupx: load scan failed", "cgroup", t.cg.path, "err", err)
			}
		}
	}
}

// Sample scans once now and folds the count in as one interval.
func (t *LoadTracker) Sample(ctx context.Context) error {
	return t.sampleAt(ctx, time.Time{})
}

func (t *LoadTracker) sampleAt(ctx context.Context, now time.Time) error {
	tc, err := t.cg.CountTasks(ctx)
	if err != nil {
		return err
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	n := uint(1)
	if !now.IsZero() && !t.lastTick.IsZero() {
		if k := now.Sub(t.lastTick) / t.cfg.Interval; k > 1 {
			n = uint(min(k, 1<<20)) //nolint:gosec // bounded
		}
	}
	if !now.IsZero() {
		t.lastTick = now
	}
	t.fold(tc, n)
	return nil
}

// Fold folds a task count into the averages as n intervals, without
// scanning; Sample and Run call it. It is exported for callers that count
// tasks themselves.
func (t *LoadTracker) Fold(tc TaskCount, n uint) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.fold(tc, n)
}

func (t *LoadTracker) fold(tc TaskCount, n uint) {
	active := uint64(max(tc.Running+tc.Uninterruptible, 0)) * Fixed1 //nolint:gosec // non-negative
	a := &t.avg
	for i, exp := range [3]uint64{Exp1, Exp5, Exp15} {
		if n == 1 {
			a.Avenrun[i] = CalcLoad(a.Avenrun[i], exp, active)
		} else {
			a.Avenrun[i] = CalcLoadN(a.Avenrun[i], exp, active, n)
		}
	}
	a.Load1 = float64(a.Avenrun[0]) / Fixed1
	a.Load5 = float64(a.Avenrun[1]) / Fixed1
	a.Load15 = float64(a.Avenrun[2]) / Fixed1
	a.Running, a.Total, a.LastPID = tc.Running, tc.Total, tc.LastPID
	a.Samples += uint64(n)
}

// Load returns the current averages.
func (t *LoadTracker) Load() LoadAvg {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.avg
}
