package metrics

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/sync/errgroup"

	"github.com/shoalkit/shoal/cgroupx"
)

// Config configures a Collector. The zero value is the default.
type Config struct {
	// Root is where /proc and /sys are read; default "/". Tests point it
	// at a fake tree (with Host opened on the same tree).
	Root string
	// Host is the cgroup host containers are opened on; default
	// cgroupx.NewHost with cgroupx.WithRoot(Root).
	Host *cgroupx.Host
	// Concurrency is how many containers are read at once; default 4.
	Concurrency int
	// Interval is the period of Run; default 10 s.
	Interval time.Duration
	// DiskInterval is how often a container's file system usage is
	// refreshed (statfs of every mount it sees); samples in between reuse
	// the last figures. Default 1 minute; negative turns disk usage off.
	DiskInterval time.Duration
	// DiskTimeout is how long a sample waits for the statfs calls of one
	// container's mounts, which run on goroutines of their own: a mount
	// that has not answered by then (a network or FUSE file system whose
	// server hangs) is left out and counted in Totals.DiskErrors, and
	// while its statfs is outstanding its file system is skipped (and
	// counted) at every refresh. Default 1 s: a statfs answers in
	// microseconds from a local file system, milliseconds from a healthy
	// network one, and a sample should not wait for a scrape's timeout.
	DiskTimeout time.Duration
	// LimitInterval is how often limits are read again: a container's
	// CPU quota and cpuset, its memory limit walked up a cgroup2 tree
	// (cgroup v1 reports it in memory.stat, read every sample) and
	// pids.max; the node's kernel.pid_max, kernel.threads-max and
	// nf_conntrack_max (and whether the conntrack module is loaded).
	// Samples in between reuse them. Default 1 minute; negative reads
	// them at every sample. LimitsChanged makes the next sample read them
	// whatever the interval.
	LimitInterval time.Duration
	// FDInterval is how often a container's open file descriptors are
	// counted (one stat of /proc/<pid>/fd per process, the only read per
	// process); samples in between reuse the count. Default 30 s;
	// negative turns fd counting off (FDs stays 0).
	FDInterval time.Duration
	// Sinks receive every snapshot Run takes, in order, on Run's
	// goroutine; they must not block (a Graphite writer queues).
	Sinks []Sink
	// Logger receives what the collector survives; nil discards it.
	Logger *slog.Logger
	// Now is the clock; default time.Now.
	Now func() time.Time
}

// DefaultConfig returns the defaults spelled out.
func DefaultConfig() Config {
	return Config{
		Root: "/", Concurrency: 4, Interval: 10 * time.Second,
		DiskInterval: time.Minute, DiskTimeout: time.Second, LimitInterval: time.Minute, FDInterval: 30 * time.Second,
	}
}

// withDefaults fills the zero fields.
func (c Config) withDefaults() Config {
	d := DefaultConfig()
	if c.Root == "" {
		c.Root = d.Root
	}
	if c.Concurrency == 0 {
		c.Concurrency = d.Concurrency
	}
	if c.Interval == 0 {
		c.Interval = d.Interval
	}
	if c.DiskInterval == 0 {
		c.DiskInterval = d.DiskInterval
	}
	if c.DiskTimeout == 0 {
		c.DiskTimeout = d.DiskTimeout
	}
	if c.LimitInterval == 0 {
		c.LimitInterval = d.LimitInterval
	}
	if c.FDInterval == 0 {
		c.FDInterval = d.FDInterval
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	if c.Now == nil {
		c.Now = time.Now
	}
	return c
}

// Sink receives snapshots from Collector.Run.
type Sink interface {
	// Observe is called with every snapshot and must return quickly. The
	// snapshot is never modified afterwards, so a sink may keep it.
	Observe(s *Snapshot)
}

// Collector samples a set of containers and the node. Containers are added
// and removed while it runs. Its methods are safe for concurrent use;
// samples are taken one at a time.
type Collector struct {
	cfg       Config
	host      *cgroupx.Host
	logger    *slog.Logger
	procDir   string
	sysDir    string
	fdCounter fdCounter
	disk      *diskProber

	mu         sync.Mutex // guards containers, closed
	containers map[string]*container
	closed     bool

	sampleMu sync.Mutex // held for a whole sample
	node     *node
	totals   Totals

	devMu   sync.Mutex
	devices map[[2]uint32]string

	// latest is the last snapshot Run took, nil while Run is not running:
	// handed to readers on other goroutines without a lock or a copy
	// (a snapshot is never modified once taken).
	latest atomic.Pointer[Snapshot]
}

// New returns a collector with no containers.
func New(ctx context.Context, cfg Config) (*Collector, error) {
	cfg = cfg.withDefaults()
	if cfg.Concurrency < 0 {
		return nil, newError(ErrInvalid, "Config.Concurrency %d is negative", cfg.Concurrency)
	}
	if cfg.Interval < 0 {
		return nil, newError(ErrInvalid, "Config.Interval %v is negative", cfg.Interval)
	}
	if cfg.DiskTimeout < 0 {
		return nil, newError(ErrInvalid, "Config.DiskTimeout %v is negative", cfg.DiskTimeout)
	}
	host := cfg.Host
	if host == nil {
		var err error
		if host, err = cgroupx.NewHost(ctx, cgroupx.WithRoot(cfg.Root)); err != nil {
			return nil, wrapError(ErrInvalid, err, "open cgroup host at %s", cfg.Root)
		}
	}
	procDir := filepath.Join(cfg.Root, "proc")
	return &Collector{
		cfg: cfg, host: host, logger: cfg.Logger,
		procDir: procDir, sysDir: filepath.Join(cfg.Root, "sys"),
		fdCounter:  newFDCounter(procDir),
		disk:       newDiskProber(cfg.DiskTimeout),
		containers: map[string]*container{},
		node:       newNode(cfg.Root),
		totals:     Totals{ContainerErrors: map[string]uint64{}},
		devices:    map[[2]uint32]string{},
	}, nil
}

// Add starts collecting t. Its cgroup is opened at the next sample, so a
// container that does not exist yet is not an error here.
func (c *Collector) Add(t Target) error {
	if t.ID == "" {
		return newError(ErrInvalid, "target without an ID (cgroup %q)", t.Cgroup)
	}
	if t.Cgroup == "" {
		return newError(ErrInvalid, "target %s without a cgroup", t.ID)
	}
	if t.PID < 0 {
		return newError(ErrInvalid, "target %s: pid %d", t.ID, t.PID)
	}
	if t.Name == "" {
		t.Name = t.ID
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed {
		return newError(ErrClosed, "add target %s", t.ID)
	}
	if _, ok := c.containers[t.ID]; ok {
		return newError(ErrConflict, "target %s is already collected", t.ID)
	}
	c.containers[t.ID] = &container{target: t, start: c.cfg.Now()}
	return nil
}

// Remove stops collecting the target with id, and reports whether it was
// collected.
func (c *Collector) Remove(id string) bool {
	c.mu.Lock()
	ct, ok := c.containers[id]
	delete(c.containers, id)
	c.mu.Unlock()
	if ok {
		// A sample may be reading it: close under the sample lock.
		c.sampleMu.Lock()
		ct.close()
		c.sampleMu.Unlock()
	}
	return ok
}

// LimitsChanged makes the next sample read the limits of the targets
// with ids (CPU quota and cpuset, memory limit, pids.max) whatever
// LimitInterval says; with no ids, those of every target and the node's.
// Call it after changing a container's limits, so that CPUPercent and the
// exported limits follow at once.
func (c *Collector) LimitsChanged(ids ...string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if len(ids) == 0 {
		for _, ct := range c.containers {
			ct.limitsStale.Store(true)
		}
		c.node.limitsStale.Store(true)
		return
	}
	for _, id := range ids {
		if ct, ok := c.containers[id]; ok {
			ct.limitsStale.Store(true)
		}
	}
}

// Targets returns the targets collected, sorted by ID.
func (c *Collector) Targets() []Target {
	c.mu.Lock()
	defer c.mu.Unlock()
	out := make([]Target, 0, len(c.containers))
	for _, ct := range c.containers {
		out = append(out, ct.target)
	}
	slices.SortFunc(out, func(a, b Target) int { return cmpString(a.ID, b.ID) })
	return out
}

func cmpString(a, b string) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

// Sample takes one snapshot of the node and every container now. A
// container that fails is left out of the snapshot with a counted error;
// Sample itself fails only when ctx is done or the collector is closed.
func (c *Collector) Sample(ctx context.Context) (*Snapshot, error) {
	c.sampleMu.Lock()
	defer c.sampleMu.Unlock()
	c.mu.Lock()
	if c.closed {
		c.mu.Unlock()
		return nil, newError(ErrClosed, "sample")
	}
	cs := make([]*container, 0, len(c.containers))
	for _, ct := range c.containers {
		cs = append(cs, ct)
	}
	c.mu.Unlock()
	slices.SortFunc(cs, func(a, b *container) int { return cmpString(a.target.ID, b.target.ID) })

	start := c.cfg.Now()
	snap := &Snapshot{Time: start}
	var nodeErrs int
	snap.Node, nodeErrs = c.node.sample(ctx, c, start)
	c.totals.NodeErrors += uint64(nodeErrs)

	samples := make([]ContainerSample, len(cs))
	errs := make([]error, len(cs))
	// Concurrency workers take the containers in turn: a goroutine per
	// container would cost more than reading a small one. One worker
	// reads on this goroutine.
	workers := min(max(c.cfg.Concurrency, 1), len(cs))
	var next atomic.Int64
	work := func() error {
		for {
			i := int(next.Add(1) - 1)
			if i >= len(cs) {
				return nil
			}
			samples[i], errs[i] = cs[i].sample(ctx, c, c.cfg.Now())
		}
	}
	if workers <= 1 {
		_ = work()
	} else {
		var g errgroup.Group
		g.SetLimit(workers)
		for range workers {
			g.Go(work)
		}
		_ = g.Wait()
	}
	if err := ctx.Err(); err != nil {
		return nil, wrapError(ErrCanceled, err, "sample interrupted")
	}
	snap.Containers = make([]ContainerSample, 0, len(cs))
	for i, ct := range cs {
		c.totals.DiskErrors += uint64(ct.diskErrs) //nolint:gosec // a count
		ct.diskErrs = 0
		if errs[i] == nil {
			snap.Containers = append(snap.Containers, samples[i])
			continue
		}
		reason := errorReason(errs[i])
		c.totals.ContainerErrors[reason]++
		snap.Errors = append(snap.Errors, SampleError{ID: ct.target.ID, Reason: reason, Err: errs[i]})
		c.logger.Debug("container left out of sample", "id", ct.target.ID, "reason", reason, "err", errs[i])
	}
	c.totals.Samples++
	snap.Totals = Totals{Samples: c.totals.Samples, NodeErrors: c.totals.NodeErrors, DiskErrors: c.totals.DiskErrors, ContainerErrors: make(map[string]uint64, len(c.totals.ContainerErrors))}
	for k, v := range c.totals.ContainerErrors {
		snap.Totals.ContainerErrors[k] = v
	}
	snap.Duration = c.cfg.Now().Sub(start)
	return snap, nil
}

// The reasons a container is left out of a sample.
const (
	ReasonVanished = "vanished"
	ReasonInvalid  = "invalid"
	ReasonOther    = "other"
)

func errorReason(err error) string {
	switch {
	case vanished(err) || errors.Is(err, cgroupx.ErrNotFound):
		return ReasonVanished
	case errors.Is(err, ErrInvalid) || errors.Is(err, cgroupx.ErrInvalid):
		return ReasonInvalid
	}
	return ReasonOther
}

// Run samples every Interval and hands each snapshot to the Sinks, until
// ctx is done; then it returns ctx's error. While it runs, Latest returns
// its last snapshot. One Run at a time: a second one would interleave its
// samples with the first's.
func (c *Collector) Run(ctx context.Context) error {
	t := time.NewTicker(c.cfg.Interval)
	defer t.Stop()
	defer c.latest.Store(nil)
	for {
		snap, err := c.Sample(ctx)
		switch {
		case ctx.Err() != nil:
			return ctx.Err()
		case err != nil:
			return err
		}
		c.latest.Store(snap)
		for _, s := range c.cfg.Sinks {
			s.Observe(snap)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-t.C:
		}
	}
}

// Latest returns the last snapshot Run took, or nil when Run is not
// running or has not finished its first sample. It costs one atomic load
// and may be called from any goroutine; the snapshot is shared, so it
// must not be modified. Its age is the caller's to judge from
// Snapshot.Time (an exporter serves it while it is young enough).
func (c *Collector) Latest() *Snapshot { return c.latest.Load() }

// Close releases every file the collector keeps open. It is idempotent;
// calls after it return errors wrapping ErrClosed.
func (c *Collector) Close() error {
	c.mu.Lock()
	if c.closed {
		c.mu.Unlock()
		return nil
	}
	c.closed = true
	cs := c.containers
	c.containers = map[string]*container{}
	c.mu.Unlock()
	c.sampleMu.Lock()
	defer c.sampleMu.Unlock()
	for _, ct := range cs {
		ct.close()
	}
	c.node.close()
	return nil
}

// maxDevices bounds the device-name cache.
const maxDevices = 4096

// deviceName returns /dev/<name> of a block device from
// /sys/dev/block/<major>:<minor>, cached.
func (c *Collector) deviceName(major, minor uint32) string {
	key := [2]uint32{major, minor}
	c.devMu.Lock()
	defer c.devMu.Unlock()
	if n, ok := c.devices[key]; ok {
		return n
	}
	id := strconv.FormatUint(uint64(major), 10) + ":" + strconv.FormatUint(uint64(minor), 10)
	name := id
	if link, err := os.Readlink(filepath.Join(c.sysDir, "dev", "block", id)); err == nil {
		name = "/dev/" + filepath.Base(link)
	}
	if len(c.devices) < maxDevices {
		c.devices[key] = name
	}
	return name
}
