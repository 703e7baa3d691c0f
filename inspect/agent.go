package inspect

import (
	"context"
	"log/slog"
	"maps"
	"sync"
	"sync/atomic"
	"time"
)

// AgentConfig configures an Agent. A zero field means its default.
type AgentConfig struct {
	// Name is the node's name, as in serf; fix requests must name it.
	Name string
	// Tags select the checks that apply to this node (zone, role, rack).
	Tags map[string]string
	// Host is what checks read and run (default: this machine).
	Host Host
	// CheckTimeout bounds a check without a timeout of its own (default 5s).
	CheckTimeout time.Duration
	// Parallel is how many checks run at once (default 8).
	Parallel int
	// CacheTTL is how long results on a spec version are reused by the
	// next query (default 10s; a fix invalidates them).
	CacheTTL time.Duration
	// FixKey authenticates fix requests (HMAC-SHA256). Empty: every fix
	// request is refused.
	FixKey []byte
	// FixInterval is the least time between two fixes of one check
	// (default 30s).
	FixInterval time.Duration
	// Logger receives the agent's log (nil: discarded).
	Logger *slog.Logger
}

// DefaultAgentConfig returns the defaults: 5s check timeout, 8 checks at
// once, results reused for 10s, one fix per check per 30s, fixes refused
// until a FixKey is set.
func DefaultAgentConfig() AgentConfig {
	return AgentConfig{CheckTimeout: 5 * time.Second, Parallel: 8, CacheTTL: 10 * time.Second, FixInterval: 30 * time.Second}
}

func (c AgentConfig) withDefaults() AgentConfig {
	d := DefaultAgentConfig()
	if c.CheckTimeout <= 0 {
		c.CheckTimeout = d.CheckTimeout
	}
	if c.Parallel <= 0 {
		c.Parallel = d.Parallel
	}
	if c.CacheTTL <= 0 {
		c.CacheTTL = d.CacheTTL
	}
	if c.FixInterval <= 0 {
		c.FixInterval = d.FixInterval
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	c.Host = c.Host.withDefaults()
	c.Tags = maps.Clone(c.Tags)
	return c
}

// Agent is the node side of inspection: it holds the spec the config
// center gave it, runs the checks that apply to its node and answers with
// a verdict. It is safe for concurrent use.
type Agent struct {
	cfg AgentConfig

	mu       sync.Mutex
	spec     *Spec
	cached   []Result
	cachedAt time.Time
	running  chan struct{} // closed when the run in flight ends; nil when none
	lastFix  map[string]time.Time

	collector atomic.Pointer[collector] // set by NewNode: serves CollectPath
}

// NewAgent returns an agent without a spec: it answers every query with a
// stale verdict until SetSpec.
func NewAgent(cfg AgentConfig) (*Agent, error) {
	if cfg.Name == "" {
		return nil, newError(ErrInvalid, "AgentConfig.Name is empty")
	}
	return &Agent{cfg: cfg.withDefaults(), lastFix: map[string]time.Time{}}, nil
}

// SetSpec replaces the spec the agent checks against (from the config
// center). A spec that does not validate is refused and the old one kept.
func (a *Agent) SetSpec(s *Spec) error {
	if s == nil {
		return newError(ErrInvalid, "nil spec")
	}
	if err := s.Validate(); err != nil {
		return err
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.spec == nil || a.spec.Version != s.Version || a.spec.Hash() != s.Hash() {
		a.cached, a.cachedAt = nil, time.Time{}
	}
	a.spec = s
	return nil
}

// Spec returns the spec the agent holds, or nil.
func (a *Agent) Spec() *Spec {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.spec
}

// Name returns the node name the agent answers for.
func (a *Agent) Name() string { return a.cfg.Name }

// Tags returns the agent's tags with SpecTag for the spec it holds.
func (a *Agent) Tags() map[string]string { return copyTags(a.cfg.Tags, a.Spec()) }

// Answer answers a query payload with a verdict. A malformed payload gets
// nil (no answer); a query on a version the agent does not hold gets a
// stale verdict naming the one it holds. It returns by ctx's deadline:
// checks still running then count as failed.
func (a *Agent) Answer(ctx context.Context, payload []byte) []byte {
	version, only, err := decodeQuery(payload)
	if err != nil {
		a.cfg.Logger.Warn("inspect: bad query", "err", err)
		return nil
	}
	spec := a.Spec()
	if spec == nil || spec.Version != version {
		held := uint64(0)
		if spec != nil {
			held = spec.Version
		}
		return EncodeVerdict(version, Verdict{Stale: true, Held: held})
	}
	var results []Result
	if only == nil {
		results = a.results(ctx, spec)
	} else {
		results = a.cfg.Host.runChecks(ctx, spec, a.cfg.Tags, only, a.cfg.Parallel, a.cfg.CheckTimeout)
	}
	return EncodeVerdict(version, verdictOf(results))
}

// verdictOf lists the failed and errored checks of results.
func verdictOf(results []Result) Verdict {
	var v Verdict
	for _, r := range results {
		if r.Outcome == OutcomeFail || r.Outcome == OutcomeError {
			v.Failed = append(v.Failed, r.Index)
		}
	}
	return v
}

// results returns the full results on spec: the cached ones while fresh,
// else one run shared by every caller that asks meanwhile.
func (a *Agent) results(ctx context.Context, spec *Spec) []Result {
	for range 3 { // a spec change during a run makes the run's results stale once or twice at most
		a.mu.Lock()
		if a.spec == spec && a.cached != nil && a.cfg.Host.Now().Sub(a.cachedAt) < a.cfg.CacheTTL {
			r := a.cached
			a.mu.Unlock()
			return r
		}
		if wait := a.running; wait != nil {
			a.mu.Unlock()
			select {
			case <-wait:
				continue
			case <-ctx.Done():
				return timedOut(spec, a.cfg.Tags, ctx.Err())
			}
		}
		done := make(chan struct{})
		a.running = done
		a.mu.Unlock()

		// The run is not bound to this query: a query that gives up early
		// must not leave half results for the next one.
		r := a.cfg.Host.runChecks(context.WithoutCancel(ctx), spec, a.cfg.Tags, nil, a.cfg.Parallel, a.cfg.CheckTimeout)
		a.mu.Lock()
		if a.spec == spec {
			a.cached, a.cachedAt = r, a.cfg.Host.Now()
		}
		a.running = nil
		close(done)
		a.mu.Unlock()
		return r
	}
	return timedOut(spec, a.cfg.Tags, context.DeadlineExceeded)
}

// timedOut is every selected check failed for the given reason.
func timedOut(spec *Spec, tags map[string]string, err error) []Result {
	out := make([]Result, len(spec.Checks))
	for i, c := range spec.Checks {
		out[i] = Result{ID: c.ID, Index: i, Outcome: OutcomeSkipped}
		if spec.Selects(i, tags) {
			out[i].Outcome, out[i].Error = OutcomeError, "checks still running: "+err.Error()
		}
	}
	return out
}

// Details returns the full results on the held spec: what stage two
// fetches. version must be the held one.
func (a *Agent) Details(ctx context.Context, version uint64) ([]Result, error) {
	spec := a.Spec()
	if spec == nil || spec.Version != version {
		return nil, newError(ErrNotFound, "spec version %d is not held by node %s", version, a.cfg.Name)
	}
	return a.results(ctx, spec), nil
}

// invalidate drops the cached results, after a fix.
func (a *Agent) invalidate() {
	a.mu.Lock()
	a.cached = nil
	a.mu.Unlock()
}
