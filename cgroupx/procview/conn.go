package procview

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"path/filepath"
	"sync"

	"golang.org/x/sys/unix"
)

// FUSE protocol constants the connection handling needs
// (include/uapi/linux/fuse.h).
const (
	opInit         = 26 // FUSE_INIT
	inHeaderSize   = 40 // struct fuse_in_header
	outHeaderSize  = 16 // struct fuse_out_header
	notifyResend   = 7  // FUSE_NOTIFY_RESEND (Linux 6.9)
	maxInitRequest = 4096
	// maxRead is the largest read the kernel sends (mount option max_read)
	// and the largest write it may send (INIT max_write).
	maxRead = 128 << 10
	// requestBuf is what one read of /dev/fuse needs: the kernel refuses a
	// buffer smaller than a header, a write header and max_write.
	requestBuf = maxRead + 4096
)

// Conn is one FUSE connection of a mounted view: the /dev/fuse descriptor
// and the INIT request the kernel sent when it was mounted, which a server
// answers (the first time) or replays into its own state without answering
// (when it resumes the connection after another server). Close it when
// done; the connection itself lives as long as any process holds the
// descriptor.
//
// The descriptor is kept as a number, not an *os.File: os.NewFile
// registers a non-blocking descriptor with the runtime's epoll instance,
// and /dev/fuse is non-blocking whenever a server has used it (the flag
// belongs to the open file, which every holder of the connection shares),
// so every request the kernel queued would also wake one of the runtime's
// threads, for nothing (a read took 88–100 µs so, 70–82 µs without, in
// one set of rounds: BENCHMARKS.md, cgroupx/procview).
type Conn struct {
	init []byte
	// handBack is where a server of this connection hands it back to a
	// new holder (HandBackSocket of the holder's socket); "" for a
	// connection this process mounted.
	handBack string

	mu       sync.RWMutex
	fd       int // -1 once closed
	closeErr error
}

// newConn returns the connection of descriptor fd, which it takes.
func newConn(fd int, init []byte, handBack string) *Conn {
	return &Conn{fd: fd, init: init, handBack: handBack}
}

// control runs f with the connection's descriptor, which stays open while
// f runs; it fails with ErrClosed once c is closed.
func (c *Conn) control(f func(fd int)) error {
	c.mu.RLock()
	defer c.mu.RUnlock()
	if c.fd < 0 {
		return newError(ErrClosed, "the connection is closed")
	}
	f(c.fd)
	return nil
}

// Mount opens /dev/fuse, mounts the view's file system at dir with
// mount(2) (root is needed; allow_other, so every container's users may
// read; the server refuses every write), and reads the kernel's
// INIT request, which it keeps unanswered for the server.
func Mount(ctx context.Context, dir string) (*Conn, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	if !filepath.IsAbs(dir) {
		return nil, newError(ErrInvalid, "mount point %q is not absolute", dir)
	}
	fd, err := unix.Open("/dev/fuse", unix.O_RDWR|unix.O_CLOEXEC, 0)
	if err != nil {
		kind := ErrUnavailable
		if errors.Is(err, unix.ENOENT) {
			kind = ErrUnsupported
		}
		return nil, wrapError(kind, err, "open /dev/fuse")
	}
	// No default_permissions: with it the kernel would ask for a file's
	// attributes before every open, and they are never kept (a file's
	// size is its caller's): a round trip more per read. The modes are
	// 0444 and 0555 all the same, and Open, SetAttr and Write refuse
	// writing.
	opts := fmt.Sprintf("fd=%d,rootmode=40000,user_id=0,group_id=0,allow_other,max_read=%d", fd, maxRead)
	if err := unix.Mount("procview", dir, "fuse.procview", unix.MS_NOSUID|unix.MS_NODEV|unix.MS_NOEXEC, opts); err != nil {
		_ = unix.Close(fd)
		return nil, wrapError(ErrUnavailable, err, "mount %s", dir)
	}
	// The kernel queued INIT while mounting: this read does not wait.
	buf := make([]byte, requestBuf)
	n, err := readRetry(fd, buf)
	if err != nil {
		_ = unix.Close(fd)
		_ = unix.Unmount(dir, unix.MNT_DETACH)
		return nil, wrapError(ErrUnavailable, err, "read INIT from /dev/fuse")
	}
	init := buf[:n:n]
	if err := checkInit(init); err != nil {
		_ = unix.Close(fd)
		_ = unix.Unmount(dir, unix.MNT_DETACH)
		return nil, err
	}
	return newConn(fd, init, ""), nil
}

func readRetry(fd int, buf []byte) (int, error) {
	for {
		n, err := unix.Read(fd, buf)
		if errors.Is(err, unix.EINTR) {
			continue
		}
		return n, err
	}
}

// Unmount detaches the view mounted at dir (MNT_DETACH: files open in
// containers keep working until closed, then the connection ends).
func Unmount(dir string) error {
	if err := unix.Unmount(dir, unix.MNT_DETACH); err != nil {
		kind := ErrUnavailable
		if errors.Is(err, unix.EINVAL) || errors.Is(err, unix.ENOENT) {
			kind = ErrNotFound
		}
		return wrapError(kind, err, "unmount %s", dir)
	}
	return nil
}

// checkInit validates an INIT request: a whole fuse_in_header whose length
// is the message's, opcode FUSE_INIT, and a body of at least major and
// minor.
func checkInit(b []byte) error {
	if len(b) < inHeaderSize+8 || len(b) > maxInitRequest {
		return newError(ErrInvalid, "INIT request of %d bytes", len(b))
	}
	if l := binary.NativeEndian.Uint32(b[0:4]); int(l) != len(b) {
		return newError(ErrInvalid, "INIT request says %d bytes, has %d", l, len(b))
	}
	if op := binary.NativeEndian.Uint32(b[4:8]); op != opInit {
		return newError(ErrInvalid, "first request has opcode %d, not INIT", op)
	}
	if major := binary.NativeEndian.Uint32(b[inHeaderSize:]); major != 7 {
		return newError(ErrUnsupported, "FUSE protocol %d, not 7", major)
	}
	return nil
}

// Close closes this process's descriptor of the connection; it is
// idempotent. The mount stays and the connection lives on while another
// process (the holder) holds its descriptor.
func (c *Conn) Close() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.fd >= 0 {
		if err := unix.Close(c.fd); err != nil {
			c.closeErr = wrapError(ErrUnavailable, err, "close /dev/fuse")
		}
		c.fd = -1
	}
	return c.closeErr
}
