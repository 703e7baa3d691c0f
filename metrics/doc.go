// Package metrics tells what every container and the node are doing: CPU
// (usage, user/system, throttling), memory (usage, cAdvisor's working set,
// limit, cache, rss, swap, OOM kills), disk usage of the root and volumes,
// block I/O per device, network counters per interface read in the
// container's own namespace, TCP connections in use and in TIME-WAIT from
// the namespace's sockstat in constant time, processes, threads and open
// files over the whole cgroup subtree beside the pids limit, and pressure
// (PSI). It is built on cgroupx and reads through kept-open files, so a
// sample of one container costs tens of microseconds.
//
// A Collector samples a set of targets (a cgroup, and optionally a process
// for the namespaces) and the node; targets come and go while it runs:
//
//	c, err := metrics.New(ctx, metrics.Config{}) // the real host; Root for a fixture tree
//	if err != nil { ... }
//	defer c.Close()
//	err = c.Add(metrics.Target{ID: "web-1", App: "web", Cgroup: "/docker/abc"})
//	snap, err := c.Sample(ctx) // or go c.Run(ctx) with Config.Sinks
//	for _, s := range snap.Containers {
//		fmt.Println(s.Target.ID, s.Rates.CPUPercent, s.Memory.WorkingSet, s.TCP.InUse)
//	}
//
// A container that vanishes in the middle of a sample is left out of that
// snapshot and counted (Snapshot.Errors, Totals.ContainerErrors); a
// sample never fails for one container. Cumulative counters never go
// backwards: a restart (the cgroup made again) or a counter that drops
// moves the old value into a base that is added from then on, and
// ContainerSample.Resets counts it. Rates come from consecutive samples.
//
// Node metrics sit in the same snapshot: CPU, memory, load, threads (each a
// pid) against kernel.pid_max and threads-max, conntrack entries against
// nf_conntrack_max (absent when the module is not loaded, never zero), open
// files against fs.file-max, and the host-wide orphaned TCP sockets.
//
// The types here know nothing of an exporter. Package metrics/prom is a
// Prometheus Collector with cAdvisor's names, metrics/graphite sends to
// carbon, and metrics/activity ranks the busiest and idlest containers.
package metrics
