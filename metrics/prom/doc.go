// Package prom exports metrics snapshots to Prometheus: a
// prometheus.Collector registered on a Registerer the caller injects (never
// the global one).
//
//	c, err := metrics.New(ctx, metrics.Config{})
//	go c.Run(ctx) // samples every Config.Interval (10 s); scrapes serve its snapshot
//	reg := prometheus.NewRegistry()
//	exp, err := prom.Register(reg, c, prom.Config{})
//	http.Handle("/metrics", promhttp.HandlerFor(reg, promhttp.HandlerOpts{}))
//
// or, cheaper by ten (no Gather of thousands of series: the exposition is
// written straight from the snapshot, byte for byte what Gather and expfmt
// make of it; the exporter need not be registered):
//
//	exp, err := prom.New(c, prom.Config{})
//	http.Handle("/metrics", exp.Handler(reg)) // reg: the process's other metrics
//
// What a scrape reads. As cAdvisor's housekeeping, the collector samples
// on its own interval (metrics.Collector.Run) and a scrape serves the last
// snapshot Run took, without reading a file: its cost is turning ~29
// series per container into the exposition. That snapshot is served while
// it is at most Config.MaxAge old (default 20 s, twice Run's default
// interval), counted from the start of its sample; so a scrape shows
// values up to MaxAge old (up to Run's Interval plus one sample's
// duration while Run keeps up), and shoal_metrics_sample_age_seconds says
// how old. When Run is not running, has not sampled yet, or its last
// snapshot is older than MaxAge (a stuck sample), the scrape samples on
// demand, bounded by Config.Timeout, and the values are fresh. A negative
// MaxAge samples at every scrape. Both paths send the same series (a
// golden test holds them to one exposition). A snapshot is shared between
// Run and the scrapes, never copied: Run hands it over by an atomic
// pointer and nothing modifies it afterwards.
//
// Container metrics carry cAdvisor's names and labels (id is the cgroup
// path, name, image; the app as container_label_app) so that existing
// dashboards and alert rules work unchanged: container_cpu_usage_seconds_total,
// container_memory_working_set_bytes, container_network_receive_bytes_total,
// container_oom_events_total, container_processes, container_threads,
// container_threads_max, container_file_descriptors, container_fs_*,
// container_pressure_*. Three cAdvisor names fail `promtool check
// metrics` (gauges ending in _total) and are exported under clean names:
//
//	cAdvisor                               here
//	container_network_tcp_usage_total      container_network_tcp_usage       (tcp_state "inuse", "timewait")
//	container_network_tcp6_usage_total     container_network_tcp6_usage      (tcp_state "inuse")
//	container_fs_inodes_total              container_fs_inodes
//
// (cAdvisor's container_memory_failcnt, a counter without _total, is not
// exported: the v1 failcnt has no cgroup2 equivalent.) The TCP states differ
// from cAdvisor's because they come from the namespace's sockstat in
// constant time, not from parsing every line of /proc/net/tcp.
//
// Node metrics use node_exporter's names where it has them and promtool
// accepts them (node_load1, node_nf_conntrack_entries,
// node_filefd_allocated, node_processes_threads, node_processes_max_processes,
// node_sockstat_TCP_orphan). node_exporter's camel-case memory names fail
// promtool and are shoal_node_memory_{total,available,free}_bytes; host CPU
// time summed over CPUs is shoal_node_cpu_seconds_total{mode}.
// Every scrape's own cost is shoal_metrics_scrape_duration_seconds, and
// containers left out of a sample are counted in
// shoal_metrics_container_errors_total{reason}: nothing is lost silently.
package prom
