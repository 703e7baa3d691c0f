// Package schedtest helps test code that uses sched: it builds seeded
// random fleets (nodes spread over zones, racks and switches), checks
// placements with an independent model of every constraint, and runs the
// conformance suite of filter and score plugins (ValidateFilter,
// ValidateScore), which also proves that a plugin's fast paths
// (sched.NodeFilter, sched.BatchFilter...) place exactly as its plain
// Filter or Score would.
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
//
// In a plugin's own tests:
//
//	if err := schedtest.ValidateFilter(newMyFilter, schedtest.Options{}); err != nil { t.Fatal(err) }
package schedtest
