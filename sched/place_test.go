package sched

import (
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"
)

func mustScheduler(t testing.TB, inv *Inventory, cfg Config) *Scheduler {
	t.Helper()
	s, err := New(inv, cfg, nil)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func nodesOf(res *Result) []string {
	out := make([]string, len(res.Placements))
	for i, p := range res.Placements {
		out[i] = p.Node
	}
	return out
}

// rackFleet is racks×perRack identical nodes; rack i is behind switch i/2.
func rackFleet(racks, perRack int, cores int64) []Node {
	var ns []Node
	for r := range racks {
		for i := range perRack {
			ns = append(ns, testNode(fmt.Sprintf("r%d-n%d", r, i), "zone-a", fmt.Sprintf("r%d", r), fmt.Sprintf("s%d", r/2), cores))
		}
	}
	return ns
}

func TestBatchSeesPreviousPlacements(t *testing.T) {
	inv := newTestInventory(t, rackFleet(4, 3, 8)...)
	s := mustScheduler(t, inv, DefaultConfig())
	req := Request{App: "web", Count: 8, Resources: Resources{MilliCPU: 1000}, Spread: []SpreadRule{{Key: KeyRack, MaxSkew: 1}}}
	res, err := s.Place(req)
	if err != nil {
		t.Fatal(err)
	}
	perRack := map[string]int{}
	for _, p := range res.Placements {
		perRack[strings.Split(p.Node, "-")[0]]++
	}
	for r, n := range perRack {
		if n != 2 {
			t.Errorf("rack %s got %d replicas, want 2 (%v)", r, n, perRack)
		}
	}
	if got := inv.AppCount("web"); got != 8 {
		t.Errorf("AppCount = %d, want 8", got)
	}
}

func TestBatchFillsCapacityExactly(t *testing.T) {
	inv := newTestInventory(t, rackFleet(2, 2, 4)...) // 16 cores
	s := mustScheduler(t, inv, DefaultConfig())
	res, err := s.Place(Request{App: "web", Count: 20, Resources: Resources{MilliCPU: 1000}})
	if !errors.Is(err, ErrUnschedulable) {
		t.Fatalf("err = %v, want ErrUnschedulable", err)
	}
	if len(res.Placements) != 16 || res.Unplaced != 4 {
		t.Fatalf("placed %d unplaced %d, want 16 and 4", len(res.Placements), res.Unplaced)
	}
	if res.WhyNot == nil || res.WhyNot.Feasible != 0 || res.WhyNot.Unplaced != 4 {
		t.Fatalf("WhyNot = %v", res.WhyNot)
	}
	if !strings.Contains(err.Error(), "4 of 20 replicas") {
		t.Errorf("error %q does not say how many are unplaced", err)
	}
}

func TestAllOrNothing(t *testing.T) {
	inv := newTestInventory(t, rackFleet(2, 2, 4)...)
	s := mustScheduler(t, inv, DefaultConfig())
	res, err := s.Place(Request{App: "web", Count: 20, Resources: Resources{MilliCPU: 1000}, AllOrNothing: true})
	if !errors.Is(err, ErrUnschedulable) || len(res.Placements) != 0 || res.Unplaced != 20 {
		t.Fatalf("Place = %+v, %v", res, err)
	}
	if inv.AppCount("web") != 0 {
		t.Fatalf("all-or-nothing left %d instances", inv.AppCount("web"))
	}
	for _, name := range inv.Names() {
		st, err := inv.Node(name)
		if err != nil {
			t.Fatal(err)
		}
		if st.Allocated != (Resources{}) {
			t.Fatalf("node %s still has %+v allocated", name, st.Allocated)
		}
	}
}

func TestDeterministic(t *testing.T) {
	run := func(seed uint64, mode Mode) []string {
		inv := newTestInventory(t, rackFleet(6, 5, 8)...)
		cfg := DefaultConfig()
		cfg.Seed, cfg.Mode, cfg.MinFeasibleNodesToFind = seed, mode, 5
		s := mustScheduler(t, inv, cfg)
		var out []string
		for i := range 5 {
			res, err := s.Place(Request{App: fmt.Sprintf("app%d", i%2), Count: 7, Resources: Resources{MilliCPU: 500}, Spread: []SpreadRule{{Key: KeySwitch, MaxSkew: 1, Soft: true}}})
			if err != nil {
				t.Fatal(err)
			}
			out = append(out, nodesOf(res)...)
		}
		return out
	}
	for _, mode := range []Mode{Exact, Sampled} {
		a, b := run(42, mode), run(42, mode)
		if !slices.Equal(a, b) {
			t.Fatalf("mode %d: same seed, different placements:\n%v\n%v", mode, a, b)
		}
	}
	// Ties on an empty uniform fleet are broken by the seed: some seed
	// must choose differently from seed 42.
	base := run(42, Exact)
	for seed := range uint64(20) {
		if !slices.Equal(run(seed, Exact), base) {
			return
		}
	}
	t.Fatal("the seed never changes the tie-breaks")
}

func TestSampledWindowRotates(t *testing.T) {
	inv := newTestInventory(t, rackFleet(10, 100, 64)...) // 1,000 nodes
	cfg := DefaultConfig()
	cfg.Mode = Sampled
	cfg.PercentageOfNodesToScore = 10
	cfg.MinFeasibleNodesToFind = 10
	s := mustScheduler(t, inv, cfg)
	seen := map[string]bool{}
	for range 10 {
		res, err := s.Place(Request{App: "web", Count: 1, Resources: Resources{MilliCPU: 100}})
		if err != nil {
			t.Fatal(err)
		}
		seen[strings.Split(res.Placements[0].Node, "-")[0]] = true
	}
	// Each window is 100 nodes, one rack: ten placements visit ten racks.
	if len(seen) != 10 {
		t.Fatalf("sampled placements landed in %d racks, want 10: %v", len(seen), seen)
	}
	if got := s.numToFind(1000); got != 100 {
		t.Errorf("numToFind(1000) = %d, want 100", got)
	}
	cfg.PercentageOfNodesToScore = 0
	cfg.MinFeasibleNodesToFind = 100
	s = mustScheduler(t, inv, cfg)
	for _, c := range []struct{ all, want int }{{50, 50}, {1000, 420}, {5000, 500}, {10000, 500}, {100000, 5000}} {
		if got := s.numToFind(c.all); got != c.want {
			t.Errorf("adaptive numToFind(%d) = %d, want %d", c.all, got, c.want)
		}
	}
}

func TestSampledFindsTheOnlyFeasibleNode(t *testing.T) {
	ns := rackFleet(10, 50, 1)
	ns[321].Capacity.MilliCPU = 64000
	inv := newTestInventory(t, ns...)
	cfg := DefaultConfig()
	cfg.Mode = Sampled
	cfg.MinFeasibleNodesToFind = 5
	s := mustScheduler(t, inv, cfg)
	res, err := s.Place(Request{App: "web", Count: 1, Resources: Resources{MilliCPU: 2000}})
	if err != nil {
		t.Fatal(err)
	}
	if res.Placements[0].Node != ns[321].Name {
		t.Fatalf("placed on %s, want %s", res.Placements[0].Node, ns[321].Name)
	}
}

func TestWhyNotResources(t *testing.T) {
	var ns []Node
	for i := range 4 {
		ns = append(ns, testNode(fmt.Sprintf("a%d", i), "A", "r1", "s1", 4))
		ns = append(ns, testNode(fmt.Sprintf("b%d", i), "B", "r2", "s1", 4))
	}
	inv := newTestInventory(t, ns...)
	s := mustScheduler(t, inv, DefaultConfig())
	// 4 cores each in zone A: 16 free, 7 replicas of 4 cores need 28.
	res, err := s.Place(Request{App: "web", Count: 7, Zones: []string{"A"}, Resources: Resources{MilliCPU: 4000}})
	if !errors.Is(err, ErrUnschedulable) {
		t.Fatal(err)
	}
	if len(res.Placements) != 4 || res.Unplaced != 3 {
		t.Fatalf("placed %d, unplaced %d", len(res.Placements), res.Unplaced)
	}
	d := res.WhyNot
	t.Log(d)
	if !hasHint(d, `12 more cores in zone "A" (at least, for 3 replica(s)); node a0 needs 4 more cores for one`) {
		t.Errorf("hints %q lack the 12 cores for zone A", d.Hints)
	}
	if v := verdict(d, PluginZoneLevel); v.Rejected != 4 {
		t.Errorf("ZoneLevel rejected %d, want 4 (%v)", v.Rejected, d)
	}
	if v := verdict(d, PluginResourceFit); v.Rejected != 4 || v.Reasons["insufficient cpu"] != 4 || v.Only != 4 {
		t.Errorf("ResourceFit verdict %+v", v)
	}
}

func TestWhyNotVLAN(t *testing.T) {
	inv := newTestInventory(t, rackFleet(1, 3, 8)...)
	s := mustScheduler(t, inv, DefaultConfig())
	_, err := s.Place(Request{App: "web", Count: 30, VLAN: 100})
	if !errors.Is(err, ErrUnschedulable) {
		t.Fatal(err)
	}
	d, err := s.Explain(Request{App: "web", Count: 2, VLAN: 100})
	if err != nil {
		t.Fatal(err)
	}
	t.Log(d)
	if !hasHint(d, `2 more IPs on vlan 100 in zone "zone-a"`) || !hasHint(d, "an IP on vlan 100") {
		t.Errorf("hints %q", d.Hints)
	}
}

func TestWhyNotSpreadNeedsARack(t *testing.T) {
	inv := newTestInventory(t, rackFleet(3, 2, 8)...)
	s := mustScheduler(t, inv, DefaultConfig())
	req := Request{App: "web", Count: 4, Spread: []SpreadRule{{Key: KeyRack, MaxSkew: 1, MinDomains: 4}}}
	res, err := s.Place(req)
	if !errors.Is(err, ErrUnschedulable) || len(res.Placements) != 3 {
		t.Fatalf("Place = %+v, %v", res, err)
	}
	t.Log(res.WhyNot)
	if !hasHint(res.WhyNot, "spread over rack needs a 4th rack") {
		t.Errorf("hints %q", res.WhyNot.Hints)
	}
	if v := verdict(res.WhyNot, PluginHardSpread); v.Rejected != 6 || v.Reasons["max skew exceeded"] != 6 {
		t.Errorf("HardSpread verdict %+v", v)
	}
}

func TestWhyNotSpreadBlockedByAFullRack(t *testing.T) {
	inv := newTestInventory(t, rackFleet(3, 1, 2)...)
	s := mustScheduler(t, inv, DefaultConfig())
	// Fill rack r2 with another app; web can then put one in r0 and r1
	// only, as r2 stays at 0.
	if _, err := inv.Allocate("r2-n0", Allocation{App: "db", Resources: Resources{MilliCPU: 2000}}); err != nil {
		t.Fatal(err)
	}
	res, err := s.Place(Request{App: "web", Count: 3, Resources: Resources{MilliCPU: 500}, Spread: []SpreadRule{{Key: KeyRack, MaxSkew: 1}}})
	if !errors.Is(err, ErrUnschedulable) || len(res.Placements) != 2 {
		t.Fatalf("Place = %+v, %v", res, err)
	}
	if !hasHint(res.WhyNot, "needs room in a rack at the minimum of 0 instance(s) (r2, none fits), a 4th rack, or MaxSkew 2") {
		t.Errorf("hints %q", res.WhyNot.Hints)
	}
}

func TestWhyNotAntiAffinity(t *testing.T) {
	inv := newTestInventory(t, rackFleet(3, 2, 8)...)
	s := mustScheduler(t, inv, DefaultConfig())
	res, err := s.Place(Request{App: "web", Count: 5, AntiAffinity: []AntiAffinity{{Key: KeyRack, Max: 1}}})
	if !errors.Is(err, ErrUnschedulable) || len(res.Placements) != 3 {
		t.Fatalf("Place = %+v, %v", res, err)
	}
	if !hasHint(res.WhyNot, "anti-affinity (at most 1 per rack): 3 rack(s) that would fit hold 1 already; needs a 4th rack or Max 2") {
		t.Errorf("hints %q", res.WhyNot.Hints)
	}
}

func TestWhyNotCordonAndTaints(t *testing.T) {
	ns := rackFleet(1, 3, 8)
	ns[0].Cordoned = true
	ns[1].Taints = []Taint{{Key: "gpu", Effect: NoSchedule}}
	ns[2].Capacity.MilliCPU = 0
	inv := newTestInventory(t, ns...)
	s := mustScheduler(t, inv, DefaultConfig())
	d, err := s.Explain(Request{App: "web", Count: 1, Resources: Resources{MilliCPU: 1}})
	if err != nil {
		t.Fatal(err)
	}
	if !hasHint(d, "1 cordoned node(s) would fit") || !hasHint(d, "1 node(s) with an untolerated NoSchedule taint would fit") {
		t.Errorf("hints %q", d.Hints)
	}
	if !strings.Contains(d.String(), "0/3 nodes feasible; TaintToleration rejected 2") {
		t.Errorf("String() = %q", d)
	}
}

func hasHint(d *Diagnosis, sub string) bool {
	for _, h := range d.Hints {
		if strings.Contains(h, sub) {
			return true
		}
	}
	return false
}

func verdict(d *Diagnosis, plugin string) FilterVerdict {
	for _, v := range d.Filters {
		if v.Plugin == plugin {
			return v
		}
	}
	return FilterVerdict{}
}

func TestExactPicksBestScore(t *testing.T) {
	ns := rackFleet(1, 3, 8)
	ns[1].Images = map[string]int64{"img": 2 << 30}
	inv := newTestInventory(t, ns...)
	s := mustScheduler(t, inv, DefaultConfig())
	res, err := s.Place(Request{App: "web", Count: 1, Image: "img"})
	if err != nil {
		t.Fatal(err)
	}
	if res.Placements[0].Node != ns[1].Name {
		t.Fatalf("placed on %s, want the node holding the image", res.Placements[0].Node)
	}
	// Bin-packing profile: the fuller node wins.
	cfg := DefaultConfig()
	cfg.Scores = []ScoreWeight{{PluginMostAllocated, 1}}
	inv = newTestInventory(t, ns...)
	if _, err := inv.Allocate(ns[2].Name, Allocation{App: "db", Resources: Resources{MilliCPU: 4000, Memory: 4 << 30}}); err != nil {
		t.Fatal(err)
	}
	s = mustScheduler(t, inv, cfg)
	res, err = s.Place(Request{App: "web", Count: 1, Resources: Resources{MilliCPU: 100}})
	if err != nil {
		t.Fatal(err)
	}
	if res.Placements[0].Node != ns[2].Name {
		t.Fatalf("most-allocated placed on %s, want %s", res.Placements[0].Node, ns[2].Name)
	}
}

func TestConfigErrors(t *testing.T) {
	inv := NewInventory()
	bad := []struct {
		name string
		edit func(c *Config)
		want string
	}{
		{"mode", func(c *Config) { c.Mode = 7 }, "config.Mode"},
		{"percentage", func(c *Config) { c.PercentageOfNodesToScore = 101 }, "config.PercentageOfNodesToScore"},
		{"min feasible", func(c *Config) { c.MinFeasibleNodesToFind = -1 }, "config.MinFeasibleNodesToFind"},
		{"unknown filter", func(c *Config) { c.Filters = append(c.Filters, "Nope") }, "config.Filters[7]"},
		{"filter twice", func(c *Config) { c.Filters = append(c.Filters, PluginResourceFit) }, "listed twice"},
		{"score as filter", func(c *Config) { c.Filters = []string{PluginLeastAllocated} }, "not a filter"},
		{"filter as score", func(c *Config) { c.Scores = []ScoreWeight{{PluginResourceFit, 1}} }, "not a score plugin"},
		{"zero weight", func(c *Config) { c.Scores[0].Weight = 0 }, "config.Scores[0].Weight"},
	}
	for _, tt := range bad {
		t.Run(tt.name, func(t *testing.T) {
			cfg := DefaultConfig()
			tt.edit(&cfg)
			_, err := New(inv, cfg, nil)
			if !errors.Is(err, ErrInvalid) || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("New = %v, want ErrInvalid naming %q", err, tt.want)
			}
		})
	}
	if _, err := New(nil, DefaultConfig(), nil); !errors.Is(err, ErrInvalid) {
		t.Fatalf("New(nil inventory) = %v", err)
	}
}

// evenOnly is a custom filter: only nodes whose name ends in an even digit.
type evenOnly struct{ no *Status }

var _ FilterPlugin = (*evenOnly)(nil)

func (p *evenOnly) Name() string { return "EvenOnly" }

func (p *evenOnly) Filter(_ *Cycle, n *NodeInfo) *Status {
	name := n.Name()
	if (name[len(name)-1]-'0')%2 == 0 {
		return nil
	}
	return p.no
}

func TestCustomPlugin(t *testing.T) {
	reg := NewRegistry()
	factory := func() (Plugin, error) { return &evenOnly{no: NewStatus(Unschedulable, "odd")}, nil }
	if err := reg.Register("EvenOnly", factory); err != nil {
		t.Fatal(err)
	}
	if err := reg.Register("EvenOnly", factory); !errors.Is(err, ErrConflict) {
		t.Fatalf("second Register = %v, want ErrConflict", err)
	}
	if err := reg.Register("", factory); !errors.Is(err, ErrInvalid) {
		t.Fatalf("Register(\"\") = %v, want ErrInvalid", err)
	}
	if !slices.Contains(reg.Names(), "EvenOnly") || !slices.Contains(reg.Names(), PluginHardSpread) {
		t.Fatalf("Names() = %v", reg.Names())
	}
	inv := newTestInventory(t, rackFleet(1, 4, 8)...)
	cfg := DefaultConfig()
	cfg.Filters = append(cfg.Filters, "EvenOnly")
	s, err := New(inv, cfg, reg)
	if err != nil {
		t.Fatal(err)
	}
	res, err := s.Place(Request{App: "web", Count: 3, AntiAffinity: []AntiAffinity{{Key: KeyNode, Max: 1}}})
	if !errors.Is(err, ErrUnschedulable) || len(res.Placements) != 2 {
		t.Fatalf("Place = %+v, %v", res, err)
	}
	for _, p := range res.Placements {
		if !strings.HasSuffix(p.Node, "0") && !strings.HasSuffix(p.Node, "2") {
			t.Errorf("placed on odd node %s", p.Node)
		}
	}
	if v := verdict(res.WhyNot, "EvenOnly"); v.Reasons["odd"] != 2 {
		t.Errorf("EvenOnly verdict %+v", v)
	}
	// A registry without the custom plugin refuses the config.
	if _, err := New(inv, cfg, NewRegistry()); !errors.Is(err, ErrInvalid) {
		t.Fatalf("New with an unregistered plugin = %v", err)
	}
}
