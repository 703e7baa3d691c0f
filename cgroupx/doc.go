// Package cgroupx tells what a container really has — memory, CPUs, load,
// uptime, disk, processes, pressure — computed from its cgroup on cgroup v1,
// v2 and hybrid hosts alike, and sets its limits. It is a library: no FUSE
// daemon (lxcfs) has to run for a container's tools to see their own
// numbers, and the renderers write /proc files in the kernel's exact formats
// for tools that must read them unmodified.
//
// A [Host] reads the mount table once and detects the layout; a [Cgroup] is
// opened from it by path or by pid and offers one API whatever the version:
//
//	host, err := cgroupx.NewHost(ctx) // or cgroupx.WithRoot(dir) for a fixture tree
//	if err != nil { ... }
//	cg, err := host.OpenPID(ctx, pid) // or host.Open(ctx, "/kubepods/pod1/ctr")
//	if err != nil { ... }
//	mem, err := cg.Meminfo(ctx)      // limits over the ancestors, capped by the host
//	cpus, err := cg.CPUs(ctx)        // quota, cpuset, effective count for nproc
//	err = cgroupx.WriteMeminfo(w, mem, nil)
//
// Load averages need history: a [LoadTracker] counts the container's
// runnable and uninterruptible threads every five seconds and folds them
// with the kernel's fixed-point calc_load, bit for bit:
//
//	lt := cgroupx.NewLoadTracker(cg, cgroupx.LoadConfig{})
//	go lt.Run(ctx)
//	avg := lt.Load() // avg.Load1, avg.Running, avg.Total, avg.LastPID
//
// Every method reads the kernel's files when called, so values are as fresh
// as the kernel's (only the host's MemTotal, SwapTotal and online CPUs are
// kept for a second). A collector that samples the same container again and
// again should read through [Cgroup.KeepOpen]: the files stay open and are
// re-read from offset 0, which costs a tenth of opening them:
//
//	kept := cg.KeepOpen()
//	defer kept.Close()
//	s, err := kept.Sample(ctx) // memory, CPUs, CPU time, tasks, I/O, pressure
//
// Errors wrap [ErrNotFound], [ErrInvalid], [ErrUnsupported] or [ErrClosed].
//
// The cgroupxtest package writes fake v1, v2 and hybrid hosts for tests.
package cgroupx
