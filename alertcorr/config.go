package alertcorr

import (
	"log/slog"
	"time"
)

// Config configures an Engine. A zero field means its default, given on
// each field and returned by DefaultConfig.
type Config struct {
	// Route is the routing tree. Default: one route to the receiver
	// "default" with Alertmanager's defaults (no grouping labels, 30 s
	// group_wait, 5 min group_interval, 4 h repeat_interval).
	Route *Route
	// InhibitRules mute target alerts while source alerts fire. Default none.
	InhibitRules []InhibitRule
	// WithoutResolved names receivers that are not sent resolved alerts
	// (Alertmanager's send_resolved: false). Default: every receiver gets
	// them.
	WithoutResolved []string
	// ResolveTimeout is how long an alert without an end time stays firing
	// unless renewed. Default 5 min, as Alertmanager.
	ResolveTimeout time.Duration
	// Retention is how long resolved alerts, expired silences, closed
	// incidents and notification-log entries are kept. Default 120 h, as
	// Alertmanager's data retention.
	Retention time.Duration
	// MaxAlerts bounds the alerts held; beyond it new alerts are refused
	// and counted. Default 4,000,000.
	MaxAlerts int
	// ClockSkew is how far in the future an alert's start may lie before
	// it is clamped to the receive time and counted. Default 1 min.
	ClockSkew time.Duration
	// Topology turns alerts into incidents with their root (see
	// Correlation). Default nil: no correlation, alerts are routed as
	// Alertmanager routes them.
	Topology *Topology
	// Correlation tunes the correlator. Zero fields take the defaults of
	// DefaultCorrelation.
	Correlation Correlation
	// Notifier receives the notifications. Default nil: they are counted
	// and dropped.
	Notifier Notifier
	// SnapshotPath is the file silences, the notification log, alerts and
	// open incidents are saved to and restored from (a FileSnapshot).
	// Default "": nothing survives a restart, unless Snapshot is set.
	SnapshotPath string
	// Snapshot is where the snapshot is kept when it is not a file (etcd
	// in the platform). At most one of SnapshotPath and Snapshot may be
	// set. Default nil.
	Snapshot SnapshotStore
	// MaxSnapshotBytes bounds a snapshot: a larger one is written without
	// its alerts (counted in Stats.SnapshotTrimmed), and the incidents it
	// restores are held open for a resolve timeout while the senders send
	// the alerts again. Default 64 MiB.
	MaxSnapshotBytes int
	// SnapshotInterval is the least time between two snapshots written
	// because notifications went out or incidents changed, so a storm does
	// not rewrite it every tick. A silence set or expired is saved at
	// once, and Close saves. Default 10 s.
	SnapshotInterval time.Duration
	// Tick is how often Run advances the engine. Default 1 s.
	Tick time.Duration
	// Now is the clock. Default time.Now.
	Now func() time.Time
	// Logger receives the engine's log. Default nil: discarded.
	Logger *slog.Logger
}

// DefaultConfig returns the configuration a zero Config stands for.
func DefaultConfig() Config {
	return Config{
		Route:            &Route{Receiver: "default"},
		ResolveTimeout:   5 * time.Minute,
		Retention:        120 * time.Hour,
		MaxAlerts:        4_000_000,
		ClockSkew:        time.Minute,
		Correlation:      DefaultCorrelation(),
		MaxSnapshotBytes: 64 << 20,
		SnapshotInterval: 10 * time.Second,
		Tick:             time.Second,
		Now:              time.Now,
	}
}

// withDefaults fills zero fields and rejects negative ones, naming them.
func (c Config) withDefaults() (Config, error) {
	d := DefaultConfig()
	if c.Route == nil {
		c.Route = d.Route
	}
	durations := []struct {
		name string
		v    *time.Duration
		def  time.Duration
	}{
		{"ResolveTimeout", &c.ResolveTimeout, d.ResolveTimeout},
		{"Retention", &c.Retention, d.Retention},
		{"ClockSkew", &c.ClockSkew, d.ClockSkew},
		{"Tick", &c.Tick, d.Tick},
		{"SnapshotInterval", &c.SnapshotInterval, d.SnapshotInterval},
	}
	for _, f := range durations {
		if *f.v < 0 {
			return c, newError(ErrInvalid, "Config.%s %v is negative", f.name, *f.v)
		}
		if *f.v == 0 {
			*f.v = f.def
		}
	}
	if c.MaxAlerts < 0 {
		return c, newError(ErrInvalid, "Config.MaxAlerts %d is negative", c.MaxAlerts)
	}
	if c.MaxAlerts == 0 {
		c.MaxAlerts = d.MaxAlerts
	}
	if c.MaxSnapshotBytes < 0 {
		return c, newError(ErrInvalid, "Config.MaxSnapshotBytes %d is negative", c.MaxSnapshotBytes)
	}
	if c.MaxSnapshotBytes == 0 {
		c.MaxSnapshotBytes = d.MaxSnapshotBytes
	}
	if c.SnapshotPath != "" && c.Snapshot != nil {
		return c, newError(ErrInvalid, "Config.SnapshotPath %q and Config.Snapshot are both set", c.SnapshotPath)
	}
	corr, err := c.Correlation.withDefaults()
	if err != nil {
		return c, err
	}
	c.Correlation = corr
	if c.Now == nil {
		c.Now = d.Now
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	return c, nil
}
