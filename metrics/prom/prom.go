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

// LatestSampler is a Sampler that also keeps the last snapshot of its
// own sampling loop; *metrics.Collector is one (Latest returns what
// Collector.Run took last, nil while Run is not running).
type LatestSampler interface {
	Sampler
	Latest() *metrics.Snapshot
}

var _ LatestSampler = (*metrics.Collector)(nil)

// Config configures an Exporter. The zero value is the default.
type Config struct {
	// Timeout bounds the sample taken at a scrape; default 10 s.
	Timeout time.Duration
	// MaxAge is how old the last snapshot of the collector's own loop
	// (Collector.Run, through LatestSampler.Latest) may be and still be
	// served by a scrape, measured from the start of that sample
	// (Snapshot.Time) to the scrape. A scrape that finds no such
	// snapshot (Run not running, a Sampler without Latest) or an older
	// one samples on demand. Default 20 s: twice the collector's default
	// Interval, so that a Run at that interval serves every scrape even
	// when one of its samples comes late, while a stopped or stuck Run is
	// noticed within one Prometheus scrape interval or two. With a longer
	// Interval, set MaxAge above it. Negative: every scrape samples.
	MaxAge time.Duration
	// Logger receives failed samples; nil discards them.
	Logger *slog.Logger
	// Now is the clock a snapshot's age is measured on; default time.Now.
	// It must be the collector's clock (metrics.Config.Now).
	Now func() time.Time
}

// DefaultConfig returns the defaults spelled out.
func DefaultConfig() Config {
	return Config{Timeout: 10 * time.Second, MaxAge: 20 * time.Second, Now: time.Now}
}

// Exporter is a prometheus.Collector over a Sampler: every Collect turns
// one snapshot into metrics, the collector's latest (Config.MaxAge) or
// one taken for the scrape. It is safe for concurrent use; concurrent
// scrapes that sample are served one at a time by the Sampler.
type Exporter struct {
	src    Sampler
	cfg    Config
	logger *slog.Logger
	d      *descs

	mu       sync.Mutex
	failures uint64 // scrapes whose sample failed

	// labelMu is held while a scrape's series are written: the label
	// pairs of each container, kept while it is in the scrapes.
	labelMu sync.Mutex
	labels  map[labelKey]*labelSet
	node    *labelSet
	gen     uint64

	// textMu is held while the text exposition is built (WriteText,
	// Handler): the state it keeps between scrapes.
	textMu sync.Mutex
	text   textState
	bufs   sync.Pool // of *[]byte, an exposition's
}

// labelKey is what a container's labels are made of.
type labelKey struct{ id, name, image, app string }

var _ prometheus.Collector = (*Exporter)(nil)

// New returns an exporter over src.
func New(src Sampler, cfg Config) (*Exporter, error) {
	if src == nil {
		return nil, newError(ErrInvalid, "nil Sampler")
	}
	if cfg.Timeout < 0 {
		return nil, newError(ErrInvalid, "Config.Timeout %v is negative", cfg.Timeout)
	}
	d := DefaultConfig()
	if cfg.Timeout == 0 {
		cfg.Timeout = d.Timeout
	}
	if cfg.MaxAge == 0 {
		cfg.MaxAge = d.MaxAge
	}
	if cfg.Now == nil {
		cfg.Now = d.Now
	}
	logger := cfg.Logger
	if logger == nil {
		logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	return &Exporter{
		src: src, cfg: cfg, logger: logger, d: newDescs(),
		labels: map[labelKey]*labelSet{}, node: newLabelSet(nil, nil),
	}, nil
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

// snapshot returns the snapshot a scrape serves: the collector's latest
// while it is at most MaxAge old, else one sampled now.
func (e *Exporter) snapshot(ctx context.Context) (*metrics.Snapshot, error) {
	if l, ok := e.src.(LatestSampler); ok && e.cfg.MaxAge >= 0 {
		if s := l.Latest(); s != nil && e.cfg.Now().Sub(s.Time) <= e.cfg.MaxAge {
			return s, nil
		}
	}
	ctx, cancel := context.WithTimeout(ctx, e.cfg.Timeout)
	defer cancel()
	return e.src.Sample(ctx)
}

// Collect sends the metrics of a snapshot: the collector's latest while
// it is at most Config.MaxAge old, else one sampled now. A failed sample
// sends only the exporter's own metrics, with the failure counted.
func (e *Exporter) Collect(ch chan<- prometheus.Metric) {
	// A Collector has no context: the sample is bounded by Timeout.
	e.scrape(context.Background(), &writer{ch: ch})
}

// scrape writes the series of one scrape to w: the snapshot's, then the
// exporter's own.
func (e *Exporter) scrape(ctx context.Context, w *writer) {
	start := time.Now()
	snap, err := e.snapshot(ctx)
	e.mu.Lock()
	if err != nil {
		e.failures++
		e.logger.Warn("metrics sample failed", "err", err)
	}
	failures := e.failures
	e.mu.Unlock()
	d := e.d
	e.labelMu.Lock()
	defer e.labelMu.Unlock()
	w.ls = e.node
	w.counter(d.descScrapeFailures, float64(failures))
	if err != nil {
		return
	}
	e.gen++
	d.writeNode(w, &snap.Node)
	seen := make(map[string]bool, len(snap.Containers))
	for i := range snap.Containers {
		s := &snap.Containers[i]
		// cAdvisor's id is the cgroup: two targets on one cgroup would
		// make duplicate series, which a scrape must never hold.
		if seen[s.Target.Cgroup] {
			continue
		}
		seen[s.Target.Cgroup] = true
		w.ls = e.labelsOf(s)
		d.writeContainer(w, s)
	}
	// Containers gone from the sample take their labels with them.
	for k, ls := range e.labels {
		if ls.gen != e.gen {
			delete(e.labels, k)
		}
	}
	w.ls = e.node
	w.counter(d.descSamples, float64(snap.Totals.Samples))
	w.counter(d.descNodeErrors, float64(snap.Totals.NodeErrors))
	w.counter(d.descDiskErrors, float64(snap.Totals.DiskErrors))
	for _, r := range []string{metrics.ReasonVanished, metrics.ReasonInvalid, metrics.ReasonOther} {
		w.counterWith(d.descContainerErrors, float64(snap.Totals.ContainerErrors[r]), "reason", r)
	}
	w.gauge(d.descContainers, float64(len(snap.Containers)))
	w.gauge(d.descSampleDuration, snap.Duration.Seconds())
	w.gauge(d.descSampleAge, max(0, e.cfg.Now().Sub(snap.Time).Seconds()))
	w.gauge(d.descScrapeDuration, time.Since(start).Seconds())
}

// containerLabels are cAdvisor's: the cgroup path as id, the name, the
// image, and the app as a container label.
func containerLabels() []string { return []string{"id", "name", "image", "container_label_app"} }

// labelsOf returns the label pairs of s's container, made at its
// first scrape; called with labelMu held.
func (e *Exporter) labelsOf(s *metrics.ContainerSample) *labelSet {
	t := &s.Target
	k := labelKey{t.Cgroup, t.Name, t.Image, t.App}
	ls, ok := e.labels[k]
	if !ok {
		ls = newLabelSet(containerLabels(), []string{t.Cgroup, t.Name, t.Image, t.App})
		e.labels[k] = ls
	}
	ls.gen = e.gen
	return ls
}

func (d *descs) writeContainer(w *writer, s *metrics.ContainerSample) {
	w.counterWith(d.descCPUUsage, s.CPU.Usage.Seconds(), "cpu", "total")
	w.counter(d.descCPUUser, s.CPU.User.Seconds())
	w.counter(d.descCPUSystem, s.CPU.System.Seconds())
	if s.CPU.QuotaMicros >= 0 {
		w.counter(d.descCFSPeriods, float64(s.CPU.Periods))
		w.counter(d.descCFSThrottledPeriods, float64(s.CPU.ThrottledPeriods))
		w.counter(d.descCFSThrottledSeconds, s.CPU.Throttled.Seconds())
		w.gauge(d.descSpecCPUQuota, float64(s.CPU.QuotaMicros))
		w.gauge(d.descSpecCPUPeriod, float64(s.CPU.PeriodMicros))
	}

	m := &s.Memory
	w.gauge(d.descMemUsage, float64(m.Usage))
	w.gauge(d.descMemWorkingSet, float64(m.WorkingSet))
	w.gauge(d.descMemCache, float64(m.Cache))
	w.gauge(d.descMemRSS, float64(m.RSS))
	w.gauge(d.descMemSwap, float64(m.Swap))
	w.gauge(d.descMemMapped, float64(m.MappedFile))
	w.gauge(d.descSpecMemLimit, limitValue(m.Limit))
	w.counter(d.descOOMEvents, float64(m.OOMKills))

	for _, fs := range uniqueDisks(s.Disks) {
		w.gaugeWith(d.descFSUsage, float64(fs.Used), "device", fs.Device)
		w.gaugeWith(d.descFSLimit, float64(fs.Total), "device", fs.Device)
		w.gaugeWith(d.descFSInodes, float64(fs.Inodes), "device", fs.Device)
		w.gaugeWith(d.descFSInodesFree, float64(fs.InodesFree), "device", fs.Device)
	}
	for _, io := range s.IO {
		w.counterWith(d.descFSReadBytes, float64(io.ReadBytes), "device", io.Device)
		w.counterWith(d.descFSWriteBytes, float64(io.WriteBytes), "device", io.Device)
		w.counterWith(d.descFSReads, float64(io.ReadOps), "device", io.Device)
		w.counterWith(d.descFSWrites, float64(io.WriteOps), "device", io.Device)
	}
	for _, n := range s.Net {
		if n.Name == "lo" {
			continue // as cAdvisor: loopback traffic is not the container's
		}
		w.counterWith(d.descNetRxBytes, float64(n.RxBytes), "interface", n.Name)
		w.counterWith(d.descNetRxPackets, float64(n.RxPackets), "interface", n.Name)
		w.counterWith(d.descNetRxErrors, float64(n.RxErrors), "interface", n.Name)
		w.counterWith(d.descNetRxDropped, float64(n.RxDropped), "interface", n.Name)
		w.counterWith(d.descNetTxBytes, float64(n.TxBytes), "interface", n.Name)
		w.counterWith(d.descNetTxPackets, float64(n.TxPackets), "interface", n.Name)
		w.counterWith(d.descNetTxErrors, float64(n.TxErrors), "interface", n.Name)
		w.counterWith(d.descNetTxDropped, float64(n.TxDropped), "interface", n.Name)
	}
	w.gaugeWith(d.descTCPUsage, float64(s.TCP.InUse), "tcp_state", "inuse")
	w.gaugeWith(d.descTCPUsage, float64(s.TCP.TimeWait), "tcp_state", "timewait")
	w.gaugeWith(d.descTCP6Usage, float64(s.TCP.InUse6), "tcp_state", "inuse")

	w.gauge(d.descProcesses, float64(s.Processes.Processes))
	w.gauge(d.descThreads, float64(s.Processes.Threads))
	w.gauge(d.descThreadsMax, limitValue(s.Processes.PidsLimit))
	w.gauge(d.descFDs, float64(s.Processes.FDs))

	if p := s.Pressure; p != nil {
		w.counter(d.descPSICPUWaiting, p.CPU.Some.Total.Seconds())
		w.counter(d.descPSICPUStalled, p.CPU.Full.Total.Seconds())
		w.counter(d.descPSIMemWaiting, p.Memory.Some.Total.Seconds())
		w.counter(d.descPSIMemStalled, p.Memory.Full.Total.Seconds())
		w.counter(d.descPSIIOWaiting, p.IO.Some.Total.Seconds())
		w.counter(d.descPSIIOStalled, p.IO.Full.Total.Seconds())
	}
	w.gauge(d.descLastSeen, float64(s.Time.Unix()))
	w.counter(d.descResets, float64(s.Resets))
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
	if len(ds) < 2 {
		return ds
	}
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

func (d *descs) writeNode(w *writer, n *metrics.NodeSample) {
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
		w.counterWith(d.descNodeCPU, m.d.Seconds(), "mode", m.mode)
	}
	w.gauge(d.descNodeCPUs, float64(n.CPUs))
	w.gauge(d.descNodeMemTotal, float64(n.Memory.MemTotal))
	w.gauge(d.descNodeMemAvailable, float64(n.Memory.MemAvailable))
	w.gauge(d.descNodeMemFree, float64(n.Memory.MemFree))
	w.gauge(d.descNodeLoad1, n.Load1)
	w.gauge(d.descNodeLoad5, n.Load5)
	w.gauge(d.descNodeLoad15, n.Load15)
	w.gauge(d.descNodeThreads, float64(n.Threads))
	w.gauge(d.descNodeMaxThreads, float64(n.ThreadsMax))
	w.gauge(d.descNodeMaxProcesses, float64(n.PidMax))
	if n.Conntrack != nil {
		w.gauge(d.descNodeConntrack, float64(n.Conntrack.Used))
		w.gauge(d.descNodeConntrackMax, float64(n.Conntrack.Max))
	}
	w.gauge(d.descNodeFilefd, float64(n.Files.Used))
	w.gauge(d.descNodeFilefdMax, float64(n.Files.Max))
	w.gauge(d.descNodeTCPInuse, float64(n.TCP.InUse))
	w.gauge(d.descNodeTCPTW, float64(n.TCP.TimeWait))
	w.gauge(d.descNodeTCPOrphan, float64(n.TCP.Orphaned))
	w.gauge(d.descNodeTCPAlloc, float64(n.TCP.Alloc))
}
