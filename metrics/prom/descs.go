package prom

import (
	"slices"
	"strings"

	"github.com/prometheus/client_golang/prometheus"
)

// descs are the descriptors of every metric an Exporter sends: container
// metrics with cAdvisor's names, node metrics with node_exporter's where
// promtool accepts them, and the exporter's own.
type descs struct {
	all []*prometheus.Desc
	// families are the name and help of each desc, by its index in all,
	// for the text exposition; byName is their indices sorted by name.
	families map[*prometheus.Desc]int
	names    []string
	helps    []string
	byName   []int
	// byNameIndex tells the exporter's family names.
	byNameIndex map[string]int

	descCPUUsage            *prometheus.Desc
	descCPUUser             *prometheus.Desc
	descCPUSystem           *prometheus.Desc
	descCFSPeriods          *prometheus.Desc
	descCFSThrottledPeriods *prometheus.Desc
	descCFSThrottledSeconds *prometheus.Desc
	descSpecCPUQuota        *prometheus.Desc
	descSpecCPUPeriod       *prometheus.Desc
	descMemUsage            *prometheus.Desc
	descMemWorkingSet       *prometheus.Desc
	descMemCache            *prometheus.Desc
	descMemRSS              *prometheus.Desc
	descMemSwap             *prometheus.Desc
	descMemMapped           *prometheus.Desc
	descSpecMemLimit        *prometheus.Desc
	descOOMEvents           *prometheus.Desc
	descFSUsage             *prometheus.Desc
	descFSLimit             *prometheus.Desc
	descFSInodes            *prometheus.Desc
	descFSInodesFree        *prometheus.Desc
	descFSReadBytes         *prometheus.Desc
	descFSWriteBytes        *prometheus.Desc
	descFSReads             *prometheus.Desc
	descFSWrites            *prometheus.Desc
	descNetRxBytes          *prometheus.Desc
	descNetRxPackets        *prometheus.Desc
	descNetRxErrors         *prometheus.Desc
	descNetRxDropped        *prometheus.Desc
	descNetTxBytes          *prometheus.Desc
	descNetTxPackets        *prometheus.Desc
	descNetTxErrors         *prometheus.Desc
	descNetTxDropped        *prometheus.Desc
	descTCPUsage            *prometheus.Desc
	descTCP6Usage           *prometheus.Desc
	descProcesses           *prometheus.Desc
	descThreads             *prometheus.Desc
	descThreadsMax          *prometheus.Desc
	descFDs                 *prometheus.Desc
	descPSICPUWaiting       *prometheus.Desc
	descPSICPUStalled       *prometheus.Desc
	descPSIMemWaiting       *prometheus.Desc
	descPSIMemStalled       *prometheus.Desc
	descPSIIOWaiting        *prometheus.Desc
	descPSIIOStalled        *prometheus.Desc
	descLastSeen            *prometheus.Desc
	descResets              *prometheus.Desc
	descNodeCPU             *prometheus.Desc
	descNodeCPUs            *prometheus.Desc
	descNodeMemTotal        *prometheus.Desc
	descNodeMemAvailable    *prometheus.Desc
	descNodeMemFree         *prometheus.Desc
	descNodeLoad1           *prometheus.Desc
	descNodeLoad5           *prometheus.Desc
	descNodeLoad15          *prometheus.Desc
	descNodeThreads         *prometheus.Desc
	descNodeMaxThreads      *prometheus.Desc
	descNodeMaxProcesses    *prometheus.Desc
	descNodeConntrack       *prometheus.Desc
	descNodeConntrackMax    *prometheus.Desc
	descNodeFilefd          *prometheus.Desc
	descNodeFilefdMax       *prometheus.Desc
	descNodeTCPInuse        *prometheus.Desc
	descNodeTCPTW           *prometheus.Desc
	descNodeTCPOrphan       *prometheus.Desc
	descNodeTCPAlloc        *prometheus.Desc
	descScrapeDuration      *prometheus.Desc
	descSampleDuration      *prometheus.Desc
	descSampleAge           *prometheus.Desc
	descContainers          *prometheus.Desc
	descSamples             *prometheus.Desc
	descNodeErrors          *prometheus.Desc
	descDiskErrors          *prometheus.Desc
	descContainerErrors     *prometheus.Desc
	descScrapeFailures      *prometheus.Desc
}

func (d *descs) desc(name, help string, labels ...string) *prometheus.Desc {
	x := prometheus.NewDesc(name, help, labels, nil)
	d.families[x] = len(d.all)
	d.byNameIndex[name] = len(d.all)
	d.all = append(d.all, x)
	d.names = append(d.names, name)
	d.helps = append(d.helps, help)
	return x
}

func (d *descs) cdesc(name, help string, extra ...string) *prometheus.Desc {
	return d.desc(name, help, append(append([]string{}, containerLabels()...), extra...)...)
}

func newDescs() *descs {
	d := &descs{families: map[*prometheus.Desc]int{}, byNameIndex: map[string]int{}}
	d.descCPUUsage = d.cdesc("container_cpu_usage_seconds_total", "Cumulative cpu time consumed in seconds.", "cpu")
	d.descCPUUser = d.cdesc("container_cpu_user_seconds_total", "Cumulative user cpu time consumed in seconds.")
	d.descCPUSystem = d.cdesc("container_cpu_system_seconds_total", "Cumulative system cpu time consumed in seconds.")
	d.descCFSPeriods = d.cdesc("container_cpu_cfs_periods_total", "Number of elapsed enforcement period intervals.")
	d.descCFSThrottledPeriods = d.cdesc("container_cpu_cfs_throttled_periods_total", "Number of throttled period intervals.")
	d.descCFSThrottledSeconds = d.cdesc("container_cpu_cfs_throttled_seconds_total", "Total time duration the container has been throttled.")
	d.descSpecCPUQuota = d.cdesc("container_spec_cpu_quota", "CPU quota of the container in microseconds per period.")
	d.descSpecCPUPeriod = d.cdesc("container_spec_cpu_period", "CPU period of the container in microseconds.")
	d.descMemUsage = d.cdesc("container_memory_usage_bytes", "Current memory usage in bytes, including all memory regardless of when it was accessed.")
	d.descMemWorkingSet = d.cdesc("container_memory_working_set_bytes", "Current working set in bytes: usage minus inactive file cache.")
	d.descMemCache = d.cdesc("container_memory_cache", "Number of bytes of page cache memory.")
	d.descMemRSS = d.cdesc("container_memory_rss", "Size of RSS in bytes.")
	d.descMemSwap = d.cdesc("container_memory_swap", "Container swap usage in bytes.")
	d.descMemMapped = d.cdesc("container_memory_mapped_file", "Size of memory mapped files in bytes.")
	d.descSpecMemLimit = d.cdesc("container_spec_memory_limit_bytes", "Memory limit for the container in bytes, 0 when unlimited.")
	d.descOOMEvents = d.cdesc("container_oom_events_total", "Count of processes killed by the OOM killer in the container.")
	d.descFSUsage = d.cdesc("container_fs_usage_bytes", "Number of bytes that are consumed by the container on this filesystem.", "device")
	d.descFSLimit = d.cdesc("container_fs_limit_bytes", "Number of bytes that can be consumed by the container on this filesystem.", "device")
	d.descFSInodes = d.cdesc("container_fs_inodes", "Number of Inodes (cAdvisor's container_fs_inodes_total, a gauge).", "device")
	d.descFSInodesFree = d.cdesc("container_fs_inodes_free", "Number of available Inodes.", "device")
	d.descFSReadBytes = d.cdesc("container_fs_reads_bytes_total", "Cumulative count of bytes read.", "device")
	d.descFSWriteBytes = d.cdesc("container_fs_writes_bytes_total", "Cumulative count of bytes written.", "device")
	d.descFSReads = d.cdesc("container_fs_reads_total", "Cumulative count of reads completed.", "device")
	d.descFSWrites = d.cdesc("container_fs_writes_total", "Cumulative count of writes completed.", "device")
	d.descNetRxBytes = d.cdesc("container_network_receive_bytes_total", "Cumulative count of bytes received.", "interface")
	d.descNetRxPackets = d.cdesc("container_network_receive_packets_total", "Cumulative count of packets received.", "interface")
	d.descNetRxErrors = d.cdesc("container_network_receive_errors_total", "Cumulative count of errors encountered while receiving.", "interface")
	d.descNetRxDropped = d.cdesc("container_network_receive_packets_dropped_total", "Cumulative count of packets dropped while receiving.", "interface")
	d.descNetTxBytes = d.cdesc("container_network_transmit_bytes_total", "Cumulative count of bytes transmitted.", "interface")
	d.descNetTxPackets = d.cdesc("container_network_transmit_packets_total", "Cumulative count of packets transmitted.", "interface")
	d.descNetTxErrors = d.cdesc("container_network_transmit_errors_total", "Cumulative count of errors encountered while transmitting.", "interface")
	d.descNetTxDropped = d.cdesc("container_network_transmit_packets_dropped_total", "Cumulative count of packets dropped while transmitting.", "interface")
	d.descTCPUsage = d.cdesc("container_network_tcp_usage", "IPv4 TCP sockets of the container's network namespace by state (inuse, timewait; timewait counts IPv6 too), from its sockstat.", "tcp_state")
	d.descTCP6Usage = d.cdesc("container_network_tcp6_usage", "IPv6 TCP sockets in use in the container's network namespace, from its sockstat6.", "tcp_state")
	d.descProcesses = d.cdesc("container_processes", "Number of processes running inside the container, over its whole cgroup subtree.")
	d.descThreads = d.cdesc("container_threads", "Number of threads running inside the container.")
	d.descThreadsMax = d.cdesc("container_threads_max", "Maximum number of threads allowed inside the container (pids.max), 0 when unlimited.")
	d.descFDs = d.cdesc("container_file_descriptors", "Number of open file descriptors for the container.")
	d.descPSICPUWaiting = d.cdesc("container_pressure_cpu_waiting_seconds_total", "Total time duration tasks in the container have waited due to CPU congestion.")
	d.descPSICPUStalled = d.cdesc("container_pressure_cpu_stalled_seconds_total", "Total time duration no tasks in the container could make progress due to CPU congestion.")
	d.descPSIMemWaiting = d.cdesc("container_pressure_memory_waiting_seconds_total", "Total time duration tasks in the container have waited due to memory congestion.")
	d.descPSIMemStalled = d.cdesc("container_pressure_memory_stalled_seconds_total", "Total time duration no tasks in the container could make progress due to memory congestion.")
	d.descPSIIOWaiting = d.cdesc("container_pressure_io_waiting_seconds_total", "Total time duration tasks in the container have waited due to IO congestion.")
	d.descPSIIOStalled = d.cdesc("container_pressure_io_stalled_seconds_total", "Total time duration no tasks in the container could make progress due to IO congestion.")
	d.descLastSeen = d.cdesc("container_last_seen", "Last time a container was seen by the exporter, in seconds since the epoch.")
	d.descResets = d.cdesc("shoal_container_restarts_total", "Container restarts (counter resets) the collector has absorbed; its counters kept counting across them.")
	d.descNodeCPU = d.desc("shoal_node_cpu_seconds_total", "Host CPU time summed over all CPUs, by mode.", "mode")
	d.descNodeCPUs = d.desc("shoal_node_cpus", "Online CPUs of the host.")
	d.descNodeMemTotal = d.desc("shoal_node_memory_total_bytes", "Host memory, /proc/meminfo MemTotal, in bytes.")
	d.descNodeMemAvailable = d.desc("shoal_node_memory_available_bytes", "Host memory available, /proc/meminfo MemAvailable, in bytes.")
	d.descNodeMemFree = d.desc("shoal_node_memory_free_bytes", "Host memory free, /proc/meminfo MemFree, in bytes.")
	d.descNodeLoad1 = d.desc("node_load1", "1m load average.")
	d.descNodeLoad5 = d.desc("node_load5", "5m load average.")
	d.descNodeLoad15 = d.desc("node_load15", "15m load average.")
	d.descNodeThreads = d.desc("node_processes_threads", "Allocated threads in the system; each holds a pid.")
	d.descNodeMaxThreads = d.desc("node_processes_max_threads", "Limit of threads in the system (kernel.threads-max).")
	d.descNodeMaxProcesses = d.desc("node_processes_max_processes", "Number of max PIDs limit (kernel.pid_max).")
	d.descNodeConntrack = d.desc("node_nf_conntrack_entries", "Number of currently allocated flow entries for connection tracking.")
	d.descNodeConntrackMax = d.desc("node_nf_conntrack_entries_limit", "Maximum size of connection tracking table.")
	d.descNodeFilefd = d.desc("node_filefd_allocated", "File descriptor statistics: allocated.")
	d.descNodeFilefdMax = d.desc("node_filefd_maximum", "File descriptor statistics: maximum.")
	d.descNodeTCPInuse = d.desc("node_sockstat_TCP_inuse", "Number of TCP sockets in state inuse.")
	d.descNodeTCPTW = d.desc("node_sockstat_TCP_tw", "Number of TCP sockets in state tw.")
	d.descNodeTCPOrphan = d.desc("node_sockstat_TCP_orphan", "Number of TCP sockets in state orphan.")
	d.descNodeTCPAlloc = d.desc("node_sockstat_TCP_alloc", "Number of TCP sockets in state alloc.")
	d.descScrapeDuration = d.desc("shoal_metrics_scrape_duration_seconds", "Wall time of this scrape: the sample and the conversion to metrics.")
	d.descSampleDuration = d.desc("shoal_metrics_sample_duration_seconds", "Wall time of the sample this scrape serves.")
	d.descSampleAge = d.desc("shoal_metrics_sample_age_seconds", "Age of the sample this scrape serves, from its start: about its duration when sampled for the scrape, up to the exporter's MaxAge when the collector's latest snapshot is served.")
	d.descContainers = d.desc("shoal_metrics_containers", "Containers in this scrape's sample.")
	d.descSamples = d.desc("shoal_metrics_samples_total", "Samples the collector has taken.")
	d.descNodeErrors = d.desc("shoal_metrics_node_errors_total", "Node files that could not be read; their metrics were left out of that sample.")
	d.descDiskErrors = d.desc("shoal_metrics_disk_errors_total", "Mounts left out of a container's disk usage: statfs failed, did not answer within the collector's DiskTimeout (a hung network or FUSE server), or was skipped while an earlier one on the same file system hangs.")
	d.descContainerErrors = d.desc("shoal_metrics_container_errors_total", "Containers left out of a sample, by reason (vanished, invalid, other).", "reason")
	d.descScrapeFailures = d.desc("shoal_metrics_scrape_failures_total", "Scrapes whose sample failed as a whole (timeout, closed collector).")
	d.byName = make([]int, len(d.all))
	for i := range d.byName {
		d.byName[i] = i
	}
	slices.SortFunc(d.byName, func(a, b int) int { return strings.Compare(d.names[a], d.names[b]) })
	return d
}
