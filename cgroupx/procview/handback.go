package procview

import (
	"context"
	"errors"
	"net"
	"os"
	"syscall"
	"time"
)

// handBack listens on the connection's hand-back socket until ctx is done
// and gives the connection to whoever dials it: a holder that started
// after its predecessor died takes it from here, so that the connection
// outlives the holder as it outlives the server. A server that starts
// while another still serves takes the socket over (both hold the
// connection; either can hand it back). Failures are logged: serving
// goes on without a hand-back.
func (s *Server) handBack(ctx context.Context, c *Conn) {
	path := c.handBack
	if err := os.Remove(path); err != nil && !errors.Is(err, os.ErrNotExist) {
		s.log.WarnContext(ctx, "procview: hand-back socket not made", "socket", path, "err", err)
		return
	}
	var lc net.ListenConfig
	l, err := lc.Listen(ctx, "unix", path)
	if err != nil {
		s.log.WarnContext(ctx, "procview: hand-back socket not made", "socket", path, "err", err)
		return
	}
	ln := l.(*net.UnixListener)
	// Removed below only while it is still this listener's: a server
	// started since may have put its own there.
	ln.SetUnlinkOnClose(false)
	ino := inode(path)
	defer func() {
		if ino != 0 && inode(path) == ino {
			_ = os.Remove(path)
		}
	}()
	defer ln.Close()
	if err := os.Chmod(path, 0o600); err != nil {
		s.log.WarnContext(ctx, "procview: hand-back socket", "socket", path, "err", err)
		return
	}
	stop := context.AfterFunc(ctx, func() { _ = ln.SetDeadline(time.Unix(1, 0)) })
	defer stop()
	for {
		uc, err := ln.AcceptUnix()
		if err != nil {
			if ctx.Err() != nil || errors.Is(err, net.ErrClosed) {
				return
			}
			s.log.WarnContext(ctx, "procview: accept on hand-back socket", "err", err)
			select {
			case <-ctx.Done():
				return
			case <-time.After(10 * time.Millisecond):
			}
			continue
		}
		if err := handOver(uc, c); err != nil {
			s.log.WarnContext(ctx, "procview: hand back", "err", err)
		} else {
			s.log.InfoContext(ctx, "procview: handed the connection back", "socket", path)
		}
		_ = uc.Close()
	}
}

// inode is the inode number of path, 0 when it cannot be had.
func inode(path string) uint64 {
	fi, err := os.Lstat(path)
	if err != nil {
		return 0
	}
	st, ok := fi.Sys().(*syscall.Stat_t)
	if !ok {
		return 0
	}
	return st.Ino
}
