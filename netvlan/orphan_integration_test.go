package netvlan

import (
	"net/netip"
	"strings"
	"testing"

	"github.com/shoalkit/shoal/internal/testenv"
)

// TestIntegrationReconcileRemovesOrphanedVeth simulates an agent that died
// inside Attach after the veth pair existed but before its rows were
// committed: Reconcile deletes that veth by its alias, and leaves veths of
// another owner or without an alias alone, whatever their names.
func TestIntegrationReconcileRemovesOrphanedVeth(t *testing.T) {
	testenv.Require(t, testenv.OVS, testenv.Netns)
	sw := testenv.StartOVS(t)
	sw.AddBridge(t, "br0")
	s := openSwitch(t, sw)
	kept, crashed := testenv.NewNetns(t), testenv.NewNetns(t)

	// A real port, desired throughout: its veth carries the alias too.
	want := Attachment{ContainerID: "kept", Netns: kept.Path, VLAN: 10, Addr: netip.MustParsePrefix("10.93.0.1/24")}
	p, err := s.Attach(t.Context(), want)
	if err != nil {
		t.Fatal(err)
	}
	if got := linkAlias(t, sw.Host, p.Name); got != encodeAlias(s.cfg.Owner, "kept", "eth0") {
		t.Errorf("alias of %s = %q", p.Name, got)
	}

	// The crash: the pair as Attach creates it, and nothing after.
	a := Attachment{ContainerID: "crashed:1", Netns: crashed.Path, VLAN: 10}
	if err := s.normalize(&a); err != nil {
		t.Fatal(err)
	}
	orphan := s.portName(a.ContainerID, a.IfName)
	cns, err := openContainerNetns(a.Netns)
	if err != nil {
		t.Fatal(err)
	}
	a.MAC = macFor(netip.Addr{})
	err = s.createVeth(cns, orphan, &a)
	cns.close()
	if err != nil {
		t.Fatal(err)
	}
	if got := linkAlias(t, sw.Host, orphan); got != "netvlan:netvlan:crashed%3A1:eth0" {
		t.Fatalf("alias of the orphan %s = %q", orphan, got)
	}
	// Controls, named like ours on purpose: the name decides nothing.
	foreign, bare := "nvforeign0", "nvbare0"
	sw.Host.Run(t, "ip", "link", "add", foreign, "type", "veth", "peer", "name", foreign+"p")
	sw.Host.Run(t, "ip", "link", "set", "dev", foreign, "alias", encodeAlias("someone-else", "crashed:1", "eth0"))
	sw.Host.Run(t, "ip", "link", "add", bare, "type", "veth", "peer", "name", bare+"p")

	// While an Attach of that name is in flight the veth is not an orphan.
	s.beginAttach(orphan)
	rep, err := s.Reconcile(t.Context(), []Attachment{want})
	s.endAttach(orphan)
	if err != nil {
		t.Fatal(err)
	}
	if len(rep.Orphaned) != 0 || !hasLink(sw.Host, orphan) {
		t.Fatalf("reconcile during an attach of %s: %+v", orphan, rep)
	}

	rep, err = s.Reconcile(t.Context(), []Attachment{want})
	if err != nil {
		t.Fatal(err)
	}
	if len(rep.Orphaned) != 1 || rep.Orphaned[0].Name != orphan ||
		rep.Orphaned[0].ContainerID != "crashed:1" || rep.Orphaned[0].IfName != "eth0" {
		t.Errorf("orphaned = %+v, want %s of crashed:1/eth0", rep.Orphaned, orphan)
	}
	if !rep.Changed() || rep.Unchanged != 1 || len(rep.Added)+len(rep.Removed)+len(rep.Retagged)+len(rep.Failed) != 0 {
		t.Errorf("report = %+v", rep)
	}
	if hasLink(sw.Host, orphan) {
		t.Errorf("orphaned veth %s still in the host namespace", orphan)
	}
	if hasLink(crashed, "eth0") {
		t.Error("peer of the orphaned veth still in the container's namespace")
	}
	for _, l := range []string{foreign, foreign + "p", bare, bare + "p", p.Name} {
		if !hasLink(sw.Host, l) {
			t.Errorf("%s was removed", l)
		}
	}
	if got := strings.Fields(sw.Vsctl(t, "list-ports", "br0")); len(got) != 1 || got[0] != p.Name {
		t.Errorf("ports = %v, want [%s]", got, p.Name)
	}

	rep, err = s.Reconcile(t.Context(), []Attachment{want})
	if err != nil {
		t.Fatal(err)
	}
	if rep.Changed() || rep.Unchanged != 1 || len(rep.Failed) != 0 {
		t.Errorf("second reconcile: %+v", rep)
	}
	for _, l := range []string{foreign, bare} {
		if !hasLink(sw.Host, l) {
			t.Errorf("%s was removed by the second reconcile", l)
		}
	}
}

// linkAlias returns the alias of the link name in ns.
func linkAlias(t *testing.T, ns *testenv.Namespace, name string) string {
	t.Helper()
	out := ns.Run(t, "ip", "-o", "link", "show", "dev", name)
	_, alias, ok := strings.Cut(out, " alias ")
	if !ok {
		return ""
	}
	return strings.TrimSpace(alias)
}

// hasLink reports whether ns has a link called name.
func hasLink(ns *testenv.Namespace, name string) bool {
	_, err := ns.Try("ip", "link", "show", "dev", name)
	return err == nil
}
