package testenv

import (
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

// ovsSchema is the Open_vSwitch schema shipped by openvswitch-common.
const ovsSchema = "/usr/share/openvswitch/vswitch.ovsschema"

// readyTimeout bounds how long a daemon may take to start listening.
const readyTimeout = 10 * time.Second

// Switch is an Open vSwitch made for one test: ovsdb-server with a fresh
// database in a temp dir, listening on a unix socket (and on a 127.0.0.1 TCP
// port when asked), and ovs-vswitchd running inside its own network
// namespace Host, so that the userspace datapath's tap devices never meet
// another switch's or outlive the test.
type Switch struct {
	Dir      string     // OVS_RUNDIR, OVS_LOGDIR and OVS_DBDIR: database, sockets, logs
	DB       string     // the database file
	Socket   string     // ovsdb-server's unix socket
	Endpoint string     // "unix:" + Socket, as OVSDB clients take it
	TCP      string     // "tcp:127.0.0.1:PORT" when started WithTCP, else ""
	Host     *Namespace // where ovs-vswitchd runs and the switch's ports live

	server, vswitchd *Process
	tcpPort          int
}

// SwitchOption configures StartOVS.
type SwitchOption func(*Switch)

// WithTCP makes ovsdb-server listen on a free 127.0.0.1 TCP port as well.
func WithTCP() SwitchOption {
	return func(s *Switch) { s.tcpPort = -1 }
}

// checkOVS is the OVS component's probe: the schema is installed and the
// userspace datapath can create its taps.
func checkOVS() error {
	for _, f := range []string{ovsSchema, "/dev/net/tun"} {
		if _, err := os.Stat(f); err != nil {
			return fmt.Errorf("%s: %w", f, err)
		}
	}
	return nil
}

// StartOVS starts ovsdb-server and ovs-vswitchd for the test and stops them
// by pid in t.Cleanup. The database is initialised; add bridges with
// AddBridge.
func StartOVS(t testing.TB, opts ...SwitchOption) *Switch {
	t.Helper()
	Require(t, OVS, Netns)
	// A short dir of its own: unix socket paths are limited to 108 bytes and
	// test names make t.TempDir long.
	dir, err := os.MkdirTemp("", "shoal-ovs-")
	if err != nil {
		t.Fatalf("testenv: %v", err)
	}
	t.Cleanup(func() {
		if err := os.RemoveAll(dir); err != nil {
			t.Errorf("testenv: %v", err)
		}
	})
	s := &Switch{Dir: dir, DB: filepath.Join(dir, "conf.db"), Socket: filepath.Join(dir, "db.sock")}
	s.Endpoint = "unix:" + s.Socket
	for _, o := range opts {
		o(s)
	}
	if s.tcpPort != 0 {
		s.tcpPort = FreePort(t)
		s.TCP = "tcp:127.0.0.1:" + strconv.Itoa(s.tcpPort)
	}
	run(t, path(t, "ovsdb-tool"), "create", s.DB, ovsSchema)
	s.Host = NewNetns(t)
	s.StartServer(t)
	s.Vsctl(t, "--no-wait", "init")
	s.StartSwitch(t)
	return s
}

// env sets OVS's directories to the switch's own, so no tool looks at
// /var/run/openvswitch.
func (s *Switch) env() []string {
	return append(os.Environ(), "OVS_RUNDIR="+s.Dir, "OVS_LOGDIR="+s.Dir, "OVS_DBDIR="+s.Dir)
}

// StartServer starts ovsdb-server on the switch's database and waits until
// it accepts connections. Tests of reconnection call it after StopServer.
func (s *Switch) StartServer(t testing.TB) {
	t.Helper()
	args := []string{
		s.DB,
		"--remote=punix:" + s.Socket,
		"--remote=db:Open_vSwitch,Open_vSwitch,manager_options",
		"--unixctl=" + filepath.Join(s.Dir, "ovsdb-server.ctl"),
		"--log-file=" + filepath.Join(s.Dir, "ovsdb-server.log"),
		"--pidfile=" + filepath.Join(s.Dir, "ovsdb-server.pid"),
	}
	if s.tcpPort > 0 {
		args = append(args, "--remote=ptcp:"+strconv.Itoa(s.tcpPort)+":127.0.0.1")
	}
	cmd := commandIn(nil, path(t, "ovsdb-server"), args...)
	cmd.Env = s.env()
	s.server = startCmd(t, cmd)
	waitDial(t, s.server, "unix", s.Socket)
	if s.tcpPort > 0 {
		waitDial(t, s.server, "tcp", "127.0.0.1:"+strconv.Itoa(s.tcpPort))
	}
}

// StopServer stops ovsdb-server (SIGTERM), as a restart test needs.
func (s *Switch) StopServer(t testing.TB) { t.Helper(); s.server.Stop(t) }

// KillServer kills ovsdb-server with SIGKILL, as a crash would.
func (s *Switch) KillServer(t testing.TB) { t.Helper(); s.server.Kill(t) }

// StartSwitch starts ovs-vswitchd inside Host and waits until it has applied
// the current configuration.
func (s *Switch) StartSwitch(t testing.TB) {
	t.Helper()
	cmd := commandIn(s.Host, path(t, "ovs-vswitchd"), s.Endpoint,
		"--unixctl="+filepath.Join(s.Dir, "ovs-vswitchd.ctl"),
		"--log-file="+filepath.Join(s.Dir, "ovs-vswitchd.log"),
		"--pidfile="+filepath.Join(s.Dir, "ovs-vswitchd.pid"),
	)
	cmd.Env = s.env()
	s.vswitchd = startCmd(t, cmd)
	// ovs-vsctl without --no-wait bumps next_cfg and returns once
	// ovs-vswitchd has caught up (cur_cfg == next_cfg).
	s.Vsctl(t, "--timeout=10", "set", "Open_vSwitch", ".", "external_ids:shoal-testenv="+strconv.Itoa(s.vswitchd.Pid))
}

// StopSwitch stops ovs-vswitchd (SIGTERM).
func (s *Switch) StopSwitch(t testing.TB) { t.Helper(); s.vswitchd.Stop(t) }

// KillSwitch kills ovs-vswitchd with SIGKILL, as a crash would.
func (s *Switch) KillSwitch(t testing.TB) { t.Helper(); s.vswitchd.Kill(t) }

// Pids returns the pids of ovsdb-server and ovs-vswitchd.
func (s *Switch) Pids() (server, vswitchd int) { return s.server.Pid, s.vswitchd.Pid }

// Vsctl runs ovs-vsctl against the switch's database and returns its
// output without the trailing newline.
func (s *Switch) Vsctl(t testing.TB, args ...string) string {
	t.Helper()
	out, err := s.TryVsctl(args...)
	if err != nil {
		t.Fatalf("testenv: ovs-vsctl %s: %v", strings.Join(args, " "), err)
	}
	return out
}

// TryVsctl is Vsctl returning the error instead of failing the test.
func (s *Switch) TryVsctl(args ...string) (string, error) {
	cmd := commandIn(nil, "ovs-vsctl", append([]string{"--db=" + s.Endpoint}, args...)...)
	cmd.Env = s.env()
	out, err := cmd.CombinedOutput()
	if err != nil {
		return "", fmt.Errorf("%w: %s", err, strings.TrimSpace(string(out)))
	}
	return strings.TrimRight(string(out), "\n"), nil
}

// AddBridge adds a bridge on the userspace (netdev) datapath and waits until
// ovs-vswitchd has created it.
func (s *Switch) AddBridge(t testing.TB, name string) {
	t.Helper()
	s.Vsctl(t, "--timeout=10", "add-br", name, "--", "set", "bridge", name, "datapath_type=netdev")
}

// AccessPort wires ns to bridge like a container: a veth pair whose host end
// is an access port with the VLAN tag and whose other end is eth0 in ns with
// the address cidr (e.g. "10.99.0.1/24"), up. It returns the port's name.
// Transmit checksum offload is turned off inside ns: the userspace datapath
// does not fill checksums in, so TCP would fail without it.
func (s *Switch) AccessPort(t testing.TB, bridge string, ns *Namespace, tag int, cidr string) string {
	t.Helper()
	Require(t, Ethtool)
	v := NewVethNamed(t, s.Host, ns, "eth0")
	ns.Run(t, "ip", "addr", "add", cidr, "dev", "eth0")
	ns.Run(t, "ethtool", "-K", "eth0", "tx", "off")
	s.Vsctl(t, "--timeout=10", "add-port", bridge, v.A, "tag="+strconv.Itoa(tag))
	return v.A
}

// waitDial waits until addr accepts connections or p exits.
func waitDial(t testing.TB, p *Process, network, addr string) {
	t.Helper()
	deadline := time.Now().Add(readyTimeout)
	for {
		d := net.Dialer{Timeout: time.Second}
		c, err := d.DialContext(t.Context(), network, addr)
		if err == nil {
			_ = c.Close()
			return
		}
		select {
		case <-p.Done():
			t.Fatalf("testenv: %s exited before listening on %s: %v\n%s", p.Name, addr, p.Err(), p.Output())
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("testenv: %s not listening on %s after %v: %v\n%s", p.Name, addr, readyTimeout, err, p.Output())
		}
		time.Sleep(10 * time.Millisecond)
	}
}
