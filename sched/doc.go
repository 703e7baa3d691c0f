// Package sched places containers on nodes: by capacity (cpu, memory,
// disk, IP addresses left on a VLAN), compute zone and service level,
// network zone, labels, taints and cordon, image locality, and the spread
// of an app's instances across switches and racks. When a request does not
// fit it says why not, and what would have to change.
//
// It follows the kube-scheduler framework, smaller:
//
//   - an Inventory of nodes with cheap incremental updates (Allocate,
//     Release, AddNode, RemoveNode, Cordon), keeping per-app instance
//     counts per node, rack, switch and zone current so that rules are
//     checked with array loads;
//   - a Request: app, resources, count, image, zones/level, network
//     zone/VLAN, spread rules (PodTopologySpread semantics, hard or soft)
//     and anti-affinity limits (at most k instances per node, rack,
//     switch…);
//   - FilterPlugin and ScorePlugin, each a Name and one method, a nil
//     *Status meaning success, built from an explicit Registry: there is
//     no init() and no global registry;
//   - a Scheduler that places Count replicas one after the other, each
//     seeing the previous ones, deterministic for the same inventory,
//     request sequence, Config and seed.
//
// # Exact and sampled modes
//
// In Exact mode (the default) every node is filtered and every feasible
// node scored for every replica, so the best node by score always wins.
// In Sampled mode, as with kube-scheduler's percentageOfNodesToScore, each
// replica's node loop starts where the previous one stopped and ends once
// it has found enough feasible nodes (Config.PercentageOfNodesToScore,
// adaptive by default, and at least Config.MinFeasibleNodesToFind); the
// best of those wins. Sampling never turns a feasible request away: a
// replica is unschedulable only when no node at all is feasible.
//
// Both modes give the results of the plain loop (every filter, then every
// score, on every node in turn) but avoid most of its work. The engine
// knows plugins only by the optional interfaces they implement, found once
// by type assertion, so a custom plugin takes the same path as a built-in
// one:
//
//   - a NodeFilter or NodeScorer depends only on the node and the request
//     (resources, zones, labels, taints, image): the candidates that pass
//     every such filter and their summed scores are cached, keyed by what
//     those plugins read of the request (AppendKey), and kept across
//     replicas and Place calls; between calls only the nodes named by the
//     inventory's change log are re-evaluated;
//   - a BatchFilter or BatchScorer runs as one call over a list of node
//     slots, a plugin at a time over compact slices of node state (spread
//     and anti-affinity read dense per-domain slices);
//   - any other plugin is called node by node on the cached candidates,
//     for every replica.
//
// In Exact mode the full sweep is shared by Config.Parallelism goroutines
// on large inventories.
//
// # Configuration and limits
//
// The zero Config is the default profile (DefaultConfig): every zero field
// means its documented default, and a value with no meaning is refused
// with ErrInvalid naming the field. Running without filters or scores is
// said explicitly (Config.NoFilters, Config.NoScores). A request asks for
// at most MaxCount replicas, which bounds how long Place holds the
// inventory's lock. Errors read "sched: <what was wrong>" and match one of
// ErrInvalid, ErrNotFound, ErrConflict and ErrUnschedulable.
//
// # Why not
//
// When a replica cannot be placed, Result.WhyNot (and Scheduler.Explain at
// any time) counts, for each filter, the nodes it rejected, and asks the
// filters that alone block nodes what would have to change: "12 more
// cores in zone "a" (at least, for 3 replica(s))", "spread over rack needs
// a 4th rack", "anti-affinity (at most 1 per rack) … needs a 51st rack or
// Max 2".
//
// # Usage
//
//	inv := sched.NewInventory()
//	_ = inv.AddNode(sched.Node{Name: "n1", Zone: "a", Rack: "r1", Switch: "s1",
//		Capacity: sched.Resources{MilliCPU: 32000, Memory: 128 << 30}})
//	s, _ := sched.New(inv, sched.Config{}, sched.NewRegistry()) // the defaults
//	res, err := s.Place(sched.Request{App: "web", Count: 3,
//		Resources:    sched.Resources{MilliCPU: 2000, Memory: 4 << 30},
//		Spread:       []sched.SpreadRule{{Key: sched.KeyRack, MaxSkew: 1}},
//		AntiAffinity: []sched.AntiAffinity{{Key: sched.KeyNode, Max: 1}}})
//	if errors.Is(err, sched.ErrUnschedulable) {
//		log.Print(res.WhyNot)
//	}
//	for _, p := range res.Placements {
//		// start the container on p.Node; inv.Release(p.Allocation) when it stops
//	}
//
// The schedtest package builds test fleets, checks placements against an
// independent model of every constraint, and holds the conformance suite
// for filter and score plugins (ValidateFilter, ValidateScore), which
// every built-in plugin passes.
package sched
