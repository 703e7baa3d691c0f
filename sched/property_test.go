package sched_test

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"testing"

	"github.com/shoalkit/shoal/sched"
	"github.com/shoalkit/shoal/sched/schedtest"
)

// randomRequest is schedtest's, with up to 25 replicas.
func randomRequest(rng *rand.Rand, app string) sched.Request {
	return schedtest.RandomRequest(rng, app, 25)
}

func TestPropertyPlacementsHoldEveryConstraint(t *testing.T) {
	seeds := 12
	if testing.Short() {
		seeds = 4
	}
	for seed := range uint64(seeds) {
		for _, mode := range []sched.Mode{sched.Exact, sched.Sampled} {
			t.Run(fmt.Sprintf("seed%d/mode%d", seed, mode), func(t *testing.T) {
				t.Parallel()
				propertyRun(t, seed, mode)
			})
		}
	}
}

func propertyRun(t *testing.T, seed uint64, mode sched.Mode) {
	rng := rand.New(rand.NewPCG(seed, 99))
	nodes := schedtest.Fleet(schedtest.FleetConfig{Nodes: 60 + rng.IntN(150), Racks: 3 + rng.IntN(10), Switches: 2 + rng.IntN(3), Seed: seed, Random: true})
	inv, err := schedtest.Inventory(nodes)
	if err != nil {
		t.Fatal(err)
	}
	chk := schedtest.NewChecker(nodes)
	cfg := sched.DefaultConfig()
	cfg.Mode, cfg.Seed, cfg.MinFeasibleNodesToFind = mode, seed, 10
	s, err := sched.New(inv, cfg, nil)
	if err != nil {
		t.Fatal(err)
	}
	type live struct {
		id   sched.AllocationID
		node string
		a    sched.Allocation
	}
	var placed []live
	apps := []string{"web", "db", "cache"}
	for step := range 60 {
		switch rng.IntN(6) {
		case 0: // release a few
			for range rng.IntN(10) {
				if len(placed) == 0 {
					break
				}
				i := rng.IntN(len(placed))
				if err := inv.Release(placed[i].id); err != nil {
					t.Fatal(err)
				}
				chk.Release(placed[i].node, placed[i].a)
				placed = append(placed[:i], placed[i+1:]...)
			}
			continue
		case 1: // cordon or uncordon one
			n := nodes[rng.IntN(len(nodes))].Name
			c := rng.IntN(2) == 0
			var err error
			if c {
				err = inv.Cordon(n)
			} else {
				err = inv.Uncordon(n)
			}
			if err != nil {
				t.Fatal(err)
			}
			chk.SetCordoned(n, c)
			continue
		}
		req := randomRequest(rng, apps[rng.IntN(len(apps))])
		res, err := s.Place(req)
		if err != nil && !errors.Is(err, sched.ErrUnschedulable) {
			t.Fatalf("step %d: Place(%+v) = %v", step, req, err)
		}
		if (err != nil) != (res.Unplaced > 0) || (res.Unplaced > 0) != (res.WhyNot != nil) {
			t.Fatalf("step %d: err %v but %d unplaced, WhyNot %v", step, err, res.Unplaced, res.WhyNot)
		}
		if cerr := chk.Apply(req, res); cerr != nil {
			t.Fatalf("step %d: request %+v: %v\nwhy-not: %v", step, req, cerr, res.WhyNot)
		}
		a := sched.Allocation{App: req.App, Resources: req.Resources, VLAN: req.VLAN, AntiAffinity: req.AntiAffinity}
		for _, p := range res.Placements {
			placed = append(placed, live{p.Allocation, p.Node, a})
		}
	}
	for _, n := range nodes {
		st, err := inv.Node(n.Name)
		if err != nil {
			t.Fatal(err)
		}
		for _, app := range apps {
			used, cnt := chk.Used(n.Name, app)
			if st.Allocated != used || st.Apps[app] != cnt {
				t.Fatalf("node %s: inventory %+v/%d instances of %s, model %+v/%d", n.Name, st.Allocated, st.Apps[app], app, used, cnt)
			}
		}
	}
}

// TestPropertyExactEqualsBruteForce checks, on random fleets, that exact
// mode reports a replica unschedulable exactly when the checker finds no
// feasible node, one replica at a time.
func TestPropertyFeasibilityAgrees(t *testing.T) {
	for seed := range uint64(6) {
		rng := rand.New(rand.NewPCG(seed, 7))
		nodes := schedtest.Fleet(schedtest.FleetConfig{Nodes: 80, Racks: 6, Switches: 3, Seed: seed + 100, Random: true})
		inv, err := schedtest.Inventory(nodes)
		if err != nil {
			t.Fatal(err)
		}
		chk := schedtest.NewChecker(nodes)
		s, err := sched.New(inv, sched.DefaultConfig(), nil)
		if err != nil {
			t.Fatal(err)
		}
		for step := range 80 {
			req := randomRequest(rng, "web")
			req.Count, req.AllOrNothing = 1, false
			feasible := len(chk.Feasible(&req))
			d, err := s.Explain(req)
			if err != nil {
				t.Fatal(err)
			}
			if d.Feasible != feasible {
				t.Fatalf("seed %d step %d: Explain says %d feasible, checker %d; request %+v\n%v", seed, step, d.Feasible, feasible, req, d)
			}
			res, err := s.Place(req)
			if (feasible == 0) != errors.Is(err, sched.ErrUnschedulable) {
				t.Fatalf("seed %d step %d: %d feasible but Place = %v", seed, step, feasible, err)
			}
			if err := chk.Apply(req, res); err != nil {
				t.Fatal(err)
			}
		}
	}
}

// TestPropertyLoopsAgree runs the same random requests through the node
// loops — exact on one goroutine, exact on two (4,500 nodes), the sampled
// window told to score every node, all three with their caches — and the
// plain uncached per-node loop, with releases and cordons in between, and
// expects the very same placements: same feasible sets, same scores, same
// tie-breaks.
func TestPropertyLoopsAgree(t *testing.T) {
	nodes := schedtest.Fleet(schedtest.FleetConfig{Nodes: 4500, Racks: 40, Switches: 8, Seed: 5, Random: true})
	cfgs := map[string]sched.Config{}
	for _, name := range []string{"exact1", "exact2", "sampled100", "uncached"} {
		cfg := sched.DefaultConfig()
		cfg.Seed = 3
		switch name {
		case "exact1":
			cfg.Parallelism = 1
		case "exact2":
			cfg.Parallelism = 2
		case "sampled100":
			cfg.Mode, cfg.PercentageOfNodesToScore = sched.Sampled, 100
		}
		cfgs[name] = cfg
	}
	got := map[string][]string{}
	for name, cfg := range cfgs {
		inv, err := schedtest.Inventory(nodes)
		if err != nil {
			t.Fatal(err)
		}
		s, err := sched.New(inv, cfg, nil)
		if err != nil {
			t.Fatal(err)
		}
		if name == "uncached" {
			sched.SetUncached(s)
		}
		rng := rand.New(rand.NewPCG(11, 12))
		var ids []sched.AllocationID
		for range 60 {
			// Releases and cordons between calls exercise the refresh of
			// the cached candidates, where nodes leave and join.
			for range rng.IntN(8) {
				if len(ids) == 0 {
					break
				}
				k := rng.IntN(len(ids))
				if err := inv.Release(ids[k]); err != nil {
					t.Fatal(err)
				}
				ids = append(ids[:k], ids[k+1:]...)
			}
			if rng.IntN(3) == 0 {
				n := nodes[rng.IntN(len(nodes))].Name
				if rng.IntN(2) == 0 {
					_ = inv.Cordon(n)
				} else {
					_ = inv.Uncordon(n)
				}
			}
			res, err := s.Place(randomRequest(rng, []string{"web", "db"}[rng.IntN(2)]))
			if err != nil && !errors.Is(err, sched.ErrUnschedulable) {
				t.Fatal(err)
			}
			for _, p := range res.Placements {
				got[name] = append(got[name], p.Node)
				ids = append(ids, p.Allocation)
			}
			got[name] = append(got[name], fmt.Sprintf("unplaced=%d", res.Unplaced))
		}
	}
	if len(got["exact1"]) < 100 {
		t.Fatalf("only %d placements: the test exercises too little", len(got["exact1"]))
	}
	for _, name := range []string{"exact1", "exact2", "sampled100"} {
		a, b := got["uncached"], got[name]
		if len(a) != len(b) {
			t.Fatalf("%s: %d results, uncached %d", name, len(b), len(a))
		}
		for i := range a {
			if a[i] != b[i] {
				t.Fatalf("%s differs from the uncached loop at %d: %s vs %s", name, i, b[i], a[i])
			}
		}
	}
}

// TestPropertyCacheFollowsChanges repeats one request (so the cache of
// candidates and scores is reused from call to call) while nodes fill up,
// are released, cordoned, uncordoned, lose and regain IPs and images, and
// expects exact mode on two goroutines and the sampled window to agree at
// every step with the uncached per-node loop.
func TestPropertyCacheFollowsChanges(t *testing.T) {
	nodes := schedtest.Fleet(schedtest.FleetConfig{Nodes: 4200, Racks: 30, Switches: 6, Seed: 8, Random: true})
	type run struct {
		inv *sched.Inventory
		s   *sched.Scheduler
		ids []sched.AllocationID
	}
	var runs []*run
	// exact, sampled 100%, uncached exact; sampled 10%, uncached sampled 10%
	for k, mode := range []sched.Mode{sched.Exact, sched.Sampled, sched.Exact, sched.Sampled, sched.Sampled} {
		inv, err := schedtest.Inventory(nodes)
		if err != nil {
			t.Fatal(err)
		}
		cfg := sched.DefaultConfig()
		cfg.Mode, cfg.Parallelism, cfg.PercentageOfNodesToScore = mode, 2, 100
		if k >= 3 {
			cfg.PercentageOfNodesToScore, cfg.MinFeasibleNodesToFind = 10, 20
		}
		s, err := sched.New(inv, cfg, nil)
		if err != nil {
			t.Fatal(err)
		}
		if k == 2 || k == 4 {
			sched.SetUncached(s)
		}
		runs = append(runs, &run{inv: inv, s: s})
	}
	rng := rand.New(rand.NewPCG(21, 22))
	req := sched.Request{App: "web", Count: 3, Resources: sched.Resources{MilliCPU: 1500, Memory: 2 << 30}, VLAN: 100, Image: "app:v1"}
	joined := 0
	for step := range 400 {
		op, k, n := rng.IntN(8), rng.Int(), nodes[rng.IntN(len(nodes))].Name
		var got [5]string
		for r, ru := range runs {
			switch op {
			case 0, 1: // release a few
				for j := range 3 {
					if len(ru.ids) > 0 {
						i := (k + j) % len(ru.ids)
						if err := ru.inv.Release(ru.ids[i]); err != nil {
							t.Fatal(err)
						}
						ru.ids = append(ru.ids[:i], ru.ids[i+1:]...)
					}
				}
			case 2:
				_ = ru.inv.Cordon(n)
			case 3:
				_ = ru.inv.Uncordon(n)
			case 4:
				_ = ru.inv.SetVLANIPs(n, 100, k%4)
			case 5:
				_ = ru.inv.AddImage(n, "app:v1", 400<<20)
			case 6:
				_ = ru.inv.RemoveImage(n, "app:v1")
			}
			res, err := ru.s.Place(req)
			if err != nil && !errors.Is(err, sched.ErrUnschedulable) {
				t.Fatal(err)
			}
			for _, p := range res.Placements {
				ru.ids = append(ru.ids, p.Allocation)
				got[r] += p.Node + " "
			}
		}
		if got[0] != got[2] || got[1] != got[2] {
			t.Fatalf("step %d (op %d): exact placed %q, the sampled window %q, the uncached loop %q", step, op, got[0], got[1], got[2])
		}
		if got[3] != got[4] {
			t.Fatalf("step %d (op %d): the 10%% sampled window placed %q, the uncached loop %q", step, op, got[3], got[4])
		}
		if op <= 1 || op == 3 || op == 4 {
			joined++
		}
	}
	if len(runs[0].ids) < 100 || joined < 100 {
		t.Fatalf("too little exercised: %d live allocations, %d joining ops", len(runs[0].ids), joined)
	}
}
