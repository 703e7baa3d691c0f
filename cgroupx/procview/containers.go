package procview

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"golang.org/x/sys/unix"

	"github.com/shoalkit/shoal/cgroupx"
)

// container is one container the view has answered for or found under a
// parent: its cgroup and its load average.
type container struct {
	path    string
	cg      *cgroupx.Cgroup
	load    *cgroupx.LoadTracker
	snaps   snapshots
	sysinfo sysinfoSnapshot
	oldest  oldestProcess
}

// oldestAge is how long a container's oldest process, whose start its
// uptime counts from, is taken to be the one found last: finding it reads
// every process's stat (half of the server's work for a top -bn1 in a
// container of 100 processes). A container whose oldest process exits
// shows its uptime from the next oldest up to a second late.
const oldestAge = time.Second

// oldestProcess is the oldest process of a container when last found.
type oldestProcess struct {
	mu sync.Mutex
	st cgroupx.ProcStat
	at time.Time
}

// uptime is the container's uptime, its oldest process found at most
// maxAge ago (0: found now).
func (c *container) uptime(ctx context.Context, maxAge time.Duration) (cgroupx.Uptime, error) {
	now := time.Now()
	c.oldest.mu.Lock()
	st, at := c.oldest.st, c.oldest.at
	c.oldest.mu.Unlock()
	if at.IsZero() || now.Sub(at) >= maxAge || now.Before(at) {
		var err error
		if st, err = c.cg.Oldest(ctx); err != nil {
			return cgroupx.Uptime{}, err
		}
		c.oldest.mu.Lock()
		c.oldest.st, c.oldest.at = st, now
		c.oldest.mu.Unlock()
	}
	return c.cg.UptimeSince(ctx, st)
}

// registry maps callers to containers and keeps every container's load
// average up to date. It is safe for concurrent use.
type registry struct {
	host     *cgroupx.Host
	parents  []string
	max      int
	procRoot string
	interval time.Duration
	logger   *slog.Logger
	// stateFile keeps the averages for the next server; "" keeps none.
	stateFile string
	// callers remembers the container of recent callers.
	callers callerCache

	mu       sync.Mutex
	byPath   map[string]*container
	lastTick time.Time
}

// ContainerOf returns the cgroup path of the container that a process in
// the cgroups of lines belongs to: parent + "/" + the first component
// below it, for the first parent that holds the process. The memory
// controller's line is looked at first, then cgroup2's, then the others.
// It returns "" for a process outside every parent (the host).
func ContainerOf(parents []string, lines []cgroupx.ProcCgroup) string {
	rank := func(l cgroupx.ProcCgroup) int {
		switch {
		case slices.Contains(l.Controllers, "memory"):
			return 0
		case l.ID == 0:
			return 1
		}
		return 2
	}
	order := slices.Clone(lines)
	slices.SortStableFunc(order, func(a, b cgroupx.ProcCgroup) int { return rank(a) - rank(b) })
	for _, l := range order {
		for _, p := range parents {
			rest, ok := strings.CutPrefix(l.Path, p+"/")
			if !ok || rest == "" {
				continue
			}
			first, _, _ := strings.Cut(rest, "/")
			if first == "" || first == "." || first == ".." {
				continue
			}
			return p + "/" + first
		}
	}
	return ""
}

// containerOf returns the container of process pid, nil for a process
// outside every parent.
func (r *registry) containerOf(ctx context.Context, pid uint32) (*container, error) {
	if pid == 0 {
		return nil, newError(ErrNotFound, "request without a caller pid")
	}
	now := time.Now()
	if c, ok := r.callers.get(pid, now); ok {
		return c, nil
	}
	// The pidfd is taken before /proc/PID/cgroup is read: if its thread
	// is still alive after the read, the file was that thread's.
	pidfd := openPidfd(pid)
	c, err := r.resolve(ctx, pid)
	if err != nil || pidfd < 0 || !alive(pidfd) {
		if pidfd >= 0 {
			_ = unix.Close(pidfd)
		}
		return c, err
	}
	r.callers.put(pid, pidfd, c, now)
	return c, nil
}

// resolve reads the cgroups of pid and returns its container, nil for a
// process outside every parent.
func (r *registry) resolve(ctx context.Context, pid uint32) (*container, error) {
	p := filepath.Join(r.procRoot, strconv.FormatUint(uint64(pid), 10), "cgroup")
	b, err := readBounded(p, 64<<10)
	if err != nil {
		return nil, err
	}
	lines, err := cgroupx.ParseProcCgroup(bytes.NewReader(b))
	if err != nil {
		return nil, wrapError(ErrInvalid, err, "cgroup of pid %d", pid)
	}
	path := ContainerOf(r.parents, lines)
	if path == "" {
		return nil, nil //nolint:nilnil // nil container: the host's view
	}
	return r.get(ctx, path)
}

// get returns the container at path, opening it and taking a first load
// sample when it is new.
func (r *registry) get(ctx context.Context, path string) (*container, error) {
	r.mu.Lock()
	c, ok := r.byPath[path]
	full := len(r.byPath) >= r.max
	r.mu.Unlock()
	if ok {
		return c, nil
	}
	if full {
		return nil, newError(ErrUnavailable, "more than %d containers", r.max)
	}
	c, err := r.open(ctx, path)
	if err != nil {
		return nil, err
	}
	if err := c.load.Sample(ctx); err != nil && !errors.Is(err, cgroupx.ErrNotFound) {
		r.logger.WarnContext(ctx, "procview: first load scan", "container", path, "err", err)
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if old, ok := r.byPath[path]; ok {
		return old, nil
	}
	r.byPath[path] = c
	return c, nil
}

// open opens the container at path, with its averages at zero.
func (r *registry) open(ctx context.Context, path string) (*container, error) {
	cg, err := r.host.Open(ctx, path)
	if err != nil {
		return nil, wrapError(ErrNotFound, err, "container %s", path)
	}
	return &container{path: path, cg: cg, load: cgroupx.NewLoadTracker(cg, cgroupx.LoadConfig{Logger: r.logger})}, nil
}

// Run keeps the load averages: every interval it finds the containers
// under the parents, counts each one's tasks and folds the count in with
// the kernel's calc_load (calc_load_n for missed intervals); containers
// whose cgroup is gone are dropped. It returns ctx's error when ctx is done.
func (r *registry) run(ctx context.Context) error {
	tk := time.NewTicker(r.interval)
	defer tk.Stop()
	for {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case now := <-tk.C:
			r.tick(ctx, now)
		}
	}
}

// tick is one pass of run.
func (r *registry) tick(ctx context.Context, now time.Time) {
	n := uint(1)
	if !r.lastTick.IsZero() {
		if k := now.Sub(r.lastTick) / r.interval; k > 1 {
			n = uint(min(k, 1<<20)) //nolint:gosec // bounded
		}
	}
	r.lastTick = now
	r.callers.sweep(now)
	for _, p := range r.parents {
		for _, path := range r.children(ctx, p) {
			if _, err := r.get(ctx, path); err != nil && !errors.Is(err, ErrNotFound) {
				r.logger.WarnContext(ctx, "procview: container", "path", path, "err", err)
			}
		}
	}
	r.mu.Lock()
	cs := make([]*container, 0, len(r.byPath))
	for _, c := range r.byPath {
		cs = append(cs, c)
	}
	r.mu.Unlock()
	for _, c := range cs {
		if ctx.Err() != nil {
			return
		}
		tc, err := c.cg.CountTasks(ctx)
		if errors.Is(err, cgroupx.ErrNotFound) {
			r.forget(c)
			continue
		}
		if err != nil {
			r.logger.WarnContext(ctx, "procview: load scan", "container", c.path, "err", err)
			continue
		}
		c.load.Fold(tc, n)
	}
	if r.stateFile != "" {
		if err := r.save(r.stateFile, now); err != nil {
			r.logger.WarnContext(ctx, "procview: save load state", "err", err)
		}
	}
}

// children lists the container cgroups directly under parent, at most max.
func (r *registry) children(ctx context.Context, parent string) []string {
	cg, err := r.host.Open(ctx, parent)
	if err != nil {
		return nil
	}
	dirs := cg.Dirs()
	dir, ok := dirs["memory"]
	if !ok {
		dir, ok = dirs[""]
	}
	if !ok {
		for _, d := range dirs {
			dir = d
			break
		}
	}
	f, err := os.Open(dir)
	if err != nil {
		return nil
	}
	defer f.Close()
	entries, err := f.ReadDir(r.max)
	if err != nil {
		return nil
	}
	var out []string
	for _, e := range entries {
		if e.IsDir() {
			out = append(out, parent+"/"+e.Name())
		}
	}
	return out
}

// readBounded reads at most limit bytes of a file; a missing file or
// process is [ErrNotFound]. Raw system calls: an os.File would try the
// runtime's poller and fcntl on every open.
func readBounded(path string, limit int) ([]byte, error) {
	fd, err := unix.Open(path, unix.O_RDONLY|unix.O_CLOEXEC, 0)
	if err != nil {
		return nil, wrapError(errnoKind(err), err, "open %s", path)
	}
	defer unix.Close(fd)
	buf := make([]byte, 0, 4096)
	for len(buf) < limit {
		if len(buf) == cap(buf) {
			buf = slices.Grow(buf, min(cap(buf), limit-len(buf)))
		}
		n, err := unix.Read(fd, buf[len(buf):cap(buf)])
		if errors.Is(err, unix.EINTR) {
			continue
		}
		if err != nil {
			return nil, wrapError(errnoKind(err), err, "read %s", path)
		}
		if n == 0 {
			break
		}
		buf = buf[:len(buf)+n]
	}
	return buf, nil
}

// errnoKind is ErrNotFound for a file or process that is gone, else
// ErrUnavailable.
func errnoKind(err error) error {
	if errors.Is(err, os.ErrNotExist) || errors.Is(err, syscall.ESRCH) {
		return ErrNotFound
	}
	return ErrUnavailable
}

// unwrapPath returns the errno of a *fs.PathError, so that messages name
// the path once.
func unwrapPath(err error) error {
	var pe *os.PathError
	if errors.As(err, &pe) {
		return pe.Err
	}
	return err
}

// forget drops c, whose cgroup is gone.
func (r *registry) forget(c *container) {
	r.mu.Lock()
	if r.byPath[c.path] == c {
		delete(r.byPath, c.path)
	}
	r.mu.Unlock()
	r.callers.drop(c)
}
