package cgroupx

import (
	"bytes"
	"errors"
	"strings"

	"github.com/shoalkit/shoal/internal/decimal"

	"golang.org/x/sys/unix"
)

// readInto reads the whole file at path into buf[:0], growing it as
// needed. It avoids os.File so that reading a small /proc or cgroup file
// costs one open, a read or two and a close, and no allocation.
func readInto(path string, buf []byte) ([]byte, error) {
	var fd int
	var err error
	for {
		fd, err = unix.Open(path, unix.O_RDONLY|unix.O_CLOEXEC, 0)
		if !errors.Is(err, unix.EINTR) {
			break
		}
	}
	if err != nil {
		return buf[:0], pathError("open", path, err)
	}
	defer unix.Close(fd)
	b, err := readFD(fd, buf, seqFile(path))
	if err != nil {
		return b, pathError("read", path, err)
	}
	return b, nil
}

// readFD reads fd from its offset to the end into buf[:0], growing it as
// needed. seq tells a seq_file (/proc, /sys and cgroup files): one read
// fills the buffer up to the end of the file, so a short read is the end
// and the read that would return 0 can be saved.
func readFD(fd int, buf []byte, seq bool) ([]byte, error) {
	buf = buf[:0]
	for {
		if len(buf) == cap(buf) {
			buf = append(buf, 0)[:len(buf)]
		}
		n, err := unix.Read(fd, buf[len(buf):cap(buf)])
		if errors.Is(err, unix.EINTR) {
			continue
		}
		if err != nil {
			return buf, err
		}
		if n == 0 {
			return buf, nil
		}
		short := n < cap(buf)-len(buf)
		buf = buf[:len(buf)+n]
		if short && seq {
			return buf, nil
		}
	}
}

// pathError is the error of a system call on a kernel file: "cgroupx: open
// /proc/7/stat: no such file or directory". A missing file, process or
// device is ErrNotFound, anything else ErrUnavailable; the errno stays
// matchable.
func pathError(op, path string, err error) error {
	kind := ErrUnavailable
	if errors.Is(err, unix.ENOENT) || errors.Is(err, unix.ESRCH) || errors.Is(err, unix.ENODEV) {
		kind = ErrNotFound
	}
	return wrapError(kind, err, "%s %s", op, path)
}

// readAll reads a file into a new slice.
func (h *Host) readAll(path string) ([]byte, error) {
	b, err := readInto(path, nil)
	if err != nil {
		return nil, err
	}
	return b, nil
}

// withBuf runs fn with a pooled buffer.
func (h *Host) withBuf(fn func(buf []byte) []byte) {
	p, _ := h.bufs.Get().(*[]byte)
	if p == nil {
		b := make([]byte, 0, 8192)
		p = &b
	}
	*p = fn((*p)[:0])
	h.bufs.Put(p)
}

func isDir(path string) bool {
	var st unix.Stat_t
	if err := unix.Stat(path, &st); err != nil {
		return false
	}
	return st.Mode&unix.S_IFMT == unix.S_IFDIR
}

// eachLine calls fn for every non-empty line of b, without the newline.
func eachLine(b []byte, fn func(line []byte) bool) {
	for len(b) > 0 {
		i := bytes.IndexByte(b, '\n')
		var line []byte
		if i < 0 {
			line, b = b, nil
		} else {
			line, b = b[:i], b[i+1:]
		}
		if len(line) > 0 && !fn(line) {
			return
		}
	}
}

// eachKV calls fn for every "key value" line of a flat keyed file
// (memory.stat, cpu.stat).
func eachKV(b []byte, fn func(key, val []byte)) {
	eachLine(b, func(line []byte) bool {
		i := bytes.IndexByte(line, ' ')
		if i <= 0 {
			return true
		}
		fn(line[:i], bytes.TrimSpace(line[i+1:]))
		return true
	})
}

// appendFields appends the fields of b, split at runs of spaces and tabs,
// to dst: bytes.Fields without its allocation when dst has room (callers
// pass a slice of an array on their stack).
func appendFields(dst [][]byte, b []byte) [][]byte {
	for i := 0; i < len(b); {
		for i < len(b) && (b[i] == ' ' || b[i] == '\t') {
			i++
		}
		j := i
		for j < len(b) && b[j] != ' ' && b[j] != '\t' {
			j++
		}
		if j > i {
			dst = append(dst, b[i:j])
		}
		i = j
	}
	return dst
}

// atoi parses a decimal integer with an optional leading '-'.
func atoi(b []byte) (int64, bool) {
	neg := len(b) > 0 && b[0] == '-'
	if neg {
		b = b[1:]
	}
	u, ok := decimal.Uint(b)
	if !ok || u > 1<<63 || (!neg && u == 1<<63) {
		return 0, false
	}
	if neg {
		return -int64(u), true //nolint:gosec // range checked above
	}
	return int64(u), true
}

// Unlimited is the value of a limit that is not set ("max" in cgroup2, -1 or
// the page-counter maximum in v1).
const Unlimited = ^uint64(0)

// v1Unlimited is the smallest value v1 reports for "no limit" on 4 KiB
// pages (PAGE_COUNTER_MAX rounded to pages); anything at or above it is
// treated as unlimited.
const v1Unlimited = uint64(1<<63 - 4096)

// parseLimit parses a single-value limit file: a number, "max" or "-1".
func parseLimit(b []byte) (uint64, error) {
	b = bytes.TrimSpace(b)
	if string(b) == "max" || string(b) == "-1" {
		return Unlimited, nil
	}
	n, ok := decimal.Uint(b)
	if !ok {
		return 0, newError(ErrInvalid, "limit %q", b)
	}
	if n >= v1Unlimited {
		return Unlimited, nil
	}
	return n, nil
}

// parseUintFile parses a file holding one unsigned number.
func parseUintFile(b []byte) (uint64, error) {
	n, ok := decimal.Uint(bytes.TrimSpace(b))
	if !ok {
		return 0, newError(ErrInvalid, "number %q", bytes.TrimSpace(b))
	}
	return n, nil
}

// seqFile reports whether path is under /proc or /sys, whose files are
// generated whole by the kernel on read.
func seqFile(path string) bool {
	return strings.Contains(path, "/proc/") || strings.Contains(path, "/sys/")
}
