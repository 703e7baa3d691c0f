// Package schedtest helps test code that uses sched: it builds seeded
// random fleets (nodes spread over zones, racks and switches) and checks
// placements with an independent model of every constraint.
//
//	nodes := schedtest.Fleet(schedtest.FleetConfig{Nodes: 1000, Racks: 50, Switches: 10, Seed: 1})
//	inv, _ := schedtest.Inventory(nodes)
//	s, _ := sched.New(inv, sched.DefaultConfig(), sched.NewRegistry())
//	chk := schedtest.NewChecker(nodes)
//	res, _ := s.Place(req)
//	if err := chk.Apply(req, res); err != nil { t.Fatal(err) }
//
// The checker shares no code with sched: it recomputes zones, taints,
// capacity, VLAN IPs, anti-affinity (including the rules placed instances
// keep) and PodTopologySpread skew from scratch for every placement.
package schedtest
