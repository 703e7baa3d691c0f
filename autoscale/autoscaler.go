package autoscale

import (
	"slices"
	"sync"
)

// Autoscaler keeps the windows of one app between decisions: it calls
// [Recommend] and records each decision in its [History]. It is safe for
// concurrent use; decisions are serialised.
type Autoscaler struct {
	mu   sync.Mutex
	cfg  Config
	hist History
}

// New returns an Autoscaler for cfg, its zero fields filled with their
// defaults, or an error wrapping [ErrInvalid] that names the field (a
// zero Config is refused for its missing MaxReplicas). cfg is copied.
func New(cfg Config) (*Autoscaler, error) {
	cfg = cloneConfig(cfg.withDefaults())
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	return &Autoscaler{cfg: cfg}, nil
}

func cloneConfig(c Config) Config {
	c.Metrics = slices.Clone(c.Metrics)
	if c.Tolerance != nil {
		t := *c.Tolerance
		c.Tolerance = &t
	}
	if c.Behavior != nil {
		b := *c.Behavior
		b.ScaleUp.Policies = slices.Clone(b.ScaleUp.Policies)
		b.ScaleDown.Policies = slices.Clone(b.ScaleDown.Policies)
		c.Behavior = &b
	}
	return c
}

// Decide makes the decision for obs and records it as carried out. Call it
// at a steady period (Kubernetes: every 15 s) with observations in time
// order.
func (a *Autoscaler) Decide(obs Observation) (Decision, error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	d, err := Recommend(&a.cfg, &a.hist, &obs)
	if err != nil {
		return Decision{}, err
	}
	a.hist.Record(&a.cfg, &d)
	return d, nil
}

// Config returns a copy of the policy, its defaults filled in.
func (a *Autoscaler) Config() Config {
	return cloneConfig(a.cfg)
}

// History returns a copy of what the windows remember.
func (a *Autoscaler) History() History {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.hist.Clone()
}
