package procview

import (
	"errors"
	"sync"
	"time"

	"golang.org/x/sys/unix"
)

// maxCachedPids bounds the callers whose container is remembered; each
// holds a pidfd.
const maxCachedPids = 1024

// callerCache remembers which container a calling thread belongs to for
// Config.MaxAge. An entry holds a pidfd of the thread it was made for, and
// a hit is taken only while that thread is alive (pidfd_send_signal with
// signal 0): a pid the kernel gave to another process since is looked up
// afresh. A thread that moved to another cgroup is seen there after at
// most MaxAge.
type callerCache struct {
	maxAge time.Duration

	mu   sync.Mutex
	pids map[uint32]callerEntry
}

type callerEntry struct {
	pidfd int
	c     *container // nil: the host
	at    time.Time
}

// openPidfd returns a pidfd for thread tid (the FUSE request's pid is a
// thread id), or -1 when this kernel cannot make one (PIDFD_THREAD needs
// Linux 6.9; before it, only thread-group leaders have pidfds).
func openPidfd(tid uint32) int {
	fd, err := unix.PidfdOpen(int(tid), unix.PIDFD_THREAD)
	if errors.Is(err, unix.EINVAL) {
		fd, err = unix.PidfdOpen(int(tid), 0)
	}
	if err != nil {
		return -1
	}
	return fd
}

// alive reports whether the thread of pidfd has not exited.
func alive(pidfd int) bool {
	return unix.PidfdSendSignal(pidfd, 0, nil, 0) == nil
}

// get returns the container remembered for tid, if the entry is younger
// than maxAge and its thread is the one alive under that id.
func (cc *callerCache) get(tid uint32, now time.Time) (*container, bool) {
	return cc.find(tid, now, true)
}

// find is get, with the check that tid's thread is still alive only if
// checkAlive.
func (cc *callerCache) find(tid uint32, now time.Time, checkAlive bool) (*container, bool) {
	if cc.maxAge <= 0 {
		return nil, false
	}
	// Under the lock: a descriptor is closed only under it, so the
	// number checked is the entry's own.
	cc.mu.Lock()
	defer cc.mu.Unlock()
	e, ok := cc.pids[tid]
	if !ok || now.Sub(e.at) >= cc.maxAge || now.Before(e.at) || (checkAlive && !alive(e.pidfd)) {
		return nil, false
	}
	return e.c, true
}

// put remembers c (nil: the host) for tid, whose liveness pidfd vouches
// for; it takes ownership of pidfd (closing it when not kept).
func (cc *callerCache) put(tid uint32, pidfd int, c *container, now time.Time) {
	if pidfd < 0 {
		return
	}
	if cc.maxAge <= 0 {
		_ = unix.Close(pidfd)
		return
	}
	cc.mu.Lock()
	defer cc.mu.Unlock()
	if old, ok := cc.pids[tid]; ok {
		_ = unix.Close(old.pidfd)
		delete(cc.pids, tid)
	}
	if len(cc.pids) >= maxCachedPids {
		cc.sweepLocked(now)
	}
	if len(cc.pids) >= maxCachedPids {
		_ = unix.Close(pidfd)
		return
	}
	if cc.pids == nil {
		cc.pids = map[uint32]callerEntry{}
	}
	cc.pids[tid] = callerEntry{pidfd: pidfd, c: c, at: now}
}

// sweep drops the entries older than maxAge, closing their pidfds.
func (cc *callerCache) sweep(now time.Time) {
	cc.mu.Lock()
	defer cc.mu.Unlock()
	cc.sweepLocked(now)
}

func (cc *callerCache) sweepLocked(now time.Time) {
	for tid, e := range cc.pids {
		if now.Sub(e.at) >= cc.maxAge {
			_ = unix.Close(e.pidfd)
			delete(cc.pids, tid)
		}
	}
}

// drop forgets every entry that points at c (its cgroup is gone).
func (cc *callerCache) drop(c *container) {
	cc.mu.Lock()
	defer cc.mu.Unlock()
	for tid, e := range cc.pids {
		if e.c == c {
			_ = unix.Close(e.pidfd)
			delete(cc.pids, tid)
		}
	}
}

// clear drops every entry.
func (cc *callerCache) clear() {
	cc.mu.Lock()
	defer cc.mu.Unlock()
	for tid, e := range cc.pids {
		_ = unix.Close(e.pidfd)
		delete(cc.pids, tid)
	}
}

// snapshots are a container's rendered files, each served while younger
// than Config.MaxAge.
type snapshots struct {
	mu    sync.Mutex
	files [nodeCount]snapshot
}

type snapshot struct {
	at   time.Time
	data []byte // never changed once stored: readers share it
}

// get returns the rendering of kind if it is younger than maxAge.
func (s *snapshots) get(kind nodeKind, now time.Time, maxAge time.Duration) ([]byte, bool) {
	if maxAge <= 0 || int(kind) < 0 || int(kind) >= nodeCount {
		return nil, false
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	f := s.files[kind]
	if f.data == nil || now.Sub(f.at) >= maxAge || now.Before(f.at) {
		return nil, false
	}
	return f.data, true
}

// put keeps the rendering of kind made at at.
func (s *snapshots) put(kind nodeKind, at time.Time, data []byte) {
	if int(kind) < 0 || int(kind) >= nodeCount {
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if at.After(s.files[kind].at) {
		s.files[kind] = snapshot{at: at, data: data}
	}
}
