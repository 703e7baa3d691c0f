package prom

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"slices"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/shoalkit/shoal/metrics"
)

// Sampler takes a snapshot; *metrics.Collector is one.
type Sampler interface {
	Sample(ctx context.Context) (*metrics.Snapshot, error)
}

var _ Sampler = (*metrics.Collector)(nil)

// Config configures an Exporter. The zero value is the default.
type Config struct {
	// Timeout bounds the sample taken at each scrape; default 10 s.
	Timeout time.Duration
	// Logger receives failed samples; nil discards them.
	Logger *slog.Logger
}

// DefaultConfig returns the defaults spelled out.
func DefaultConfig() Config { return Config{Timeout: 10 * time.Second} }

// Exporter is a prometheus.Collector over a Sampler: every Collect takes
// one snapshot and turns it into metrics. It is safe for concurrent use;
// concurrent scrapes are served one at a time by the Sampler.
type Exporter struct {
	src    Sampler
	cfg    Config
	logger *slog.Logger
	d      *descs

	mu       sync.Mutex
	failures uint64 // scrapes whose sample failed
}

var _ prometheus.Collector = (*Exporter)(nil)

// New returns an exporter over src.
func New(src Sampler, cfg Config) (*Exporter, error) {
	if src == nil {
		return nil, newError(ErrInvalid, "nil Sampler")
	}
	if cfg.Timeout < 0 {
		return nil, newError(ErrInvalid, "Config.Timeout %v is negative", cfg.Timeout)
	}
	if cfg.Timeout == 0 {
		cfg.Timeout = DefaultConfig().Timeout
	}
	logger := cfg.Logger
	if logger == nil {
		logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	return &Exporter{src: src, cfg: cfg, logger: logger, d: newDescs()}, nil
}

// Register makes an exporter over src and registers it on reg.
func Register(reg prometheus.Registerer, src Sampler, cfg Config) (*Exporter, error) {
	if reg == nil {
		return nil, newError(ErrInvalid, "nil Registerer")
	}
	e, err := New(src, cfg)
	if err != nil {
		return nil, err
	}
	if err := reg.Register(e); err != nil {
		kind := ErrInvalid
		if are := (prometheus.AlreadyRegisteredError{}); errors.As(err, &are) {
			kind = ErrConflict
		}
		return nil, wrapError(kind, err, "register exporter")
	}
	return e, nil
}

// Describe sends the descriptors of every metric the exporter may send.
func (e *Exporter) Describe(ch chan<- *prometheus.Desc) {
	for _, x := range e.d.all {
		ch <- x
	}
}

// Collect takes a snapshot and sends its metrics. A failed sample sends
// only the exporter's own metrics, with the failure counted.
func (e *Exporter) Collect(ch chan<- prometheus.Metric) {
	ctx, cancel := context.WithTimeout(context.Background(), e.cfg.Timeout)
	defer cancel()
	start := time.Now()
	snap, err := e.src.Sample(ctx)
	e.mu.Lock()
	if err != nil {
		e.failures++
		e.logger.Warn("metrics sample failed", "err", err)
	}
	failures := e.failures
	e.mu.Unlock()
	d := e.d
	ch <- prometheus.MustNewConstMetric(d.descScrapeFailures, prometheus.CounterValue, float64(failures))
	if err != nil {
		return
	}
	d.writeNode(ch, &snap.Node)
	seen := make(map[string]bool, len(snap.Containers))
	for i := range snap.Containers {
		s := &snap.Containers[i]
		// cAdvisor's id is the cgroup: two targets on one cgroup would
		// make duplicate series, which a scrape must never hold.
		if seen[s.Target.Cgroup] {
			continue
		}
		seen[s.Target.Cgroup] = true
		d.writeContainer(ch, s)
	}
	ch <- prometheus.MustNewConstMetric(d.descSamples, prometheus.CounterValue, float64(snap.Totals.Samples))
	ch <- prometheus.MustNewConstMetric(d.descNodeErrors, prometheus.CounterValue, float64(snap.Totals.NodeErrors))
	for _, r := range []string{metrics.ReasonVanished, metrics.ReasonInvalid, metrics.ReasonOther} {
		ch <- prometheus.MustNewConstMetric(d.descContainerErrors, prometheus.CounterValue, float64(snap.Totals.ContainerErrors[r]), r)
	}
	ch <- prometheus.MustNewConstMetric(d.descContainers, prometheus.GaugeValue, float64(len(snap.Containers)))
	ch <- prometheus.MustNewConstMetric(d.descSampleDuration, prometheus.GaugeValue, snap.Duration.Seconds())
	ch <- prometheus.MustNewConstMetric(d.descScrapeDuration, prometheus.GaugeValue, time.Since(start).Seconds())
}

// containerLabels are cAdvisor's: the cgroup path as id, the name, the
// image, and the app as a container label.
func containerLabels() []string { return []string{"id", "name", "image", "container_label_app"} }

func labelValues(s *metrics.ContainerSample, extra ...string) []string {
	return append([]string{s.Target.Cgroup, s.Target.Name, s.Target.Image, s.Target.App}, extra...)
}

func (d *descs) writeContainer(ch chan<- prometheus.Metric, s *metrics.ContainerSample) {
	lv := labelValues(s)
	gauge := func(d *prometheus.Desc, v float64, extra ...string) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.GaugeValue, v, append(lv[:len(lv):len(lv)], extra...)...)
	}
	counter := func(d *prometheus.Desc, v float64, extra ...string) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.CounterValue, v, append(lv[:len(lv):len(lv)], extra...)...)
	}
	counter(d.descCPUUsage, s.CPU.Usage.Seconds(), "total")
	counter(d.descCPUUser, s.CPU.User.Seconds())
	counter(d.descCPUSystem, s.CPU.System.Seconds())
	if s.CPU.QuotaMicros >= 0 {
		counter(d.descCFSPeriods, float64(s.CPU.Periods))
		counter(d.descCFSThrottledPeriods, float64(s.CPU.ThrottledPeriods))
		counter(d.descCFSThrottledSeconds, s.CPU.Throttled.Seconds())
		gauge(d.descSpecCPUQuota, float64(s.CPU.QuotaMicros))
		gauge(d.descSpecCPUPeriod, float64(s.CPU.PeriodMicros))
	}

	m := &s.Memory
	gauge(d.descMemUsage, float64(m.Usage))
	gauge(d.descMemWorkingSet, float64(m.WorkingSet))
	gauge(d.descMemCache, float64(m.Cache))
	gauge(d.descMemRSS, float64(m.RSS))
	gauge(d.descMemSwap, float64(m.Swap))
	gauge(d.descMemMapped, float64(m.MappedFile))
	gauge(d.descSpecMemLimit, limitValue(m.Limit))
	counter(d.descOOMEvents, float64(m.OOMKills))

	for _, fs := range uniqueDisks(s.Disks) {
		gauge(d.descFSUsage, float64(fs.Used), fs.Device)
		gauge(d.descFSLimit, float64(fs.Total), fs.Device)
		gauge(d.descFSInodes, float64(fs.Inodes), fs.Device)
		gauge(d.descFSInodesFree, float64(fs.InodesFree), fs.Device)
	}
	for _, io := range s.IO {
		counter(d.descFSReadBytes, float64(io.ReadBytes), io.Device)
		counter(d.descFSWriteBytes, float64(io.WriteBytes), io.Device)
		counter(d.descFSReads, float64(io.ReadOps), io.Device)
		counter(d.descFSWrites, float64(io.WriteOps), io.Device)
	}
	for _, n := range s.Net {
		if n.Name == "lo" {
			continue // as cAdvisor: loopback traffic is not the container's
		}
		counter(d.descNetRxBytes, float64(n.RxBytes), n.Name)
		counter(d.descNetRxPackets, float64(n.RxPackets), n.Name)
		counter(d.descNetRxErrors, float64(n.RxErrors), n.Name)
		counter(d.descNetRxDropped, float64(n.RxDropped), n.Name)
		counter(d.descNetTxBytes, float64(n.TxBytes), n.Name)
		counter(d.descNetTxPackets, float64(n.TxPackets), n.Name)
		counter(d.descNetTxErrors, float64(n.TxErrors), n.Name)
		counter(d.descNetTxDropped, float64(n.TxDropped), n.Name)
	}
	gauge(d.descTCPUsage, float64(s.TCP.InUse), "inuse")
	gauge(d.descTCPUsage, float64(s.TCP.TimeWait), "timewait")
	gauge(d.descTCP6Usage, float64(s.TCP.InUse6), "inuse")

	gauge(d.descProcesses, float64(s.Processes.Processes))
	gauge(d.descThreads, float64(s.Processes.Threads))
	gauge(d.descThreadsMax, limitValue(s.Processes.PidsLimit))
	gauge(d.descFDs, float64(s.Processes.FDs))

	if p := s.Pressure; p != nil {
		counter(d.descPSICPUWaiting, p.CPU.Some.Total.Seconds())
		counter(d.descPSICPUStalled, p.CPU.Full.Total.Seconds())
		counter(d.descPSIMemWaiting, p.Memory.Some.Total.Seconds())
		counter(d.descPSIMemStalled, p.Memory.Full.Total.Seconds())
		counter(d.descPSIIOWaiting, p.IO.Some.Total.Seconds())
		counter(d.descPSIIOStalled, p.IO.Full.Total.Seconds())
	}
	gauge(d.descLastSeen, float64(s.Time.Unix()))
	counter(d.descResets, float64(s.Resets))
}

// limitValue is a limit as cAdvisor shows it: 0 when there is none.
func limitValue(v uint64) float64 {
	if v == metrics.Unlimited {
		return 0
	}
	return float64(v)
}

// uniqueDisks keeps one file system per device (cAdvisor's only label),
// the root first: volumes bound from the same device are the same file
// system.
func uniqueDisks(ds []metrics.DiskStats) []metrics.DiskStats {
	out := slices.Clone(ds)
	slices.SortStableFunc(out, func(a, b metrics.DiskStats) int {
		switch {
		case a.MountPoint == "/" && b.MountPoint != "/":
			return -1
		case b.MountPoint == "/" && a.MountPoint != "/":
			return 1
		}
		return 0
	})
	seen := map[string]bool{}
	return slices.DeleteFunc(out, func(d metrics.DiskStats) bool {
		dup := seen[d.Device]
		seen[d.Device] = true
		return dup
	})
}

func (d *descs) writeNode(ch chan<- prometheus.Metric, n *metrics.NodeSample) {
	gauge := func(d *prometheus.Desc, v float64, lv ...string) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.GaugeValue, v, lv...)
	}
	counter := func(d *prometheus.Desc, v float64, lv ...string) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.CounterValue, v, lv...)
	}
	for _, m := range []struct {
		mode string
		d    time.Duration
	}{
		{"user", n.CPU.User},
		{"nice", n.CPU.Nice},
		{"system", n.CPU.System},
		{"idle", n.CPU.Idle},
		{"iowait", n.CPU.IOWait},
		{"irq", n.CPU.IRQ},
		{"softirq", n.CPU.SoftIRQ},
		{"steal", n.CPU.Steal},
	} {
		counter(d.descNodeCPU, m.d.Seconds(), m.mode)
	}
	gauge(d.descNodeCPUs, float64(n.CPUs))
	gauge(d.descNodeMemTotal, float64(n.Memory.MemTotal))
	gauge(d.descNodeMemAvailable, float64(n.Memory.MemAvailable))
	gauge(d.descNodeMemFree, float64(n.Memory.MemFree))
	gauge(d.descNodeLoad1, n.Load1)
	gauge(d.descNodeLoad5, n.Load5)
	gauge(d.descNodeLoad15, n.Load15)
	gauge(d.descNodeThreads, float64(n.Threads))
	gauge(d.descNodeMaxThreads, float64(n.ThreadsMax))
	gauge(d.descNodeMaxProcesses, float64(n.PidMax))
	if n.Conntrack != nil {
		gauge(d.descNodeConntrack, float64(n.Conntrack.Used))
		gauge(d.descNodeConntrackMax, float64(n.Conntrack.Max))
	}
	gauge(d.descNodeFilefd, float64(n.Files.Used))
	gauge(d.descNodeFilefdMax, float64(n.Files.Max))
	gauge(d.descNodeTCPInuse, float64(n.TCP.InUse))
	gauge(d.descNodeTCPTW, float64(n.TCP.TimeWait))
	gauge(d.descNodeTCPOrphan, float64(n.TCP.Orphaned))
	gauge(d.descNodeTCPAlloc, float64(n.TCP.Alloc))
}
