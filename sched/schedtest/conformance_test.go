package schedtest_test

import (
	"strings"
	"testing"

	"github.com/shoalkit/shoal/sched"
	"github.com/shoalkit/shoal/sched/schedtest"
)

// ssdForDB is a custom node-only filter: the app "db" only goes to
// nodes labelled disk=ssd. It implements the fast paths.
type ssdForDB struct {
	no *sched.Status
	// what is broken on purpose, to see the suite catch it
	keyLeavesOutApp bool // AppendKey forgets what the verdict reads
	readsRackCount  bool // the verdict depends on other nodes' instances
	batchKeepsAll   bool // FilterBatch disagrees with Filter
	allocates       bool
	successStatus   bool // returns a non-nil Success status
}

func (p *ssdForDB) Name() string { return "SSDForDB" }

func (p *ssdForDB) pass(c *sched.Cycle, n *sched.NodeInfo) bool {
	if p.readsRackCount && c.DomainCount(n, sched.KeyRack) > 0 {
		return false
	}
	if c.Request().App != "db" {
		return true
	}
	v, _ := n.Label("disk")
	return v == "ssd"
}

func (p *ssdForDB) Filter(c *sched.Cycle, n *sched.NodeInfo) *sched.Status {
	if p.allocates {
		p.no = sched.NewStatus(sched.Unschedulable, "no ssd")
	}
	if p.pass(c, n) {
		if p.successStatus {
			return sched.NewStatus(sched.Success, "")
		}
		return nil
	}
	return p.no
}

func (p *ssdForDB) FilterBatch(c *sched.Cycle, src, dst []int32) []int32 {
	for _, i := range src {
		if p.batchKeepsAll || p.pass(c, c.Node(i)) {
			dst = append(dst, i)
		}
	}
	return dst
}

func (p *ssdForDB) AppendKey(c *sched.Cycle, key []byte) []byte {
	if p.keyLeavesOutApp || c.Request().App != "db" {
		return append(key, 0)
	}
	return append(key, 1)
}

var (
	_ sched.NodeFilter  = (*ssdForDB)(nil)
	_ sched.BatchFilter = (*ssdForDB)(nil)
	_ sched.ScorePlugin = (*badScore)(nil)
)

// badScore is a score plugin that breaks the contract as told.
type badScore struct {
	outOfRange, unstable bool
	n                    int64
}

func (p *badScore) Name() string { return "BadScore" }

func (p *badScore) Score(_ *sched.Cycle, _ *sched.NodeInfo) int64 {
	if p.outOfRange {
		return sched.MaxScore + 1
	}
	if p.unstable {
		p.n++
		return p.n % 7
	}
	return 10
}

func TestValidateFilter(t *testing.T) {
	tests := []struct {
		name   string
		plugin ssdForDB
		want   string // "" when it conforms
	}{
		{"conforms", ssdForDB{}, ""},
		{"key leaves out what the verdict reads", ssdForDB{keyLeavesOutApp: true}, "placed"},
		{"verdict depends on other nodes", ssdForDB{readsRackCount: true}, "placed"},
		{"batch disagrees", ssdForDB{batchKeepsAll: true}, "FilterBatch"},
		{"allocates", ssdForDB{allocates: true}, "allocates"},
		{"success status", ssdForDB{successStatus: true}, "success is a nil *Status"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			factory := func() (sched.Plugin, error) {
				p := tt.plugin
				p.no = sched.NewStatus(sched.Unschedulable, "no ssd")
				return &p, nil
			}
			err := schedtest.ValidateFilter(factory, schedtest.Options{Seed: 3})
			switch {
			case tt.want == "" && err != nil:
				t.Fatalf("ValidateFilter = %v, want nil", err)
			case tt.want != "" && (err == nil || !strings.Contains(err.Error(), tt.want)):
				t.Fatalf("ValidateFilter = %v, want an error about %q", err, tt.want)
			}
		})
	}
}

func TestValidateScore(t *testing.T) {
	for _, tt := range []struct {
		name   string
		plugin badScore
		want   string
	}{
		{"conforms", badScore{}, ""},
		{"out of range", badScore{outOfRange: true}, "outside 0..100"},
		{"unstable", badScore{unstable: true}, "then"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			factory := func() (sched.Plugin, error) { p := tt.plugin; return &p, nil }
			err := schedtest.ValidateScore(factory, schedtest.Options{})
			switch {
			case tt.want == "" && err != nil:
				t.Fatalf("ValidateScore = %v, want nil", err)
			case tt.want != "" && (err == nil || !strings.Contains(err.Error(), tt.want)):
				t.Fatalf("ValidateScore = %v, want an error about %q", err, tt.want)
			}
		})
	}
	if err := schedtest.ValidateFilter(nil, schedtest.Options{}); err == nil {
		t.Fatal("ValidateFilter(nil factory) = nil")
	}
	notFilter := func() (sched.Plugin, error) { return &badScore{}, nil }
	if err := schedtest.ValidateFilter(notFilter, schedtest.Options{}); err == nil {
		t.Fatal("ValidateFilter(a score plugin) = nil")
	}
}

// On a fleet of 4,096 nodes or more the suite also runs the plugin on two
// goroutines at once (with -race, a check that it is safe).
func TestValidateFilterConcurrent(t *testing.T) {
	if testing.Short() {
		t.Skip("a 4,200-node fleet")
	}
	nodes := schedtest.Fleet(schedtest.FleetConfig{Nodes: 4200, Racks: 30, Switches: 6, Seed: 5, Random: true})
	reqs := []sched.Request{
		{App: "db", Count: 3, Resources: sched.Resources{MilliCPU: 500}},
		{App: "web", Count: 3, Resources: sched.Resources{MilliCPU: 500}},
		{App: "db", Count: 2, Resources: sched.Resources{MilliCPU: 500}, Spread: []sched.SpreadRule{{Key: sched.KeyRack, MaxSkew: 1}}},
	}
	factory := func() (sched.Plugin, error) {
		return &ssdForDB{no: sched.NewStatus(sched.Unschedulable, "no ssd")}, nil
	}
	if err := schedtest.ValidateFilter(factory, schedtest.Options{Nodes: nodes, Requests: reqs}); err != nil {
		t.Fatal(err)
	}
	broken := func() (sched.Plugin, error) {
		return &ssdForDB{no: sched.NewStatus(sched.Unschedulable, "no ssd"), keyLeavesOutApp: true}, nil
	}
	if err := schedtest.ValidateFilter(broken, schedtest.Options{Nodes: nodes, Requests: reqs}); err == nil {
		t.Fatal("a key leaving out the app passed")
	}
}
