package procview

import (
	"context"
	"encoding/binary"
	"errors"
	"runtime"
	"sync"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"

	"github.com/shoalkit/shoal/cgroupx"
)

// Layouts of the seccomp user-notification structures
// (include/uapi/linux/seccomp.h).
const (
	notifSize     = 80 // struct seccomp_notif
	notifRespSize = 24 // struct seccomp_notif_resp
	// siLoadShift is SI_LOAD_SHIFT: sysinfo's loads are fixed-point with
	// 16 bits, the kernel's avenrun with FSHIFT (11).
	siLoadShift = 16
)

// notif is a decoded struct seccomp_notif.
type notif struct {
	id   uint64
	pid  uint32
	nr   int32
	arch uint32
	args [6]uint64
}

// parseNotif decodes a struct seccomp_notif.
func parseNotif(b []byte) (notif, error) {
	if len(b) != notifSize {
		return notif{}, newError(ErrInvalid, "seccomp notification of %d bytes, want %d", len(b), notifSize)
	}
	n := notif{
		id:   binary.NativeEndian.Uint64(b[0:]),
		pid:  binary.NativeEndian.Uint32(b[8:]),
		nr:   int32(binary.NativeEndian.Uint32(b[16:])), //nolint:gosec // the kernel's int
		arch: binary.NativeEndian.Uint32(b[20:]),
	}
	for i := range n.args {
		n.args[i] = binary.NativeEndian.Uint64(b[32+8*i:])
	}
	return n, nil
}

// ServeSeccomp answers the seccomp user notifications of listener fd (a
// container's seccomp listener, as runc hands it to the agent through
// specs.LinuxSeccomp.ListenerPath) until ctx is done (it returns ctx's
// error) or every process of the filter has exited (nil). sysinfo(2) from
// a process inside a container gets the container's numbers, written into
// the caller's memory: uptime, the 1/5/15-minute load, memory and swap
// totals and free, shared memory and its thread count. Every other system
// call, and sysinfo from outside any container, is let through to the
// kernel (SECCOMP_USER_NOTIF_FLAG_CONTINUE). The caller keeps fd and
// closes it. The load averages are those Serve keeps; without Serve
// running, a container's load is its first scan's.
func (s *Server) ServeSeccomp(ctx context.Context, fd int) error {
	stopPipe, err := newStopPipe(ctx)
	if err != nil {
		return err
	}
	defer stopPipe.close()
	fds := []unix.PollFd{{Fd: int32(fd), Events: unix.POLLIN}, {Fd: int32(stopPipe.r), Events: unix.POLLIN}} //nolint:gosec // descriptors fit int32
	var buf [notifSize]byte
	for {
		if _, err := unix.Poll(fds, -1); errors.Is(err, unix.EINTR) {
			// A signal (the Go runtime's preemption, often) cut the wait
			// short and the events are not filled in: wait again, or the
			// receive below blocks until a notification that may never
			// come, deaf to ctx.
			continue
		} else if err != nil {
			return wrapError(ErrUnavailable, err, "poll seccomp listener")
		}
		if fds[1].Revents != 0 {
			return ctx.Err()
		}
		switch ev := fds[0].Revents; {
		case ev&unix.POLLNVAL != 0:
			return newError(ErrInvalid, "seccomp listener %d is not an open descriptor", fd)
		case ev&unix.POLLIN == 0 && ev&(unix.POLLHUP|unix.POLLERR) != 0:
			return nil // the filter's processes are gone
		case ev&unix.POLLIN == 0:
			continue
		}
		clear(buf[:]) // the kernel refuses a buffer that is not zeroed
		if err := ioctlPtr(fd, unix.SECCOMP_IOCTL_NOTIF_RECV, unsafe.Pointer(&buf[0])); err != nil {
			if errors.Is(err, unix.EINTR) || errors.Is(err, unix.ENOENT) {
				continue // the caller died before we received it
			}
			return wrapError(ErrUnavailable, err, "receive seccomp notification")
		}
		n, err := parseNotif(buf[:])
		if err != nil {
			return err
		}
		s.answerNotif(ctx, fd, n)
	}
}

// answerNotif answers one notification: sysinfo from a container gets its
// numbers, everything else continues.
func (s *Server) answerNotif(ctx context.Context, fd int, n notif) {
	errno, cont := int32(0), true
	if n.nr == unix.SYS_SYSINFO && n.arch == auditArch() {
		// The answer is finished when ctx ends meanwhile: a notification
		// received and never answered leaves its caller waiting for good
		// (the kernel gives it to no other receiver).
		rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), s.cfg.ReadTimeout)
		si, ok, err := s.sysinfo(rctx, n.pid)
		cancel()
		switch {
		case err != nil:
			s.log.DebugContext(ctx, "procview: sysinfo", "pid", n.pid, "err", err)
		case ok:
			cont = false
			if !notifValid(fd, n.id) {
				return // the caller is gone: its pid may be someone else's
			}
			if err := writeSysinfo(n.pid, uintptr(n.args[0]), si); err != nil {
				errno = int32(unix.EFAULT)
			}
		}
	}
	var resp [notifRespSize]byte
	binary.NativeEndian.PutUint64(resp[0:], n.id)
	binary.NativeEndian.PutUint32(resp[16:], uint32(-errno)) //nolint:gosec // the kernel's negative errno
	if cont {
		binary.NativeEndian.PutUint32(resp[20:], unix.SECCOMP_USER_NOTIF_FLAG_CONTINUE)
	}
	if err := ioctlPtr(fd, unix.SECCOMP_IOCTL_NOTIF_SEND, unsafe.Pointer(&resp[0])); err != nil && !errors.Is(err, unix.ENOENT) {
		s.log.WarnContext(ctx, "procview: seccomp answer", "pid", n.pid, "err", err)
	}
}

// sysinfo returns what sysinfo(2) says inside the container of pid, and
// false for a process outside every container.
func (s *Server) sysinfo(ctx context.Context, pid uint32) (unix.Sysinfo_t, bool, error) {
	c, err := s.reg.containerOf(ctx, pid)
	if err != nil || c == nil {
		return unix.Sysinfo_t{}, false, err
	}
	now := time.Now()
	if si, ok := c.sysinfo.get(now, s.cfg.MaxAge); ok {
		return si, true, nil
	}
	m, err := c.cg.Meminfo(ctx)
	if err != nil {
		return unix.Sysinfo_t{}, false, err
	}
	u, err := c.uptime(ctx, s.oldestAge())
	if err != nil {
		return unix.Sysinfo_t{}, false, err
	}
	load := c.load.Load()
	si := unix.Sysinfo_t{
		Uptime:    int64(u.Uptime / time.Second),
		Totalram:  m.MemTotal,
		Freeram:   m.MemFree,
		Sharedram: m.Shmem,
		Bufferram: m.Buffers,
		Totalswap: m.SwapTotal,
		Freeswap:  m.SwapFree,
		Procs:     uint16(min(load.Total, 1<<16-1)), //nolint:gosec // bounded
		Unit:      1,
	}
	for i, a := range load.Avenrun {
		si.Loads[i] = a << (siLoadShift - cgroupx.FShift)
	}
	c.sysinfo.put(now, si)
	return si, true, nil
}

// sysinfoSnapshot is a container's last sysinfo answer, served again while
// younger than Config.MaxAge as its rendered files are: a runtime that
// calls sysinfo in a loop costs the server one notification each, not a
// walk over the container's cgroup files.
type sysinfoSnapshot struct {
	mu sync.Mutex
	at time.Time
	si unix.Sysinfo_t
}

// get returns the answer made within maxAge of now.
func (s *sysinfoSnapshot) get(now time.Time, maxAge time.Duration) (unix.Sysinfo_t, bool) {
	if maxAge <= 0 {
		return unix.Sysinfo_t{}, false
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.at.IsZero() || now.Sub(s.at) >= maxAge || now.Before(s.at) {
		return unix.Sysinfo_t{}, false
	}
	return s.si, true
}

// put keeps an answer made at at, unless a newer one is kept.
func (s *sysinfoSnapshot) put(at time.Time, si unix.Sysinfo_t) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if at.After(s.at) {
		s.at, s.si = at, si
	}
}

// writeSysinfo writes si at addr in process pid.
func writeSysinfo(pid uint32, addr uintptr, si unix.Sysinfo_t) error {
	size := int(unsafe.Sizeof(si))
	local := []unix.Iovec{{Base: (*byte)(unsafe.Pointer(&si))}}
	local[0].SetLen(size)
	remote := []unix.RemoteIovec{{Base: addr, Len: size}}
	n, err := unix.ProcessVMWritev(int(pid), local, remote, 0)
	runtime.KeepAlive(&si)
	if err != nil {
		return wrapError(ErrUnavailable, err, "write sysinfo into pid %d", pid)
	}
	if n != size {
		return newError(ErrUnavailable, "wrote %d of %d bytes of sysinfo into pid %d", n, size, pid)
	}
	return nil
}

// notifValid reports whether the notification id is still pending (its
// caller alive and waiting).
func notifValid(fd int, id uint64) bool {
	return ioctlPtr(fd, unix.SECCOMP_IOCTL_NOTIF_ID_VALID, unsafe.Pointer(&id)) == nil
}

func ioctlPtr(fd int, req uint, arg unsafe.Pointer) error {
	_, _, errno := unix.Syscall(unix.SYS_IOCTL, uintptr(fd), uintptr(req), uintptr(arg))
	if errno != 0 {
		return errno
	}
	return nil
}

// auditArch is the AUDIT_ARCH of this build, the only one whose system
// call numbers the handler knows.
func auditArch() uint32 {
	switch runtime.GOARCH {
	case "amd64":
		return unix.AUDIT_ARCH_X86_64
	case "arm64":
		return unix.AUDIT_ARCH_AARCH64
	}
	return 0
}

// stopPipe is a pipe that becomes readable when a context ends, for
// loops that wait in poll(2) or epoll_wait(2).
type stopPipe struct {
	r, w int

	mu     sync.Mutex
	closed bool
	stop   func() bool
}

func newStopPipe(ctx context.Context) (*stopPipe, error) {
	var p [2]int
	if err := unix.Pipe2(p[:], unix.O_CLOEXEC|unix.O_NONBLOCK); err != nil {
		return nil, wrapError(ErrUnavailable, err, "pipe")
	}
	sp := &stopPipe{r: p[0], w: p[1]}
	sp.stop = context.AfterFunc(ctx, func() {
		sp.mu.Lock()
		defer sp.mu.Unlock()
		if !sp.closed {
			_, _ = unix.Write(sp.w, []byte{1})
		}
	})
	return sp, nil
}

// close closes both ends; a context that ends later writes nothing.
func (p *stopPipe) close() {
	p.stop()
	p.mu.Lock()
	defer p.mu.Unlock()
	p.closed = true
	_ = unix.Close(p.r)
	_ = unix.Close(p.w)
}
