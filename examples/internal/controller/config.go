package controller

import (
	"context"
	"errors"
	"log/slog"
	"net/http"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/shoalkit/shoal/internal/errs"
)

// Sentinel kinds of the controller's errors; each API problem carries a
// stable code derived from one of them.
var (
	// ErrInvalid reports bad input; the message names the field.
	ErrInvalid = errors.New("controller: invalid")
	// ErrNotFound reports an unknown app, instance, node or network.
	ErrNotFound = errors.New("controller: not found")
	// ErrConflict reports a duplicate name or a change racing another.
	ErrConflict = errors.New("controller: conflict")
	// ErrUnschedulable reports a placement that cannot be met; the message
	// says why not.
	ErrUnschedulable = errors.New("controller: unschedulable")
	// ErrQuota reports a team quota a change would exceed.
	ErrQuota = errors.New("controller: quota exceeded")
	// ErrNotLeader reports a change asked of a controller that does not
	// lead; the caller retries at the leader.
	ErrNotLeader = errors.New("controller: not the leader")
	// ErrUnavailable reports a dependency (etcd, an agent, a registry)
	// that did not answer.
	ErrUnavailable = errors.New("controller: unavailable")
)

func newError(kind error, format string, args ...any) error {
	return errs.New("controller", kind, format, args...)
}

func wrapError(kind, cause error, format string, args ...any) error {
	return errs.Wrap("controller", kind, cause, format, args...)
}

// Config is what a controller runs with.
type Config struct {
	// Etcd is the platform's store; required.
	Etcd *clientv3.Client
	// Name identifies this controller in the election and in events;
	// empty means "controller".
	Name string
	// Advertise is this controller's API address, given to callers that
	// asked a follower to change something.
	Advertise string
	// SessionTTL is the leader's lease: a leader that stops answering is
	// replaced after about this long. Zero means 5 s.
	SessionTTL time.Duration
	// NodeGrace is how long a node may be gone before its instances are
	// placed elsewhere. Zero means 30 s.
	NodeGrace time.Duration
	// Resync is how often the leader reconciles without a change. Zero
	// means 5 s.
	Resync time.Duration
	// MaxTxnOps is the largest number of operations one etcd transaction
	// may hold (etcd's --max-txn-ops); a deploy is written in batches of
	// that size. Zero means 128, etcd's default.
	MaxTxnOps int
	// MaxEvents is how many events the controller keeps in memory for
	// queries. Zero means 50,000.
	MaxEvents int
	// EventRetention is how long events live in etcd. Zero means 24 h.
	EventRetention time.Duration
	// CheckImage reports whether an image exists, before anything is
	// placed; nil checks nothing (the agents report ImageNotFound).
	CheckImage func(ctx context.Context, ref string) error
	// PredistributeTimeout bounds putting an image on the chosen nodes
	// before their instances are written; zero means 5 min.
	PredistributeTimeout time.Duration
	// AutoscaleInterval is how often the leader decides for each app with
	// an autoscale spec; zero means 15 s.
	AutoscaleInterval time.Duration
	// AccountInterval is how often the leader adds up each app's usage for
	// showback; zero means 1 min.
	AccountInterval time.Duration
	// ActivityInterval is how often every controller measures every
	// instance (Metrics, one pass over all apps) for the autoscale loop,
	// usage, the ranking and the apps' history; zero means 10 s, or
	// AutoscaleInterval or AccountInterval when shorter.
	ActivityInterval time.Duration
	// ActivityWindow is how much history is kept per app; zero means
	// 30 min (at most 2,000 samples are kept, whatever the window).
	ActivityWindow time.Duration
	// AlertsURL is alertcorr's API (alertd, or the pilot's), whose
	// incidents GET /v1/incidents passes on; empty means none.
	AlertsURL string
	// Metrics measures the instances; nil means AgentMetrics over
	// AgentClient.
	Metrics MetricsSource
	// AgentClient talks to the agents (pre-distribution, metrics); nil
	// means a client with a 30 s timeout.
	AgentClient *http.Client
	// Logger receives what the controller does; nil discards it.
	Logger *slog.Logger
	// Now is the clock; nil means time.Now.
	Now func() time.Time
}

func (c *Config) withDefaults() (Config, error) {
	out := *c
	switch {
	case c.Etcd == nil:
		return out, newError(ErrInvalid, "Config.Etcd is nil")
	case c.SessionTTL < 0 || c.NodeGrace < 0 || c.Resync < 0 || c.EventRetention < 0 || c.PredistributeTimeout < 0 || c.AutoscaleInterval < 0 || c.AccountInterval < 0 || c.ActivityInterval < 0 || c.ActivityWindow < 0:
		return out, newError(ErrInvalid, "a negative duration in Config")
	case c.SessionTTL > 0 && c.SessionTTL < time.Second:
		return out, newError(ErrInvalid, "Config.SessionTTL %v below 1 s (etcd's lease granularity)", c.SessionTTL)
	case c.MaxTxnOps < 0 || (c.MaxTxnOps > 0 && c.MaxTxnOps < 4):
		return out, newError(ErrInvalid, "Config.MaxTxnOps %d, want 0 or at least 4", c.MaxTxnOps)
	case c.MaxEvents < 0:
		return out, newError(ErrInvalid, "Config.MaxEvents %d is negative", c.MaxEvents)
	}
	def := func(d *time.Duration, v time.Duration) {
		if *d == 0 {
			*d = v
		}
	}
	def(&out.SessionTTL, 5*time.Second)
	def(&out.NodeGrace, 30*time.Second)
	def(&out.Resync, 5*time.Second)
	def(&out.EventRetention, 24*time.Hour)
	def(&out.PredistributeTimeout, 5*time.Minute)
	def(&out.AutoscaleInterval, 15*time.Second)
	def(&out.AccountInterval, time.Minute)
	def(&out.ActivityInterval, min(10*time.Second, out.AutoscaleInterval, out.AccountInterval))
	def(&out.ActivityWindow, 30*time.Minute)
	if out.Name == "" {
		out.Name = "controller"
	}
	if out.MaxTxnOps == 0 {
		out.MaxTxnOps = 128
	}
	if out.MaxEvents == 0 {
		out.MaxEvents = 50000
	}
	if out.AgentClient == nil {
		out.AgentClient = &http.Client{Timeout: 30 * time.Second}
	}
	if out.Metrics == nil {
		out.Metrics = &AgentMetrics{Client: out.AgentClient}
	}
	if out.Logger == nil {
		out.Logger = slog.New(slog.DiscardHandler)
	}
	if out.Now == nil {
		out.Now = time.Now
	}
	return out, nil
}
