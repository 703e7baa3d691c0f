package platform

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"time"
)

// ovsSchema is the Open_vSwitch schema openvswitch-common installs.
const ovsSchema = "/usr/share/openvswitch/vswitch.ovsschema"

// Switch is an Open vSwitch of the platform's own: ovsdb-server on a unix
// socket in Dir, and ovs-vswitchd with the userspace datapath inside a
// network namespace of its own (HostNetns), so the platform never touches
// the machine's own switch or interfaces.
type Switch struct {
	Dir       string
	Endpoint  string
	HostNetns string // /run/netns/NAME
	netns     string
	procs     []*exec.Cmd
}

// StartSwitch starts the switch's daemons under dir.
func StartSwitch(ctx context.Context, dir string) (s *Switch, err error) {
	if _, err := os.Stat(ovsSchema); err != nil {
		return nil, fmt.Errorf("platform: open vswitch is not installed (%w); apt-get install openvswitch-switch", err)
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, err
	}
	var b [4]byte
	_, _ = rand.Read(b[:])
	s = &Switch{Dir: dir, Endpoint: "unix:" + filepath.Join(dir, "db.sock"), netns: "shoal-ovs-" + hex.EncodeToString(b[:])}
	s.HostNetns = "/run/netns/" + s.netns
	defer func() {
		if err != nil {
			s.Close()
		}
	}()
	db := filepath.Join(dir, "conf.db")
	if err := s.run(ctx, "ovsdb-tool", "create", db, ovsSchema); err != nil {
		return s, err
	}
	if err := s.run(ctx, "ip", "netns", "add", s.netns); err != nil {
		return s, err
	}
	if err := s.start("ovsdb-server", db, "--remote=punix:"+filepath.Join(dir, "db.sock"),
		"--unixctl="+filepath.Join(dir, "ovsdb-server.ctl"), "--log-file="+filepath.Join(dir, "ovsdb-server.log")); err != nil {
		return s, err
	}
	if err := waitSocket(ctx, filepath.Join(dir, "db.sock")); err != nil {
		return s, err
	}
	if _, err := s.Vsctl(ctx, "--no-wait", "init"); err != nil {
		return s, err
	}
	if err := s.start("ip", "netns", "exec", s.netns, "ovs-vswitchd", s.Endpoint,
		"--unixctl="+filepath.Join(dir, "ovs-vswitchd.ctl"), "--log-file="+filepath.Join(dir, "ovs-vswitchd.log")); err != nil {
		return s, err
	}
	// Without --no-wait, ovs-vsctl returns once ovs-vswitchd applied it.
	_, err = s.Vsctl(ctx, "--timeout=20", "set", "Open_vSwitch", ".", "external_ids:shoal-pilot=1")
	return s, err
}

func (s *Switch) env() []string {
	return append(os.Environ(), "OVS_RUNDIR="+s.Dir, "OVS_LOGDIR="+s.Dir, "OVS_DBDIR="+s.Dir)
}

func (s *Switch) run(ctx context.Context, name string, args ...string) error {
	cmd := exec.CommandContext(ctx, name, args...)
	cmd.Env = s.env()
	if out, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("platform: %s %s: %w: %s", name, strings.Join(args, " "), err, strings.TrimSpace(string(out)))
	}
	return nil
}

// start runs a daemon of the switch, stopped by Close.
func (s *Switch) start(name string, args ...string) error {
	cmd, err := startDaemon(s.Dir, s.env(), name, args...)
	if err != nil {
		return err
	}
	s.procs = append(s.procs, cmd)
	return nil
}

// startDaemon runs name in a process group of its own, its output in
// dir/NAME.out; stopDaemon stops it by pid.
func startDaemon(dir string, env []string, name string, args ...string) (*exec.Cmd, error) {
	cmd := exec.Command(name, args...) //nolint:noctx // a daemon: stopped by pid with stopDaemon
	cmd.Env = env
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	log, err := os.OpenFile(filepath.Join(dir, filepath.Base(name)+".out"), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		return nil, err
	}
	defer log.Close()
	cmd.Stdout, cmd.Stderr = log, log
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("platform: %s: %w", name, err)
	}
	return cmd, nil
}

// stopDaemon sends SIGTERM to a daemon's process group, SIGKILL after 5 s,
// and reaps it.
func stopDaemon(p *exec.Cmd) {
	_ = syscall.Kill(-p.Process.Pid, syscall.SIGTERM)
	done := make(chan error, 1)
	go func() { done <- p.Wait() }()
	select {
	case err := <-done:
		_ = err // a daemon stopped by a signal exits non-zero
	case <-time.After(5 * time.Second):
		_ = syscall.Kill(-p.Process.Pid, syscall.SIGKILL)
		<-done //nolint:errcheck // killed: its exit status says nothing
	}
}

func waitSocket(ctx context.Context, path string) error {
	deadline := time.Now().Add(10 * time.Second)
	for {
		var d net.Dialer
		c, err := d.DialContext(ctx, "unix", path)
		if err == nil {
			return c.Close()
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("platform: %s: %w", path, err)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// Vsctl runs ovs-vsctl against the switch.
func (s *Switch) Vsctl(ctx context.Context, args ...string) (string, error) {
	cmd := exec.CommandContext(ctx, "ovs-vsctl", append([]string{"--db=" + s.Endpoint}, args...)...)
	cmd.Env = s.env()
	out, err := cmd.CombinedOutput()
	if err != nil {
		return "", fmt.Errorf("platform: ovs-vsctl %s: %w: %s", strings.Join(args, " "), err, strings.TrimSpace(string(out)))
	}
	return strings.TrimSpace(string(out)), nil
}

// AddBridge adds a bridge on the userspace datapath.
func (s *Switch) AddBridge(ctx context.Context, name string) error {
	_, err := s.Vsctl(ctx, "--timeout=20", "add-br", name, "--", "set", "bridge", name, "datapath_type=netdev")
	return err
}

// Trunk joins two bridges with a pair of patch ports carrying every VLAN,
// as a node's switch is cabled to its top-of-rack switch.
func (s *Switch) Trunk(ctx context.Context, a, b string) error {
	pa, pb := "p-"+a+"-"+b, "p-"+b+"-"+a
	_, err := s.Vsctl(ctx, "--timeout=20",
		"add-port", a, pa, "--", "set", "interface", pa, "type=patch", "options:peer="+pb, "--",
		"add-port", b, pb, "--", "set", "interface", pb, "type=patch", "options:peer="+pa)
	return err
}

// Close stops the daemons by pid and removes the namespace and the dir.
func (s *Switch) Close() {
	for i := len(s.procs) - 1; i >= 0; i-- {
		stopDaemon(s.procs[i])
	}
	s.procs = nil
	if s.netns != "" {
		_ = exec.Command("ip", "netns", "del", s.netns).Run() //nolint:noctx // clean-up must run after ctx ended
	}
	_ = os.RemoveAll(s.Dir)
}
