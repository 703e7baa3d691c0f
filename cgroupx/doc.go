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
// (A v1 cgroup.procs is the exception: re-read on a kept descriptor the
// kernel serves the list of its first read, so it is opened for every
// call.) Limits change rarely: kept.CacheLimits(ttl) keeps what the handle
// read of them for ttl, or until kept.InvalidateLimits().
//
// What the limits did is counted too: [Cgroup.Throttling] (CFS periods,
// throttled periods and time) and [Cgroup.MemoryEvents] (limit hits, OOM
// kills).
//
// Errors read "cgroupx: pid -1" or "cgroupx: open /proc/7/stat: no such
// file or directory": the package prefix once, what was wrong and with which
// value, then the cause. Each wraps one kind, matched with errors.Is:
// [ErrNotFound], [ErrInvalid], [ErrUnsupported], [ErrClosed] or
// [ErrUnavailable]. A done context's error is returned as it is.
//
// # Versions
//
// The host's layout is detected once, from its mount table ([DetectMode]);
// below that, each controller's files are those of the hierarchy it is on:
// SetLimits and Limits go through v1Knobs or v2Knobs (limits_v1.go,
// limits_v2.go), chosen once per controller, not by a branch per knob.
//
// Limits are written by this package, not by github.com/containerd/cgroups/v3,
// for every knob. Its v3.1.3 writers were read knob by knob; none could be
// handed over without changing behaviour this package promises:
//
//   - Its writers (cgroup1 and cgroup2 alike) use os.WriteFile, which
//     creates a missing file: on a fixture tree under [WithRoot] a knob the
//     host lacks would be created instead of reported, and on cgroupfs
//     O_CREAT of a missing knob fails with EACCES where a plain open gives
//     ENOENT, so neither could still say "host lacks knob X"
//     ([ErrUnsupported]) rather than "permission denied".
//   - cgroup2 cpu.max is written whole from its CPUMax string, whose missing
//     period becomes 100000: setting the quota alone would reset a custom
//     period, where this package keeps the half not given.
//   - cgroup2 Pids.Max 0 means "leave alone", so pids.max cannot be set
//     to 0; its io.max entries write a Rate of 0 as "rbps=0", where a Rate of
//     0 here removes the limit and is written "max".
//   - cgroup1 memory orders memsw before the memory limit only when both
//     are positive and the swap exceeds the current limit; here the other
//     order is tried whenever the kernel refuses the first (-1 included).
//   - Importing its cgroup2 package adds cilium/ebpf, godbus/dbus,
//     coreos/go-systemd, opencontainers/runtime-spec, sirupsen/logrus,
//     containerd/log, moby/sys/userns and golang.org/x/exp to an importer's
//     module graph (no grpc or etcd), and 7.7 MB to a program that only
//     loads a cgroup (2.4 → 10.1 MB): device filters (eBPF) and systemd
//     (D-Bus) live in the same package as the writers.
//
// Writing a knob is one open, write and close either way; what the writers
// would have brought, tests on many real v2 hosts, is replaced by a real v2
// kernel in this package's tests (below). Reading stays this package's own:
// pread on kept-open files is its fast path.
//
// # Tests
//
// v1 and hybrid cgroups are tested on this machine's real hierarchies. Pure
// cgroup v2 runs on a real kernel: a user-mode-Linux 6.1 guest
// (testenv.RunGuest) where cpu, io, memory and pids are enabled and
// enforced. There, limits are written and read back from the kernel's files,
// Meminfo and CPUs see them, a spinning process is counted, loaded and
// throttled, reads on the guest's disk are counted, a 100 MiB allocation
// under a 64 MiB memory.max is OOM-killed and counted, and a fork at
// pids.max is refused. That kernel has no cpuset controller and no PSI (a
// single-CPU build): v2 cpuset and pressure are tested on fixture trees
// only.
//
// The cgroupxtest package writes fake v1, v2 and hybrid hosts for tests.
package cgroupx
