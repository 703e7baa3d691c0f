package cgroupx

import (
	"errors"
	"path/filepath"
	"strconv"
	"sync"
	"time"

	"golang.org/x/sys/unix"
)

// maxTaskFDs caps the thread stat files a KeepOpen handle keeps open; the
// threads beyond are read by opening their file each time.
const maxTaskFDs = 4096

// fileCache keeps the files a KeepOpen handle reads open, and re-reads
// them with pread at offset 0: the kernel's seq_files regenerate their
// content on a read from offset 0, and an open on cgroupfs costs ten times
// a read.
type fileCache struct {
	mu     sync.Mutex
	fds    map[string]int
	dirs   map[string]int // O_PATH descriptors of directories (readAt)
	tasks  map[int]taskFD
	gen    uint64
	closed bool

	// paths are the file paths read, by directory and name, so that a
	// read does not build its path each time.
	paths map[[2]string]string

	// Limit files (CPU quota and period, cpuset, memory and swap limits
	// over the ancestors) whose content is kept while limitTTL says so;
	// see CacheLimits.
	limitTTL time.Duration
	limits   map[string]*limitEntry
}

// limitEntry is a limit file's content (or its absence) as last read.
type limitEntry struct {
	data    []byte
	missing error // the not-found error of a file the host lacks
	at      time.Time
	valid   bool
}

type taskFD struct {
	fd  int
	gen uint64
}

// KeepOpen returns a handle on the same cgroup that keeps the cgroup files
// and thread stat files it reads open between calls, for a collector that
// samples the same container every few seconds: a read then costs one
// pread instead of open, read and close. Close it when done.
func (c *Cgroup) KeepOpen() *Cgroup {
	cp := *c
	cp.files = &fileCache{fds: map[string]int{}, dirs: map[string]int{}, tasks: map[int]taskFD{}, paths: map[[2]string]string{}}
	return &cp
}

// Close closes the files a KeepOpen handle keeps open. It is idempotent and
// does nothing for a handle that is not KeepOpen. A closed KeepOpen handle
// returns errors wrapping ErrClosed.
func (c *Cgroup) Close() error {
	if c.files == nil {
		return nil
	}
	f := c.files
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.closed {
		return nil
	}
	f.closed = true
	for p, fd := range f.fds {
		unix.Close(fd)
		delete(f.fds, p)
	}
	for d, fd := range f.dirs {
		unix.Close(fd)
		delete(f.dirs, d)
	}
	for tid, t := range f.tasks {
		unix.Close(t.fd)
		delete(f.tasks, tid)
	}
	return nil
}

// CacheLimits makes a KeepOpen handle keep what it read of limit files —
// the CPU quota and period and the cpuset (in CPUs), the memory and swap
// limits walked up the ancestors (in Meminfo; on v1 the limit comes from
// memory.stat, read every time) — and serve it again for ttl, so that a
// collector sampling usage every few seconds does not re-read limits that
// change a few times a day. A negative ttl keeps them until
// InvalidateLimits; 0 turns the cache off (the default). Limits set
// through this handle's SetLimits invalidate it; a limit changed by anyone
// else is seen after ttl, or after InvalidateLimits. It does nothing for a
// handle that is not KeepOpen.
func (c *Cgroup) CacheLimits(ttl time.Duration) {
	if c.files == nil {
		return
	}
	f := c.files
	f.mu.Lock()
	defer f.mu.Unlock()
	f.limitTTL = ttl
	if f.limits == nil {
		f.limits = map[string]*limitEntry{}
	}
	f.invalidateLimits()
}

// InvalidateLimits makes the next read of each limit file go to the
// kernel again, on a handle whose limits are cached (CacheLimits).
func (c *Cgroup) InvalidateLimits() {
	if c.files == nil {
		return
	}
	c.files.mu.Lock()
	c.files.invalidateLimits()
	c.files.mu.Unlock()
}

func (f *fileCache) invalidateLimits() {
	for _, e := range f.limits {
		e.valid = false
	}
}

// readLimit reads a limit file, through the limit cache of a KeepOpen
// handle that has one.
func (c *Cgroup) readLimit(path string, buf []byte) ([]byte, error) {
	if c.files == nil {
		return readInto(path, buf)
	}
	f := c.files
	f.mu.Lock()
	e := f.limits[path]
	if f.limitTTL != 0 && !f.closed && e != nil && e.valid && (f.limitTTL < 0 || time.Since(e.at) < f.limitTTL) {
		buf = append(buf[:0], e.data...)
		err := e.missing
		f.mu.Unlock()
		return buf, err
	}
	caching := f.limitTTL != 0
	f.mu.Unlock()
	b, err := f.read(path, buf)
	if !caching || (err != nil && !notFound(err)) {
		return b, err
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.limitTTL == 0 || f.closed {
		return b, err
	}
	if e = f.limits[path]; e == nil {
		e = &limitEntry{}
		f.limits[path] = e
	}
	e.data = append(e.data[:0], b...)
	e.missing, e.at, e.valid = err, time.Now(), true
	return b, err
}

// maxPaths bounds the paths a KeepOpen handle remembers.
const maxPaths = 4096

// join is filepath.Join(dir, name), remembered by a KeepOpen handle.
func (c *Cgroup) join(dir, name string) string {
	f := c.files
	if f == nil {
		return filepath.Join(dir, name)
	}
	key := [2]string{dir, name}
	f.mu.Lock()
	p, ok := f.paths[key]
	f.mu.Unlock()
	if ok {
		return p
	}
	p = filepath.Join(dir, name)
	f.mu.Lock()
	if len(f.paths) < maxPaths {
		f.paths[key] = p
	}
	f.mu.Unlock()
	return p
}

// read reads a cgroup file, through the cache of a KeepOpen handle.
func (c *Cgroup) read(path string, buf []byte) ([]byte, error) {
	if c.files == nil {
		return readInto(path, buf)
	}
	return c.files.read(path, buf)
}

// readProcsFresh reads dir/cgroup.procs with a descriptor of its own, as
// a v1 cgroup.procs re-read on a kept descriptor is stale (see PIDs). A
// KeepOpen handle opens it relative to the directory, which it keeps open
// (O_PATH), saving the walk of the whole path; a closed one fails with
// ErrClosed.
func (c *Cgroup) readProcsFresh(dir string, buf []byte) ([]byte, error) {
	if c.files == nil {
		return readInto(filepath.Join(dir, "cgroup.procs"), buf)
	}
	return c.files.readAt(dir, "cgroup.procs", buf)
}

// links returns the link count of directory dir, 0 when it cannot be
// read: 2 + its subdirectories on kernfs. A KeepOpen handle stats the
// directory it keeps open.
func (c *Cgroup) links(dir string) uint64 {
	var st unix.Stat_t
	if c.files != nil {
		if fd, ok := c.files.dirFD(dir, false); ok && unix.Fstat(fd, &st) == nil {
			return uint64(st.Nlink) //nolint:unconvert // Nlink is uint32 on some platforms
		}
	}
	if err := unix.Stat(dir, &st); err != nil {
		return 0
	}
	return uint64(st.Nlink) //nolint:unconvert // Nlink is uint32 on some platforms
}

// dirFD returns the kept O_PATH descriptor of dir, opening it when open
// is true.
func (f *fileCache) dirFD(dir string, open bool) (int, bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.closed {
		return -1, false
	}
	if fd, ok := f.dirs[dir]; ok {
		return fd, true
	}
	if !open {
		return -1, false
	}
	fd, err := unix.Open(dir, unix.O_PATH|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return -1, false
	}
	f.dirs[dir] = fd
	return fd, true
}

// dropDir forgets the kept descriptor of dir if it is still fd.
func (f *fileCache) dropDir(dir string, fd int) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if cur, ok := f.dirs[dir]; ok && cur == fd {
		unix.Close(fd)
		delete(f.dirs, dir)
	}
}

// readAt opens name in dir (through dir's kept descriptor), reads it whole
// and closes it. A directory removed since, perhaps made again under the
// same name, is opened once more.
func (f *fileCache) readAt(dir, name string, buf []byte) ([]byte, error) {
	for attempt := 0; ; attempt++ {
		dfd, ok := f.dirFD(dir, true)
		if !ok {
			f.mu.Lock()
			closed := f.closed
			f.mu.Unlock()
			if closed {
				return buf[:0], newError(ErrClosed, "read %s/%s after Close", dir, name)
			}
			return readInto(filepath.Join(dir, name), buf)
		}
		fd, err := unix.Openat(dfd, name, unix.O_RDONLY|unix.O_CLOEXEC, 0)
		if errors.Is(err, unix.EINTR) {
			continue
		}
		if err != nil {
			f.dropDir(dir, dfd)
			if attempt == 0 {
				continue
			}
			return buf[:0], pathError("open", filepath.Join(dir, name), err)
		}
		b, err := readFD(fd, buf, seqFile(dir))
		unix.Close(fd)
		if err != nil {
			return b, pathError("read", filepath.Join(dir, name), err)
		}
		return b, nil
	}
}

func (f *fileCache) read(path string, buf []byte) ([]byte, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.closed {
		return buf[:0], newError(ErrClosed, "read %s after Close", path)
	}
	for {
		fd, cached := f.fds[path]
		if !cached {
			var err error
			if fd, err = openRead(path); err != nil {
				return buf[:0], err
			}
			f.fds[path] = fd
		}
		b, err := preadAll(fd, buf)
		if err == nil {
			return b, nil
		}
		// Removed since (ENODEV from kernfs), perhaps made again under
		// the same name: forget the descriptor and open the path once more.
		unix.Close(fd)
		delete(f.fds, path)
		if !cached {
			return b, pathError("read", path, err)
		}
	}
}

// taskStat reads a thread's stat file through the cache; path is built
// only when the file must be opened.
func (f *fileCache) taskStat(taskDir string, tid int, buf []byte) ([]byte, bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.closed {
		return nil, false
	}
	for attempt := 0; attempt < 2; attempt++ {
		t, ok := f.tasks[tid]
		if !ok {
			fd, err := openRead(taskDir + "/" + strconv.Itoa(tid) + "/stat")
			if err != nil {
				return nil, false
			}
			if len(f.tasks) >= maxTaskFDs {
				defer unix.Close(fd)
				b, err := preadAll(fd, buf)
				return b, err == nil && len(b) > 0
			}
			t = taskFD{fd: fd}
		}
		t.gen = f.gen
		f.tasks[tid] = t
		b, err := preadAll(t.fd, buf)
		if err == nil && len(b) > 0 {
			return b, true
		}
		// The thread exited (ESRCH); its id may be in use again.
		unix.Close(t.fd)
		delete(f.tasks, tid)
		if !ok {
			return nil, false
		}
	}
	return nil, false
}

// beginScan and endScan bracket a task scan: descriptors of threads the
// scan did not see are closed.
func (f *fileCache) beginScan() {
	f.mu.Lock()
	f.gen++
	f.mu.Unlock()
}

func (f *fileCache) endScan() {
	f.mu.Lock()
	defer f.mu.Unlock()
	for tid, t := range f.tasks {
		if t.gen != f.gen {
			unix.Close(t.fd)
			delete(f.tasks, tid)
		}
	}
}

func openRead(path string) (int, error) {
	for {
		fd, err := unix.Open(path, unix.O_RDONLY|unix.O_CLOEXEC, 0)
		if errors.Is(err, unix.EINTR) {
			continue
		}
		if err != nil {
			return -1, pathError("open", path, err)
		}
		return fd, nil
	}
}

// preadAll reads a whole seq_file from offset 0 into buf, growing it and
// starting over when the content does not fit, so that the result is one
// consistent generation of the file.
func preadAll(fd int, buf []byte) ([]byte, error) {
	if cap(buf) < 4096 {
		buf = make([]byte, 0, 4096)
	}
	for {
		n, err := unix.Pread(fd, buf[:cap(buf)], 0)
		if errors.Is(err, unix.EINTR) {
			continue
		}
		if err != nil {
			return buf[:0], err
		}
		if n < cap(buf) {
			return buf[:n], nil
		}
		if cap(buf) >= 64<<20 {
			return buf[:0], unix.EFBIG
		}
		buf = make([]byte, 0, 2*cap(buf))
	}
}
