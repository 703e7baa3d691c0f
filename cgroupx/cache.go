package cgroupx

import (
	"errors"
	"strconv"
	"sync"

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
	tasks  map[int]taskFD
	gen    uint64
	closed bool
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
	cp.files = &fileCache{fds: map[string]int{}, tasks: map[int]taskFD{}}
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
	for tid, t := range f.tasks {
		unix.Close(t.fd)
		delete(f.tasks, tid)
	}
	return nil
}

// read reads a cgroup file, through the cache of a KeepOpen handle.
func (c *Cgroup) read(path string, buf []byte) ([]byte, error) {
	if c.files == nil {
		return readInto(path, buf)
	}
	return c.files.read(path, buf)
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
