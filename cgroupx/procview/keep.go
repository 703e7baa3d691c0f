package procview

import (
	"context"
	"errors"
	"net"
	"strings"
	"time"

	"golang.org/x/sys/unix"
)

// The listener-keeping protocol: one SOCK_SEQPACKET packet per message,
// each "PVL1 " + a verb and, for some verbs, one argument. A server sends
// "keep ID" with one descriptor (a container's seccomp listener) or
// "take"; the holder answers a keep with "ok" or "err KIND TEXT", and a
// take with one "listener ID" packet per kept listener (one descriptor
// each) and "end".
const (
	listenerMagic = "PVL1 "
	// maxListenerMessage bounds every message of the protocol.
	maxListenerMessage = 512
	// maxListenerID bounds a container id.
	maxListenerID = 128
	// maxKeptListeners bounds what a server accepts from one take (a
	// holder's MaxListeners may not be larger).
	maxKeptListeners = 1 << 16
	// seccompNotifyLink is what /proc/self/fd/N of a seccomp listener
	// links to.
	seccompNotifyLink = "anon_inode:seccomp notify"
)

// The verbs of the protocol.
const (
	verbKeep     = "keep"
	verbTake     = "take"
	verbOK       = "ok"
	verbErr      = "err"
	verbListener = "listener"
	verbEnd      = "end"
)

// ListenerSocket is where a holder listening on socket (HolderConfig.Socket)
// keeps containers' seccomp listeners: socket + ".seccomp".
func ListenerSocket(socket string) string { return socket + ".seccomp" }

// KeptListener is a seccomp listener a holder keeps for a container.
type KeptListener struct {
	// ID is the container's id, as the container runtime named it.
	ID string
	// FD is this process's duplicate of the listener; the caller closes it.
	FD int
}

// validListenerID reports whether id may name a kept listener: 1 to 128
// bytes of letters, digits and "_.+-" (runc's container ids), not "." or
// "..".
func validListenerID(id string) error {
	if id == "" || len(id) > maxListenerID || id == "." || id == ".." {
		return newError(ErrInvalid, "listener id %q: want 1..%d bytes", trunc([]byte(id)), maxListenerID)
	}
	for _, r := range id {
		switch {
		case r >= 'a' && r <= 'z', r >= 'A' && r <= 'Z', r >= '0' && r <= '9', strings.ContainsRune("_.+-", r):
		default:
			return newError(ErrInvalid, "listener id %q: %q is not a letter, digit or one of _.+-", trunc([]byte(id)), r)
		}
	}
	return nil
}

// parseListenerMessage checks a message of the listener-keeping protocol
// and returns its verb and argument.
func parseListenerMessage(b []byte) (verb, arg string, err error) {
	if len(b) > maxListenerMessage {
		return "", "", newError(ErrInvalid, "listener message of %d bytes, over %d", len(b), maxListenerMessage)
	}
	s, ok := strings.CutPrefix(string(b), listenerMagic)
	if !ok {
		return "", "", newError(ErrInvalid, "listener message %q does not start with %q", trunc(b), listenerMagic)
	}
	verb, arg, hasArg := strings.Cut(s, " ")
	switch verb {
	case verbTake, verbOK, verbEnd:
		if hasArg {
			return "", "", newError(ErrInvalid, "listener message %q: %s takes no argument", trunc(b), verb)
		}
	case verbKeep, verbListener:
		if err := validListenerID(arg); err != nil {
			return "", "", err
		}
	case verbErr:
		kind, text, _ := strings.Cut(arg, " ")
		if kind != "invalid" && kind != "unavailable" {
			return "", "", newError(ErrInvalid, "listener message %q: error kind %q", trunc(b), trunc([]byte(kind)))
		}
		for _, r := range text {
			if r < ' ' || r == 0x7f || r == '\uFFFD' {
				return "", "", newError(ErrInvalid, "listener message %q: unprintable error text", trunc(b))
			}
		}
	default:
		return "", "", newError(ErrInvalid, "listener message %q: unknown verb %q", trunc(b), trunc([]byte(verb)))
	}
	return verb, arg, nil
}

// listenerMessage makes a message; an argument too long is cut.
func listenerMessage(verb, arg string) []byte {
	m := listenerMagic + verb
	if arg != "" {
		m += " " + arg
	}
	if len(m) > maxListenerMessage {
		m = strings.ToValidUTF8(m[:maxListenerMessage], "")
	}
	return []byte(m)
}

// errorMessage is the "err" message for err.
func errorMessage(err error) []byte {
	kind := "invalid"
	if !errors.Is(err, ErrInvalid) {
		kind = "unavailable"
	}
	text := strings.Map(func(r rune) rune {
		if r < ' ' || r == 0x7f || r == '\uFFFD' {
			return '?'
		}
		return r
	}, err.Error())
	return listenerMessage(verbErr, kind+" "+text)
}

// errorOf is the error an "err" message's argument stands for.
func errorOf(socket, arg string) error {
	kind, text, _ := strings.Cut(arg, " ")
	text = strings.TrimPrefix(text, "procview: ")
	if kind == "invalid" {
		return newError(ErrInvalid, "holder %s refused: %s", socket, text)
	}
	return newError(ErrUnavailable, "holder %s refused: %s", socket, text)
}

// dialKeeper connects to the listener socket of the holder on socket,
// with ctx's deadline (or 10 s) on every read and write.
func dialKeeper(ctx context.Context, socket string) (*net.UnixConn, func(), error) {
	path := ListenerSocket(socket)
	var d net.Dialer
	nc, err := d.DialContext(ctx, "unixpacket", path)
	if err != nil {
		return nil, nil, wrapError(ErrUnavailable, err, "dial holder %s", path)
	}
	c := nc.(*net.UnixConn)
	dl, ok := ctx.Deadline()
	if !ok {
		dl = time.Now().Add(10 * time.Second)
	}
	_ = c.SetDeadline(dl)
	stop := context.AfterFunc(ctx, func() { _ = c.SetDeadline(time.Unix(1, 0)) })
	return c, func() { stop(); _ = c.Close() }, nil
}

// readListenerMessage reads one message and its descriptors (at most
// one is wanted: more are closed and refused).
func readListenerMessage(c *net.UnixConn) (verb, arg string, fd int, err error) {
	buf := make([]byte, maxListenerMessage+1)
	oob := make([]byte, unix.CmsgSpace(4*4))
	n, oobn, flags, _, err := c.ReadMsgUnix(buf, oob)
	if err != nil {
		return "", "", -1, wrapError(ErrUnavailable, err, "receive listener message")
	}
	fds, perr := parseRights(oob[:oobn])
	closeAll := func() {
		for _, fd := range fds {
			_ = unix.Close(fd)
		}
	}
	switch {
	case perr != nil:
		closeAll()
		return "", "", -1, perr
	case flags&unix.MSG_TRUNC != 0 || n > maxListenerMessage:
		closeAll()
		return "", "", -1, newError(ErrInvalid, "listener message over %d bytes", maxListenerMessage)
	case flags&unix.MSG_CTRUNC != 0 || len(fds) > 1:
		closeAll()
		return "", "", -1, newError(ErrInvalid, "listener message with more than one descriptor")
	}
	fd = -1
	if len(fds) == 1 {
		fd = fds[0]
		unix.CloseOnExec(fd)
	}
	verb, arg, err = parseListenerMessage(buf[:n])
	if err != nil {
		closeAll()
		return "", "", -1, err
	}
	return verb, arg, fd, nil
}

// KeepListener gives the holder listening on socket (HolderConfig.Socket)
// a duplicate of fd, a container's seccomp listener, kept under the
// container's id until the container's processes are gone. The caller
// keeps fd. A listener kept again under the same id replaces the first.
func KeepListener(ctx context.Context, socket, id string, fd int) error {
	if err := validListenerID(id); err != nil {
		return err
	}
	c, done, err := dialKeeper(ctx, socket)
	if err != nil {
		return err
	}
	defer done()
	if _, _, err := c.WriteMsgUnix(listenerMessage(verbKeep, id), unix.UnixRights(fd), nil); err != nil {
		return wrapError(ErrUnavailable, err, "send listener %s to holder %s", id, socket)
	}
	verb, arg, rfd, err := readListenerMessage(c)
	if rfd >= 0 {
		_ = unix.Close(rfd)
	}
	switch {
	case err != nil:
		return err
	case verb == verbErr:
		return errorOf(socket, arg)
	case verb != verbOK:
		return newError(ErrInvalid, "holder %s answered keep with %q", socket, verb)
	}
	return nil
}

// KeptListeners returns a duplicate of every seccomp listener the holder
// listening on socket (HolderConfig.Socket) keeps. The caller closes
// their FDs.
func KeptListeners(ctx context.Context, socket string) ([]KeptListener, error) {
	c, done, err := dialKeeper(ctx, socket)
	if err != nil {
		return nil, err
	}
	defer done()
	if _, err := c.Write(listenerMessage(verbTake, "")); err != nil {
		return nil, wrapError(ErrUnavailable, err, "ask holder %s for listeners", socket)
	}
	var kept []KeptListener
	fail := func(err error) ([]KeptListener, error) {
		for _, l := range kept {
			_ = unix.Close(l.FD)
		}
		return nil, err
	}
	for {
		verb, arg, fd, err := readListenerMessage(c)
		if err != nil {
			if ctx.Err() != nil {
				return fail(ctx.Err())
			}
			return fail(err)
		}
		switch {
		case verb == verbEnd && fd < 0:
			return kept, nil
		case verb == verbListener && fd >= 0 && len(kept) < maxKeptListeners:
			kept = append(kept, KeptListener{ID: arg, FD: fd})
			continue
		case verb == verbErr && fd < 0:
			return fail(errorOf(socket, arg))
		}
		if fd >= 0 {
			_ = unix.Close(fd)
		}
		if len(kept) >= maxKeptListeners {
			return fail(newError(ErrInvalid, "holder %s sent over %d listeners", socket, maxKeptListeners))
		}
		return fail(newError(ErrInvalid, "holder %s sent %s with %d descriptors during a take", socket, verb, min(fd+1, 1)))
	}
}
