package schedtest_test

import (
	"errors"
	"fmt"

	"github.com/shoalkit/shoal/sched"
	"github.com/shoalkit/shoal/sched/schedtest"
)

// A fleet without Random is uniform, and its topology follows the node
// index: consecutive nodes share a rack, consecutive racks a switch.
func ExampleFleet() {
	nodes := schedtest.Fleet(schedtest.FleetConfig{Nodes: 8, Racks: 4, Switches: 2, Seed: 1})
	for _, n := range nodes {
		fmt.Println(n.Name, n.Zone, n.Switch, n.Rack, n.Capacity.MilliCPU)
	}
	// Output:
	// n00000 zone-a sw00 r000 32000
	// n00001 zone-a sw00 r000 32000
	// n00002 zone-a sw00 r001 32000
	// n00003 zone-a sw00 r001 32000
	// n00004 zone-b sw01 r002 32000
	// n00005 zone-b sw01 r002 32000
	// n00006 zone-b sw01 r003 32000
	// n00007 zone-b sw01 r003 32000
}

// Check the scheduler's placements against the independent model: feed
// the checker every Result that Place returns, in order, and it reports
// the first placement that breaks a constraint.
func ExampleChecker_Apply() {
	nodes := schedtest.Fleet(schedtest.FleetConfig{Nodes: 8, Racks: 4, Switches: 2, Seed: 1})
	inv, err := schedtest.Inventory(nodes)
	if err != nil {
		fmt.Println(err)
		return
	}
	s, err := sched.New(inv, sched.DefaultConfig(), sched.NewRegistry())
	if err != nil {
		fmt.Println(err)
		return
	}
	chk := schedtest.NewChecker(nodes)

	req := sched.Request{
		App: "web", Count: 4,
		Resources:    sched.Resources{MilliCPU: 2000, Memory: 4 << 30},
		AntiAffinity: []sched.AntiAffinity{{Key: sched.KeyRack, Max: 1}},
	}
	res, err := s.Place(req)
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println("placed:", len(res.Placements), "checker:", chk.Apply(req, res))

	// A fifth replica has no rack left: Place and the checker agree.
	more := sched.Request{App: "web", Count: 1, Resources: req.Resources}
	res, err = s.Place(more)
	fmt.Println("unschedulable:", errors.Is(err, sched.ErrUnschedulable))
	fmt.Println("unplaced:", res.Unplaced, "checker:", chk.Apply(more, res))
	fmt.Println("feasible:", len(chk.Feasible(&more)))

	// A scheduler bug that ignored the rule would be caught.
	bad := &sched.Result{Placements: []sched.Placement{{Node: "n00000"}}}
	fmt.Println(chk.Apply(more, bad))
	// Output:
	// placed: 4 checker: <nil>
	// unschedulable: true
	// unplaced: 1 checker: <nil>
	// feasible: 0
	// replica 0 on n00000 breaks a constraint: anti-affinity: 1 instances in rack "r000", max 1
}

// gpuOnly is a custom filter: only nodes labelled gpu=yes. It depends on
// the node alone, so it implements sched.NodeFilter to join the
// scheduler's candidate cache; the conformance suite checks that the
// cached path places exactly as Filter alone would.
type gpuOnly struct{ no *sched.Status }

var _ sched.NodeFilter = (*gpuOnly)(nil)

func (p *gpuOnly) Name() string { return "GPUOnly" }

func (p *gpuOnly) Filter(_ *sched.Cycle, n *sched.NodeInfo) *sched.Status {
	if v, _ := n.Label("gpu"); v == "yes" {
		return nil
	}
	return p.no
}

// AppendKey: the verdict reads nothing of the request.
func (p *gpuOnly) AppendKey(_ *sched.Cycle, key []byte) []byte { return key }

// Run the conformance suite over a plugin in its own tests.
func ExampleValidateFilter() {
	factory := func() (sched.Plugin, error) {
		return &gpuOnly{no: sched.NewStatus(sched.UnschedulableAndUnresolvable, "no gpu")}, nil
	}
	nodes := schedtest.Fleet(schedtest.FleetConfig{Nodes: 50, Random: true, Seed: 1})
	for i := range nodes {
		if i%3 == 0 {
			nodes[i].Labels["gpu"] = "yes"
		}
	}
	fmt.Println(schedtest.ValidateFilter(factory, schedtest.Options{Nodes: nodes}))
	// Output: <nil>
}
