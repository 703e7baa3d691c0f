package testenv

import (
	"strings"
	"testing"
	"time"
)

// TestSwitchVLAN proves the switch is real: two namespaces on access ports
// with the same VLAN tag reach each other; once one port's tag changes they
// do not; with the tag restored they do again.
func TestSwitchVLAN(t *testing.T) {
	Require(t, OVS, Netns, Ping, Ethtool)
	sw := StartOVS(t)
	sw.AddBridge(t, "br0")
	a, b := NewNetns(t), NewNetns(t)
	sw.AccessPort(t, "br0", a, 10, "10.99.0.1/24")
	portB := sw.AccessPort(t, "br0", b, 10, "10.99.0.2/24")

	if got := sw.Vsctl(t, "get", "port", portB, "tag"); got != "10" {
		t.Fatalf("port %s tag = %q, want 10", portB, got)
	}
	if !reaches(a, "10.99.0.2", 5*time.Second) {
		t.Fatal("same VLAN: 10.99.0.1 does not reach 10.99.0.2")
	}
	// No IPv6 chatter for the switch to flood: no link-local address.
	if out := a.Run(t, "ip", "-6", "addr", "show", "dev", "eth0"); strings.Contains(out, "inet6") {
		t.Errorf("eth0 has an IPv6 address:\n%s", out)
	}

	sw.Vsctl(t, "--timeout=10", "set", "port", portB, "tag=20")
	a.Run(t, "ip", "neigh", "flush", "all")
	if out, err := a.Try("ping", "-c", "2", "-W", "1", "10.99.0.2"); err == nil {
		t.Fatalf("VLAN 10 reached VLAN 20:\n%s", out)
	}

	sw.Vsctl(t, "--timeout=10", "set", "port", portB, "tag=10")
	if !reaches(a, "10.99.0.2", 5*time.Second) {
		t.Fatal("tag restored to 10: 10.99.0.1 does not reach 10.99.0.2 again")
	}
}

// reaches pings addr from ns until one reply or the deadline: the first
// packets of a fresh port may go before ovs-vswitchd has its flows.
func reaches(ns *Namespace, addr string, within time.Duration) bool {
	deadline := time.Now().Add(within)
	for {
		out, err := ns.Try("ping", "-c", "1", "-W", "1", addr)
		if err == nil && strings.Contains(out, "1 received") {
			return true
		}
		if time.Now().After(deadline) {
			return false
		}
	}
}

// TestSwitchTCP checks the switch's optional TCP remote answers OVSDB.
func TestSwitchTCP(t *testing.T) {
	sw := StartOVS(t, WithTCP())
	if !strings.HasPrefix(sw.TCP, "tcp:127.0.0.1:") {
		t.Fatalf("TCP endpoint = %q", sw.TCP)
	}
	sw.AddBridge(t, "br7")
	cmd := commandIn(nil, "ovs-vsctl", "--db="+sw.TCP, "list-br")
	cmd.Env = sw.env()
	out, err := cmd.CombinedOutput()
	if err != nil || strings.TrimSpace(string(out)) != "br7" {
		t.Fatalf("ovs-vsctl over %s list-br = %q, %v; want br7", sw.TCP, out, err)
	}
	if dp := sw.Vsctl(t, "get", "bridge", "br7", "datapath_type"); dp != "netdev" {
		t.Errorf("datapath_type = %q, want netdev", dp)
	}
}
