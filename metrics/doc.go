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
// What is read how often. At every sample, per container (cgroup v1 file
// names; cgroup2 in brackets): memory.stat and memory.usage_in_bytes
// [memory.stat, memory.current, memory.swap.current] for usage, working
// set, cache, rss, swap, and on v1 the memory limit (memory.stat's
// hierarchical_memory_limit); memory.oom_control [memory.events];
// cpuacct.usage and cpuacct.stat [cpu.stat, which holds the throttling
// too]; cpu.stat for throttling while a CPU quota is set (without one its
// counters do not move, and it is read with the limits); the two blkio
// throttle files [io.stat]; cpu, memory and io pressure; cgroup.procs over
// the subtree, opened afresh on v1 (a kept-open v1 cgroup.procs serves a
// stale list); pids.current for the threads of the whole subtree; the
// namespace inode of the process whose /proc/<pid>/net is read, and its
// net/dev, sockstat and sockstat6. Every file is kept open and re-read
// with one pread into a reused buffer (net/dev, one record per
// interface, is read until a read returns nothing: a read of a file of
// records stops at a page), except v1 cgroup.procs. The node:
// /proc/stat, /proc/meminfo, /proc/loadavg, fs/file-nr, net/sockstat and
// nf_conntrack_count.
//
// Every Config.LimitInterval (default 1 minute), or at the next sample
// after Collector.LimitsChanged: the CPU quota and period over the
// ancestors and the cpuset (cgroupx CPUs), the cgroup2 memory and swap
// limits over the ancestors (through the handle's limit cache,
// cgroupx.Cgroup.CacheLimits), pids.max; the node's kernel.pid_max,
// kernel.threads-max, nf_conntrack_max and whether the conntrack module is
// loaded. Every Config.FDInterval (default 30 s): open file descriptors,
// one stat of /proc/<pid>/fd per process (its size is the count since
// Linux 6.2; the directory is read on older kernels). Every
// Config.DiskInterval (default 1 minute): file system usage (the
// container's mount table and a statfs per file system). Values read less
// often are repeated in the samples between.
//
// A statfs of a network or FUSE file system whose server hangs never
// returns, so none runs on a sample's goroutine: each has a goroutine of
// its own, the sample waits for a container's at most Config.DiskTimeout
// (default 1 s), and a mount that did not answer is left out of that
// sample and counted in Totals.DiskErrors; the container's other metrics
// are sampled all the same. Hung statfs calls are bounded: at most 16 at
// once over the collector, and while one on a file system is overdue its
// mounts are skipped (and counted) instead of asked again.
//
// A Collector samples a set of targets (a cgroup, and optionally a process
// for the namespaces) and the node; targets come and go while it runs:
//
//	c, err := metrics.New(ctx, metrics.Config{}) // the real host; Root for a fixture tree
//	if err != nil { ... }
//	defer c.Close()
//	err = c.Add(metrics.Target{ID: "web-1", App: "web", Cgroup: "/docker/abc"})
//	snap, err := c.Sample(ctx) // or go c.Run(ctx) with Config.Sinks, and c.Latest()
//	for _, s := range snap.Containers {
//		fmt.Println(s.Target.ID, s.Rates.CPUPercent, s.Memory.WorkingSet, s.TCP.InUse)
//	}
//
// While Run runs, Latest returns its last snapshot (an atomic load, no
// copy): an exporter serves it instead of sampling at every scrape.
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
