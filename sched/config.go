package sched

import (
	"runtime"
	"slices"
)

// Mode chooses how many nodes a placement looks at.
type Mode int

const (
	// Exact filters and scores every node for every replica: the best
	// node by score always wins. Cost grows with the inventory.
	Exact Mode = iota
	// Sampled works like kube-scheduler's percentageOfNodesToScore: the
	// node loop starts where the previous replica's stopped (a rotating
	// window) and stops once it has found enough feasible nodes; the best
	// of those wins. A replica is unschedulable only if no node at all is
	// feasible, so sampling never turns a feasible request away; it only
	// trades score quality for speed.
	Sampled
)

// ScoreWeight enables a score plugin with a weight.
type ScoreWeight struct {
	Name   string
	Weight int64
}

// Config configures a Scheduler. Every zero field means its default, the
// value DefaultConfig has: the zero Config is the default profile, never
// a scheduler without filters. Running without any filter or score is an
// explicit choice (NoFilters, NoScores).
type Config struct {
	// Mode is Exact (the default, the zero value) or Sampled.
	Mode Mode
	// PercentageOfNodesToScore is, in Sampled mode, the share of the
	// nodes (1..100) to find feasible before choosing. 0 (the default)
	// means adaptive, as in kube-scheduler: 50% minus 1% per 125 nodes, at
	// least 5%.
	PercentageOfNodesToScore int
	// MinFeasibleNodesToFind is, in Sampled mode, the least number of
	// feasible nodes to find before choosing; 0 means the default, 100
	// (as kube).
	MinFeasibleNodesToFind int
	// Filters lists the filter plugins to run. A node must pass them all;
	// the order only shapes why-not answers, which count each node under
	// the first filter (in this order) that rejects it. The exact-mode
	// loop runs the filters that depend only on the node (NodeFilter)
	// first, whatever the order, as that changes nothing but speed.
	// Empty means the default: every built-in filter (DefaultFilters).
	Filters []string
	// NoFilters runs no filter at all: every live node is feasible, even
	// one without room for the request. Filters must then be empty. It
	// exists so that this is never what an empty Config means.
	NoFilters bool
	// Scores lists the score plugins and their weights (at least 1).
	// Empty means the default spreading scores (DefaultScores).
	Scores []ScoreWeight
	// NoScores runs no score plugin: among the feasible nodes the seeded
	// tie-break alone chooses. Scores must then be empty.
	NoScores bool
	// Parallelism is the number of goroutines that share a full sweep of
	// the nodes in Exact mode (one per 2,048 nodes at most; sweeps happen
	// when the cached candidates must be rebuilt, see the package doc);
	// 0 (the default) means runtime.GOMAXPROCS(0), 1 keeps all work on the
	// caller's goroutine. The goroutines live only for the sweep. Sampled
	// mode and cache refreshes run on the caller's goroutine.
	Parallelism int
	// Seed breaks ties between equally scored nodes (default 0, a seed
	// like any other). The same inventory, request sequence, config and
	// seed give the same placements.
	Seed uint64
}

// DefaultFilters returns the default filters: every built-in filter.
func DefaultFilters() []string {
	return []string{
		PluginTaintToleration, PluginZoneLevel, PluginNetworkZone, PluginNodeLabels,
		PluginResourceFit, PluginAntiAffinity, PluginHardSpread,
	}
}

// DefaultScores returns the default scores, which spread: least
// allocated, balanced, image locality, soft spread (weight 2) and taint
// preference. Replace PluginLeastAllocated by PluginMostAllocated to
// bin-pack.
func DefaultScores() []ScoreWeight {
	return []ScoreWeight{
		{PluginLeastAllocated, 1},
		{PluginBalanced, 1},
		{PluginImageLocality, 1},
		{PluginSoftSpread, 2},
		{PluginTaintToleration, 1},
	}
}

// DefaultConfig returns the default profile, which is also what the zero
// Config means: exact mode, every built-in filter (DefaultFilters), the
// spreading scores (DefaultScores), MinFeasibleNodesToFind 100, adaptive
// sampling percentage, Parallelism GOMAXPROCS, seed 0.
func DefaultConfig() Config {
	return Config{
		Mode:                   Exact,
		MinFeasibleNodesToFind: 100,
		Filters:                DefaultFilters(),
		Scores:                 DefaultScores(),
	}
}

// withDefaults checks cfg and fills its zero fields from DefaultConfig.
// It returns ErrInvalid naming the field for a value with no meaning.
func (cfg Config) withDefaults() (Config, error) {
	switch {
	case cfg.Mode != Exact && cfg.Mode != Sampled:
		return cfg, newError(ErrInvalid, "config.Mode: unknown mode %d", cfg.Mode)
	case cfg.PercentageOfNodesToScore < 0 || cfg.PercentageOfNodesToScore > 100:
		return cfg, newError(ErrInvalid, "config.PercentageOfNodesToScore: %d out of range 0..100", cfg.PercentageOfNodesToScore)
	case cfg.MinFeasibleNodesToFind < 0:
		return cfg, newError(ErrInvalid, "config.MinFeasibleNodesToFind: negative (%d)", cfg.MinFeasibleNodesToFind)
	case cfg.Parallelism < 0:
		return cfg, newError(ErrInvalid, "config.Parallelism: negative (%d)", cfg.Parallelism)
	case cfg.NoFilters && len(cfg.Filters) > 0:
		return cfg, newError(ErrInvalid, "config.NoFilters: set, but config.Filters lists %d filter(s)", len(cfg.Filters))
	case cfg.NoScores && len(cfg.Scores) > 0:
		return cfg, newError(ErrInvalid, "config.NoScores: set, but config.Scores lists %d score(s)", len(cfg.Scores))
	}
	d := DefaultConfig()
	if cfg.MinFeasibleNodesToFind == 0 {
		cfg.MinFeasibleNodesToFind = d.MinFeasibleNodesToFind
	}
	if cfg.Parallelism == 0 {
		cfg.Parallelism = runtime.GOMAXPROCS(0)
	}
	if len(cfg.Filters) == 0 && !cfg.NoFilters {
		cfg.Filters = d.Filters
	}
	if len(cfg.Scores) == 0 && !cfg.NoScores {
		cfg.Scores = d.Scores
	}
	// The scheduler keeps the config: the caller's slices stay the caller's.
	cfg.Filters, cfg.Scores = slices.Clone(cfg.Filters), slices.Clone(cfg.Scores)
	return cfg, nil
}
