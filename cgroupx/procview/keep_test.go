package procview_test

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/shoalkit/shoal/cgroupx/procview"
	"github.com/shoalkit/shoal/internal/testenv"
)

// TestSysinfoSurvivesServerRestart: server A takes a container's seccomp
// listener as runc hands it over and the holder keeps a duplicate; A
// stops; the container's sysinfo(2) then waits (the listener is still
// open, in the holder) instead of failing with ENOSYS, and server B,
// which takes the holder's listeners when it starts, answers it with the
// container's numbers. When the container's process is gone, the holder
// drops its listener.
func TestSysinfoSurvivesServerRestart(t *testing.T) {
	f := newFixture(t)
	cmd, listener, stdin, lines := startSysinfoChild(t)
	f.enter(t, cmd.Process.Pid)
	seccompSock := filepath.Join(t.TempDir(), "seccomp.sock")
	stopA := startSeccompServer(t, f, f.sock, seccompSock)
	handLikeRunc(t, seccompSock, "ctr-1", cmd.Process.Pid, listener)
	waitFor(t, "the holder to keep the listener", func() bool { return f.holder.Listeners() == 1 })
	asker, err := procview.New(t.Context(), procview.Config{Parents: []string{f.parent}, HolderSocket: f.sock})
	if err != nil {
		t.Fatal(err)
	}
	if ids, err := asker.KeptListenerIDs(t.Context()); err != nil || len(ids) != 1 || ids[0] != "ctr-1" {
		t.Errorf("KeptListenerIDs = %q, %v; want [ctr-1]", ids, err)
	}
	// Only server A and the holder hold the listener now: the test's
	// copy becomes /dev/null and the child closes its own.
	dropFd(t, listener)
	say(t, stdin, "close")
	if got := nextLine(t, lines, 10*time.Second); got != "closed" {
		t.Fatalf("child: %q", got)
	}

	stopA()
	say(t, stdin, "go")
	got := make(chan string, 1)
	go func() {
		if lines.Scan() {
			got <- lines.Text()
		}
		close(got)
	}()
	select {
	case line := <-got:
		t.Fatalf("sysinfo returned with no server running: %q", line)
	case <-time.After(300 * time.Millisecond):
	}

	start := time.Now()
	stopB := startSeccompServer(t, f, f.sock, filepath.Join(t.TempDir(), "seccomp.sock"))
	defer stopB()
	var line string
	select {
	case line = <-got:
		t.Logf("the waiting sysinfo answered %v after server B started", time.Since(start).Round(time.Microsecond))
	case <-time.After(10 * time.Second):
		t.Fatal("the waiting sysinfo was never answered after the restart")
	}
	fields := strings.Fields(line)
	if len(fields) != 7 || fields[0] != "sysinfo" {
		t.Fatalf("child: %q (want the container's sysinfo, never ENOSYS)", line)
	}
	if total, _ := strconv.ParseUint(fields[1], 10, 64); total != memLimit {
		t.Errorf("totalram = %s, want the container's %d", fields[1], memLimit)
	}
	_ = cmd.Wait() // the child exits after printing
	waitFor(t, "the holder to drop the listener of an exited container", func() bool { return f.holder.Listeners() == 0 })
}

// startSeccompServer starts a server for the fixture's container, with
// the holder on holderSock, taking listeners on sock; the returned
// function stops it.
func startSeccompServer(t *testing.T, f *fixture, holderSock, sock string) (stop func()) {
	t.Helper()
	srv, err := procview.New(t.Context(), procview.Config{Parents: []string{f.parent}, HolderSocket: holderSock})
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.ListenUnix("unix", &net.UnixAddr{Name: sock, Net: "unix"})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- srv.AcceptSeccomp(ctx, ln) }()
	stopped := false
	stop = func() {
		if stopped {
			return
		}
		stopped = true
		cancel()
		if err := <-done; !errors.Is(err, context.Canceled) {
			t.Errorf("AcceptSeccomp: %v", err)
		}
		_ = ln.Close()
	}
	t.Cleanup(stop)
	return stop
}

// TestSysinfoSurvivesServerKill: the server is a process of its own,
// killed with SIGKILL while it serves the container's listener; the
// container's sysinfo waits, and the next server process answers it.
func TestSysinfoSurvivesServerKill(t *testing.T) {
	f := newFixture(t)
	cmd, listener, stdin, lines := startSysinfoChild(t)
	f.enter(t, cmd.Process.Pid)
	dir := t.TempDir()
	startServer := func(sock string) *exec.Cmd {
		srv := exec.Command(os.Args[0], "-test.run=^$")
		srv.Env = append(os.Environ(), envSeccompSocket+"="+sock, envServeSocket+"="+f.sock, envServeParent+"="+f.parent)
		srv.Stderr = os.Stderr
		if err := srv.Start(); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = srv.Process.Kill(); _ = srv.Wait() })
		waitFor(t, "the server's socket", func() bool { _, err := os.Stat(sock); return err == nil })
		return srv
	}
	a := startServer(filepath.Join(dir, "a.sock"))
	handLikeRunc(t, filepath.Join(dir, "a.sock"), "ctr-1", cmd.Process.Pid, listener)
	waitFor(t, "the holder to keep the listener", func() bool { return f.holder.Listeners() == 1 })
	dropFd(t, listener)
	say(t, stdin, "close")
	if got := nextLine(t, lines, 10*time.Second); got != "closed" {
		t.Fatalf("child: %q", got)
	}
	if err := a.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	_ = a.Wait()

	say(t, stdin, "go")
	got := scanLine(lines)
	select {
	case line := <-got:
		t.Fatalf("sysinfo returned with the server killed: %q", line)
	case <-time.After(300 * time.Millisecond):
	}
	startServer(filepath.Join(dir, "b.sock"))
	select {
	case line := <-got:
		if fields := strings.Fields(line); len(fields) != 7 || fields[1] != strconv.Itoa(memLimit) {
			t.Fatalf("child: %q, want the container's sysinfo", line)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("the waiting sysinfo was never answered")
	}
}

// TestListenersSurviveHolderRestart: the holder restarts while a server
// serves a container's listener; the server gives the new holder the
// listener, so that a server restart after that still loses no sysinfo.
func TestListenersSurviveHolderRestart(t *testing.T) {
	f := newFixture(t)
	cmd, listener, stdin, lines := startSysinfoChild(t)
	f.enter(t, cmd.Process.Pid)
	dir := t.TempDir()
	mnt, sock := filepath.Join(dir, "view"), filepath.Join(dir, "h.sock")
	if err := os.Mkdir(mnt, 0o755); err != nil {
		t.Fatal(err)
	}
	h1, stopH1 := startHolder(t, mnt, sock)
	seccompSock := filepath.Join(dir, "seccomp.sock")
	stopA := startSeccompServer(t, f, sock, seccompSock)
	handLikeRunc(t, seccompSock, "ctr-1", cmd.Process.Pid, listener)
	waitFor(t, "the first holder to keep the listener", func() bool { return h1.Listeners() == 1 })
	dropFd(t, listener)
	say(t, stdin, "close")
	if got := nextLine(t, lines, 10*time.Second); got != "closed" {
		t.Fatalf("child: %q", got)
	}

	stopH1()
	h2, stopH2 := startHolder(t, mnt, sock)
	defer stopH2()
	waitFor(t, "the server to give the new holder its listener", func() bool { return h2.Listeners() == 1 })

	stopA()
	say(t, stdin, "go")
	got := scanLine(lines)
	select {
	case line := <-got:
		t.Fatalf("sysinfo returned with no server running: %q", line)
	case <-time.After(300 * time.Millisecond):
	}
	stopB := startSeccompServer(t, f, sock, filepath.Join(dir, "seccomp2.sock"))
	defer stopB()
	select {
	case line := <-got:
		if fields := strings.Fields(line); len(fields) != 7 || fields[1] != strconv.Itoa(memLimit) {
			t.Fatalf("child: %q, want the container's sysinfo", line)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("the waiting sysinfo was never answered")
	}
}

// scanLine reads the next line in the background.
func scanLine(lines *bufio.Scanner) <-chan string {
	got := make(chan string, 1)
	go func() {
		if lines.Scan() {
			got <- lines.Text()
		}
	}()
	return got
}

// startHolder runs a holder in this process; the returned function
// stops and closes it (unmounting its view).
func startHolder(t *testing.T, mnt, sock string) (*procview.Holder, func()) {
	t.Helper()
	h, err := procview.NewHolder(t.Context(), procview.HolderConfig{MountPoint: mnt, Socket: sock})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- h.Run(ctx) }()
	stopped := false
	stop := func() {
		if stopped {
			return
		}
		stopped = true
		cancel()
		if err := <-done; !errors.Is(err, context.Canceled) {
			t.Errorf("holder Run: %v", err)
		}
		if err := h.Close(); err != nil {
			t.Error(err)
		}
	}
	t.Cleanup(stop)
	return h, stop
}

// handLikeRunc sends listener fd to sock as runc does: the OCI container
// process state with the descriptor.
func handLikeRunc(t *testing.T, sock, id string, pid, fd int) {
	t.Helper()
	st := map[string]any{
		"ociVersion": "1.2.0", "fds": []string{"seccompFd"}, "pid": pid,
		"state": map[string]any{"ociVersion": "1.2.0", "id": id, "status": "creating", "pid": pid, "bundle": "/none"},
	}
	b, err := json.Marshal(st)
	if err != nil {
		t.Fatal(err)
	}
	c, err := net.DialUnix("unix", nil, &net.UnixAddr{Name: sock, Net: "unix"})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if _, _, err := c.WriteMsgUnix(b, unix.UnixRights(fd), nil); err != nil {
		t.Fatal(err)
	}
}

// dropFd makes fd /dev/null, so that this process no longer holds what
// it was (and the cleanup that closes fd closes /dev/null).
func dropFd(t *testing.T, fd int) {
	t.Helper()
	null, err := unix.Open("/dev/null", unix.O_RDONLY|unix.O_CLOEXEC, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer unix.Close(null)
	if err := unix.Dup3(null, fd, unix.O_CLOEXEC); err != nil {
		t.Fatal(err)
	}
}

func say(t *testing.T, w interface{ Write([]byte) (int, error) }, line string) {
	t.Helper()
	if _, err := w.Write([]byte(line + "\n")); err != nil {
		t.Fatal(err)
	}
}

func nextLine(t *testing.T, lines *bufio.Scanner, timeout time.Duration) string {
	t.Helper()
	got := make(chan string, 1)
	go func() {
		lines.Scan()
		got <- lines.Text()
	}()
	select {
	case l := <-got:
		return l
	case <-time.After(timeout):
		t.Fatal("child said nothing")
		return ""
	}
}

func waitFor(t *testing.T, what string, ok func() bool) {
	t.Helper()
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(10 * time.Millisecond) {
		if ok() {
			return
		}
	}
	t.Fatalf("waited 10 s for %s", what)
}

// TestHolderRefusesBadListenerMessages: malformed, oversized and
// mismatched requests on the holder's listener socket each get a clear
// error, and the holder keeps serving; a keep beyond MaxListeners is
// refused.
func TestHolderRefusesBadListenerMessages(t *testing.T) {
	testenv.RequireFUSE(t)
	dir := t.TempDir()
	mnt, sock := filepath.Join(dir, "view"), filepath.Join(dir, "h.sock")
	if err := os.Mkdir(mnt, 0o755); err != nil {
		t.Fatal(err)
	}
	h, err := procview.NewHolder(t.Context(), procview.HolderConfig{MountPoint: mnt, Socket: sock, MaxListeners: 1})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- h.Run(ctx) }()
	defer func() {
		cancel()
		if err := <-done; !errors.Is(err, context.Canceled) {
			t.Errorf("holder Run: %v", err)
		}
		if err := h.Close(); err != nil {
			t.Error(err)
		}
	}()
	var pipe [2]int
	if err := unix.Pipe2(pipe[:], unix.O_CLOEXEC); err != nil {
		t.Fatal(err)
	}
	defer unix.Close(pipe[0])
	defer unix.Close(pipe[1])
	// A client that sends nothing holds up no one else.
	silent, err := net.DialUnix("unixpacket", nil, &net.UnixAddr{Name: procview.ListenerSocket(sock), Net: "unixpacket"})
	if err != nil {
		t.Fatal(err)
	}
	defer silent.Close()
	start := time.Now()
	defer func() {
		if d := time.Since(start); d > 3*time.Second {
			t.Errorf("the requests took %v beside a silent client", d)
		}
	}()
	for _, tc := range []struct {
		name string
		msg  string
		fds  []int
		want string
	}{
		{"garbage", "hello", nil, "does not start with"},
		{"oversized", "PVL1 keep " + strings.Repeat("a", 5000), []int{pipe[0]}, "over 512 bytes"},
		{"unknown verb", "PVL1 drop x", nil, "unknown verb"},
		{"bad id", "PVL1 keep ../etc", []int{pipe[0]}, "not a letter"},
		{"long id", "PVL1 keep " + strings.Repeat("a", 200), []int{pipe[0]}, "want 1..128 bytes"},
		{"not a listener", "PVL1 keep web-1", []int{pipe[0]}, "not a seccomp listener"},
		{"keep without descriptor", "PVL1 keep web-1", nil, "keep request with 0 descriptors"},
		{"take with descriptor", "PVL1 take", []int{pipe[0]}, "take request with 1 descriptors"},
		{"two descriptors", "PVL1 keep web-1", []int{pipe[0], pipe[1]}, "more than one descriptor"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c, err := net.DialUnix("unixpacket", nil, &net.UnixAddr{Name: procview.ListenerSocket(sock), Net: "unixpacket"})
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			_ = c.SetDeadline(time.Now().Add(5 * time.Second))
			var oob []byte
			if tc.fds != nil {
				oob = unix.UnixRights(tc.fds...)
			}
			if _, _, err := c.WriteMsgUnix([]byte(tc.msg), oob, nil); err != nil {
				t.Fatal(err)
			}
			buf := make([]byte, 1024)
			n, err := c.Read(buf)
			if err != nil {
				t.Fatal(err)
			}
			if got := string(buf[:n]); !strings.HasPrefix(got, "PVL1 err invalid ") || !strings.Contains(got, tc.want) {
				t.Errorf("answer %q, want an invalid error saying %q", got, tc.want)
			}
		})
	}
	if err := procview.KeepListener(t.Context(), sock, "../x", pipe[0]); !errors.Is(err, procview.ErrInvalid) {
		t.Errorf("KeepListener with a bad id: %v, want ErrInvalid", err)
	}
	if err := procview.KeepListener(t.Context(), sock, "pipe", pipe[0]); !errors.Is(err, procview.ErrInvalid) || !strings.Contains(err.Error(), "not a seccomp listener") {
		t.Errorf("KeepListener of a pipe: %v, want ErrInvalid", err)
	}
	// Still serving: a real listener is kept, a second one is over
	// MaxListeners, and a take returns the first.
	_, l1, _, _ := startSysinfoChild(t)
	_, l2, _, _ := startSysinfoChild(t)
	if err := procview.KeepListener(t.Context(), sock, "ctr-1", l1); err != nil {
		t.Fatal(err)
	}
	if err := procview.KeepListener(t.Context(), sock, "ctr-2", l2); !errors.Is(err, procview.ErrUnavailable) || !strings.Contains(err.Error(), "MaxListeners") {
		t.Errorf("keep over MaxListeners: %v, want ErrUnavailable", err)
	}
	if err := procview.KeepListener(t.Context(), sock, "ctr-1", l2); err != nil {
		t.Errorf("keep again under the same id (a restarted container): %v", err)
	}
	kept, err := procview.KeptListeners(t.Context(), sock)
	if err != nil {
		t.Fatal(err)
	}
	if len(kept) != 1 || kept[0].ID != "ctr-1" {
		t.Errorf("kept %v, want ctr-1", kept)
	}
	for _, l := range kept {
		_ = unix.Close(l.FD)
	}
	if h.Listeners() != 1 {
		t.Errorf("holder keeps %d listeners, want 1", h.Listeners())
	}
}
