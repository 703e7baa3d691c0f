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
// Every method reads the kernel's files when called; nothing is cached, so
// values are as fresh as the kernel's. Errors wrap [ErrNotFound],
// [ErrInvalid] or [ErrUnsupported].
//
// The cgroupxtest package writes fake v1, v2 and hybrid hosts for tests.
package cgroupx
