package alertcorr

import (
	"context"
	"slices"
	"sync"
	"time"
)

// Notifier delivers notifications to receivers. Notify is called from one
// goroutine at a time (Advance's caller) without the engine's lock held.
type Notifier interface {
	Notify(ctx context.Context, n *Notification) error
}

// Stats count what the engine received, absorbed and sent.
type Stats struct {
	Received        uint64 // alerts accepted
	Invalid         uint64 // alerts refused as malformed
	Refused         uint64 // alerts refused because MaxAlerts was reached
	Duplicates      uint64 // alerts that repeated a stored one unchanged
	ClockSkew       uint64 // alerts starting in the future, clamped
	UnknownEntity   uint64 // alerts naming an entity the topology lacks
	Notifications   uint64 // notifications delivered
	NotifyFailures  uint64 // notifications a receiver refused (retried)
	IncidentsOpened uint64
	IncidentsClosed uint64
	SnapshotErrors  uint64
	SnapshotTrimmed uint64 // snapshots written without their alerts (too large)
}

// storedAlert is an alert with what the engine knows about it.
type storedAlert struct {
	a         *Alert
	fp        Fingerprint
	ent       int32
	firstSeen time.Time
	// unreachable: its alertname says its host cannot be reached (its
	// labels never change, so this is decided once).
	unreachable bool
	// timerAt is when the engine's timer for this alert is due (zero:
	// none pending).
	timerAt time.Time
	// corrIn says whether the last correlation round took the alert, as
	// corrM.
	corrIn bool
	corrM  member
}

// Engine receives alerts, mutes them with silences and inhibit rules,
// correlates them into incidents over the topology (when there is one) and
// routes, groups and notifies as Alertmanager does. All its methods are
// safe for concurrent use; time only moves through Advance (or Run), so a
// test steps the clock it injected.
type Engine struct {
	cfg     Config
	route   *routeNode
	unreach map[string]bool

	mu         sync.Mutex
	closed     bool
	alerts     map[Fingerprint]*storedAlert
	silences   *silences
	inhibit    *inhibitor
	disp       *dispatcher
	incidents  map[entityKey]*Incident // open, by root
	closedInc  []*Incident             // resolved, kept for Retention
	suppress   map[Fingerprint]time.Time
	incAlerts  map[string]Fingerprint    // incident id → its alert in the dispatcher
	incidentOf map[Fingerprint]entityKey // alert → the open incident it is a member of
	dirty      bool                      // correlation input changed
	nextEval   time.Time                 // when time alone changes the input
	topoGen    uint64                    // the topology generation last correlated
	persist    bool                      // state to save changed
	persistNow bool                      // and it must be saved without waiting
	corr       corrState                 // what the last correlation found
	stats      Stats

	holdUntil time.Time // restored incidents stay open until then
	nextGC    time.Time // when gc runs next

	sendMu sync.Mutex // one Advance at a time

	store    SnapshotStore
	saveMu   sync.Mutex // one store write at a time
	saveSeq  uint64     // snapshots encoded (engine lock)
	savedSeq uint64     // the newest written (saveMu)
	lastSave time.Time  // engine lock
}

// New is Open without a deadline on reading the snapshot.
func New(cfg Config) (*Engine, error) {
	return Open(context.Background(), cfg)
}

// Open returns an engine for cfg, restoring the snapshot when
// Config.SnapshotPath or Config.Snapshot holds one.
func Open(ctx context.Context, cfg Config) (*Engine, error) {
	cfg, err := cfg.withDefaults()
	if err != nil {
		return nil, err
	}
	root, err := compileRoute(cfg.Route, nil, 0)
	if err != nil {
		return nil, err
	}
	in, err := newInhibitor(cfg.InhibitRules)
	if err != nil {
		return nil, err
	}
	e := &Engine{
		cfg:        cfg,
		route:      root,
		unreach:    map[string]bool{},
		alerts:     map[Fingerprint]*storedAlert{},
		silences:   newSilences(cfg.Retention),
		inhibit:    in,
		disp:       newDispatcher(root, cfg.WithoutResolved),
		incidents:  map[entityKey]*Incident{},
		suppress:   map[Fingerprint]time.Time{},
		incAlerts:  map[string]Fingerprint{},
		incidentOf: map[Fingerprint]entityKey{},
	}
	for _, n := range cfg.Correlation.Unreachable {
		e.unreach[n] = true
	}
	e.store = cfg.Snapshot
	if cfg.SnapshotPath != "" {
		e.store = &FileSnapshot{Path: cfg.SnapshotPath}
	}
	if e.store != nil {
		if err := e.restore(ctx); err != nil {
			return nil, err
		}
	}
	return e, nil
}

// muted reports whether a silence or an inhibit rule mutes l at now; the
// lock is held.
func (e *Engine) muted(l Labels, now time.Time) bool {
	if len(e.silences.mutedBy(l, now)) > 0 {
		return true
	}
	_, ok := e.inhibit.mutedBy(l, now)
	return ok
}

// Muted reports whether l is muted now, and by which silences and which
// inhibiting alert.
func (e *Engine) Muted(l Labels) (silencedBy []string, inhibitedBy Fingerprint, inhibited bool) {
	now := e.cfg.Now()
	e.mu.Lock()
	defer e.mu.Unlock()
	fp, ok := e.inhibit.mutedBy(l, now)
	return e.silences.mutedBy(l, now), fp, ok
}

// Advance moves the engine to now: correlates what changed, flushes the
// aggregation groups that are due and sends their notifications. A
// notification the receiver refuses is retried at the group's next flush,
// as in Alertmanager. The returned error joins the receivers' errors.
func (e *Engine) Advance(ctx context.Context, now time.Time) error {
	e.sendMu.Lock()
	defer e.sendMu.Unlock()
	e.mu.Lock()
	if e.closed {
		e.mu.Unlock()
		return newError(ErrClosed, "engine closed")
	}
	if !e.holdUntil.IsZero() && !now.Before(e.holdUntil) {
		// The hold after a restore without alerts is over: whatever the
		// senders did not send again is gone.
		e.holdUntil, e.corr.valid, e.dirty = time.Time{}, false, true
	}
	if t := e.cfg.Topology; t != nil {
		if gen := t.generation(); e.dirty || !now.Before(e.nextEval) || gen != e.topoGen {
			round := e.planCorrelation(now, gen != e.topoGen)
			e.dirty, e.topoGen = false, gen
			// The solver runs without the engine's lock: ingest goes on
			// while a large storm is correlated. What arrives meanwhile
			// marks the engine dirty for the next round.
			e.mu.Unlock()
			var units []*solvedUnit
			if len(round.ms) > 0 {
				units = solveIncidents(t, &e.cfg.Correlation, round.ms)
			}
			e.mu.Lock()
			if e.closed {
				e.mu.Unlock()
				return newError(ErrClosed, "engine closed")
			}
			e.finishCorrelation(round, units, now)
		}
	}
	var pending []*pendingFlush
	for _, ag := range e.disp.due(now) {
		pending = append(pending, e.disp.flush(ag, now, func(l Labels) bool { return e.muted(l, now) }))
	}
	e.mu.Unlock()

	var errsOut []error
	ok := make([]bool, len(pending))
	for i, p := range pending {
		if p.note == nil {
			ok[i] = true
			continue
		}
		if e.cfg.Notifier == nil {
			ok[i] = true
			continue
		}
		if err := e.cfg.Notifier.Notify(ctx, p.note); err != nil {
			errsOut = append(errsOut, wrapError(ErrUnavailable, err, "notifying %s of group %s", p.note.Receiver, p.note.GroupKey))
			continue
		}
		ok[i] = true
	}

	e.mu.Lock()
	for i, p := range pending {
		if !ok[i] {
			e.stats.NotifyFailures++
			continue
		}
		if p.note != nil {
			e.stats.Notifications++
		}
		if p.note != nil || !p.entry.At.IsZero() {
			// What was notified is saved at once: a crash must not make
			// the engine notify it twice.
			e.persist, e.persistNow = true, true
		}
		e.disp.commit(p)
	}
	if !now.Before(e.nextGC) {
		// Collecting visits every alert: once per a fifth of the resolve
		// timeout is enough (a resolved alert stays at most that much
		// longer than the resolve timeout).
		e.gc(now)
		e.nextGC = now.Add(e.cfg.ResolveTimeout / 5)
	}
	due := e.store != nil && (e.persistNow || (e.persist && !now.Before(e.lastSave.Add(e.cfg.SnapshotInterval))))
	e.mu.Unlock()
	if due {
		if err := e.save(ctx); err != nil {
			errsOut = append(errsOut, err)
		}
	}
	return joinErrors(errsOut)
}

// gc drops what is older than the retention; the lock is held.
func (e *Engine) gc(now time.Time) {
	for fp, s := range e.alerts {
		// A resolved alert is kept a resolve timeout, so a late repeat of
		// its resolution is recognised as a duplicate.
		if s.a.ResolvedAt(now.Add(-e.cfg.ResolveTimeout)) {
			delete(e.alerts, fp)
			if s.corrIn {
				e.corr.gone = append(e.corr.gone, s.corrM)
			}
			e.inhibit.forget(s.a, fp)
			delete(e.suppress, fp)
		}
	}
	e.silences.gc(now)
	e.disp.gcLog(now, e.cfg.Retention)
	e.closedInc = slices.DeleteFunc(e.closedInc, func(in *Incident) bool { return in.EndsAt.Add(e.cfg.Retention).Before(now) })
}

// Run advances the engine every Config.Tick with Config.Now until ctx
// ends, then saves the snapshot. Errors of single rounds are logged.
func (e *Engine) Run(ctx context.Context) error {
	tick := time.NewTicker(e.cfg.Tick)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return e.shutdown(context.WithoutCancel(ctx))
		case <-tick.C:
			if err := e.Advance(ctx, e.cfg.Now()); err != nil {
				e.cfg.Logger.Warn("alertcorr: advance", "err", err)
			}
		}
	}
}

// Close saves the snapshot (when configured) and refuses further calls.
// It is idempotent.
// Close saves under a deadline of closeSaveTimeout.
func (e *Engine) Close() error {
	return e.shutdown(context.Background())
}

// shutdown is Close with the context the last save derives its deadline
// from.
func (e *Engine) shutdown(ctx context.Context) error {
	e.mu.Lock()
	if e.closed {
		e.mu.Unlock()
		return nil
	}
	e.closed = true
	e.mu.Unlock()
	ctx, cancel := context.WithTimeout(ctx, closeSaveTimeout)
	defer cancel()
	return e.save(ctx)
}

// closeSaveTimeout bounds the last snapshot write of Close.
const closeSaveTimeout = 30 * time.Second

// Stats returns the counters.
func (e *Engine) Stats() Stats {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.stats
}

// Alerts returns the alerts held, sorted by fingerprint.
func (e *Engine) Alerts() []Alert {
	e.mu.Lock()
	defer e.mu.Unlock()
	out := make([]Alert, 0, len(e.alerts))
	for _, fp := range sortedFPs(e.alerts) {
		out = append(out, *e.alerts[fp].a)
	}
	return out
}

// SetSilence adds or updates a silence at the engine's current time, as
// Alertmanager does, and returns its id.
// A silence must survive a crash right after it was set, so the snapshot
// is saved before SetSilence returns.
func (e *Engine) SetSilence(ctx context.Context, s Silence) (string, error) {
	now := e.cfg.Now()
	e.mu.Lock()
	if e.closed {
		e.mu.Unlock()
		return "", newError(ErrClosed, "engine closed")
	}
	id, err := e.silences.set(s, now)
	if err != nil {
		e.mu.Unlock()
		return "", err
	}
	e.persist, e.dirty, e.corr.scanAll = true, true, true
	e.mu.Unlock()
	return id, e.save(ctx)
}

// ExpireSilence ends the silence now and saves the snapshot.
func (e *Engine) ExpireSilence(ctx context.Context, id string) error {
	now := e.cfg.Now()
	e.mu.Lock()
	if err := e.silences.expire(id, now); err != nil {
		e.mu.Unlock()
		return err
	}
	e.persist, e.dirty, e.corr.scanAll = true, true, true
	e.mu.Unlock()
	return e.save(ctx)
}

// Silences returns every silence held, sorted by id.
func (e *Engine) Silences() []Silence {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.silences.list()
}

func sortedFPs[V any](m map[Fingerprint]V) []Fingerprint {
	out := make([]Fingerprint, 0, len(m))
	for fp := range m {
		out = append(out, fp)
	}
	slices.Sort(out)
	return out
}
