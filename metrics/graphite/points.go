package graphite

import (
	"github.com/shoalkit/shoal/metrics"
)

// clean makes s a safe path segment or tag value: every byte outside
// [A-Za-z0-9_-] becomes '_'; an empty string is "_".
func clean(s string) string {
	if s == "" {
		return "_"
	}
	ok := true
	for i := 0; i < len(s); i++ {
		if !safe(s[i]) {
			ok = false
			break
		}
	}
	if ok {
		return s
	}
	b := []byte(s)
	for i, c := range b {
		if !safe(c) {
			b[i] = '_'
		}
	}
	return string(b)
}

func safe(c byte) bool {
	return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '_' || c == '-'
}

// names builds series names for one snapshot.
type names struct {
	prefix, host string
	tagged       bool
}

// node names a node metric.
func (n names) node(metric string) string {
	if n.tagged {
		return "node." + metric + ";node=" + n.host
	}
	return n.prefix + "." + n.host + ".node." + metric
}

// container returns the namer of one container's metrics.
func (n names) container(app, id string) func(metric string) string {
	app, id = clean(app), clean(id)
	if n.tagged {
		tags := ";app=" + app + ";id=" + id + ";node=" + n.host // sorted
		return func(metric string) string { return "container." + metric + tags }
	}
	base := n.prefix + "." + n.host + ".containers." + app + "." + id + "."
	return func(metric string) string { return base + metric }
}

// Points turns a snapshot into Graphite points: node metrics, and per
// container CPU, memory, network, TCP, processes, disks and the rates.
// Counters are sent as they are (monotonic across restarts); rates are
// per second.
func Points(s *metrics.Snapshot, prefix, node string, tagged bool) []Point {
	n := names{prefix: prefix, host: clean(node), tagged: tagged}
	t := s.Time
	pts := make([]Point, 0, 24+40*len(s.Containers))
	add := func(name string, v float64) { pts = append(pts, Point{Name: name, Value: v, Time: t}) }

	nd := &s.Node
	if nd.CPUPercentValid {
		add(n.node("cpu_percent"), nd.CPUPercent)
	}
	add(n.node("load1"), nd.Load1)
	add(n.node("load5"), nd.Load5)
	add(n.node("load15"), nd.Load15)
	add(n.node("memory.total_bytes"), float64(nd.Memory.MemTotal))
	add(n.node("memory.available_bytes"), float64(nd.Memory.MemAvailable))
	add(n.node("threads"), float64(nd.Threads))
	add(n.node("pid_max"), float64(nd.PidMax))
	add(n.node("threads_max"), float64(nd.ThreadsMax))
	if nd.Conntrack != nil {
		add(n.node("conntrack.entries"), float64(nd.Conntrack.Used))
		add(n.node("conntrack.max"), float64(nd.Conntrack.Max))
	}
	add(n.node("files.allocated"), float64(nd.Files.Used))
	add(n.node("files.max"), float64(nd.Files.Max))
	add(n.node("tcp.orphaned"), float64(nd.TCP.Orphaned))
	add(n.node("sample_seconds"), s.Duration.Seconds())
	add(n.node("containers"), float64(len(s.Containers)))
	for _, r := range []string{metrics.ReasonVanished, metrics.ReasonInvalid, metrics.ReasonOther} {
		add(n.node("container_errors."+r), float64(s.Totals.ContainerErrors[r]))
	}

	for i := range s.Containers {
		c := &s.Containers[i]
		m := n.container(c.Target.App, c.Target.ID)
		add(m("cpu.usage_seconds"), c.CPU.Usage.Seconds())
		add(m("cpu.throttled_seconds"), c.CPU.Throttled.Seconds())
		add(m("cpu.throttled_periods"), float64(c.CPU.ThrottledPeriods))
		add(m("memory.usage_bytes"), float64(c.Memory.Usage))
		add(m("memory.working_set_bytes"), float64(c.Memory.WorkingSet))
		add(m("memory.rss_bytes"), float64(c.Memory.RSS))
		add(m("memory.cache_bytes"), float64(c.Memory.Cache))
		add(m("memory.swap_bytes"), float64(c.Memory.Swap))
		if c.Memory.Limit != metrics.Unlimited {
			add(m("memory.limit_bytes"), float64(c.Memory.Limit))
		}
		add(m("memory.oom_kills"), float64(c.Memory.OOMKills))
		var rx, tx uint64
		for _, ifc := range c.Net {
			if ifc.Name != "lo" {
				rx += ifc.RxBytes
				tx += ifc.TxBytes
			}
		}
		add(m("net.rx_bytes"), float64(rx))
		add(m("net.tx_bytes"), float64(tx))
		add(m("tcp.inuse"), float64(c.TCP.InUse+c.TCP.InUse6))
		add(m("tcp.timewait"), float64(c.TCP.TimeWait))
		add(m("processes"), float64(c.Processes.Processes))
		add(m("threads"), float64(c.Processes.Threads))
		add(m("fds"), float64(c.Processes.FDs))
		if c.Processes.PidsLimit != metrics.Unlimited {
			add(m("pids_limit"), float64(c.Processes.PidsLimit))
		}
		for _, d := range c.Disks {
			if d.MountPoint == "/" {
				add(m("disk.root.used_bytes"), float64(d.Used))
				add(m("disk.root.total_bytes"), float64(d.Total))
			}
		}
		add(m("restarts"), float64(c.Resets))
		if r := c.Rates; r.Valid {
			add(m("cpu.percent"), r.CPUPercent)
			add(m("cpu.cores"), r.CPUCores)
			add(m("net.rx_bytes_per_second"), r.NetRx)
			add(m("net.tx_bytes_per_second"), r.NetTx)
			add(m("disk.read_bytes_per_second"), r.DiskRead)
			add(m("disk.write_bytes_per_second"), r.DiskWrite)
		}
	}
	return pts
}
