package sched_test

import (
	"fmt"
	"slices"
	"sync/atomic"
	"testing"

	"github.com/shoalkit/shoal/sched"
	"github.com/shoalkit/shoal/sched/schedtest"
)

// dbOnSSD is a custom filter: the app "db" only goes to nodes labelled
// disk=ssd. It counts the nodes it judges.
type dbOnSSD struct {
	no     *sched.Status
	judged *atomic.Int64
}

func (p *dbOnSSD) Name() string { return "DBOnSSD" }

func (p *dbOnSSD) pass(c *sched.Cycle, n *sched.NodeInfo) bool {
	p.judged.Add(1)
	if c.Request().App != "db" {
		return true
	}
	v, _ := n.Label("disk")
	return v == "ssd"
}

func (p *dbOnSSD) Filter(c *sched.Cycle, n *sched.NodeInfo) *sched.Status {
	if p.pass(c, n) {
		return nil
	}
	return p.no
}

// fastDBOnSSD is the same filter declared node-only, with a batch path:
// it joins the candidate cache.
type fastDBOnSSD struct{ dbOnSSD }

func (p *fastDBOnSSD) AppendKey(c *sched.Cycle, key []byte) []byte {
	return append(key, c.Request().App...)
}

func (p *fastDBOnSSD) FilterBatch(c *sched.Cycle, src, dst []int32) []int32 {
	for _, i := range src {
		if p.pass(c, c.Node(i)) {
			dst = append(dst, i)
		}
	}
	return dst
}

var (
	_ sched.FilterPlugin = (*dbOnSSD)(nil)
	_ sched.NodeFilter   = (*fastDBOnSSD)(nil)
	_ sched.BatchFilter  = (*fastDBOnSSD)(nil)
)

// A custom node-only filter that implements NodeFilter joins the
// candidate cache: after the first sweep it judges only the nodes that
// changed, where the same filter without it judges every candidate for
// every replica. The placements are the same.
func TestCustomNodeFilterJoinsTheCache(t *testing.T) {
	nodes := schedtest.Fleet(schedtest.FleetConfig{Nodes: 3000, Racks: 30, Switches: 6, Seed: 4, Random: true})
	const calls = 30
	var placed [2][]string
	var judged [2]atomic.Int64
	for k := range 2 {
		reg := sched.NewRegistry()
		base := dbOnSSD{no: sched.NewStatus(sched.UnschedulableAndUnresolvable, "no ssd"), judged: &judged[k]}
		err := reg.Register("DBOnSSD", func() (sched.Plugin, error) {
			if k == 0 {
				p := base
				return &p, nil
			}
			return &fastDBOnSSD{base}, nil
		})
		if err != nil {
			t.Fatal(err)
		}
		inv, err := schedtest.Inventory(nodes)
		if err != nil {
			t.Fatal(err)
		}
		cfg := sched.DefaultConfig()
		cfg.Filters = append(cfg.Filters, "DBOnSSD")
		cfg.Parallelism = 1
		s, err := sched.New(inv, cfg, reg)
		if err != nil {
			t.Fatal(err)
		}
		for i := range calls {
			res, err := s.Place(sched.Request{App: "db", Count: 1, Resources: sched.Resources{MilliCPU: 100, Memory: 64 << 20}})
			if err != nil {
				t.Fatal(err)
			}
			p := res.Placements[0]
			placed[k] = append(placed[k], fmt.Sprintf("%s/%d", p.Node, p.Score))
			if i == 10 { // another app in between: its own key, its own sweep
				if _, err := s.Place(sched.Request{App: "web", Count: 2}); err != nil {
					t.Fatal(err)
				}
			}
			if st, _ := inv.Node(p.Node); st.Node.Labels["disk"] != "ssd" {
				t.Fatalf("db placed on %s, labels %v", p.Node, st.Node.Labels)
			}
		}
	}
	if !slices.Equal(placed[0], placed[1]) {
		t.Fatalf("placements differ:\nFilter alone %v\nNodeFilter   %v", placed[0], placed[1])
	}
	plain, fast := judged[0].Load(), judged[1].Load()
	t.Logf("nodes judged: %d through Filter alone, %d as a NodeFilter", plain, fast)
	// Two sweeps (db, then web in between; db's cache is rebuilt after
	// web's), plus a node or two per call: the placed and released ones.
	if fast > 3*int64(len(nodes))+4*calls {
		t.Fatalf("the NodeFilter judged %d nodes: it is not cached", fast)
	}
	if plain < calls*int64(len(nodes))/4 {
		t.Fatalf("Filter alone judged only %d nodes: the comparison shows nothing", plain)
	}
}
