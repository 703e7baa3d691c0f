package metrics

import (
	"errors"
	"os"
	"syscall"

	"golang.org/x/sys/unix"
)

// maxFileSize bounds what is read of one proc, sys or cgroup file: the
// largest ones read here (net/dev of a namespace with hundreds of
// interfaces, memory.stat) are a few tens of kilobytes.
const maxFileSize = 4 << 20

// keptFile is a file under /proc, /sys or a cgroup that stays open between
// samples and is re-read from offset 0: one pread instead of open, read and
// close. It holds the raw descriptor, as os.File.ReadAt would issue a
// second pread to see the end of every file. Not safe for concurrent use;
// each container's state owns its own.
type keptFile struct {
	path string
	fd   int
	open bool
	// records is set for a file of many records (net/dev), read to the
	// end (readAll) rather than trusting a short read.
	records bool
}

// read returns the whole file in buf (grown as needed). A file that cannot
// be opened returns the open error, so callers tell a missing file apart
// with errors.Is(err, fs.ErrNotExist).
func (k *keptFile) read(buf []byte) ([]byte, error) {
	if !k.open {
		fd, err := unix.Open(k.path, unix.O_RDONLY|unix.O_CLOEXEC, 0)
		if err != nil {
			return buf[:0], &os.PathError{Op: "open", Path: k.path, Err: err}
		}
		k.fd, k.open = fd, true
	}
	read := preadAll
	if k.records {
		read = readAll
	}
	buf, err := read(k.fd, buf)
	if err != nil {
		// The file may belong to a cgroup or process that is gone: reopen
		// next time.
		k.close()
		return buf, &os.PathError{Op: "read", Path: k.path, Err: err}
	}
	return buf, nil
}

func (k *keptFile) close() {
	if k.open {
		_ = unix.Close(k.fd)
		k.open = false
	}
}

// preadAll reads fd from offset 0 to its end into buf. Most files read
// here are shown by the kernel as one record (cgroup files, sockstat,
// /proc/stat, meminfo, sysctls), which a read returns whole when the
// buffer holds it: a short read is the end, which saves the second
// syscall that would return 0 (each costs microseconds). A file of many
// records (net/dev: one per interface; mountinfo) may return less than
// asked long before its end, so it is read with readAll.
func preadAll(fd int, buf []byte) ([]byte, error) {
	return preadUntil(fd, buf, false)
}

// readAll reads fd whole, trusting only a read of 0 bytes as the end.
func readAll(fd int, buf []byte) ([]byte, error) { return preadUntil(fd, buf, true) }

func preadUntil(fd int, buf []byte, toZero bool) ([]byte, error) {
	if cap(buf) < 4096 {
		buf = make([]byte, 0, 4096)
	}
	buf = buf[:0]
	for {
		if len(buf) == cap(buf) {
			if len(buf) >= maxFileSize {
				return buf, errors.New("file larger than 4 MiB")
			}
			buf = append(buf, 0)[:len(buf)]
		}
		want := cap(buf) - len(buf)
		n, err := unix.Pread(fd, buf[len(buf):cap(buf)], int64(len(buf)))
		if errors.Is(err, syscall.EINTR) {
			continue
		}
		if err != nil {
			return buf, err
		}
		buf = buf[:len(buf)+n]
		if n == 0 || (n < want && !toZero) {
			return buf, nil
		}
	}
}

// vanished tells whether err means the file's cgroup or process is gone.
func vanished(err error) bool {
	return errors.Is(err, os.ErrNotExist) || errors.Is(err, syscall.ENODEV) || errors.Is(err, syscall.ESRCH)
}
