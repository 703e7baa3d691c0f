package procview_test

import (
	"bufio"
	"context"
	"errors"
	"io"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/shoalkit/shoal/cgroupx/procview"
)

// TestSysinfoThroughSeccomp: a process in a container with 256 MiB calls
// sysinfo(2) under a seccomp filter that notifies; the handler writes the
// container's numbers into it.
func TestSysinfoThroughSeccomp(t *testing.T) {
	f := newFixture(t)
	srv, err := procview.New(t.Context(), procview.Config{Parents: []string{f.parent}})
	if err != nil {
		t.Fatal(err)
	}
	cmd, listener, stdin, lines := startSysinfoChild(t)
	f.enter(t, cmd.Process.Pid)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- srv.ServeSeccomp(ctx, listener) }()
	if _, err := stdin.Write([]byte("go\n")); err != nil {
		t.Fatal(err)
	}
	got := make(chan string, 1)
	go func() {
		lines.Scan()
		got <- lines.Text()
	}()
	var line string
	select {
	case line = <-got:
	case <-time.After(10 * time.Second):
		t.Fatal("sysinfo did not return")
	}
	cancel()
	if err := <-done; err != nil && !errors.Is(err, context.Canceled) {
		t.Errorf("ServeSeccomp: %v", err)
	}
	fields := strings.Fields(line)
	if len(fields) != 7 || fields[0] != "sysinfo" {
		t.Fatalf("child: %q", line)
	}
	n := func(i int) uint64 {
		v, err := strconv.ParseUint(fields[i], 10, 64)
		if err != nil {
			t.Fatal(err)
		}
		return v
	}
	if total := n(1); total != memLimit {
		t.Errorf("totalram = %d, want the container's %d", total, memLimit)
	}
	if free := n(2); free == 0 || free >= memLimit {
		t.Errorf("freeram = %d, want below %d", free, memLimit)
	}
	if procs := n(3); procs == 0 || procs > 100 {
		t.Errorf("procs = %d, want the container's few threads", procs)
	}
	if up := n(4); up > 60 {
		t.Errorf("uptime = %d s, want the container's seconds", up)
	}
	if unit := n(5); unit != 1 {
		t.Errorf("mem_unit = %d", unit)
	}
}

// startSysinfoChild starts a child process whose sysinfo(2) notifies a
// seccomp listener, and returns the child, the listener (taken with
// pidfd_getfd, closed when the test ends), the child's stdin ("go\n"
// makes it call sysinfo) and its output lines.
func startSysinfoChild(t *testing.T) (*exec.Cmd, int, io.Writer, *bufio.Scanner) {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), envSysinfo+"=1")
	stdin, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })
	lines := bufio.NewScanner(stdout)
	if !lines.Scan() {
		t.Fatal("child said nothing")
	}
	first := lines.Text()
	num, ok := strings.CutPrefix(first, "listener ")
	if !ok {
		t.Fatalf("child: %s", first)
	}
	childFd, _ := strconv.Atoi(num)
	pidfd, err := unix.PidfdOpen(cmd.Process.Pid, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = unix.Close(pidfd) }()
	listener, err := unix.PidfdGetfd(pidfd, childFd, 0)
	if err != nil {
		t.Fatalf("pidfd_getfd: %v", err)
	}
	t.Cleanup(func() { _ = unix.Close(listener) })
	return cmd, listener, stdin, lines
}

// TestServeSeccompStops: ServeSeccomp returns when its context ends, also
// after signals interrupted its wait (the Go runtime's preemption signals
// do, all the time): an interrupted poll must not fall into a receive that
// blocks until the next notification, which may never come.
func TestServeSeccompStops(t *testing.T) {
	srv, err := procview.New(t.Context(), procview.Config{Parents: []string{"/none"}})
	if err != nil {
		t.Fatal(err)
	}
	_, listener, _, _ := startSysinfoChild(t)
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan error, 1)
	go func() { done <- srv.ServeSeccomp(ctx, listener) }()
	// Interrupt every thread of this process, the server's among them,
	// for half a second.
	for end := time.Now().Add(500 * time.Millisecond); time.Now().Before(end); {
		tasks, _ := os.ReadDir("/proc/self/task")
		for _, task := range tasks {
			tid, _ := strconv.Atoi(task.Name())
			_ = unix.Tgkill(os.Getpid(), tid, unix.SIGURG)
		}
		time.Sleep(time.Millisecond)
	}
	cancel()
	select {
	case err := <-done:
		if !errors.Is(err, context.Canceled) {
			t.Errorf("ServeSeccomp: %v, want context.Canceled", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("ServeSeccomp did not return after its context ended")
	}
}
