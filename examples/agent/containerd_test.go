package main

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sync/errgroup"

	"github.com/shoalkit/shoal/internal/testenv"
)

// containerd is a private containerd 1.6 started by a benchmark as the peer
// the agent is measured against: its own config, root and state in a temp
// dir, its socket in a short temp dir (a unix socket path holds at most 107
// bytes), no CRI. Benchmarks drive it with ctr in the namespace "shoalbench" (also the
// parent cgroup of its containers).
type containerd struct {
	tb     testing.TB
	proc   *testenv.Process
	addr   string // the gRPC socket
	config string // the config file, to start it again
	dir    string // root, state and config
}

// containerdDisabledPlugins are what a private daemon does without: CRI,
// opt (it would install into /opt/containerd) and the snapshotters that
// only probe and warn here.
var containerdDisabledPlugins = []string{
	"io.containerd.grpc.v1.cri",
	"io.containerd.internal.v1.opt",
	"io.containerd.snapshotter.v1.aufs",
	"io.containerd.snapshotter.v1.btrfs",
	"io.containerd.snapshotter.v1.devmapper",
	"io.containerd.snapshotter.v1.zfs",
}

func startContainerd(tb testing.TB) *containerd {
	tb.Helper()
	testenv.Require(tb, testenv.Containerd)
	sock, err := os.MkdirTemp("", "ctrd-")
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { _ = os.RemoveAll(sock) })
	dir := tb.TempDir()
	quoted := make([]string, len(containerdDisabledPlugins))
	for k, p := range containerdDisabledPlugins {
		quoted[k] = strconv.Quote(p)
	}
	c := &containerd{tb: tb, addr: filepath.Join(sock, "c.sock"), config: filepath.Join(dir, "config.toml"), dir: dir}
	cfg := fmt.Sprintf("version = 2\nroot = %q\nstate = %q\ndisabled_plugins = [%s]\n\n[grpc]\n  address = %q\n",
		filepath.Join(dir, "root"), filepath.Join(dir, "state"), strings.Join(quoted, ", "), c.addr)
	if err := os.WriteFile(c.config, []byte(cfg), 0o600); err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(c.teardown) // after the daemon stops (clean-ups run last first)
	c.start()
	return c
}

// start runs the daemon and waits until it answers.
func (c *containerd) start() {
	c.tb.Helper()
	c.proc = testenv.StartProcess(c.tb, "containerd", "--config", c.config)
	deadline := time.Now().Add(20 * time.Second)
	for {
		_, err := c.ctr("version").CombinedOutput()
		if err == nil {
			return
		}
		select {
		case <-c.proc.Done():
			c.tb.Fatalf("containerd exited at start: %v\n%s", c.proc.Err(), c.proc.Output())
		default:
		}
		if time.Now().After(deadline) {
			c.tb.Fatalf("containerd not answering on %s: %v\n%s", c.addr, err, c.proc.Output())
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// runcRoot is runc's state for this daemon's containers, inside its
// directory (runc's default, /run/containerd/runc/NAMESPACE, would outlive
// the benchmark).
func (c *containerd) runcRoot() string { return filepath.Join(c.dir, "runc") }

// ctrTimeout bounds one ctr call: a containerd restarted under 50 running
// containers answers some calls only after seconds.
const ctrTimeout = 20 * time.Second

func (c *containerd) ctr(args ...string) *exec.Cmd {
	ctx, cancel := context.WithTimeout(context.Background(), ctrTimeout)
	c.tb.Cleanup(cancel)
	return exec.CommandContext(ctx, "ctr", append([]string{"-a", c.addr, "-n", "shoalbench"}, args...)...)
}

func (c *containerd) run(args ...string) string {
	c.tb.Helper()
	out, err := c.ctr(args...).CombinedOutput()
	if err != nil {
		c.tb.Fatalf("ctr %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return string(out)
}

// running counts the tasks containerd reports RUNNING.
func (c *containerd) running() int {
	out, err := c.ctr("tasks", "ls").CombinedOutput()
	if err != nil {
		return -1
	}
	n := 0
	for _, l := range strings.Split(string(out), "\n") {
		if f := strings.Fields(l); len(f) == 3 && f[2] == "RUNNING" {
			n++
		}
	}
	return n
}

// remove kills and deletes the containers ids, eight at a time (best
// effort: a benchmark's clean-up).
func (c *containerd) remove(ids []string) {
	var g errgroup.Group
	g.SetLimit(8)
	for _, id := range ids {
		g.Go(func() error {
			_ = c.ctr("tasks", "kill", "-s", "SIGKILL", id).Run()
			for range 100 {
				if c.ctr("tasks", "delete", id).Run() == nil {
					break
				}
				if out, _ := c.ctr("tasks", "ls", "-q").Output(); !strings.Contains(string(out), id+"\n") {
					break
				}
				time.Sleep(20 * time.Millisecond)
			}
			_ = c.ctr("containers", "delete", id).Run()
			return nil
		})
	}
	_ = g.Wait()
}

// teardown ends whatever the daemon still runs, whether or not it answers:
// the shims' containers and the shims by pid, then the daemon, then the
// containers' rootfs mounts under its state directory. Registered before
// the daemon's own stop, it runs after it.
func (c *containerd) teardown() {
	var killed []int
	for _, shim := range c.shimPIDs() {
		for _, child := range children(shim) {
			_ = syscall.Kill(child, syscall.SIGKILL)
			killed = append(killed, child)
		}
		_ = syscall.Kill(shim, syscall.SIGKILL)
	}
	for deadline := time.Now().Add(5 * time.Second); time.Now().Before(deadline); time.Sleep(10 * time.Millisecond) {
		alive := 0
		for _, pid := range killed {
			if syscall.Kill(pid, 0) == nil {
				alive++
			}
		}
		if alive == 0 {
			break
		}
	}
	// The containers' cgroups, under the namespace's name, once empty.
	groups, _ := filepath.Glob("/sys/fs/cgroup/*/shoalbench/*")
	for _, g := range groups {
		_ = os.Remove(g)
	}
	parents, _ := filepath.Glob("/sys/fs/cgroup/*/shoalbench")
	for _, p := range parents {
		_ = os.Remove(p)
	}
	raw, _ := os.ReadFile("/proc/self/mountinfo")
	for _, l := range strings.Split(string(raw), "\n") {
		if f := strings.Fields(l); len(f) > 4 && strings.HasPrefix(f[4], c.dir+"/") {
			_ = syscall.Unmount(f[4], syscall.MNT_DETACH)
		}
	}
}

// children are pid's child processes.
func children(pid int) []int {
	var out []int
	tasks, _ := filepath.Glob(fmt.Sprintf("/proc/%d/task/*/children", pid))
	for _, t := range tasks {
		b, _ := os.ReadFile(t)
		for _, f := range strings.Fields(string(b)) {
			if n, err := strconv.Atoi(f); err == nil {
				out = append(out, n)
			}
		}
	}
	return out
}

// shimPIDs are the runc v2 shims serving this daemon's containers.
func (c *containerd) shimPIDs() []int {
	ents, _ := os.ReadDir("/proc")
	var out []int
	for _, e := range ents {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		b, err := os.ReadFile(filepath.Join("/proc", e.Name(), "cmdline"))
		if err != nil {
			continue
		}
		cmd := string(b)
		if strings.Contains(cmd, "containerd-shim-runc-v2") && strings.Contains(cmd, c.addr) {
			out = append(out, pid)
		}
	}
	return out
}
