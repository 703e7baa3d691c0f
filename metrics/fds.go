package metrics

import (
	"os"
	"path/filepath"
	"strconv"

	"golang.org/x/sys/unix"
)

// maxFDsPerProcess bounds the directory entries read for one process when
// the kernel does not report the count (a process can hold millions).
const maxFDsPerProcess = 1 << 20

// fdCounter counts a process's open file descriptors. Since Linux 6.2 a
// stat of /proc/<pid>/fd reports the count as its size, which costs one
// syscall whatever the count; older kernels report 0 and the directory is
// read instead (one getdents per ~100 descriptors).
type fdCounter struct {
	procDir  string
	statSize bool
}

// newFDCounter probes whether the kernel reports the count in st_size: the
// collector's own /proc/self/fd always holds a few descriptors. A fake
// tree's fd directories are plain directories, so only the real /proc is
// probed.
func newFDCounter(procDir string) fdCounter {
	c := fdCounter{procDir: procDir}
	if procDir == "/proc" {
		var st unix.Stat_t
		if err := unix.Stat("/proc/self/fd", &st); err == nil && st.Size > 0 {
			c.statSize = true
		}
	}
	return c
}

// count returns the open descriptors of pid, or 0 when the process is gone
// or its fd directory is not readable.
func (c fdCounter) count(pid int) uint64 {
	dir := filepath.Join(c.procDir, strconv.Itoa(pid), "fd")
	if c.statSize {
		var st unix.Stat_t
		if err := unix.Stat(dir, &st); err != nil {
			return 0
		}
		if st.Size > 0 {
			return uint64(st.Size)
		}
	}
	return readdirCount(dir)
}

// readdirCount counts the entries of dir, up to maxFDsPerProcess.
func readdirCount(dir string) uint64 {
	f, err := os.Open(dir)
	if err != nil {
		return 0
	}
	defer f.Close()
	var n uint64
	for n < maxFDsPerProcess {
		names, err := f.Readdirnames(1024)
		n += uint64(len(names))
		if err != nil || len(names) == 0 {
			break
		}
	}
	return n
}
