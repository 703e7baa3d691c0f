package procview

import (
	"context"
	"encoding/json"
	"errors"
	"net"
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
	Fds []string `json:"fds"`
	Pid int      `json:"pid"`
}

// parseProcessState returns the index of the seccomp listener among the
// nfds descriptors that came with b (runc names it "seccompFd") and the
// container process's pid.
func parseProcessState(b []byte, nfds int) (index, pid int, err error) {
	var st processState
	if err := json.Unmarshal(b, &st); err != nil {
		return 0, 0, wrapError(ErrInvalid, err, "container process state")
	}
	if len(st.Fds) != nfds {
		return 0, 0, newError(ErrInvalid, "container process state names %d descriptors, %d came", len(st.Fds), nfds)
	}
	if st.Pid <= 0 || st.Pid > 1<<22 {
		return 0, 0, newError(ErrInvalid, "container process state pid %d", st.Pid)
	}
	for i, name := range st.Fds {
		if name == "seccompFd" {
			return i, st.Pid, nil
		}
	}
	return 0, 0, newError(ErrInvalid, "container process state has no seccompFd among %q", st.Fds)
}

// AcceptSeccomp takes the seccomp listeners runc hands over on ln (the
// unix socket named by every container's specs.LinuxSeccomp.ListenerPath)
// and serves each with ServeSeccomp until its container's processes are
// gone, at most cfg.MaxContainers at once. It returns ctx's error when ctx
// is done; ln is the caller's to close.
func (s *Server) AcceptSeccomp(ctx context.Context, ln *net.UnixListener) error {
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(s.cfg.MaxContainers + 1)
	stop := context.AfterFunc(gctx, func() { _ = ln.SetDeadline(time.Unix(1, 0)) })
	defer stop()
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
			fd, pid, err := receiveSeccomp(c)
			_ = c.Close()
			if err != nil {
				s.log.WarnContext(gctx, "procview: seccomp handover", "err", err)
				continue
			}
			s.log.DebugContext(gctx, "procview: serving seccomp listener", "pid", pid)
			g.Go(func() error {
				defer unix.Close(fd)
				if err := s.ServeSeccomp(gctx, fd); err != nil && gctx.Err() == nil {
					s.log.WarnContext(gctx, "procview: seccomp listener", "pid", pid, "err", err)
				}
				return nil
			})
		}
	})
	err := g.Wait()
	if ctx.Err() != nil {
		return ctx.Err()
	}
	return err
}

// receiveSeccomp reads runc's message: the process state and its
// descriptors; it returns the seccomp listener and closes the others.
func receiveSeccomp(c *net.UnixConn) (int, int, error) {
	_ = c.SetReadDeadline(time.Now().Add(10 * time.Second))
	buf := make([]byte, maxProcessState)
	oob := make([]byte, unix.CmsgSpace(16*4))
	n, oobn, _, _, err := c.ReadMsgUnix(buf, oob)
	if err != nil {
		return -1, 0, wrapError(ErrUnavailable, err, "receive seccomp listener")
	}
	fds, err := parseRights(oob[:oobn])
	if err != nil {
		return -1, 0, err
	}
	i, pid, err := parseProcessState(buf[:n], len(fds))
	for j, fd := range fds {
		if err != nil || j != i {
			_ = unix.Close(fd)
		}
	}
	if err != nil {
		return -1, 0, err
	}
	unix.CloseOnExec(fds[i])
	return fds[i], pid, nil
}
