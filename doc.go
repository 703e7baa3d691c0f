// Package shoal is a Go SDK for the hard pieces of an elastic container
// cloud: the pieces that companies moving whole fleets onto containers each
// had to build for themselves. It is a set of independent library packages
// plus thin example daemons that compose them into a platform for pilots.
//
// # Packages
//
//	cgroupx    what a container really has (load, free memory, CPUs, uptime,
//	           disk, top, pressure) from cgroups v1 and v2, and its limits
//	metrics    per-container samples, Prometheus and Graphite export,
//	           busiest/idlest ranking (imports cgroupx)
//	netvlan    a container's own IP on a VLAN: veth into its namespace, an
//	           Open vSwitch access port over OVSDB, rate limits, reconcile
//	imagefs    compressed layered OCI images: build, squash, zstd, push/pull,
//	           pre-distribution to nodes and pre-unpacked layers
//	sched      placement by capacity, zones, network zones, image locality
//	           and spread across switches and racks, with a why-not answer
//	autoscale  elastic scaling from CPU, connections and TPS: fast up, slow
//	           and sure down
//	inspect    fleet inspection over gossip: every node checks itself
//	           against the desired state and answers in a few bytes
//	alertcorr  alert convergence: an alert storm becomes one incident with
//	           its root
//
// The library packages never import each other (the one exception is
// metrics, which builds on cgroupx), so a platform can take one piece
// without the rest. Where two pieces meet, the consuming package defines the
// small interface it needs, or an example daemon holds a few lines of
// adapter.
//
// # How the pieces compose
//
// The example daemons under examples/ (a module of their own, so that etcd,
// grpc and libcontainer never reach an importer of the SDK) wire the
// packages into this flow; today the node agent exists, the controller and
// the pilot do not yet:
//
//	image dir --imagefs.Build--> registry --imagefs pre-distribute--> node stores (unpacked layers)
//	app request --sched.Place--> node --imagefs.Prepare (overlay)--> runc --netvlan.Attach--> VLAN
//	cgroupx --> metrics --> Prometheus / Graphite --> autoscale.Recommend --> replicas --> sched
//	metrics thresholds --> alerts --> alertcorr --> incidents (Alertmanager-compatible webhook)
//	desired state --> inspect (serf query) --> pass/fail per node --> detail fetch for failures
//
// # Conventions shared by every package
//
// Calls that block or do I/O take a context.Context first. Long-lived
// components expose Run(ctx) error and leave the goroutines to the caller.
// Errors have one shape: the package name once, what was wrong with which
// value, then the cause ("netvlan: vlan 5000 out of range 1..4094"), and a
// kind (ErrInvalid, ErrNotFound, ...) that callers match with errors.Is, so
// bad input, not found, conflict and a failed dependency can always be told
// apart. A zero Config means the documented defaults, or the constructor
// refuses it naming the field. Nothing registers itself globally:
// loggers, clocks, filesystem roots, endpoints and Prometheus registerers are
// injected.
//
// This package holds no code; it documents the SDK as a whole.
package shoal
