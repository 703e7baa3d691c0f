package procview

import (
	"context"
	"errors"
	"log/slog"
	"net"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"golang.org/x/sync/errgroup"
	"golang.org/x/sys/unix"
)

// keeper holds containers' seccomp listeners for a Holder: while one of
// them is open anywhere, the kernel sends its container's sysinfo(2) to
// it and the call waits for an answer, instead of failing with ENOSYS as
// it does once no process holds the listener. A listener is dropped when
// it reports POLLHUP (every process of its filter is gone).
type keeper struct {
	max  int
	log  *slog.Logger
	wake [2]int // written to when the set changes

	mu     sync.Mutex
	fds    map[string]int
	closed bool
}

func newKeeper(maxListeners int, log *slog.Logger) (*keeper, error) {
	k := &keeper{max: maxListeners, log: log, fds: map[string]int{}}
	if err := unix.Pipe2(k.wake[:], unix.O_CLOEXEC|unix.O_NONBLOCK); err != nil {
		return nil, wrapError(ErrUnavailable, err, "pipe")
	}
	return k, nil
}

// keep keeps fd under id, replacing (and closing) a listener kept under
// the same id. It takes fd over, also when it refuses it.
func (k *keeper) keep(id string, fd int) error {
	if err := validListenerID(id); err != nil {
		_ = unix.Close(fd)
		return err
	}
	if link, err := os.Readlink("/proc/self/fd/" + strconv.Itoa(fd)); err != nil || link != seccompNotifyLink {
		_ = unix.Close(fd)
		return newError(ErrInvalid, "listener %s: descriptor is %q, not a seccomp listener", id, link)
	}
	k.mu.Lock()
	defer k.mu.Unlock()
	old, replace := k.fds[id]
	switch {
	case k.closed:
		_ = unix.Close(fd)
		return newError(ErrClosed, "holder closed")
	case !replace && len(k.fds) >= k.max:
		_ = unix.Close(fd)
		return newError(ErrUnavailable, "listener %s: the holder keeps %d listeners already, its MaxListeners", id, k.max)
	}
	if replace {
		_ = unix.Close(old)
	}
	k.fds[id] = fd
	_, _ = unix.Write(k.wake[1], []byte{1})
	return nil
}

// dups returns a duplicate of every kept listener, sorted by id.
func (k *keeper) dups() ([]KeptListener, error) {
	k.mu.Lock()
	defer k.mu.Unlock()
	out := make([]KeptListener, 0, len(k.fds))
	for id, fd := range k.fds {
		d, err := unix.FcntlInt(uintptr(fd), unix.F_DUPFD_CLOEXEC, 0)
		if err != nil {
			for _, l := range out {
				_ = unix.Close(l.FD)
			}
			return nil, wrapError(ErrUnavailable, err, "duplicate listener %s", id)
		}
		out = append(out, KeptListener{ID: id, FD: d})
	}
	slices.SortFunc(out, func(a, b KeptListener) int { return strings.Compare(a.ID, b.ID) })
	return out, nil
}

// count is the number of kept listeners.
func (k *keeper) count() int {
	k.mu.Lock()
	defer k.mu.Unlock()
	return len(k.fds)
}

// watch drops the listeners whose processes are gone until ctx is done.
// Polled for no event, a listener reports only POLLHUP (no process left
// in its filter) or POLLNVAL; the notifications themselves are left for
// the server.
func (k *keeper) watch(ctx context.Context) error {
	stop, err := newStopPipe(ctx)
	if err != nil {
		return err
	}
	defer stop.close()
	type kept struct {
		id string
		fd int
	}
	for {
		k.mu.Lock()
		if k.closed {
			k.mu.Unlock()
			return nil
		}
		set := make([]kept, 0, len(k.fds))
		pfds := make([]unix.PollFd, 0, len(k.fds)+2)
		pfds = append(pfds, unix.PollFd{Fd: int32(stop.r), Events: unix.POLLIN}, unix.PollFd{Fd: int32(k.wake[0]), Events: unix.POLLIN}) //nolint:gosec // descriptors fit int32
		for id, fd := range k.fds {
			set = append(set, kept{id, fd})
			pfds = append(pfds, unix.PollFd{Fd: int32(fd)}) //nolint:gosec // descriptors fit int32
		}
		k.mu.Unlock()
		if _, err := unix.Poll(pfds, -1); errors.Is(err, unix.EINTR) {
			continue
		} else if err != nil {
			return wrapError(ErrUnavailable, err, "poll kept listeners")
		}
		if pfds[0].Revents != 0 {
			return ctx.Err()
		}
		if pfds[1].Revents != 0 {
			var b [64]byte
			_, _ = unix.Read(k.wake[0], b[:])
		}
		for i, s := range set {
			if pfds[i+2].Revents&(unix.POLLHUP|unix.POLLERR|unix.POLLNVAL) == 0 {
				continue
			}
			k.mu.Lock()
			if fd, ok := k.fds[s.id]; ok && fd == s.fd && !k.closed {
				delete(k.fds, s.id)
				_ = unix.Close(fd)
				k.log.InfoContext(ctx, "procview: dropped the seccomp listener of a container whose processes are gone", "id", s.id)
			}
			k.mu.Unlock()
		}
	}
}

// close closes every kept listener; it is idempotent.
func (k *keeper) close() {
	k.mu.Lock()
	defer k.mu.Unlock()
	if k.closed {
		return
	}
	k.closed = true
	_, _ = unix.Write(k.wake[1], []byte{1}) // watch returns
	for _, fd := range k.fds {
		_ = unix.Close(fd)
	}
	k.fds = nil
	_ = unix.Close(k.wake[0])
	_ = unix.Close(k.wake[1])
}

// serve answers the requests of servers on ln, up to 8 at once (a
// client that sends nothing holds one for 5 s, not the others), until ctx
// is done or ln is closed.
func (k *keeper) serve(ctx context.Context, ln *net.UnixListener) error {
	stop := context.AfterFunc(ctx, func() { _ = ln.SetDeadline(time.Unix(1, 0)) })
	defer stop()
	var g errgroup.Group
	g.SetLimit(8)
	defer func() { _ = g.Wait() }()
	for {
		c, err := ln.AcceptUnix()
		if err != nil {
			if ctx.Err() != nil {
				return ctx.Err()
			}
			if errors.Is(err, net.ErrClosed) {
				return nil
			}
			k.log.WarnContext(ctx, "procview: accept on listener socket", "err", err)
			select {
			case <-ctx.Done():
				return ctx.Err()
			case <-time.After(10 * time.Millisecond):
			}
			continue
		}
		g.Go(func() error {
			if err := k.answer(c); err != nil {
				k.log.WarnContext(ctx, "procview: listener request", "err", err)
			}
			_ = c.Close()
			return nil
		})
	}
}

// answer reads one request from c and answers it. A bad request gets an
// "err" answer and is returned.
func (k *keeper) answer(c *net.UnixConn) error {
	_ = c.SetDeadline(time.Now().Add(5 * time.Second))
	verb, arg, fd, err := readListenerMessage(c)
	switch {
	case err != nil:
	case verb == verbKeep && fd >= 0:
		err = k.keep(arg, fd)
		if err == nil {
			if _, err := c.Write(listenerMessage(verbOK, "")); err != nil {
				return wrapError(ErrUnavailable, err, "answer keep")
			}
			return nil
		}
	case verb == verbTake && fd < 0:
		return k.hand(c)
	default:
		if fd >= 0 {
			_ = unix.Close(fd)
		}
		err = newError(ErrInvalid, "%s request with %d descriptors", verb, min(fd+1, 1))
	}
	_, _ = c.Write(errorMessage(err))
	return err
}

// hand sends a duplicate of every kept listener over c, then "end".
func (k *keeper) hand(c *net.UnixConn) error {
	ls, err := k.dups()
	if err != nil {
		_, _ = c.Write(errorMessage(err))
		return err
	}
	defer func() {
		for _, l := range ls {
			_ = unix.Close(l.FD)
		}
	}()
	for _, l := range ls {
		if _, _, err := c.WriteMsgUnix(listenerMessage(verbListener, l.ID), unix.UnixRights(l.FD), nil); err != nil {
			return wrapError(ErrUnavailable, err, "hand listener %s", l.ID)
		}
	}
	if _, err := c.Write(listenerMessage(verbEnd, "")); err != nil {
		return wrapError(ErrUnavailable, err, "hand listeners")
	}
	return nil
}
