package sched

import (
	"errors"
	"slices"
	"strings"
	"testing"
)

func TestInventoryErrors(t *testing.T) {
	inv := newTestInventory(t, topoNodes()...)
	bad := []struct {
		name string
		err  error
		want error
		text string
	}{
		{"duplicate node", inv.AddNode(testNode("a1", "a", "r1", "s1", 1)), ErrConflict, `node "a1" already`},
		{"empty name", inv.AddNode(Node{}), ErrInvalid, "node.Name"},
		{"negative capacity", inv.AddNode(Node{Name: "n", Capacity: Resources{Memory: -1}}), ErrInvalid, `node "n".Capacity.Memory`},
		{"vlan range", inv.AddNode(Node{Name: "n", VLANs: map[int]int{0: 1}}), ErrInvalid, "vlan 0 out of range"},
		{"negative ips", inv.AddNode(Node{Name: "n", VLANs: map[int]int{5: -1}}), ErrInvalid, "negative IPs"},
		{"image size", inv.AddNode(Node{Name: "n", Images: map[string]int64{"i": -1}}), ErrInvalid, "negative size"},
		{"taint effect", inv.AddNode(Node{Name: "n", Taints: []Taint{{Key: "k", Effect: "X"}}}), ErrInvalid, "Taints[0].Effect"},
		{"cordon unknown", inv.Cordon("zz"), ErrNotFound, `node "zz"`},
		{"release unknown", inv.Release(12345), ErrNotFound, "allocation 12345"},
		{"image unknown", inv.RemoveImage("a1", "nope"), ErrNotFound, `image "nope"`},
		{"set vlan range", inv.SetVLANIPs("a1", 5000, 1), ErrInvalid, "vlan 5000"},
		{"set taints bad", inv.SetTaints("a1", []Taint{{Effect: NoSchedule}}), ErrInvalid, "Taints[0].Key"},
	}
	for _, b := range bad {
		if !errors.Is(b.err, b.want) || !strings.HasPrefix(b.err.Error(), "sched: ") || !strings.Contains(b.err.Error(), b.text) {
			t.Errorf("%s: err = %v, want %v mentioning %q", b.name, b.err, b.want, b.text)
		}
	}
	_, err := inv.Allocate("a1", Allocation{App: "web", Resources: Resources{MilliCPU: 9000}})
	if !errors.Is(err, ErrConflict) {
		t.Errorf("oversized allocation = %v, want ErrConflict", err)
	}
	_, err = inv.Allocate("a1", Allocation{App: "web", VLAN: 7})
	if !errors.Is(err, ErrConflict) {
		t.Errorf("allocation on a missing vlan = %v, want ErrConflict", err)
	}
	_, err = inv.Allocate("a1", Allocation{App: "web", AntiAffinity: []AntiAffinity{{Key: "row", Max: 1}}})
	if !errors.Is(err, ErrInvalid) || !strings.Contains(err.Error(), "allocation.AntiAffinity[0].Key") {
		t.Errorf("bad rule = %v", err)
	}
	_, err = inv.Allocate("zz", Allocation{App: "web"})
	if !errors.Is(err, ErrNotFound) {
		t.Errorf("unknown node = %v", err)
	}
	if inv.Len() != 6 {
		t.Errorf("failed adds changed the inventory: %d nodes", inv.Len())
	}
}

func TestInventoryBookkeeping(t *testing.T) {
	inv := newTestInventory(t, topoNodes()...)
	id1, err := inv.Allocate("a1", Allocation{App: "web", Resources: Resources{MilliCPU: 1500, Memory: 1 << 30}, VLAN: 100})
	if err != nil {
		t.Fatal(err)
	}
	id2, err := inv.Allocate("a1", Allocation{App: "web", Resources: Resources{MilliCPU: 500}})
	if err != nil {
		t.Fatal(err)
	}
	st, err := inv.Node("a1")
	if err != nil {
		t.Fatal(err)
	}
	if st.Allocated != (Resources{MilliCPU: 2000, Memory: 1 << 30}) || st.Apps["web"] != 2 || st.Node.VLANs[100] != 7 {
		t.Fatalf("Node(a1) = %+v", st)
	}
	info, err := inv.Allocation(id1)
	if err != nil || info.Node != "a1" || info.App != "web" || info.VLAN != 100 {
		t.Fatalf("Allocation(id1) = %+v, %v", info, err)
	}
	if err := inv.Release(id1); err != nil {
		t.Fatal(err)
	}
	if err := inv.Release(id1); !errors.Is(err, ErrNotFound) {
		t.Fatalf("double release = %v", err)
	}
	st, _ = inv.Node("a1")
	if st.Allocated != (Resources{MilliCPU: 500}) || st.Node.VLANs[100] != 8 {
		t.Fatalf("after release: %+v", st)
	}

	// Removing a node releases its allocations and frees its slot.
	released, err := inv.RemoveNode("a1")
	if err != nil || !slices.Equal(released, []AllocationID{id2}) {
		t.Fatalf("RemoveNode = %v, %v", released, err)
	}
	if inv.AppCount("web") != 0 || inv.Len() != 5 {
		t.Fatalf("after removal: %d instances, %d nodes", inv.AppCount("web"), inv.Len())
	}
	if _, err := inv.Node("a1"); !errors.Is(err, ErrNotFound) {
		t.Fatal("removed node still found")
	}
	if err := inv.AddNode(testNode("new", "c", "r9", "s9", 4)); err != nil {
		t.Fatal(err)
	}
	if names := inv.Names(); names[0] != "new" {
		t.Fatalf("the free slot was not reused: %v", names)
	}

	// Images, VLANs, taints and cordon show in Node.
	if err := inv.AddImage("new", "img", 5<<20); err != nil {
		t.Fatal(err)
	}
	if err := inv.SetVLANIPs("new", 300, 4); err != nil {
		t.Fatal(err)
	}
	if err := inv.SetTaints("new", []Taint{{Key: "k", Effect: NoSchedule}}); err != nil {
		t.Fatal(err)
	}
	if err := inv.Cordon("new"); err != nil {
		t.Fatal(err)
	}
	st, _ = inv.Node("new")
	if st.Node.Images["img"] != 5<<20 || st.Node.VLANs[300] != 4 || len(st.Node.Taints) != 1 || !st.Node.Cordoned {
		t.Fatalf("Node(new) = %+v", st.Node)
	}
	if err := inv.RemoveImage("new", "img"); err != nil {
		t.Fatal(err)
	}
	if err := inv.Uncordon("new"); err != nil {
		t.Fatal(err)
	}
	if err := inv.SetTaints("new", nil); err != nil {
		t.Fatal(err)
	}
	st, _ = inv.Node("new")
	if len(st.Node.Images) != 0 || st.Node.Cordoned || len(st.Node.Taints) != 0 {
		t.Fatalf("Node(new) = %+v", st.Node)
	}
	if inv.tainted != 0 {
		t.Fatalf("tainted counter %d after clearing", inv.tainted)
	}
}

func TestPlaceAfterTopologyChange(t *testing.T) {
	// The eligible-domain cache must notice nodes added and removed.
	inv := newTestInventory(t, rackFleet(2, 1, 8)...)
	s := mustScheduler(t, inv, DefaultConfig())
	req := Request{App: "web", Count: 2, Spread: []SpreadRule{{Key: KeyRack, MaxSkew: 1}}}
	if _, err := s.Place(req); err != nil {
		t.Fatal(err)
	}
	if err := inv.AddNode(testNode("late", "zone-a", "r9", "s9", 8)); err != nil {
		t.Fatal(err)
	}
	// r9 holds 0, so the next replica must go there.
	res, err := s.Place(Request{App: "web", Count: 1, Spread: req.Spread})
	if err != nil || res.Placements[0].Node != "late" {
		t.Fatalf("Place = %+v, %v; want the new rack", res, err)
	}
	if _, err := inv.RemoveNode("late"); err != nil {
		t.Fatal(err)
	}
	res, err = s.Place(Request{App: "web", Count: 2, Spread: req.Spread})
	if err != nil || len(res.Placements) != 2 {
		t.Fatalf("Place after removal = %+v, %v", res, err)
	}
}
