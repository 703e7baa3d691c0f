package activity

import (
	"cmp"
	"math"
	"slices"
	"sync"
	"time"

	"github.com/shoalkit/shoal/metrics"
)

// Weights weigh the six usages in the score. Only their ratios matter.
type Weights struct {
	CPU, Memory, Disk, Conns, NetIn, NetOut float64
}

// Config configures a Tracker. The zero value is the default.
type Config struct {
	// Weights of the score; the zero value means DefaultConfig's (3, 2, 1,
	// 2, 1, 1). Negative weights, or all zero after defaults, are refused.
	Weights Weights
	// ConnsFull is the TCP connection count that counts as fully busy;
	// default 1000.
	ConnsFull float64
	// NetFull is the bytes per second, each way, that count as fully busy;
	// default 1 MiB/s.
	NetFull float64
	// StaleAfter is how many snapshots in a row a container may be missing
	// from before it is stale; default 3.
	StaleAfter int
	// TopN is how many busiest and idlest containers a report lists per
	// app; default 10.
	TopN int
	// MaxContainers bounds the containers tracked (ids come from outside);
	// default 100,000. New ones past it are not tracked.
	MaxContainers int
}

// DefaultConfig returns the defaults spelled out.
func DefaultConfig() Config {
	return Config{
		Weights:   Weights{CPU: 3, Memory: 2, Disk: 1, Conns: 2, NetIn: 1, NetOut: 1},
		ConnsFull: 1000, NetFull: 1 << 20, StaleAfter: 3, TopN: 10, MaxContainers: 100_000,
	}
}

func (c Config) withDefaults() (Config, error) {
	d := DefaultConfig()
	if c.Weights == (Weights{}) {
		c.Weights = d.Weights
	}
	w := c.Weights
	for _, v := range []float64{w.CPU, w.Memory, w.Disk, w.Conns, w.NetIn, w.NetOut} {
		if v < 0 || math.IsNaN(v) || math.IsInf(v, 0) {
			return c, newError(ErrInvalid, "Config.Weights %+v: a weight is negative or not finite", w)
		}
	}
	if c.ConnsFull < 0 || c.NetFull < 0 || c.StaleAfter < 0 || c.TopN < 0 || c.MaxContainers < 0 {
		return c, newError(ErrInvalid, "Config %+v: a negative value", c)
	}
	if c.ConnsFull == 0 {
		c.ConnsFull = d.ConnsFull
	}
	if c.NetFull == 0 {
		c.NetFull = d.NetFull
	}
	if c.StaleAfter == 0 {
		c.StaleAfter = d.StaleAfter
	}
	if c.TopN == 0 {
		c.TopN = d.TopN
	}
	if c.MaxContainers == 0 {
		c.MaxContainers = d.MaxContainers
	}
	return c, nil
}

// Usage is what a container used over its last interval, each field in
// the unit of JD's report.
type Usage struct {
	CPUPercent  float64 `json:"cpuPercent"`  // of the CPUs it may use
	MemPercent  float64 `json:"memPercent"`  // working set of its limit
	DiskPercent float64 `json:"diskPercent"` // of its root file system
	TCPConns    float64 `json:"tcpConns"`    // in use, IPv4 and IPv6
	NetInMBps   float64 `json:"netInMBps"`   // MiB/s received
	NetOutMBps  float64 `json:"netOutMBps"`  // MiB/s sent
}

// Entry is one container in a report.
type Entry struct {
	ID    string  `json:"id"`
	Name  string  `json:"name"`
	App   string  `json:"app"`
	Usage Usage   `json:"usage"`
	Score float64 `json:"score"`
	// LastSeen is the time of its last reading; Missed the snapshots in a
	// row it has been missing from.
	LastSeen time.Time `json:"lastSeen"`
	Missed   int       `json:"missed"`
}

// Score computes a usage's score with cfg's weights and full marks
// (usage and the shares as documented in the package comment).
func Score(u Usage, cfg Config) float64 {
	w := cfg.Weights
	share := func(x, full float64) float64 {
		if full <= 0 || x <= 0 || math.IsNaN(x) {
			return 0
		}
		return min(1, x/full)
	}
	mib := float64(1 << 20)
	sum := w.CPU*share(u.CPUPercent, 100) + w.Memory*share(u.MemPercent, 100) + w.Disk*share(u.DiskPercent, 100) +
		w.Conns*share(u.TCPConns, cfg.ConnsFull) + w.NetIn*share(u.NetInMBps*mib, cfg.NetFull) + w.NetOut*share(u.NetOutMBps*mib, cfg.NetFull)
	total := w.CPU + w.Memory + w.Disk + w.Conns + w.NetIn + w.NetOut
	if total == 0 {
		return 0
	}
	return 100 * sum / total
}

// UsageOf returns a container's usage from its sample; hostMem is the
// node's memory, the limit of a container without one. ok is false when
// the sample has no rates yet.
func UsageOf(s *metrics.ContainerSample, hostMem uint64) (u Usage, ok bool) {
	if !s.Rates.Valid {
		return Usage{}, false
	}
	u.CPUPercent = s.Rates.CPUPercent
	limit := s.Memory.Limit
	if limit == metrics.Unlimited || limit == 0 {
		limit = hostMem
	}
	if limit > 0 {
		u.MemPercent = 100 * float64(s.Memory.WorkingSet) / float64(limit)
	}
	for _, d := range s.Disks {
		if d.MountPoint == "/" && d.Total > 0 {
			u.DiskPercent = 100 * float64(d.Used) / float64(d.Total)
		}
	}
	u.TCPConns = float64(s.TCP.InUse + s.TCP.InUse6)
	u.NetInMBps = s.Rates.NetRx / (1 << 20)
	u.NetOutMBps = s.Rates.NetTx / (1 << 20)
	return u, true
}

// tracked is one container's latest state.
type tracked struct {
	entry  Entry
	ranked bool // has a usage (a second reading)
}

// Tracker keeps every container's latest usage from the snapshots it
// observes. It is safe for concurrent use.
type Tracker struct {
	cfg Config

	mu         sync.Mutex
	containers map[string]*tracked
	last       time.Time
}

var _ metrics.Sink = (*Tracker)(nil)

// New returns a tracker.
func New(cfg Config) (*Tracker, error) {
	cfg, err := cfg.withDefaults()
	if err != nil {
		return nil, err
	}
	return &Tracker{cfg: cfg, containers: map[string]*tracked{}}, nil
}

// Observe takes in a snapshot: containers in it are updated, the others
// miss one more interval.
func (t *Tracker) Observe(s *metrics.Snapshot) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.last = s.Time
	seen := make(map[string]bool, len(s.Containers))
	for i := range s.Containers {
		c := &s.Containers[i]
		seen[c.Target.ID] = true
		tr, ok := t.containers[c.Target.ID]
		if !ok {
			if len(t.containers) >= t.cfg.MaxContainers {
				continue
			}
			tr = &tracked{}
			t.containers[c.Target.ID] = tr
		}
		tr.entry.ID, tr.entry.Name, tr.entry.App = c.Target.ID, c.Target.Name, c.Target.App
		tr.entry.LastSeen, tr.entry.Missed = c.Time, 0
		if u, ok := UsageOf(c, s.Node.Memory.MemTotal); ok {
			tr.entry.Usage, tr.entry.Score, tr.ranked = u, Score(u, t.cfg), true
		}
	}
	for id, tr := range t.containers {
		if !seen[id] {
			tr.entry.Missed++
		}
	}
}

// Forget stops tracking a container (one that was removed on purpose).
func (t *Tracker) Forget(id string) {
	t.mu.Lock()
	defer t.mu.Unlock()
	delete(t.containers, id)
}

// AppRanking is one app's part of a report.
type AppRanking struct {
	App string `json:"app"`
	// Containers counts the app's ranked containers.
	Containers int `json:"containers"`
	// Busiest and Idlest are the TopN highest and lowest scores, the
	// busiest first and the idlest first.
	Busiest []Entry `json:"busiest"`
	Idlest  []Entry `json:"idlest"`
	// Stale containers have reported nothing for StaleAfter intervals:
	// their data report timed out; they are not ranked.
	Stale []Entry `json:"stale"`
}

// Report is the ranking of every app at one time.
type Report struct {
	Time time.Time    `json:"time"`
	Apps []AppRanking `json:"apps"`
}

// Report ranks the containers of every app, apps sorted by name.
func (t *Tracker) Report() Report {
	t.mu.Lock()
	defer t.mu.Unlock()
	byApp := map[string]*AppRanking{}
	ranked := map[string][]Entry{}
	for _, tr := range t.containers {
		app := byApp[tr.entry.App]
		if app == nil {
			app = &AppRanking{App: tr.entry.App}
			byApp[tr.entry.App] = app
		}
		switch {
		case tr.entry.Missed >= t.cfg.StaleAfter:
			app.Stale = append(app.Stale, tr.entry)
		case tr.ranked:
			ranked[tr.entry.App] = append(ranked[tr.entry.App], tr.entry)
		}
	}
	rep := Report{Time: t.last}
	for name, app := range byApp {
		es := ranked[name]
		slices.SortFunc(es, func(a, b Entry) int {
			if c := cmp.Compare(b.Score, a.Score); c != 0 {
				return c
			}
			return cmp.Compare(a.ID, b.ID)
		})
		app.Containers = len(es)
		app.Busiest = slices.Clone(es[:min(t.cfg.TopN, len(es))])
		slices.SortStableFunc(es, func(a, b Entry) int { return cmp.Compare(a.Score, b.Score) })
		app.Idlest = slices.Clone(es[:min(t.cfg.TopN, len(es))])
		slices.SortFunc(app.Stale, func(a, b Entry) int { return cmp.Compare(a.ID, b.ID) })
		rep.Apps = append(rep.Apps, *app)
	}
	slices.SortFunc(rep.Apps, func(a, b AppRanking) int { return cmp.Compare(a.App, b.App) })
	return rep
}
