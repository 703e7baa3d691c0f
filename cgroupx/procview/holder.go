package procview

import (
	"context"
	"errors"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"sync"
	"time"

	"golang.org/x/sync/errgroup"
	"golang.org/x/sys/unix"
)

// handoverMagic starts every handover message; the version is part of it.
const handoverMagic = "PVW1"

// HolderConfig configures a [Holder]. MountPoint and Socket are required.
type HolderConfig struct {
	// MountPoint is the directory the view is mounted on
	// ("/var/lib/shoal/procview"); it must exist.
	MountPoint string
	// Socket is the unix socket servers dial to receive the connection
	// ("/run/shoal/procview.sock"). A stale socket file is replaced.
	Socket string
	// MaxListeners bounds the containers' seccomp listeners the holder
	// keeps (see [KeepListener]); default 4096, at most 65536. A keep
	// beyond it is refused.
	MaxListeners int
	// Logger receives handover errors; nil discards them.
	Logger *slog.Logger
}

// Holder mounts the view once and keeps its FUSE connection for as long as
// it runs: the /dev/fuse descriptor lives in the holder, so a server that
// dies or is upgraded takes nothing with it. Reads that arrive while no
// server runs wait in the kernel's queue; the next server that dials the
// holder's socket receives the descriptor (SCM_RIGHTS) and the recorded
// INIT request, and answers them.
//
// The holder is meant to be a small process of its own that is not
// restarted with the server (see examples/procviewd). Its methods are
// safe for concurrent use; Close is idempotent.
type Holder struct {
	cfg  HolderConfig
	conn *Conn
	ln   *net.UnixListener
	// kept holds containers' seccomp listeners, handed out on keepLn.
	kept   *keeper
	keepLn *net.UnixListener

	closeOnce sync.Once
	closeErr  error
}

// NewHolder mounts the view at cfg.MountPoint and listens on cfg.Socket.
func NewHolder(ctx context.Context, cfg HolderConfig) (*Holder, error) {
	if cfg.MountPoint == "" || !filepath.IsAbs(cfg.MountPoint) {
		return nil, newError(ErrInvalid, "HolderConfig.MountPoint %q is not an absolute path", cfg.MountPoint)
	}
	if cfg.Socket == "" || !filepath.IsAbs(cfg.Socket) {
		return nil, newError(ErrInvalid, "HolderConfig.Socket %q is not an absolute path", cfg.Socket)
	}
	if cfg.MaxListeners < 0 || cfg.MaxListeners > maxKeptListeners {
		return nil, newError(ErrInvalid, "HolderConfig.MaxListeners %d out of range 0..%d", cfg.MaxListeners, maxKeptListeners)
	}
	if cfg.MaxListeners == 0 {
		cfg.MaxListeners = 4096
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	l, err := listenSocket(ctx, "unix", cfg.Socket)
	if err != nil {
		return nil, err
	}
	kl, err := listenSocket(ctx, "unixpacket", ListenerSocket(cfg.Socket))
	if err != nil {
		_ = l.Close()
		return nil, err
	}
	kept, err := newKeeper(cfg.MaxListeners, cfg.Logger)
	if err != nil {
		_ = l.Close()
		_ = kl.Close()
		return nil, err
	}
	conn, err := takeOrMount(ctx, cfg)
	if err != nil {
		_ = l.Close()
		_ = kl.Close()
		kept.close()
		return nil, err
	}
	return &Holder{cfg: cfg, conn: conn, ln: l, kept: kept, keepLn: kl}, nil
}

// listenSocket listens on the unix socket path (0600), replacing a stale
// socket file.
func listenSocket(ctx context.Context, network, path string) (*net.UnixListener, error) {
	if err := os.Remove(path); err != nil && !errors.Is(err, os.ErrNotExist) {
		return nil, wrapError(ErrUnavailable, unwrapPath(err), "remove stale socket %s", path)
	}
	var lc net.ListenConfig
	l, err := lc.Listen(ctx, network, path)
	if err != nil {
		return nil, wrapError(ErrUnavailable, err, "listen on %s", path)
	}
	if err := os.Chmod(path, 0o600); err != nil {
		_ = l.Close()
		return nil, wrapError(ErrUnavailable, unwrapPath(err), "chmod %s", path)
	}
	return l.(*net.UnixListener), nil
}

// takeOrMount takes the connection of a view already mounted at
// cfg.MountPoint back from the server that answers it (a holder before
// this one died), or mounts the view. A mounted view whose connection
// nobody hands back is dead (its holder and server both died): it is
// unmounted and mounted anew.
func takeOrMount(ctx context.Context, cfg HolderConfig) (*Conn, error) {
	mounted, err := Mounted(cfg.MountPoint)
	if err != nil {
		return nil, err
	}
	if mounted {
		dctx, cancel := context.WithTimeout(ctx, 5*time.Second)
		conn, err := Dial(dctx, HandBackSocket(cfg.Socket))
		cancel()
		if err == nil {
			conn.handBack = "" // a holder hands out on its own socket
			cfg.Logger.InfoContext(ctx, "procview: took the connection back from its server", "mount", cfg.MountPoint)
			return conn, nil
		}
		cfg.Logger.WarnContext(ctx, "procview: the mounted view has no server to hand it back: mounting anew", "mount", cfg.MountPoint, "err", err)
		if err := Unmount(cfg.MountPoint); err != nil && !errors.Is(err, ErrNotFound) {
			return nil, err
		}
	}
	return Mount(ctx, cfg.MountPoint)
}

// HandBackSocket is where a server that got its connection from a holder
// listening on socket hands the connection back to a new holder: socket
// + ".back". A holder that starts on a view that is already mounted (its
// predecessor died while a server ran) dials it.
func HandBackSocket(socket string) string { return socket + ".back" }

// Conn returns the holder's connection, for a server in the same process.
func (h *Holder) Conn() *Conn { return h.conn }

// Run hands the connection to every server that dials the socket, and
// keeps and hands out containers' seccomp listeners on
// [ListenerSocket](socket), until ctx is done or the holder is closed; it
// returns ctx's error, or nil after Close. The mount and the kept
// listeners stay until Close.
func (h *Holder) Run(ctx context.Context) error {
	g, gctx := errgroup.WithContext(ctx)
	g.Go(func() error { return h.kept.serve(gctx, h.keepLn) })
	g.Go(func() error { return h.kept.watch(gctx) })
	g.Go(func() error { return h.handOut(gctx) })
	err := g.Wait()
	if ctx.Err() != nil {
		return ctx.Err()
	}
	return err
}

// Listeners is the number of seccomp listeners the holder keeps.
func (h *Holder) Listeners() int { return h.kept.count() }

// handOut hands the connection to every server that dials the socket
// until ctx is done or the holder is closed (nil).
func (h *Holder) handOut(ctx context.Context) error {
	stop := context.AfterFunc(ctx, func() { _ = h.ln.SetDeadline(time.Unix(1, 0)) })
	defer stop()
	for {
		c, err := h.ln.AcceptUnix()
		if err != nil {
			if ctx.Err() != nil {
				return ctx.Err()
			}
			if errors.Is(err, net.ErrClosed) {
				return nil
			}
			h.cfg.Logger.WarnContext(ctx, "procview: accept", "err", err)
			time.Sleep(10 * time.Millisecond)
			continue
		}
		if err := handOver(c, h.conn); err != nil {
			h.cfg.Logger.WarnContext(ctx, "procview: handover", "err", err)
		}
		_ = c.Close()
	}
}

// handOver sends the descriptor and the INIT request of conn over c.
func handOver(c *net.UnixConn, conn *Conn) error {
	msg := append([]byte(handoverMagic), conn.init...)
	var werr error
	if err := conn.control(func(fd int) {
		_ = c.SetWriteDeadline(time.Now().Add(5 * time.Second))
		_, _, werr = c.WriteMsgUnix(msg, unix.UnixRights(fd), nil)
	}); err != nil {
		return err
	}
	if werr != nil {
		return wrapError(ErrUnavailable, werr, "send connection")
	}
	return nil
}

// Close stops handing the connection out, closes the holder's descriptor
// and unmounts the view (lazily: files open in containers see the end of
// the connection when no server holds it either). It is idempotent.
func (h *Holder) Close() error {
	h.closeOnce.Do(func() {
		err := h.ln.Close()
		_ = h.keepLn.Close()
		h.kept.close()
		_ = os.Remove(h.cfg.Socket)
		uerr := Unmount(h.cfg.MountPoint)
		cerr := h.conn.Close()
		switch {
		case uerr != nil:
			h.closeErr = uerr
		case cerr != nil:
			h.closeErr = cerr
		case err != nil:
			h.closeErr = wrapError(ErrUnavailable, err, "close %s", h.cfg.Socket)
		}
	})
	return h.closeErr
}

// Dial connects to a holder's socket and receives its connection: the
// /dev/fuse descriptor and the INIT request. Serve it with [Server.Serve],
// which also hands the connection back to a new holder on
// [HandBackSocket](socket) should the holder die.
func Dial(ctx context.Context, socket string) (*Conn, error) {
	var d net.Dialer
	nc, err := d.DialContext(ctx, "unix", socket)
	if err != nil {
		return nil, wrapError(ErrUnavailable, err, "dial holder %s", socket)
	}
	c := nc.(*net.UnixConn)
	defer c.Close()
	if dl, ok := ctx.Deadline(); ok {
		_ = c.SetReadDeadline(dl)
	}
	stop := context.AfterFunc(ctx, func() { _ = c.SetReadDeadline(time.Unix(1, 0)) })
	defer stop()
	buf := make([]byte, len(handoverMagic)+maxInitRequest+1)
	oob := make([]byte, unix.CmsgSpace(4*4))
	n, oobn, _, _, err := c.ReadMsgUnix(buf, oob)
	if err != nil {
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
		return nil, wrapError(ErrUnavailable, err, "receive from holder %s", socket)
	}
	fds, err := parseRights(oob[:oobn])
	if err != nil {
		return nil, err
	}
	init, err := parseHandover(buf[:n])
	if err != nil || len(fds) != 1 {
		for _, fd := range fds {
			_ = unix.Close(fd)
		}
		if err == nil {
			err = newError(ErrInvalid, "holder sent %d descriptors, want 1", len(fds))
		}
		return nil, err
	}
	unix.CloseOnExec(fds[0])
	return newConn(fds[0], init, HandBackSocket(socket)), nil
}

// parseRights returns the descriptors of SCM_RIGHTS control messages.
func parseRights(oob []byte) ([]int, error) {
	msgs, err := unix.ParseSocketControlMessage(oob)
	if err != nil {
		return nil, wrapError(ErrInvalid, err, "handover control message")
	}
	var fds []int
	for _, m := range msgs {
		got, err := unix.ParseUnixRights(&m)
		if err != nil {
			continue
		}
		fds = append(fds, got...)
	}
	return fds, nil
}

// parseHandover checks a holder's handover message (the magic "PVW1" and
// a FUSE INIT request) and returns the INIT request.
func parseHandover(b []byte) ([]byte, error) {
	if len(b) < len(handoverMagic) || string(b[:len(handoverMagic)]) != handoverMagic {
		return nil, newError(ErrInvalid, "handover message %q does not start with %s", trunc(b), handoverMagic)
	}
	init := b[len(handoverMagic):]
	if err := checkInit(init); err != nil {
		return nil, err
	}
	return append([]byte(nil), init...), nil
}
