package netvlan

import (
	"testing"

	"github.com/shoalkit/shoal/netvlan/ovsmodel"
)

func TestRowIndex(t *testing.T) {
	var x rowIndex
	x.reset()
	br := &ovsmodel.Bridge{UUID: "b1", Name: "br0"}
	x.update(ovsmodel.BridgeTable, nil, br)
	if uuid, ok := x.bridge("br0"); !ok || uuid != "b1" {
		t.Fatalf("bridge br0 = %q, %v", uuid, ok)
	}
	// A rename drops the old name; a delete drops the row.
	x.update(ovsmodel.BridgeTable, br, &ovsmodel.Bridge{UUID: "b1", Name: "br1"})
	if _, ok := x.bridge("br0"); ok {
		t.Error("old bridge name still indexed")
	}
	x.update(ovsmodel.BridgeTable, &ovsmodel.Bridge{UUID: "b1", Name: "br1"}, nil)
	if _, ok := x.bridge("br1"); ok {
		t.Error("deleted bridge still indexed")
	}

	ofport := 0
	i0 := &ovsmodel.Interface{UUID: "i1", Name: "nv1"}
	x.update(ovsmodel.InterfaceTable, nil, i0)
	if r, ok := x.iface("i1"); !ok || r.ofport != nil {
		t.Fatalf("new interface = %+v, %v", r, ok)
	}
	ofport = 7
	i1 := &ovsmodel.Interface{UUID: "i1", Name: "nv1", Ofport: &ofport}
	x.update(ovsmodel.InterfaceTable, i0, i1)
	ofport = 8 // the index keeps its own copy
	if r, ok := x.iface("i1"); !ok || r.ofport == nil || *r.ofport != 7 {
		t.Fatalf("interface after ofport = %+v, %v", r, ok)
	}
	x.update(ovsmodel.InterfaceTable, i1, nil)
	if _, ok := x.iface("i1"); ok {
		t.Error("deleted interface still indexed")
	}
	x.reset()
	x.update(ovsmodel.BridgeTable, nil, br)
	if _, ok := x.bridge("br0"); !ok {
		t.Error("index not usable after reset")
	}
}
