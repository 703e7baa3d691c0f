package netvlan

import (
	"net/netip"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/shoalkit/shoal/internal/testenv"
)

// ownNetns makes a namespace the test may delete itself, as a container
// runtime does when a container dies.
func ownNetns(t *testing.T, name string) (path string, del func()) {
	t.Helper()
	if out, err := exec.Command("ip", "netns", "add", name).CombinedOutput(); err != nil {
		t.Fatalf("ip netns add: %v: %s", err, out)
	}
	del = func() { _ = exec.Command("ip", "netns", "delete", name).Run() }
	t.Cleanup(del)
	return filepath.Join("/run/netns", name), del
}

func TestIntegrationReconcileRetagsRemovesAndAdds(t *testing.T) {
	testenv.Require(t, testenv.OVS, testenv.Netns, testenv.Ping)
	sw := testenv.StartOVS(t)
	sw.AddBridge(t, "br0")
	s := openSwitch(t, sw)
	a, b := testenv.NewNetns(t), testenv.NewNetns(t)
	goneName := "shoal-gone-" + strings.ReplaceAll(t.Name(), "/", "")[:8]
	gonePath, deleteGone := ownNetns(t, goneName)
	desired := []Attachment{
		{ContainerID: "a", Netns: a.Path, VLAN: 10, Addr: netip.MustParsePrefix("10.95.0.1/24")},
		{ContainerID: "b", Netns: b.Path, VLAN: 20, Addr: netip.MustParsePrefix("10.95.0.2/24")},
		{ContainerID: "gone", Netns: gonePath, VLAN: 10, Addr: netip.MustParsePrefix("10.95.0.3/24")},
		{ContainerID: "stale", Netns: b.Path, IfName: "eth1", VLAN: 10},
	}
	rep, err := s.Reconcile(t.Context(), desired)
	if err != nil {
		t.Fatal(err)
	}
	if len(rep.Added) != 4 || len(rep.Failed) != 0 || rep.Unchanged != 0 {
		t.Fatalf("first reconcile: %+v", rep)
	}
	if pingable(a, netip.MustParseAddr("10.95.0.2")) {
		t.Fatal("a reaches b across VLANs before the retag")
	}
	// The container "gone" dies: its namespace and with it the veth vanish.
	deleteGone()
	goneLink := s.portName("gone", "eth0")
	for deadline := time.Now().Add(5 * time.Second); ; time.Sleep(10 * time.Millisecond) {
		if _, err := sw.Host.Try("ip", "link", "show", goneLink); err != nil {
			break // the kernel has torn the namespace down
		}
		if time.Now().After(deadline) {
			t.Fatal("veth of the deleted namespace still there after 5s")
		}
	}
	// b moves to VLAN 10; "stale" is no longer wanted; "gone" is still
	// listed, but its namespace no longer exists.
	desired[1].VLAN = 10
	rep, err = s.Reconcile(t.Context(), desired[:3])
	if err != nil {
		t.Fatal(err)
	}
	if len(rep.Retagged) != 1 || rep.Retagged[0].ContainerID != "b" || rep.Retagged[0].VLAN != 10 {
		t.Errorf("retagged = %+v", rep.Retagged)
	}
	removed := map[string]bool{}
	for _, p := range rep.Removed {
		removed[p.ContainerID] = true
	}
	if len(rep.Removed) != 2 || !removed["gone"] || !removed["stale"] {
		t.Errorf("removed = %+v", rep.Removed)
	}
	if len(rep.Failed) != 1 || rep.Failed[0].ContainerID != "gone" {
		t.Errorf("failed = %+v", rep.Failed)
	}
	if rep.Unchanged != 1 {
		t.Errorf("unchanged = %d", rep.Unchanged)
	}
	if got := strings.Fields(sw.Vsctl(t, "list-ports", "br0")); len(got) != 2 {
		t.Errorf("ports = %v, want a's and b's", got)
	}
	if !waitPing(a, netip.MustParseAddr("10.95.0.2"), 3*time.Second) {
		t.Error("a cannot reach b after the retag to VLAN 10")
	}
	// Nothing left to do.
	rep, err = s.Reconcile(t.Context(), desired[:2])
	if err != nil {
		t.Fatal(err)
	}
	if rep.Changed() || rep.Unchanged != 2 || len(rep.Failed) != 0 {
		t.Errorf("no-op reconcile: %+v", rep)
	}
}

func TestIntegrationReconcileAfterOVSRestart(t *testing.T) {
	testenv.Require(t, testenv.OVS, testenv.Netns, testenv.Ping)
	sw := testenv.StartOVS(t)
	sw.AddBridge(t, "br0")
	s := openSwitch(t, sw)
	a, b := testenv.NewNetns(t), testenv.NewNetns(t)
	desired := []Attachment{
		{ContainerID: "a", Netns: a.Path, VLAN: 10, Addr: netip.MustParsePrefix("10.94.0.1/24")},
		{ContainerID: "b", Netns: b.Path, VLAN: 10, Addr: netip.MustParsePrefix("10.94.0.2/24")},
	}
	if _, err := s.Reconcile(t.Context(), desired); err != nil {
		t.Fatal(err)
	}
	if !waitPing(a, netip.MustParseAddr("10.94.0.2"), 3*time.Second) {
		t.Fatal("no forwarding before the restart")
	}
	sw.KillSwitch(t)
	sw.KillServer(t)
	sw.StartServer(t)
	start := time.Now()
	// The switch reconnects on its own; the first transaction waits for it.
	if _, _, err := s.transact(t.Context(), nil); err != nil {
		t.Fatalf("first transaction after ovsdb-server restart: %v", err)
	}
	t.Logf("first transaction %v after ovsdb-server was back", time.Since(start))
	sw.StartSwitch(t)
	rep, err := s.Reconcile(t.Context(), desired)
	if err != nil {
		t.Fatal(err)
	}
	if len(rep.Failed) != 0 {
		t.Fatalf("reconcile after restart: %+v", rep)
	}
	if !waitPing(a, netip.MustParseAddr("10.94.0.2"), 5*time.Second) {
		t.Error("no forwarding after killing and restarting ovs-vswitchd and ovsdb-server")
	}
	if err := tcpEchoAfterListen(t, b.Path, a.Path, "10.94.0.2:7001"); err != nil {
		t.Errorf("TCP after restart: %v", err)
	}
}

func tcpEchoAfterListen(t *testing.T, serverNs, clientNs, addr string) error {
	t.Helper()
	listenIn(t, serverNs, addr)
	return tcpEcho(t, clientNs, addr)
}

func TestIntegrationTrunkDropsUnlistedVLANs(t *testing.T) {
	testenv.Require(t, testenv.OVS, testenv.Netns)
	sw := testenv.StartOVS(t)
	sw.AddBridge(t, "br0")
	s := openSwitch(t, sw)
	trunk, v10, v30 := testenv.NewNetns(t), testenv.NewNetns(t), testenv.NewNetns(t)
	tp, err := s.Attach(t.Context(), Attachment{ContainerID: "trunk", Netns: trunk.Path, Trunks: []int{20, 10}})
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		ns   *testenv.Namespace
		vlan int
	}{{v10, 10}, {v30, 30}} {
		if _, err := s.Attach(t.Context(), Attachment{ContainerID: c.ns.Name, Netns: c.ns.Path, VLAN: c.vlan}); err != nil {
			t.Fatal(err)
		}
	}
	if got := sw.Vsctl(t, "get", "Port", tp.Name, "trunks", "vlan_mode"); got != "[10, 20]\ntrunk" {
		t.Errorf("trunk port = %q", got)
	}
	// The kernel here has no 802.1Q module, so the test writes tagged frames
	// itself: from the trunk container, one frame tagged 10 and one tagged
	// 30; each access port must see only its own VLAN's frame, untagged.
	out := rawSocket(t, trunk.Path, "eth0")
	in10, in30 := rawSocket(t, v10.Path, "eth0"), rawSocket(t, v30.Path, "eth0")
	deadline := time.Now().Add(3 * time.Second)
	var got10 []string
	for len(got10) == 0 && time.Now().Before(deadline) {
		sendTagged(t, out, 10, tp.MAC, "on-10")
		sendTagged(t, out, 30, tp.MAC, "on-30")
		got10 = received(t, in10, 200*time.Millisecond)
	}
	got30 := received(t, in30, 300*time.Millisecond)
	if len(got10) == 0 || got10[0] != "on-10" {
		t.Errorf("VLAN 10 access port got %q, want the frame tagged 10", got10)
	}
	for _, p := range got10 {
		if p != "on-10" {
			t.Errorf("VLAN 10 access port got %q", p)
		}
	}
	if len(got30) != 0 {
		t.Errorf("VLAN 30 access port got %q through a trunk that does not list 30", got30)
	}
	// Control: the VLAN 30 port does receive what its own VLAN carries.
	p30, err := s.Attach(t.Context(), Attachment{ContainerID: "peer30", Netns: trunk.Path, IfName: "eth30", VLAN: 30})
	if err != nil {
		t.Fatal(err)
	}
	peer := rawSocket(t, trunk.Path, "eth30")
	sendTagged(t, peer, 0, p30.MAC, "from-30")
	if got := received(t, in30, 500*time.Millisecond); len(got) == 0 {
		t.Error("VLAN 30 access port receives nothing, so the negative check proves nothing")
	}
}
