package sched

import (
	"slices"
	"testing"
)

// topoNodes: zone a holds racks r1 (a1, a2) and r2 (a3) behind switch s1
// and x, which has no rack and no switch; zone b holds racks r3 (b1) and
// r4 (b2) behind switch s2.
func topoNodes() []Node {
	x := testNode("x", "a", "", "", 8)
	return []Node{
		testNode("a1", "a", "r1", "s1", 8),
		testNode("a2", "a", "r1", "s1", 8),
		testNode("a3", "a", "r2", "s1", 8),
		testNode("b1", "b", "r3", "s2", 8),
		testNode("b2", "b", "r4", "s2", 8),
		x,
	}
}

type prior struct {
	app  string
	node string
	n    int
	anti []AntiAffinity
}

func TestHardSpread(t *testing.T) {
	tests := []struct {
		name  string
		prior []prior
		req   Request
		want  []string
	}{
		{
			name: "empty fleet: every node with the key",
			req:  Request{Spread: []SpreadRule{{Key: KeyRack, MaxSkew: 1}}},
			want: []string{"a1", "a2", "a3", "b1", "b2"},
		},
		{
			name:  "max skew 1: the loaded rack is refused, nodes without the key too",
			prior: []prior{{node: "a1", n: 1}},
			req:   Request{Spread: []SpreadRule{{Key: KeyRack, MaxSkew: 1}}},
			want:  []string{"a3", "b1", "b2"},
		},
		{
			name:  "max skew 2 allows a second instance",
			prior: []prior{{node: "a1", n: 1}},
			req:   Request{Spread: []SpreadRule{{Key: KeyRack, MaxSkew: 2}}},
			want:  []string{"a1", "a2", "a3", "b1", "b2"},
		},
		{
			name:  "skew counted over eligible domains: zone b racks are not in scope",
			prior: []prior{{node: "a1", n: 1}, {node: "a3", n: 1}},
			req:   Request{Zones: []string{"a"}, Spread: []SpreadRule{{Key: KeyRack, MaxSkew: 1}}},
			// min over r1, r2 is 1, so both take another; b1 and b2 pass
			// this filter (their own domains count 0) and ZoneLevel
			// rejects them.
			want: []string{"a1", "a2", "a3", "b1", "b2"},
		},
		{
			name:  "without scope the empty zone b racks set the minimum to 0",
			prior: []prior{{node: "a1", n: 1}, {node: "a3", n: 1}},
			req:   Request{Spread: []SpreadRule{{Key: KeyRack, MaxSkew: 1}}},
			want:  []string{"b1", "b2"},
		},
		{
			name:  "instances on nodes without the key belong to no domain",
			prior: []prior{{node: "x", n: 3}, {node: "a1", n: 1}, {node: "a3", n: 1}, {node: "b1", n: 1}, {node: "b2", n: 1}},
			req:   Request{Spread: []SpreadRule{{Key: KeyRack, MaxSkew: 1}}},
			want:  []string{"a1", "a2", "a3", "b1", "b2"},
		},
		{
			name:  "minDomains above the eligible domains: minimum taken as 0",
			prior: []prior{{node: "a1", n: 1}, {node: "a3", n: 1}},
			req:   Request{Zones: []string{"a"}, Spread: []SpreadRule{{Key: KeyRack, MaxSkew: 1, MinDomains: 3}}},
			want:  []string{"b1", "b2"},
		},
		{
			name:  "minDomains met: normal skew",
			prior: []prior{{node: "a1", n: 1}, {node: "a3", n: 1}},
			req:   Request{Zones: []string{"a"}, Spread: []SpreadRule{{Key: KeyRack, MaxSkew: 1, MinDomains: 2}}},
			want:  []string{"a1", "a2", "a3", "b1", "b2"},
		},
		{
			name:  "other apps do not count",
			prior: []prior{{app: "db", node: "a1", n: 5}},
			req:   Request{Spread: []SpreadRule{{Key: KeyRack, MaxSkew: 1}}},
			want:  []string{"a1", "a2", "a3", "b1", "b2"},
		},
		{
			name:  "switch spread",
			prior: []prior{{node: "a1", n: 1}},
			req:   Request{Spread: []SpreadRule{{Key: KeySwitch, MaxSkew: 1}}},
			want:  []string{"b1", "b2"},
		},
		{
			name:  "node spread: x has the node key",
			prior: []prior{{node: "a1", n: 1}},
			req:   Request{Spread: []SpreadRule{{Key: KeyNode, MaxSkew: 1}}},
			want:  []string{"a2", "a3", "b1", "b2", "x"},
		},
		{
			name:  "node spread: when every node holds one the minimum is 1",
			prior: []prior{{node: "a1", n: 1}, {node: "a2", n: 1}, {node: "a3", n: 1}, {node: "b1", n: 1}, {node: "b2", n: 1}, {node: "x", n: 2}},
			req:   Request{Spread: []SpreadRule{{Key: KeyNode, MaxSkew: 1}}},
			want:  []string{"a1", "a2", "a3", "b1", "b2"},
		},
		{
			name:  "two rules: both must hold",
			prior: []prior{{node: "a1", n: 1}},
			req:   Request{Spread: []SpreadRule{{Key: KeyRack, MaxSkew: 1}, {Key: KeySwitch, MaxSkew: 1}}},
			want:  []string{"b1", "b2"},
		},
		{
			name:  "soft rules do not filter",
			prior: []prior{{node: "a1", n: 3}},
			req:   Request{Spread: []SpreadRule{{Key: KeyRack, MaxSkew: 1, Soft: true}}},
			want:  []string{"a1", "a2", "a3", "b1", "b2", "x"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			inv := newTestInventory(t, topoNodes()...)
			for _, p := range tt.prior {
				app := p.app
				if app == "" {
					app = "web"
				}
				for range p.n {
					place(t, inv, app, p.anti, p.node)
				}
			}
			tt.req.App = "web"
			got := passing(t, inv, PluginHardSpread, tt.req)
			if !slices.Equal(got, tt.want) {
				t.Errorf("passing = %v, want %v", got, tt.want)
			}
		})
	}
}

func TestHardSpreadScopeCountsOnlyEligibleNodes(t *testing.T) {
	// Rack r1 mixes an ssd node and an hdd node. With a selector for ssd
	// only the instance on the ssd node counts for r1 (kube counts pods on
	// nodes that pass the node affinity only).
	ssd, hdd, other := testNode("ssd", "a", "r1", "s1", 8), testNode("hdd", "a", "r1", "s1", 8), testNode("o", "a", "r2", "s1", 8)
	ssd.Labels = map[string]string{"disk": "ssd"}
	other.Labels = map[string]string{"disk": "ssd"}
	hdd.Labels = map[string]string{"disk": "hdd"}
	inv := newTestInventory(t, ssd, hdd, other)
	place(t, inv, "web", nil, "hdd", "hdd", "o")
	req := Request{App: "web", NodeSelector: map[string]string{"disk": "ssd"}, Spread: []SpreadRule{{Key: KeyRack, MaxSkew: 1}}}
	// r1 counts 0 (the hdd instances are out of scope), r2 counts 1:
	// min 0, so r1 is fine and r2 is full.
	if got, want := passing(t, inv, PluginHardSpread, req), []string{"hdd", "ssd"}; !slices.Equal(got, want) {
		t.Errorf("passing = %v, want %v", got, want)
	}
}

func TestAntiAffinity(t *testing.T) {
	nodeMax1 := []AntiAffinity{{Key: KeyNode, Max: 1}}
	tests := []struct {
		name  string
		prior []prior
		req   Request
		want  []string
	}{
		{
			name: "no instances: all pass",
			req:  Request{AntiAffinity: []AntiAffinity{{Key: KeyNode, Max: 1}}},
			want: []string{"a1", "a2", "a3", "b1", "b2", "x"},
		},
		{
			name:  "at most 1 per node",
			prior: []prior{{node: "a1", n: 1}},
			req:   Request{AntiAffinity: []AntiAffinity{{Key: KeyNode, Max: 1}}},
			want:  []string{"a2", "a3", "b1", "b2", "x"},
		},
		{
			name:  "at most 2 per rack",
			prior: []prior{{node: "a1", n: 1}, {node: "a2", n: 1}, {node: "a3", n: 1}},
			req:   Request{AntiAffinity: []AntiAffinity{{Key: KeyRack, Max: 2}}},
			want:  []string{"a3", "b1", "b2", "x"},
		},
		{
			name:  "at most 1 per switch; nodes without the key are never blocked",
			prior: []prior{{node: "a1", n: 1}},
			req:   Request{AntiAffinity: []AntiAffinity{{Key: KeySwitch, Max: 1}}},
			want:  []string{"b1", "b2", "x"},
		},
		{
			name:  "other apps do not count",
			prior: []prior{{app: "db", node: "a1", n: 3}},
			req:   Request{AntiAffinity: []AntiAffinity{{Key: KeyNode, Max: 1}}},
			want:  []string{"a1", "a2", "a3", "b1", "b2", "x"},
		},
		{
			name:  "symmetry: placed instances keep their rule for a request without one",
			prior: []prior{{node: "a1", n: 1, anti: nodeMax1}},
			req:   Request{},
			want:  []string{"a2", "a3", "b1", "b2", "x"},
		},
		{
			name:  "symmetry: the stricter of the placed and requested limits wins",
			prior: []prior{{node: "a1", n: 1, anti: nodeMax1}, {node: "a2", n: 1}},
			req:   Request{AntiAffinity: []AntiAffinity{{Key: KeyNode, Max: 3}}},
			want:  []string{"a3", "b1", "b2", "x"},
		},
		{
			name:  "without any rule nothing is blocked",
			prior: []prior{{node: "a1", n: 4}},
			req:   Request{},
			want:  []string{"a1", "a2", "a3", "b1", "b2", "x"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			inv := newTestInventory(t, topoNodes()...)
			for _, p := range tt.prior {
				app := p.app
				if app == "" {
					app = "web"
				}
				for range p.n {
					place(t, inv, app, p.anti, p.node)
				}
			}
			tt.req.App = "web"
			got := passing(t, inv, PluginAntiAffinity, tt.req)
			if !slices.Equal(got, tt.want) {
				t.Errorf("passing = %v, want %v", got, tt.want)
			}
		})
	}
}

func TestAntiAffinitySymmetryEndsWithRelease(t *testing.T) {
	inv := newTestInventory(t, topoNodes()...)
	id, err := inv.Allocate("a1", Allocation{App: "web", AntiAffinity: []AntiAffinity{{Key: KeyNode, Max: 1}}})
	if err != nil {
		t.Fatal(err)
	}
	place(t, inv, "web", nil, "a2")
	if got := passing(t, inv, PluginAntiAffinity, Request{App: "web"}); slices.Contains(got, "a2") {
		t.Fatalf("a2 passes while a rule of max 1 per node is in force: %v", got)
	}
	if err := inv.Release(id); err != nil {
		t.Fatal(err)
	}
	if got := passing(t, inv, PluginAntiAffinity, Request{App: "web"}); len(got) != 6 {
		t.Fatalf("after the release the rule should be gone, got %v", got)
	}
}

func TestNodeFilters(t *testing.T) {
	mk := func() []Node {
		ns := topoNodes()
		ns[0].Level = "critical"
		ns[1].NetZone = "net1"
		ns[2].Labels = map[string]string{"disk": "ssd", "gpu": "yes"}
		ns[3].Labels = map[string]string{"disk": "ssd"}
		ns[4].Taints = []Taint{{Key: "dedicated", Value: "db", Effect: NoSchedule}}
		ns[5].Cordoned = true
		ns[0].Taints = []Taint{{Key: "old", Effect: PreferNoSchedule}}
		return ns
	}
	all := []string{"a1", "a2", "a3", "b1", "b2", "x"}
	tests := []struct {
		name   string
		plugin string
		req    Request
		want   []string
	}{
		{"zones", PluginZoneLevel, Request{Zones: []string{"b"}}, []string{"b1", "b2"}},
		{"zones: several", PluginZoneLevel, Request{Zones: []string{"b", "a"}}, all},
		{"zones: unknown zone matches nothing", PluginZoneLevel, Request{Zones: []string{"zz"}}, []string{}},
		{"level", PluginZoneLevel, Request{Level: "critical"}, []string{"a1"}},
		{"zone and level", PluginZoneLevel, Request{Zones: []string{"b"}, Level: "critical"}, []string{}},
		{"no zone or level: skipped", PluginZoneLevel, Request{}, all},
		{"network zone", PluginNetworkZone, Request{NetZone: "net1"}, []string{"a2"}},
		{"network zone: unknown", PluginNetworkZone, Request{NetZone: "nope"}, []string{}},
		{"labels: one", PluginNodeLabels, Request{NodeSelector: map[string]string{"disk": "ssd"}}, []string{"a3", "b1"}},
		{"labels: all must match", PluginNodeLabels, Request{NodeSelector: map[string]string{"disk": "ssd", "gpu": "yes"}}, []string{"a3"}},
		{"labels: unknown pair", PluginNodeLabels, Request{NodeSelector: map[string]string{"disk": "nvme"}}, []string{}},
		{"taints: cordoned and NoSchedule refused, PreferNoSchedule allowed", PluginTaintToleration, Request{}, []string{"a1", "a2", "a3", "b1"}},
		{"taints: toleration by value", PluginTaintToleration, Request{Tolerations: []Toleration{{Key: "dedicated", Value: "db"}}}, []string{"a1", "a2", "a3", "b1", "b2"}},
		{"taints: wrong value", PluginTaintToleration, Request{Tolerations: []Toleration{{Key: "dedicated", Value: "web"}}}, []string{"a1", "a2", "a3", "b1"}},
		{"taints: exists", PluginTaintToleration, Request{Tolerations: []Toleration{{Key: "dedicated", Exists: true}}}, []string{"a1", "a2", "a3", "b1", "b2"}},
		{"taints: wrong effect", PluginTaintToleration, Request{Tolerations: []Toleration{{Key: "dedicated", Exists: true, Effect: PreferNoSchedule}}}, []string{"a1", "a2", "a3", "b1"}},
		{"taints: tolerate all still refuses cordon", PluginTaintToleration, Request{Tolerations: []Toleration{{Exists: true}}}, []string{"a1", "a2", "a3", "b1", "b2"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			inv := newTestInventory(t, mk()...)
			tt.req.App = "web"
			got := passing(t, inv, tt.plugin, tt.req)
			if !slices.Equal(got, tt.want) {
				t.Errorf("passing = %v, want %v", got, tt.want)
			}
		})
	}
}

func TestResourceFit(t *testing.T) {
	small := testNode("small", "a", "r1", "s1", 2)
	big := testNode("big", "a", "r1", "s1", 16)
	novlan := testNode("novlan", "a", "r1", "s1", 16)
	novlan.VLANs = nil
	full := testNode("full", "a", "r1", "s1", 16)
	full.VLANs = map[int]int{100: 1}
	tests := []struct {
		name string
		req  Request
		want []string
	}{
		{"cpu", Request{Resources: Resources{MilliCPU: 3000}}, []string{"big", "full", "novlan"}},
		{"cpu exactly the capacity", Request{Resources: Resources{MilliCPU: 2000}}, []string{"big", "full", "novlan", "small"}},
		{"memory", Request{Resources: Resources{Memory: 3 << 30}}, []string{"big", "full", "novlan"}},
		{"disk", Request{Resources: Resources{Disk: 101 << 30}}, []string{}},
		{"vlan ips", Request{VLAN: 100}, []string{"big", "small"}},
		{"vlan nobody has", Request{VLAN: 7}, []string{}},
		{"nothing asked", Request{}, []string{"big", "full", "novlan", "small"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			inv := newTestInventory(t, small, big, novlan, full)
			if _, err := inv.Allocate("full", Allocation{App: "other", VLAN: 100}); err != nil {
				t.Fatal(err)
			}
			tt.req.App = "web"
			got := passing(t, inv, PluginResourceFit, tt.req)
			if !slices.Equal(got, tt.want) {
				t.Errorf("passing = %v, want %v", got, tt.want)
			}
		})
	}
}

func TestScores(t *testing.T) {
	mk := func() *Inventory {
		ns := topoNodes()
		ns[0].Images = map[string]int64{"img:big": 2 << 30, "img:tiny": 1 << 20}
		ns[1].Images = map[string]int64{"img:mid": 500 << 20}
		ns[2].Taints = []Taint{{Key: "old", Effect: PreferNoSchedule}}
		inv := newTestInventory(t, ns...)
		// a1 half used (4 of 8 cores, 4 of 8 GiB), a2 cpu-heavy (6 cores, 1 GiB)
		if _, err := inv.Allocate("a1", Allocation{App: "db", Resources: Resources{MilliCPU: 4000, Memory: 4 << 30}}); err != nil {
			t.Fatal(err)
		}
		if _, err := inv.Allocate("a2", Allocation{App: "db", Resources: Resources{MilliCPU: 6000, Memory: 1 << 30}}); err != nil {
			t.Fatal(err)
		}
		place(t, inv, "web", nil, "b1", "b1")
		return inv
	}
	tests := []struct {
		name   string
		plugin string
		req    Request
		want   map[string]int64 // nil: plugin skipped
	}{
		// a1 after the request: cpu 4.1/8 = .5125, memory 4.1/8 GiB = .512;
		// a2: cpu 6.1/8 = .7625, memory 1.1/8 = .137; scores truncate.
		{"least allocated", PluginLeastAllocated, Request{}, map[string]int64{"a1": 48, "a2": 55, "a3": 98, "b1": 98, "b2": 98, "x": 98}},
		{"most allocated", PluginMostAllocated, Request{}, map[string]int64{"a1": 51, "a2": 44, "a3": 1, "b1": 1, "b2": 1, "x": 1}},
		{"balanced", PluginBalanced, Request{}, map[string]int64{"a1": 99, "a2": 68, "a3": 99, "b1": 99, "b2": 99, "x": 99}},
		{"image locality by size", PluginImageLocality, Request{Image: "img:big"}, map[string]int64{"a1": 100, "a2": 0, "a3": 0, "b1": 0, "b2": 0, "x": 0}},
		{"image locality: mid image", PluginImageLocality, Request{Image: "img:mid"}, map[string]int64{"a1": 0, "a2": 48, "a3": 0, "b1": 0, "b2": 0, "x": 0}},
		{"image locality: tiny image is worth nothing", PluginImageLocality, Request{Image: "img:tiny"}, nil},
		{"image locality: image nowhere", PluginImageLocality, Request{Image: "img:none"}, nil},
		{"prefer no schedule", PluginTaintToleration, Request{}, map[string]int64{"a1": 100, "a2": 100, "a3": 50, "b1": 100, "b2": 100, "x": 100}},
		{"soft spread over racks", PluginSoftSpread, Request{Spread: []SpreadRule{{Key: KeyRack, MaxSkew: 1, Soft: true}}}, map[string]int64{"a1": 100, "a2": 100, "a3": 100, "b1": 0, "b2": 100, "x": 0}},
		{"soft spread over zones", PluginSoftSpread, Request{Spread: []SpreadRule{{Key: KeyZone, MaxSkew: 1, Soft: true}}}, map[string]int64{"a1": 100, "a2": 100, "a3": 100, "b1": 0, "b2": 0, "x": 100}},
		{"no soft rule: skipped", PluginSoftSpread, Request{Spread: []SpreadRule{{Key: KeyZone, MaxSkew: 1}}}, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tt.req.App = "web"
			tt.req.Resources = Resources{MilliCPU: 100, Memory: 100 << 20}
			got := scores(t, mk(), tt.plugin, tt.req)
			if tt.want == nil {
				if got != nil {
					t.Fatalf("plugin not skipped: %v", got)
				}
				return
			}
			for n, w := range tt.want {
				if got[n] != w {
					t.Errorf("score[%s] = %d, want %d (all %v)", n, got[n], w, got)
				}
			}
		})
	}
}
