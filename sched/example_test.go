package sched_test

import (
	"errors"
	"fmt"

	"github.com/shoalkit/shoal/sched"
)

// fleet builds three racks of two 8-core nodes behind two switches.
func fleet() *sched.Inventory {
	inv := sched.NewInventory()
	for r := range 3 {
		for i := range 2 {
			err := inv.AddNode(sched.Node{
				Name:     fmt.Sprintf("r%d-n%d", r, i),
				Zone:     "a",
				Rack:     fmt.Sprintf("r%d", r),
				Switch:   fmt.Sprintf("s%d", r/2),
				Capacity: sched.Resources{MilliCPU: 8000, Memory: 32 << 30},
				VLANs:    map[int]int{100: 16},
			})
			if err != nil {
				panic(err)
			}
		}
	}
	return inv
}

// Place three replicas of an app, one per rack.
func ExampleScheduler_Place() {
	inv := fleet()
	s, err := sched.New(inv, sched.DefaultConfig(), sched.NewRegistry())
	if err != nil {
		panic(err)
	}
	res, err := s.Place(sched.Request{
		App:          "web",
		Count:        3,
		Resources:    sched.Resources{MilliCPU: 2000, Memory: 4 << 30},
		VLAN:         100,
		AntiAffinity: []sched.AntiAffinity{{Key: sched.KeyRack, Max: 1}},
	})
	if err != nil {
		panic(err)
	}
	racks := map[string]bool{}
	for _, p := range res.Placements {
		st, _ := inv.Node(p.Node)
		racks[st.Node.Rack] = true
	}
	fmt.Println(len(res.Placements), "replicas in", len(racks), "racks;", inv.AppCount("web"), "instances")
	// Output: 3 replicas in 3 racks; 3 instances
}

// A request that does not fit says why, and what would have to change.
func ExampleScheduler_Place_whyNot() {
	inv := fleet()
	s, _ := sched.New(inv, sched.DefaultConfig(), sched.NewRegistry())
	res, err := s.Place(sched.Request{
		App:       "db",
		Count:     8,
		Resources: sched.Resources{MilliCPU: 8000},
		Spread:    []sched.SpreadRule{{Key: sched.KeyRack, MaxSkew: 1, MinDomains: 4}},
	})
	fmt.Println(errors.Is(err, sched.ErrUnschedulable), len(res.Placements), "placed,", res.Unplaced, "unplaced")
	for _, h := range res.WhyNot.Hints {
		fmt.Println(h)
	}
	// Output:
	// true 3 placed, 5 unplaced
	// spread over rack needs a 4th rack (MinDomains 4, 3 eligible, each holding up to MaxSkew 1)
}

// Explain answers for a request without placing it.
func ExampleScheduler_Explain() {
	inv := fleet()
	s, _ := sched.New(inv, sched.DefaultConfig(), sched.NewRegistry())
	d, err := s.Explain(sched.Request{App: "big", Count: 4, Zones: []string{"a"}, Resources: sched.Resources{MilliCPU: 12000}})
	if err != nil {
		panic(err)
	}
	fmt.Println(d.Feasible, "of", d.Nodes, "nodes feasible")
	fmt.Println(d.Hints[0])
	// Output:
	// 0 of 6 nodes feasible
	// zone "a": node r0-n0 needs 4 more cores for one replica
}

// Bad input is refused with ErrInvalid naming the field.
func ExampleRequest_Validate() {
	r := sched.Request{App: "web", Count: 1, Spread: []sched.SpreadRule{{Key: "row", MaxSkew: 1}}}
	err := r.Validate()
	fmt.Println(errors.Is(err, sched.ErrInvalid), err)
	// Output: true sched: request.Spread[0].Key: unknown topology key "row"
}

// Inventory updates are incremental: allocate, release, cordon.
func ExampleInventory_Allocate() {
	inv := fleet()
	id, err := inv.Allocate("r0-n0", sched.Allocation{App: "cache", Resources: sched.Resources{MilliCPU: 6000}, VLAN: 100})
	if err != nil {
		panic(err)
	}
	st, _ := inv.Node("r0-n0")
	fmt.Println(st.Allocated.MilliCPU, st.Node.VLANs[100], st.Apps["cache"])
	_ = inv.Release(id)
	_ = inv.Cordon("r0-n1")
	st, _ = inv.Node("r0-n0")
	fmt.Println(st.Allocated.MilliCPU, st.Node.VLANs[100])
	// Output:
	// 6000 15 1
	// 0 16
}

// gpuOnly is a custom filter: only nodes labelled gpu=yes.
type gpuOnly struct{ no *sched.Status }

var _ sched.FilterPlugin = (*gpuOnly)(nil)

func (p *gpuOnly) Name() string { return "GPUOnly" }

func (p *gpuOnly) Filter(_ *sched.Cycle, n *sched.NodeInfo) *sched.Status {
	if v, _ := n.Label("gpu"); v == "yes" {
		return nil // nil is success
	}
	return p.no
}

// Register a custom filter plugin in an explicit registry and enable it.
func ExampleRegistry_Register() {
	reg := sched.NewRegistry()
	err := reg.Register("GPUOnly", func() (sched.Plugin, error) {
		return &gpuOnly{no: sched.NewStatus(sched.UnschedulableAndUnresolvable, "no gpu")}, nil
	})
	if err != nil {
		panic(err)
	}
	inv := sched.NewInventory()
	_ = inv.AddNode(sched.Node{Name: "cpu1", Capacity: sched.Resources{MilliCPU: 8000}})
	_ = inv.AddNode(sched.Node{Name: "gpu1", Labels: map[string]string{"gpu": "yes"}, Capacity: sched.Resources{MilliCPU: 8000}})
	cfg := sched.DefaultConfig()
	cfg.Filters = append(cfg.Filters, "GPUOnly")
	s, err := sched.New(inv, cfg, reg)
	if err != nil {
		panic(err)
	}
	res, _ := s.Place(sched.Request{App: "train", Count: 1, Resources: sched.Resources{MilliCPU: 4000}})
	fmt.Println(res.Placements[0].Node)
	_, err = s.Place(sched.Request{App: "train", Count: 2, Resources: sched.Resources{MilliCPU: 4000}})
	fmt.Println(err)
	// Output:
	// gpu1
	// sched: 1 of 2 replicas of app "train" unplaced: 0/2 nodes feasible; ResourceFit rejected 1 (insufficient cpu 1); GPUOnly rejected 1 (no gpu 1); to place: 4 more cores on nodes without a zone (at least, for 1 replica(s)); node gpu1 needs 4 more cores for one
}

// The zero Config is the default profile: every built-in filter runs, so
// replicas that do not fit are refused. A scheduler without filters has to
// be asked for (Config.NoFilters).
func ExampleNew() {
	inv := sched.NewInventory()
	_ = inv.AddNode(sched.Node{Name: "small", Capacity: sched.Resources{MilliCPU: 1000, Memory: 1 << 30}})
	s, err := sched.New(inv, sched.Config{}, nil)
	if err != nil {
		panic(err)
	}
	res, err := s.Place(sched.Request{App: "web", Count: 5, Resources: sched.Resources{MilliCPU: 4000, Memory: 8 << 30}})
	fmt.Println(errors.Is(err, sched.ErrUnschedulable), res.Unplaced)
	fmt.Println(res.WhyNot.Filters[0].Plugin, res.WhyNot.Filters[0].Reasons)
	// Output:
	// true 5
	// ResourceFit map[insufficient cpu:1]
}
