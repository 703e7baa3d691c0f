package netvlan

import (
	"context"
	"errors"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/shoalkit/shoal/internal/testenv"
)

func TestIntegrationSameVLANReachesOthersDoNot(t *testing.T) {
	testenv.Require(t, testenv.OVS, testenv.Netns, testenv.Ping, testenv.Ethtool)
	sw := testenv.StartOVS(t)
	sw.AddBridge(t, "br0")
	s := openSwitch(t, sw)
	a, b, c := testenv.NewNetns(t), testenv.NewNetns(t), testenv.NewNetns(t)
	addr := func(s string) netip.Prefix { return netip.MustParsePrefix(s) }
	pa, err := s.Attach(t.Context(), Attachment{ContainerID: "a", Netns: a.Path, VLAN: 10, Addr: addr("10.99.0.1/24")})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.Attach(t.Context(), Attachment{ContainerID: "b", Netns: b.Path, VLAN: 10, Addr: addr("10.99.0.2/24")}); err != nil {
		t.Fatal(err)
	}
	// Same subnet, other VLAN: only the VLAN keeps it apart.
	if _, err := s.Attach(t.Context(), Attachment{ContainerID: "c", Netns: c.Path, VLAN: 20, Addr: addr("10.99.0.3/24")}); err != nil {
		t.Fatal(err)
	}
	if pa.Ofport <= 0 || pa.Name == "" || pa.VLAN != 10 {
		t.Fatalf("port = %+v", pa)
	}
	if got := sw.Vsctl(t, "get", "Port", pa.Name, "tag"); got != "10" {
		t.Errorf("tag = %q", got)
	}
	ids := sw.Vsctl(t, "get", "Interface", pa.Name, "external_ids")
	if !strings.Contains(ids, `container_id=a`) || !strings.Contains(ids, `iface-id=a.eth0`) {
		t.Errorf("interface external_ids = %s", ids)
	}
	if out := a.Run(t, "ethtool", "-k", "eth0"); !strings.Contains(out, "tx-checksumming: off") {
		t.Errorf("tx checksumming not off in container:\n%s", out)
	}
	if !pingable(a, netip.MustParseAddr("10.99.0.2")) {
		t.Error("a cannot ping b on the same VLAN")
	}
	listenIn(t, b.Path, "10.99.0.2:7000")
	if err := tcpEcho(t, a.Path, "10.99.0.2:7000"); err != nil {
		t.Errorf("TCP a -> b on the same VLAN: %v", err)
	}
	if pingable(a, netip.MustParseAddr("10.99.0.3")) {
		t.Error("a reaches c on another VLAN")
	}
	listenIn(t, c.Path, "10.99.0.3:7000")
	if err := tcpEcho(t, a.Path, "10.99.0.3:7000"); err == nil {
		t.Error("TCP a -> c crosses VLANs")
	}
}

func TestIntegrationAttachBadInputLeavesNothing(t *testing.T) {
	testenv.Require(t, testenv.OVS, testenv.Netns)
	sw := testenv.StartOVS(t)
	sw.AddBridge(t, "br0")
	pool, err := ParsePool(10, "10.98.0.0/29", "")
	if err != nil {
		t.Fatal(err)
	}
	s := openSwitch(t, sw, pool)
	ns := testenv.NewNetns(t)
	cases := []struct {
		name string
		a    Attachment
		want error
	}{
		{"vlan out of range", Attachment{ContainerID: "x", Netns: ns.Path, VLAN: 5000}, ErrInvalid},
		{"no namespace", Attachment{ContainerID: "x", Netns: "/run/netns/shoal-does-not-exist", VLAN: 10}, ErrNotFound},
		{"no bridge", Attachment{ContainerID: "x", Netns: ns.Path, VLAN: 10, Bridge: "br-missing"}, ErrNotFound},
		// The interface name is taken inside the container: the veth cannot
		// be created, and the lease must be given back.
		{"name taken in container", Attachment{ContainerID: "x", Netns: ns.Path, VLAN: 10, IfName: "lo"}, ErrConflict},
		// The route needs a gateway inside the subnet: fails after the veth
		// exists, which must be removed again.
		{"unreachable gateway", Attachment{ContainerID: "x", Netns: ns.Path, VLAN: 30, Addr: netip.MustParsePrefix("10.97.0.2/24"), Gateway: netip.MustParseAddr("192.0.2.1")}, ErrUnavailable},
	}
	for _, tc := range cases {
		_, err := s.Attach(t.Context(), tc.a)
		if !errors.Is(err, tc.want) {
			t.Errorf("%s: err = %v, want %v", tc.name, err, tc.want)
		}
		if err != nil && !strings.HasPrefix(err.Error(), "netvlan: ") {
			t.Errorf("%s: error %q lacks the package prefix", tc.name, err)
		}
	}
	if got := sw.Vsctl(t, "list-ports", "br0"); got != "" {
		t.Errorf("ports left behind: %q", got)
	}
	if out := sw.Host.Run(t, "ip", "-o", "link"); strings.Contains(out, " nv") {
		t.Errorf("veth left in host namespace:\n%s", out)
	}
	if out := ns.Run(t, "ip", "-o", "link"); strings.Contains(out, "eth0") {
		t.Errorf("veth left in container namespace:\n%s", out)
	}
	if n := s.IPAM().InUse(10); n != 0 {
		t.Errorf("%d leases left in vlan 10", n)
	}
}

func TestIntegrationDuplicateAndDetach(t *testing.T) {
	testenv.Require(t, testenv.OVS, testenv.Netns)
	sw := testenv.StartOVS(t)
	sw.AddBridge(t, "br0")
	pool, err := ParsePool(10, "10.96.0.0/24", "")
	if err != nil {
		t.Fatal(err)
	}
	s := openSwitch(t, sw, pool)
	ns, other := testenv.NewNetns(t), testenv.NewNetns(t)
	p, err := s.Attach(t.Context(), Attachment{ContainerID: "dup", Netns: ns.Path, VLAN: 10})
	if err != nil {
		t.Fatal(err)
	}
	if p.Addr.String() != "10.96.0.2/24" || p.Gateway.String() != "10.96.0.1" || p.Hostname != "c-10-96-0-2" {
		t.Errorf("port = %+v", p)
	}
	if out := ns.Run(t, "ip", "route"); !strings.Contains(out, "default via 10.96.0.1") {
		t.Errorf("routes:\n%s", out)
	}
	_, err = s.Attach(t.Context(), Attachment{ContainerID: "dup", Netns: other.Path, VLAN: 10})
	if !errors.Is(err, ErrConflict) || !strings.Contains(err.Error(), "dup") {
		t.Fatalf("second attach: %v, want ErrConflict naming the container", err)
	}
	// The failed duplicate must not have touched the first.
	if got := sw.Vsctl(t, "list-ports", "br0"); got != p.Name {
		t.Errorf("ports = %q", got)
	}
	if n := s.IPAM().InUse(10); n != 1 {
		t.Errorf("leases = %d, want 1", n)
	}
	for i := range 2 {
		if err := s.Detach(t.Context(), "dup"); err != nil {
			t.Fatalf("detach %d: %v", i, err)
		}
	}
	if got := sw.Vsctl(t, "list-ports", "br0"); got != "" {
		t.Errorf("ports after detach: %q", got)
	}
	if out := ns.Run(t, "ip", "-o", "link"); strings.Contains(out, "eth0") {
		t.Errorf("container still has eth0:\n%s", out)
	}
	if n := s.IPAM().InUse(10); n != 0 {
		t.Errorf("leases after detach = %d", n)
	}
}

func TestIntegrationEventsAndHealth(t *testing.T) {
	testenv.Require(t, testenv.OVS, testenv.Netns)
	sw := testenv.StartOVS(t)
	sw.AddBridge(t, "br0")
	s := openSwitch(t, sw)
	ns := testenv.NewNetns(t)
	events := make(chan Event, 64)
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	go func() { _ = s.Run(ctx, func(e Event) { events <- e }) }()
	time.Sleep(20 * time.Millisecond) // let Run register
	p, err := s.Attach(t.Context(), Attachment{ContainerID: "ev", Netns: ns.Path, VLAN: 10})
	if err != nil {
		t.Fatal(err)
	}
	want := map[EventKind]bool{EventPortAdded: false, EventOfport: false}
	deadline := time.After(5 * time.Second)
	for !want[EventPortAdded] || !want[EventOfport] {
		select {
		case e := <-events:
			if e.Kind == EventOfport && (e.Port != p.Name || e.ContainerID != "ev" || e.Ofport != p.Ofport) {
				t.Errorf("ofport event = %+v", e)
			}
			want[e.Kind] = true
		case <-deadline:
			t.Fatalf("events seen: %v", want)
		}
	}
	// ovs-vsctl bumps next_cfg and waits for cur_cfg: both are reported.
	sw.Vsctl(t, "set", "Open_vSwitch", ".", "external_ids:shoal-test=1")
	for caughtUp := false; !caughtUp; {
		select {
		case e := <-events:
			caughtUp = e.Kind == EventConfig && e.NextCfg > 0 && e.CurCfg == e.NextCfg
		case <-time.After(5 * time.Second):
			t.Fatal("no config event with cur_cfg caught up")
		}
	}
	h, err := s.Health(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	if h.Lag != 0 || h.NextCfg == 0 {
		t.Errorf("health after catching up = %+v", h)
	}
	if !h.Connected || h.Ports != 1 || h.PortsNoOfport != 0 || h.PortsWithError != 0 || h.Bridges != 1 {
		t.Errorf("health = %+v", h)
	}
	// The container's end goes down: the host end follows, and the link
	// state change is reported.
	ns.Run(t, "ip", "link", "set", "eth0", "down")
	deadline = time.After(10 * time.Second)
	for {
		select {
		case e := <-events:
			if e.Kind == EventLinkState && e.Port == p.Name && e.LinkState == "down" {
				if err := s.Detach(t.Context(), "ev"); err != nil {
					t.Fatal(err)
				}
				for {
					select {
					case e := <-events:
						if e.Kind == EventPortRemoved && e.Port == p.Name {
							return
						}
					case <-time.After(5 * time.Second):
						t.Fatal("no port-removed event")
					}
				}
			}
		case <-deadline:
			t.Fatal("no link-state down event")
		}
	}
}

func TestIntegrationAttachWithoutVswitchdRollsBack(t *testing.T) {
	testenv.Require(t, testenv.OVS, testenv.Netns)
	sw := testenv.StartOVS(t)
	sw.AddBridge(t, "br0")
	pool, err := ParsePool(10, "10.87.0.0/24", "")
	if err != nil {
		t.Fatal(err)
	}
	cfg := DefaultConfig()
	cfg.Endpoint, cfg.HostNetns, cfg.Bridge, cfg.Pools = sw.Endpoint, sw.Host.Path, "br0", []Pool{pool}
	cfg.ReadyTimeout = 2 * time.Second
	s, err := Open(t.Context(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	ns := testenv.NewNetns(t)
	// ovsdb-server takes the rows, but nobody gives the port an ofport: the
	// failure comes after the commit, so the rows must be deleted again.
	sw.StopSwitch(t)
	_, err = s.Attach(t.Context(), Attachment{ContainerID: "late", Netns: ns.Path, VLAN: 10})
	if !errors.Is(err, ErrUnavailable) || !strings.Contains(err.Error(), "no ofport") {
		t.Fatalf("attach without ovs-vswitchd: %v", err)
	}
	if got := sw.Vsctl(t, "--no-wait", "list-ports", "br0"); got != "" {
		t.Errorf("ports left: %q", got)
	}
	if got := sw.Vsctl(t, "--no-wait", "--columns=name", "list", "Interface"); strings.Contains(got, "nv") {
		t.Errorf("interfaces left:\n%s", got)
	}
	if out := sw.Host.Run(t, "ip", "-o", "link"); strings.Contains(out, " nv") {
		t.Errorf("veth left in host namespace:\n%s", out)
	}
	if n := s.IPAM().InUse(10); n != 0 {
		t.Errorf("%d leases left", n)
	}
	sw.StartSwitch(t)
}

func TestIntegrationTCPEndpoint(t *testing.T) {
	testenv.Require(t, testenv.OVS, testenv.Netns)
	sw := testenv.StartOVS(t, testenv.WithTCP())
	sw.AddBridge(t, "br0")
	cfg := DefaultConfig()
	cfg.Endpoint, cfg.HostNetns, cfg.Bridge = sw.TCP, sw.Host.Path, "br0"
	s, err := Open(t.Context(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	ns := testenv.NewNetns(t)
	p, err := s.Attach(t.Context(), Attachment{ContainerID: "tcp", Netns: ns.Path, VLAN: 42})
	if err != nil {
		t.Fatal(err)
	}
	if got := sw.Vsctl(t, "get", "Port", p.Name, "tag"); got != "42" || p.Ofport <= 0 {
		t.Fatalf("tag %s, port %+v", got, p)
	}
}
