package metrics

import (
	"time"

	"github.com/shoalkit/shoal/cgroupx"
)

// Unlimited is the value of a limit that is not set.
const Unlimited = cgroupx.Unlimited

// Target is one container to collect: its cgroup, and optionally a process
// inside it whose namespaces (network, mounts) are the container's.
type Target struct {
	// ID identifies the target in the collector; required and unique.
	ID string
	// Name is the container's name (cAdvisor's "name" label); default ID.
	Name string
	// App is the application the container belongs to, for the ranking.
	App string
	// Image is the container's image (cAdvisor's "image" label).
	Image string
	// Cgroup is the container's cgroup path relative to the hierarchy
	// roots, as /proc/<pid>/cgroup shows it ("/docker/abc"); it is also
	// cAdvisor's "id" label. Required.
	Cgroup string
	// PID is a process of the container whose network and mount namespaces
	// are read. 0 means the first process listed in the cgroup, looked up
	// again whenever it exits.
	PID int
}

// Snapshot is one sample of the node and every container the collector
// knows.
type Snapshot struct {
	// Time is when the sample started.
	Time time.Time
	// Node is the host's own metrics.
	Node NodeSample
	// Containers are sorted by target ID. A container that vanished or
	// failed during the sample is missing from it and counted in Errors.
	Containers []ContainerSample
	// Errors holds one entry per container left out of this sample.
	Errors []SampleError
	// Duration is what the sample cost in wall time.
	Duration time.Duration
	// Totals are the collector's counters since it was made.
	Totals Totals
}

// Totals are a collector's running counts, exported so that no loss goes
// unseen.
type Totals struct {
	// Samples is the number of snapshots taken.
	Samples uint64
	// ContainerErrors counts containers left out of a snapshot, by reason
	// ("vanished" for a container gone mid-sample, "invalid" for a
	// malformed file, "other").
	ContainerErrors map[string]uint64
	// NodeErrors counts failed reads of node files (each node metric that
	// could not be read is left out of that snapshot).
	NodeErrors uint64
	// DiskErrors counts mounts left out of a container's disk usage: a
	// statfs that failed, did not answer within Config.DiskTimeout, or
	// was not started because an earlier one on the same file system
	// still hangs (or too many hang); and mount tables that could not be
	// read. The container's other metrics are sampled all the same.
	DiskErrors uint64
}

// SampleError is a container left out of one snapshot.
type SampleError struct {
	ID string
	// Reason is "vanished", "invalid" or "other".
	Reason string
	Err    error
}

// ContainerSample is everything collected about one container at one
// moment. Cumulative counters never go backwards: when a container
// restarts (its cgroup is made anew, or a counter drops), the values from
// before are kept as a base and added to the new ones, and Resets counts it.
type ContainerSample struct {
	Target Target
	// Time is when this container was read.
	Time time.Time
	// Start is when the container's first sample was taken by this
	// collector (not the container's own start).
	Start time.Time

	CPU       CPUStats
	Memory    MemoryStats
	Disks     []DiskStats
	IO        []IOStats
	Net       []InterfaceStats
	TCP       TCPStats
	Processes ProcessStats
	// Pressure is nil when the host has no PSI for the cgroup.
	Pressure *cgroupx.Pressure

	// Rates are computed from this sample and the previous one of the same
	// container; Valid is false on the first.
	Rates Rates
	// Resets counts the counter resets (restarts) detected so far.
	Resets uint64
}

// CPUStats is a container's CPU time and throttling.
type CPUStats struct {
	// Usage, User and System are cumulative CPU time.
	Usage, User, System time.Duration
	// Periods and ThrottledPeriods count CFS enforcement periods;
	// Throttled is the cumulative time the group was throttled.
	Periods, ThrottledPeriods uint64
	Throttled                 time.Duration
	// LimitCores is the CPU quota in CPUs (0 when none); QuotaMicros and
	// PeriodMicros are the raw values (QuotaMicros -1 when none).
	LimitCores   float64
	QuotaMicros  int64
	PeriodMicros uint64
	// Cores is the number of CPUs the container may use (the effective
	// count of cpuset and quota).
	Cores int
}

// MemoryStats is a container's memory, in bytes.
type MemoryStats struct {
	// Usage is the cgroup's usage (page cache included).
	Usage uint64
	// WorkingSet is cAdvisor's working set: usage minus the inactive file
	// cache, never below zero; what the OOM killer and kubelet look at.
	WorkingSet uint64
	// Limit is the smallest limit over the cgroup and its ancestors;
	// [Unlimited] when none.
	Limit uint64
	// Cache, RSS, MappedFile and Swap are from memory.stat (v1 total_cache,
	// total_rss, total_mapped_file; v2 file, anon, file_mapped) and the swap
	// files.
	Cache, RSS, MappedFile, Swap uint64
	// OOMKills counts processes the OOM killer killed in the cgroup (v1
	// memory.oom_control oom_kill, v2 memory.events oom_kill); OOMEvents
	// counts the times the group hit its limit and the OOM killer ran (v2
	// "oom"; on v1 equal to OOMKills).
	OOMKills, OOMEvents uint64
}

// DiskStats is the usage of one file system the container sees: its root
// and its volumes.
type DiskStats struct {
	MountPoint, Device, FSType string
	Total, Used, Avail         uint64
	Inodes, InodesFree         uint64
}

// IOStats is the block I/O a container did on one device.
type IOStats struct {
	Major, Minor uint32
	// Device is the device's name under /dev ("/dev/sda"), or "major:minor"
	// when /sys does not know it.
	Device                string
	ReadBytes, WriteBytes uint64
	ReadOps, WriteOps     uint64
}

// InterfaceStats are one network interface's counters, read in the
// container's network namespace.
type InterfaceStats struct {
	Name                                    string
	RxBytes, RxPackets, RxErrors, RxDropped uint64
	TxBytes, TxPackets, TxErrors, TxDropped uint64
}

// TCPStats are the TCP socket counts of the container's network namespace,
// from its sockstat and sockstat6: constant time, however many connections.
// The kernel counts orphaned and allocated sockets only host-wide, so those
// are in [NodeSample.TCP].
type TCPStats struct {
	// InUse counts IPv4 TCP sockets in use (every state but TIME-WAIT:
	// listening, established, closing); InUse6 the IPv6 ones.
	InUse, InUse6 uint64
	// TimeWait counts sockets in TIME-WAIT, IPv4 and IPv6 together (the
	// kernel keeps one count per namespace).
	TimeWait uint64
}

// NodeTCP are the host-wide TCP counts of the collector's own network
// namespace's sockstat.
type NodeTCP struct {
	// InUse and TimeWait are the collector's namespace's; Orphaned (no
	// process holds them any more) and Alloc (allocated sockets) are the
	// whole host's.
	InUse, TimeWait, Orphaned, Alloc uint64
}

// ProcessStats are the container's processes, threads and open files over
// its whole cgroup subtree.
type ProcessStats struct {
	Processes, Threads uint64
	// FDs counts open file descriptors of all processes.
	FDs uint64
	// PidsLimit is the pids controller's limit (threads included);
	// [Unlimited] when none or when the host has no pids controller.
	PidsLimit uint64
}

// Rates are per-second values over the interval since the previous sample.
type Rates struct {
	// Valid is false on a container's first sample.
	Valid bool
	// Interval is the time between the two samples.
	Interval time.Duration
	// CPUCores is CPU time used per second (1.5 = one and a half CPUs).
	CPUCores float64
	// CPUPercent is CPUCores as a share of the container's CPUs (its quota,
	// else its cpuset), 0..100.
	CPUPercent float64
	// Throttled is throttled time per second.
	Throttled float64
	// NetRx and NetTx are bytes per second over every interface but lo.
	NetRx, NetTx float64
	// DiskRead and DiskWrite are bytes per second over every device.
	DiskRead, DiskWrite float64
	// DiskReadOps and DiskWriteOps are operations per second.
	DiskReadOps, DiskWriteOps float64
}

// NodeSample is the host's own metrics. A value whose file is missing (no
// conntrack module, no PSI) is absent (its pointer nil, or Has false), never
// zero.
type NodeSample struct {
	// CPU is the host's CPU time since boot, summed over CPUs, from
	// /proc/stat; CPUs the number of online CPUs.
	CPU  NodeCPU
	CPUs int
	// Memory is the host's /proc/meminfo.
	Memory cgroupx.Meminfo
	// Load1, Load5 and Load15 are the host's load averages.
	Load1, Load5, Load15 float64
	// Threads counts every task (thread) on the host, each holding a pid;
	// PidMax is kernel.pid_max and ThreadsMax kernel.threads-max.
	Threads, PidMax, ThreadsMax uint64
	// Conntrack is nil when the conntrack module is not loaded.
	Conntrack *Usage
	// Files is the host's open files (allocated file handles) against
	// fs.file-max.
	Files Usage
	// TCP are the host's socket counts.
	TCP NodeTCP
	// CPUPercent is the host's busy CPU time over the interval since the
	// previous sample, as a share of all CPUs (0..100); CPUPercentValid is
	// false on the first sample.
	CPUPercent      float64
	CPUPercentValid bool
}

// NodeCPU is the host's CPU time by mode.
type NodeCPU struct {
	User, Nice, System, Idle, IOWait, IRQ, SoftIRQ, Steal time.Duration
}

// Usage is a count against its limit.
type Usage struct {
	Used, Max uint64
}
