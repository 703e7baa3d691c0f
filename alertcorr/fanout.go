package alertcorr

import (
	"context"
	"log/slog"
	"slices"
	"sync"
	"time"

	"golang.org/x/sync/errgroup"
)

// FanOutTarget is one destination of a FanOut.
type FanOutTarget struct {
	// Name identifies the target in Stats and logs, e.g. its URL.
	Name string
	// Receiver restricts the target to the notifications of that route
	// receiver; empty takes every notification.
	Receiver string
	// Notifier delivers to it.
	Notifier Notifier
	// QueueSize overrides FanOutConfig.QueueSize for this target when
	// positive.
	QueueSize int
}

// FanOutConfig tunes a FanOut. A zero field means its default.
type FanOutConfig struct {
	// QueueSize bounds each target's queue; when it is full the oldest
	// notification is dropped (a newer one for the same group supersedes
	// it) and counted. Default 1,024.
	QueueSize int
	// Attempts is how often a notification is tried before it is given
	// up and counted. Default 3.
	Attempts int
	// Backoff is the wait after the first failed attempt, doubled after
	// each further one. Default 1 s.
	Backoff time.Duration
	// Timeout bounds one attempt. Default 30 s.
	Timeout time.Duration
	// Logger receives delivery failures. Default nil: discarded.
	Logger *slog.Logger
}

// FanOutStats count one target's deliveries.
type FanOutStats struct {
	Name      string
	Receiver  string
	Sent      uint64 // notifications delivered
	Failures  uint64 // attempts that failed
	GaveUp    uint64 // notifications dropped after the last attempt failed
	Dropped   uint64 // notifications dropped because the queue was full
	Queued    int    // notifications waiting now
	LastError string // the last failure, or ""
}

// FanOut is a Notifier that hands every notification to several targets,
// each with a bounded queue and a goroutine of its own (Run starts them),
// so a slow or failing target never holds up the others or the engine:
// Notify only queues and never blocks. The price is that the engine
// counts a notification as sent once queued: a target that gives up
// after its attempts loses it, counted in Stats, and queued notifications
// do not survive a restart.
type FanOut struct {
	cfg     FanOutConfig
	targets []*fanTarget
	mu      sync.Mutex
	dropped uint64 // notifications no target took
}

type fanTarget struct {
	FanOutTarget
	queue chan *Notification
	mu    sync.Mutex
	stats FanOutStats
}

var _ Notifier = (*FanOut)(nil)

// NewFanOut returns a FanOut over targets; Run must run for anything to be
// delivered.
func NewFanOut(cfg FanOutConfig, targets ...FanOutTarget) (*FanOut, error) {
	if cfg.QueueSize < 0 || cfg.Attempts < 0 || cfg.Backoff < 0 || cfg.Timeout < 0 {
		return nil, newError(ErrInvalid, "FanOutConfig %+v has a negative field", cfg)
	}
	if cfg.QueueSize == 0 {
		cfg.QueueSize = 1024
	}
	if cfg.Attempts == 0 {
		cfg.Attempts = 3
	}
	if cfg.Backoff == 0 {
		cfg.Backoff = time.Second
	}
	if cfg.Timeout == 0 {
		cfg.Timeout = 30 * time.Second
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	f := &FanOut{cfg: cfg}
	for i, t := range targets {
		if t.Notifier == nil {
			return nil, newError(ErrInvalid, "fan-out target %d (%s) has no Notifier", i, truncate(t.Name))
		}
		size := cfg.QueueSize
		if t.QueueSize > 0 {
			size = t.QueueSize
		}
		f.targets = append(f.targets, &fanTarget{FanOutTarget: t, queue: make(chan *Notification, size), stats: FanOutStats{Name: t.Name, Receiver: t.Receiver}})
	}
	return f, nil
}

// Notify queues a copy of n for every target that takes its receiver. It
// never blocks and never fails; what a full queue drops is counted.
func (f *FanOut) Notify(_ context.Context, n *Notification) error {
	cp := *n
	cp.Alerts = slices.Clone(n.Alerts)
	taken := false
	for _, t := range f.targets {
		if t.Receiver != "" && t.Receiver != n.Receiver {
			continue
		}
		taken = true
		t.enqueue(&cp)
	}
	if !taken {
		f.mu.Lock()
		f.dropped++
		f.mu.Unlock()
	}
	return nil
}

// enqueue adds n, dropping the oldest queued notification when full. Only
// Notify sends on the queue, so after one is dropped there is room.
func (t *fanTarget) enqueue(n *Notification) {
	for {
		select {
		case t.queue <- n:
			return
		default:
		}
		select {
		case <-t.queue:
			t.mu.Lock()
			t.stats.Dropped++
			t.mu.Unlock()
		default:
		}
	}
}

// Run delivers until ctx ends, one goroutine per target.
func (f *FanOut) Run(ctx context.Context) error {
	g, ctx := errgroup.WithContext(ctx)
	for _, t := range f.targets {
		g.Go(func() error {
			f.deliver(ctx, t)
			return nil
		})
	}
	return g.Wait()
}

// deliver sends t's queue in order, each notification tried up to
// Attempts times with a doubling backoff.
func (f *FanOut) deliver(ctx context.Context, t *fanTarget) {
	for {
		var n *Notification
		select {
		case <-ctx.Done():
			return
		case n = <-t.queue:
		}
		wait := f.cfg.Backoff
		for attempt := 1; ; attempt++ {
			actx, cancel := context.WithTimeout(ctx, f.cfg.Timeout)
			err := t.Notifier.Notify(actx, n)
			cancel()
			t.mu.Lock()
			if err == nil {
				t.stats.Sent++
				t.mu.Unlock()
				break
			}
			t.stats.Failures++
			t.stats.LastError = err.Error()
			giveUp := attempt >= f.cfg.Attempts || ctx.Err() != nil
			if giveUp {
				t.stats.GaveUp++
			}
			t.mu.Unlock()
			f.cfg.Logger.Warn("alertcorr: notification failed", "target", t.Name, "group", n.GroupKey, "attempt", attempt, "err", err)
			if giveUp {
				break
			}
			timer := time.NewTimer(wait)
			select {
			case <-ctx.Done():
				timer.Stop()
				return
			case <-timer.C:
			}
			wait *= 2
		}
	}
}

// Stats returns each target's counters, in the order given to NewFanOut,
// and how many notifications no target took.
func (f *FanOut) Stats() (targets []FanOutStats, unrouted uint64) {
	for _, t := range f.targets {
		t.mu.Lock()
		s := t.stats
		t.mu.Unlock()
		s.Queued = len(t.queue)
		targets = append(targets, s)
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	return targets, f.dropped
}
