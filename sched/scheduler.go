package sched

import (
	"slices"
	"sync"
)

// Scheduler places requests on an Inventory. It is safe for concurrent
// use: calls serialize on the inventory's lock.
type Scheduler struct {
	inv     *Inventory
	cfg     Config
	filters []filterEntry // the profile, in Config order
	scorers []scoreEntry
	next    int // Sampled: where the next window starts
	// uncached makes placeOne use scan, the plain per-node loop without
	// caches; tests compare the fast loops with it.
	uncached bool
	cycle    Cycle
	elig     eligCache
	// the node loop's workers: their caches of candidates and results
	work []workScratch
	outs []scanOut
	wg   sync.WaitGroup
}

// filterEntry is a filter of the profile with the optional interfaces it
// implements, found once by type assertion: built-in and custom plugins
// take the same paths through the engine.
type filterEntry struct {
	p     FilterPlugin
	idx   int             // in Config.Filters
	pre   PreFilterPlugin // nil if not implemented
	node  NodeFilter      // nil unless the verdicts depend on the node alone
	batch BatchFilter     // nil: the engine calls Filter per node
	free  freeFitter      // nil unless it tests the free resources first
}

// scoreEntry is a score plugin of the profile with its weight and the
// optional interfaces it implements.
type scoreEntry struct {
	p      ScorePlugin
	idx    int
	weight int64
	pre    PreScorePlugin
	node   NodeScorer
	batch  BatchScorer
	res    resourceScorer
}

func newFilterEntry(p FilterPlugin, idx int) filterEntry {
	e := filterEntry{p: p, idx: idx}
	e.pre, _ = p.(PreFilterPlugin)
	e.node, _ = p.(NodeFilter)
	e.batch, _ = p.(BatchFilter)
	e.free, _ = p.(freeFitter)
	return e
}

func newScoreEntry(p ScorePlugin, idx int, weight int64) scoreEntry {
	e := scoreEntry{p: p, idx: idx, weight: weight}
	e.pre, _ = p.(PreScorePlugin)
	e.node, _ = p.(NodeScorer)
	e.batch, _ = p.(BatchScorer)
	e.res, _ = p.(resourceScorer)
	if e.node == nil {
		e.res = nil // only cached scores are fused
	}
	return e
}

// New returns a Scheduler for inv built from the plugins of reg (nil means
// NewRegistry()). Zero fields of cfg take their defaults (see Config). It
// returns ErrInvalid for a bad config, naming the field.
func New(inv *Inventory, cfg Config, reg *Registry) (*Scheduler, error) {
	if inv == nil {
		return nil, newError(ErrInvalid, "inventory: nil")
	}
	if reg == nil {
		reg = NewRegistry()
	}
	cfg, err := cfg.withDefaults()
	if err != nil {
		return nil, err
	}
	s := &Scheduler{inv: inv, cfg: cfg}
	for i, name := range cfg.Filters {
		if slices.Contains(cfg.Filters[:i], name) {
			return nil, newError(ErrInvalid, "config.Filters[%d]: %q listed twice", i, name)
		}
		p, err := reg.build(name)
		if err != nil {
			return nil, wrapError(ErrInvalid, err, "config.Filters[%d]", i)
		}
		f, ok := p.(FilterPlugin)
		if !ok {
			return nil, newError(ErrInvalid, "config.Filters[%d]: plugin %q is not a filter", i, name)
		}
		s.filters = append(s.filters, newFilterEntry(f, i))
	}
	for i, sw := range cfg.Scores {
		if sw.Weight < 1 {
			return nil, newError(ErrInvalid, "config.Scores[%d].Weight: %d, must be at least 1", i, sw.Weight)
		}
		for _, prev := range cfg.Scores[:i] {
			if prev.Name == sw.Name {
				return nil, newError(ErrInvalid, "config.Scores[%d]: %q listed twice", i, sw.Name)
			}
		}
		p, err := reg.build(sw.Name)
		if err != nil {
			return nil, wrapError(ErrInvalid, err, "config.Scores[%d]", i)
		}
		sp, ok := p.(ScorePlugin)
		if !ok {
			return nil, newError(ErrInvalid, "config.Scores[%d]: plugin %q is not a score plugin", i, sw.Name)
		}
		s.scorers = append(s.scorers, newScoreEntry(sp, i, sw.Weight))
	}
	s.cycle.s = s
	s.cycle.inv = inv
	return s, nil
}

// Placement is one placed replica.
type Placement struct {
	// Node is where the replica goes.
	Node string
	// Allocation is the inventory allocation holding its resources;
	// release it when the replica goes away.
	Allocation AllocationID
	// Score is the node's weighted score when it was chosen.
	Score int64
}

// Result is the outcome of Place.
type Result struct {
	// Placements lists the placed replicas in order.
	Placements []Placement
	// Unplaced counts the replicas that could not be placed.
	Unplaced int
	// WhyNot explains the first replica that could not be placed; nil
	// when all were placed.
	WhyNot *Diagnosis
}

// Place places req.Count replicas of req, one after the other, each seeing
// the allocations of the previous ones, and records them in the
// inventory. When a replica cannot be placed the rest cannot either (the
// inventory has not changed since), so Place stops there: the Result lists
// what was placed and WhyNot, and the error wraps ErrUnschedulable. With
// AllOrNothing the replicas placed are released again. A bad request
// returns ErrInvalid and a nil Result.
func (s *Scheduler) Place(req Request) (*Result, error) {
	if err := req.Validate(); err != nil {
		return nil, err
	}
	s.inv.mu.Lock()
	defer s.inv.mu.Unlock()
	c := &s.cycle
	c.reqBuf = req
	c.begin(&c.reqBuf)
	defer c.end()
	res := &Result{Placements: make([]Placement, 0, min(req.Count, 1024))}
	for r := 0; r < req.Count; r++ {
		c.replica = r
		slot, score, ok := c.placeOne()
		if !ok {
			res.Unplaced = req.Count - r
			c.unplaced = res.Unplaced
			res.WhyNot = c.diagnose()
			break
		}
		ni := &s.inv.nodes[slot]
		id := s.inv.allocateLocked(ni, c.app, req.Resources, c.vlan, c.reqAnti)
		c.placed(slot)
		res.Placements = append(res.Placements, Placement{Node: ni.spec.Name, Allocation: id, Score: score})
	}
	if res.Unplaced == 0 {
		return res, nil
	}
	if req.AllOrNothing {
		for _, p := range res.Placements {
			s.inv.releaseLocked(p.Allocation)
		}
		res.Placements = res.Placements[:0]
		res.Unplaced = req.Count
	}
	return res, newError(ErrUnschedulable, "%d of %d replicas of app %q unplaced: %s", res.Unplaced, req.Count, req.App, res.WhyNot)
}

// Explain runs every filter on every node for one replica of req without
// placing it, and says which filters reject how many nodes and, if no node
// fits, what would have to change.
func (s *Scheduler) Explain(req Request) (*Diagnosis, error) {
	if err := req.Validate(); err != nil {
		return nil, err
	}
	s.inv.mu.Lock()
	defer s.inv.mu.Unlock()
	c := &s.cycle
	c.reqBuf = req
	c.begin(&c.reqBuf)
	defer c.end()
	c.unplaced = req.Count
	c.prepare()
	return c.diagnose(), nil
}

// numToFind is kube-scheduler's numFeasibleNodesToFind.
func (s *Scheduler) numToFind(all int) int {
	if s.cfg.Mode == Exact || all <= s.cfg.MinFeasibleNodesToFind {
		return all
	}
	pct := s.cfg.PercentageOfNodesToScore
	if pct == 0 {
		pct = max(50-all/125, 5)
	}
	return max(all*pct/100, s.cfg.MinFeasibleNodesToFind)
}
