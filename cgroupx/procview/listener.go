package procview

import (
	"context"
	"encoding/json"
	"errors"
	"net"
	"sync"
	"time"

	"golang.org/x/sync/errgroup"
	"golang.org/x/sys/unix"
)

// maxProcessState bounds the container state runc sends with a seccomp
// listener (the OCI state: id, bundle, annotations).
const maxProcessState = 1 << 20

// processState is the part of the OCI ContainerProcessState that runc
// sends to specs.LinuxSeccomp.ListenerPath which the view needs.
type processState struct {
	Fds   []string `json:"fds"`
	Pid   int      `json:"pid"`
	State struct {
		ID string `json:"id"`
	} `json:"state"`
}

// seccompHandover is what runc hands over with a container's seccomp
// listener.
type seccompHandover struct {
	// index is the listener's among the descriptors that came.
	index int
	// pid is the container process's.
	pid int
	// id is the container's id; "" when runc sent none that
	// validListenerID accepts (the listener is served, never kept).
	id string
}

// parseProcessState returns the index of the seccomp listener among the
// nfds descriptors that came with b (runc names it "seccompFd"), the
// container process's pid and the container's id.
func parseProcessState(b []byte, nfds int) (seccompHandover, error) {
	var st processState
	if err := json.Unmarshal(b, &st); err != nil {
		return seccompHandover{}, wrapError(ErrInvalid, err, "container process state")
	}
	if len(st.Fds) != nfds {
		return seccompHandover{}, newError(ErrInvalid, "container process state names %d descriptors, %d came", len(st.Fds), nfds)
	}
	if st.Pid <= 0 || st.Pid > 1<<22 {
		return seccompHandover{}, newError(ErrInvalid, "container process state pid %d", st.Pid)
	}
	h := seccompHandover{pid: st.Pid}
	if validListenerID(st.State.ID) == nil {
		h.id = st.State.ID
	}
	for i, name := range st.Fds {
		if name == "seccompFd" {
			h.index = i
			return h, nil
		}
	}
	return seccompHandover{}, newError(ErrInvalid, "container process state has no seccompFd among %q", st.Fds)
}

// AcceptSeccomp takes the seccomp listeners runc hands over on ln (the
// unix socket named by every container's specs.LinuxSeccomp.ListenerPath)
// and serves each with ServeSeccomp until its container's processes are
// gone, at most cfg.MaxContainers at once. It returns ctx's error when ctx
// is done; ln is the caller's to close.
//
// With Config.HolderSocket, every listener runc hands over is also kept
// by that holder ([KeepListener]), and AcceptSeccomp first serves the
// listeners the holder keeps ([KeptListeners]; dialled again every
// second until the holder answers): the containers a previous server
// served. Their sysinfo calls made while no server ran wait in the kernel
// and are answered then.
func (s *Server) AcceptSeccomp(ctx context.Context, ln *net.UnixListener) error {
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(s.cfg.MaxContainers + 3) // the accept loop, serveKept and rekeep besides
	stop := context.AfterFunc(gctx, func() { _ = ln.SetDeadline(time.Unix(1, 0)) })
	defer stop()
	served := &servedSet{ids: map[string]int{}, fds: map[string]int{}}
	serve := func(h seccompHandover, fd int) {
		served.add(h.id, fd)
		g.Go(func() error {
			defer served.done(h.id, fd)
			if err := s.ServeSeccomp(gctx, fd); err != nil && gctx.Err() == nil {
				s.log.WarnContext(gctx, "procview: seccomp listener", "id", h.id, "pid", h.pid, "err", err)
			}
			return nil
		})
	}
	if s.cfg.HolderSocket != "" {
		g.Go(func() error {
			s.serveKept(gctx, served, serve)
			return nil
		})
		g.Go(func() error {
			s.rekeep(gctx, served)
			return nil
		})
	}
	g.Go(func() error {
		for {
			c, err := ln.AcceptUnix()
			if err != nil {
				if gctx.Err() != nil {
					return gctx.Err()
				}
				if errors.Is(err, net.ErrClosed) {
					return newError(ErrClosed, "seccomp socket closed")
				}
				s.log.WarnContext(gctx, "procview: accept seccomp listener", "err", err)
				continue
			}
			h, fd, err := receiveSeccomp(c)
			_ = c.Close()
			if err != nil {
				s.log.WarnContext(gctx, "procview: seccomp handover", "err", err)
				continue
			}
			s.log.DebugContext(gctx, "procview: serving seccomp listener", "id", h.id, "pid", h.pid)
			if s.cfg.HolderSocket != "" {
				s.keep(gctx, h, fd)
			}
			serve(h, fd)
		}
	})
	err := g.Wait()
	if ctx.Err() != nil {
		return ctx.Err()
	}
	return err
}

// KeepsListeners reports whether AcceptSeccomp has the holder of
// Config.HolderSocket keep the listeners it serves, so that they outlive
// this server.
func (s *Server) KeepsListeners() bool { return s.cfg.HolderSocket != "" }

// KeptListenerIDs returns the ids of the containers whose seccomp
// listeners the holder of Config.HolderSocket keeps (their sysinfo is
// answered after this server starts); ErrInvalid without a HolderSocket.
func (s *Server) KeptListenerIDs(ctx context.Context) ([]string, error) {
	if s.cfg.HolderSocket == "" {
		return nil, newError(ErrInvalid, "Config.HolderSocket is empty: no holder keeps listeners")
	}
	kept, err := KeptListeners(ctx, s.cfg.HolderSocket)
	if err != nil {
		return nil, err
	}
	ids := make([]string, len(kept))
	for i, l := range kept {
		ids[i] = l.ID
		_ = unix.Close(l.FD)
	}
	return ids, nil
}

// keep gives the holder a duplicate of a container's listener; a failure
// is logged (the listener is served all the same, but will not outlive
// this server).
func (s *Server) keep(ctx context.Context, h seccompHandover, fd int) {
	err := newError(ErrInvalid, "runc sent no container id")
	if h.id != "" {
		kctx, cancel := context.WithTimeout(ctx, 5*time.Second)
		err = KeepListener(kctx, s.cfg.HolderSocket, h.id, fd)
		cancel()
	}
	if err != nil {
		s.log.WarnContext(ctx, "procview: seccomp listener not kept by the holder: the container's sysinfo fails with ENOSYS once this server exits", "id", h.id, "pid", h.pid, "err", err)
	}
}

// serveKept serves the listeners the holder keeps that are not served
// yet, asking the holder every second until it answers or ctx is done.
func (s *Server) serveKept(ctx context.Context, served *servedSet, serve func(seccompHandover, int)) {
	for {
		kctx, cancel := context.WithTimeout(ctx, 10*time.Second)
		kept, err := KeptListeners(kctx, s.cfg.HolderSocket)
		cancel()
		if err == nil {
			for _, l := range kept {
				if served.has(l.ID) {
					_ = unix.Close(l.FD)
					continue
				}
				s.log.DebugContext(ctx, "procview: serving a seccomp listener the holder kept", "id", l.ID)
				serve(seccompHandover{id: l.ID}, l.FD)
			}
			s.log.InfoContext(ctx, "procview: serving the seccomp listeners the holder kept", "listeners", len(kept))
			return
		}
		s.log.WarnContext(ctx, "procview: the holder's seccomp listeners", "socket", s.cfg.HolderSocket, "err", err)
		select {
		case <-ctx.Done():
			return
		case <-time.After(time.Second):
		}
	}
}

// rekeep gives the holder every listener this server serves again
// whenever the holder's listener socket is made anew (the holder
// restarted and lost what it kept), checking every second until ctx is
// done.
func (s *Server) rekeep(ctx context.Context, served *servedSet) {
	path := ListenerSocket(s.cfg.HolderSocket)
	last := socketStamp(path)
	t := time.NewTicker(time.Second)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		stamp := socketStamp(path)
		if stamp == (fileStamp{}) || stamp == last {
			continue
		}
		last = stamp
		n, err := served.keepAll(ctx, s.cfg.HolderSocket)
		if err != nil {
			s.log.WarnContext(ctx, "procview: seccomp listeners not kept by the new holder", "socket", s.cfg.HolderSocket, "err", err)
			last = fileStamp{} // again at the next tick
			continue
		}
		s.log.InfoContext(ctx, "procview: gave a new holder the seccomp listeners served", "listeners", n)
	}
}

// fileStamp tells a file from one made anew at the same path: the inode
// number alone does not (a file system reuses the number of a file just
// removed), its change time with it does.
type fileStamp struct {
	ino, ctimeSec, ctimeNsec int64
}

// socketStamp is path's stamp, zero when it cannot be had.
func socketStamp(path string) fileStamp {
	var st unix.Stat_t
	if err := unix.Lstat(path, &st); err != nil {
		return fileStamp{}
	}
	return fileStamp{int64(st.Ino), st.Ctim.Sec, st.Ctim.Nsec} //nolint:gosec // inode numbers fit
}

// servedSet counts the listeners served per container id and knows the
// last one of each.
type servedSet struct {
	mu  sync.Mutex
	ids map[string]int
	fds map[string]int
}

func (s *servedSet) add(id string, fd int) {
	if id == "" {
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.ids[id]++
	s.fds[id] = fd
}

// done closes fd, whose serving ended.
func (s *servedSet) done(id string, fd int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	_ = unix.Close(fd) // under the lock: keepAll never sends a closed number
	if id == "" {
		return
	}
	if s.ids[id]--; s.ids[id] <= 0 {
		delete(s.ids, id)
	}
	if s.fds[id] == fd {
		delete(s.fds, id)
	}
}

func (s *servedSet) has(id string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.ids[id] > 0
}

// keepAll gives the holder on socket every listener served and returns
// how many it kept.
func (s *servedSet) keepAll(ctx context.Context, socket string) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	var errs []error
	n := 0
	for id, fd := range s.fds {
		kctx, cancel := context.WithTimeout(ctx, 5*time.Second)
		err := KeepListener(kctx, socket, id, fd)
		cancel()
		if err != nil {
			errs = append(errs, err)
			continue
		}
		n++
	}
	return n, errors.Join(errs...)
}

// receiveSeccomp reads runc's message: the process state and its
// descriptors; it returns the seccomp listener and closes the others.
func receiveSeccomp(c *net.UnixConn) (seccompHandover, int, error) {
	_ = c.SetReadDeadline(time.Now().Add(10 * time.Second))
	buf := make([]byte, maxProcessState)
	oob := make([]byte, unix.CmsgSpace(16*4))
	n, oobn, _, _, err := c.ReadMsgUnix(buf, oob)
	if err != nil {
		return seccompHandover{}, -1, wrapError(ErrUnavailable, err, "receive seccomp listener")
	}
	fds, err := parseRights(oob[:oobn])
	if err != nil {
		return seccompHandover{}, -1, err
	}
	h, err := parseProcessState(buf[:n], len(fds))
	for j, fd := range fds {
		if err != nil || j != h.index {
			_ = unix.Close(fd)
		}
	}
	if err != nil {
		return seccompHandover{}, -1, err
	}
	unix.CloseOnExec(fds[h.index])
	return h, fds[h.index], nil
}
