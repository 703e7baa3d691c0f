package metrics

import (
	"errors"
	"io"
	"os"
	"syscall"
)

// maxFileSize bounds what is read of one proc, sys or cgroup file: the
// largest ones read here (net/dev of a namespace with hundreds of
// interfaces, memory.stat) are a few tens of kilobytes.
const maxFileSize = 4 << 20

// keptFile is a file under /proc, /sys or a cgroup that stays open between
// samples and is re-read from offset 0: one pread instead of open, read and
// close. Not safe for concurrent use; each container's state owns its own.
type keptFile struct {
	path string
	f    *os.File
}

// read returns the whole file in buf (grown as needed). A file that cannot
// be opened returns the open error, so callers tell a missing file apart
// with errors.Is(err, fs.ErrNotExist).
func (k *keptFile) read(buf []byte) ([]byte, error) {
	if k.f == nil {
		f, err := os.Open(k.path)
		if err != nil {
			return buf[:0], err
		}
		k.f = f
	}
	buf, err := preadAll(k.f, buf)
	if err != nil {
		// The file may belong to a cgroup or process that is gone: reopen
		// next time.
		k.close()
	}
	return buf, err
}

func (k *keptFile) close() {
	if k.f != nil {
		_ = k.f.Close()
		k.f = nil
	}
}

// preadAll reads f from offset 0 to its end into buf.
func preadAll(f *os.File, buf []byte) ([]byte, error) {
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
		n, err := f.ReadAt(buf[len(buf):cap(buf)], int64(len(buf)))
		buf = buf[:len(buf)+n]
		if errors.Is(err, io.EOF) || (err == nil && n == 0) {
			return buf, nil
		}
		if err != nil {
			return buf, err
		}
	}
}

// vanished tells whether err means the file's cgroup or process is gone.
func vanished(err error) bool {
	return errors.Is(err, os.ErrNotExist) || errors.Is(err, syscall.ENODEV) || errors.Is(err, syscall.ESRCH)
}
