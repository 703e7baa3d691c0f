package sched

import (
	"slices"
	"testing"
)

// testNode is a compact node for tables: name, zone, rack, switch, cores.
func testNode(name, zone, rack, sw string, cores int64) Node {
	return Node{
		Name: name, Zone: zone, Rack: rack, Switch: sw, NetZone: "net0", Level: "general",
		Capacity: Resources{MilliCPU: cores * 1000, Memory: cores << 30, Disk: 100 << 30},
		VLANs:    map[int]int{100: 8},
	}
}

func newTestInventory(t testing.TB, nodes ...Node) *Inventory {
	t.Helper()
	inv := NewInventory()
	for _, n := range nodes {
		if err := inv.AddNode(n); err != nil {
			t.Fatal(err)
		}
	}
	return inv
}

// place records existing instances of app on the named nodes.
func place(t testing.TB, inv *Inventory, app string, anti []AntiAffinity, nodes ...string) {
	t.Helper()
	for _, n := range nodes {
		if _, err := inv.Allocate(n, Allocation{App: app, Resources: Resources{MilliCPU: 1}, AntiAffinity: anti}); err != nil {
			t.Fatal(err)
		}
	}
}

// passing runs one filter plugin, with its PreFilter, on every node and
// returns the names of the nodes it lets through, sorted.
func passing(t testing.TB, inv *Inventory, plugin string, req Request) []string {
	t.Helper()
	if req.Count == 0 {
		req.Count = 1
	}
	if err := req.Validate(); err != nil {
		t.Fatal(err)
	}
	s, err := New(inv, Config{Filters: []string{plugin}}, nil)
	if err != nil {
		t.Fatal(err)
	}
	inv.mu.Lock()
	defer inv.mu.Unlock()
	c := &s.cycle
	c.begin(&req)
	defer c.end()
	c.prepare()
	out := []string{}
	if c.active.blockAll != nil {
		return out
	}
	for i := range inv.nodes {
		n := &inv.nodes[i]
		if !n.live {
			continue
		}
		ok := true
		for _, f := range c.active.filters {
			ok = ok && f.p.Filter(c, n) == nil
		}
		if ok {
			out = append(out, n.Name())
		}
	}
	slices.Sort(out)
	return out
}

// scores runs one score plugin on every node; a skipped plugin gives nil.
func scores(t testing.TB, inv *Inventory, plugin string, req Request) map[string]int64 {
	t.Helper()
	if req.Count == 0 {
		req.Count = 1
	}
	s, err := New(inv, Config{Scores: []ScoreWeight{{plugin, 1}}}, nil)
	if err != nil {
		t.Fatal(err)
	}
	inv.mu.Lock()
	defer inv.mu.Unlock()
	c := &s.cycle
	c.begin(&req)
	defer c.end()
	c.prepare()
	if len(c.active.scorers) == 0 {
		return nil
	}
	out := map[string]int64{}
	for i := range inv.nodes {
		n := &inv.nodes[i]
		if n.live {
			out[n.Name()] = c.active.scorers[0].p.Score(c, n)
		}
	}
	return out
}
