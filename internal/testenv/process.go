package testenv

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// How long Stop waits after SIGTERM before SIGKILL, and after SIGKILL
// before it reports the process as stuck.
const (
	stopGrace = 5 * time.Second
	killGrace = 60 * time.Second
)

// Process is a command a test started. Its output goes to a log file in the
// test's temp dir, printed when the test fails. It is stopped by pid in
// t.Cleanup if the test did not stop it first.
type Process struct {
	Pid  int    // the process id
	Name string // the command, for messages
	Log  string // the file that receives its stdout and stderr

	cmd      *exec.Cmd
	done     chan struct{} // closed when the process has been reaped
	waitErr  error
	stopOnce sync.Once
}

// StartProcess starts name with args as a child of the test and registers
// its stop. A command that exits at once is not an error here; use Done to
// observe it.
func StartProcess(t testing.TB, name string, args ...string) *Process {
	t.Helper()
	return startCmd(t, exec.Command(name, args...)) //nolint:noctx // stopped by pid in Cleanup, not by a context
}

// startCmd starts a prepared command with its output captured and its stop
// registered.
func startCmd(t testing.TB, cmd *exec.Cmd) *Process {
	t.Helper()
	name := commandName(cmd)
	log, err := os.CreateTemp(t.TempDir(), name+"-*.log")
	if err != nil {
		t.Fatalf("testenv: log for %s: %v", name, err)
	}
	cmd.Stdout, cmd.Stderr = log, log
	// Its own process group, so a ^C to go test does not reach it before
	// Cleanup does, and so Stop can signal whatever it forked.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		_ = log.Close()
		t.Fatalf("testenv: start %s: %v", strings.Join(cmd.Args, " "), err)
	}
	p := &Process{Pid: cmd.Process.Pid, Name: name, Log: log.Name(), cmd: cmd, done: make(chan struct{})}
	go func() {
		p.waitErr = cmd.Wait()
		_ = log.Close()
		close(p.done)
	}()
	t.Logf("testenv: started %s pid %d", name, p.Pid)
	t.Cleanup(func() {
		p.Stop(t)
		if t.Failed() {
			t.Logf("testenv: %s pid %d log:\n%s", name, p.Pid, p.Output())
		}
	})
	return p
}

// commandName is the program a command runs, seeing through ip netns exec
// and the cgroup entry shell, for logs and messages.
func commandName(cmd *exec.Cmd) string {
	a := cmd.Args
	switch {
	case len(a) > 4 && filepath.Base(a[0]) == "ip" && a[1] == "netns" && a[2] == "exec":
		return filepath.Base(a[4])
	case len(a) > 4 && a[0] == "/bin/sh" && a[3] == "sh":
		return filepath.Base(a[4])
	}
	return filepath.Base(cmd.Path)
}

// Done is closed when the process has exited and been reaped.
func (p *Process) Done() <-chan struct{} { return p.done }

// Err is the process's exit error once Done is closed.
func (p *Process) Err() error {
	<-p.done
	return p.waitErr
}

// Output returns what the process has written so far.
func (p *Process) Output() string {
	b, err := os.ReadFile(p.Log)
	if err != nil {
		return fmt.Sprintf("(no log: %v)", err)
	}
	return string(bytes.TrimRight(b, "\n"))
}

// Stop sends SIGTERM to the process group, waits up to five seconds, then
// sends SIGKILL. It returns once the process is reaped. Calling it again does
// nothing.
func (p *Process) Stop(t testing.TB) {
	t.Helper()
	p.stopOnce.Do(func() { p.signalAndWait(t, syscall.SIGTERM) })
}

// Kill sends SIGKILL at once, as a crash would, and waits for the process.
func (p *Process) Kill(t testing.TB) {
	t.Helper()
	p.stopOnce.Do(func() { p.signalAndWait(t, syscall.SIGKILL) })
}

func (p *Process) signalAndWait(t testing.TB, sig syscall.Signal) {
	t.Helper()
	select {
	case <-p.done:
		return
	default:
	}
	// Negative pid: the whole process group the child leads.
	if err := syscall.Kill(-p.Pid, sig); err != nil && !errors.Is(err, syscall.ESRCH) {
		t.Errorf("testenv: signal %s pid %d: %v", p.Name, p.Pid, err)
	}
	if sig != syscall.SIGKILL {
		select {
		case <-p.done:
			return
		case <-time.After(stopGrace):
			t.Logf("testenv: %s pid %d ignored %v for %v; killing", p.Name, p.Pid, sig, stopGrace)
			_ = syscall.Kill(-p.Pid, syscall.SIGKILL)
		}
	}
	// A task that survives SIGKILL (frozen, or stuck in the kernel) must not
	// hang the whole test binary: report it and go on. The bound is long
	// because exiting can be slow for real: an ovs-vswitchd with 1,000 ports
	// waits out an RCU grace period per packet socket it closes (10-30 s).
	select {
	case <-p.done:
	case <-time.After(killGrace):
		t.Errorf("testenv: %s pid %d still alive %v after SIGKILL (frozen?)", p.Name, p.Pid, killGrace)
	}
}

// run runs a short command to completion and fails the test on error,
// naming the command and its output.
func run(t testing.TB, name string, args ...string) string {
	t.Helper()
	out, err := exec.Command(name, args...).CombinedOutput() //nolint:noctx // short helper commands in tests
	if err != nil {
		t.Fatalf("testenv: %s %s: %v\n%s", name, strings.Join(args, " "), err, out)
	}
	return string(out)
}
