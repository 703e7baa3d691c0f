package sched

import "slices"

// The rules that depend on where the app's instances are: they run on
// every replica, a rule at a time over the cached candidates (BatchFilter,
// BatchScorer), reading dense per-domain slices rather than the nodes.
var (
	_ BatchFilter     = (*antiAffinity)(nil)
	_ Explainer       = (*antiAffinity)(nil)
	_ PreFilterPlugin = (*antiAffinity)(nil)
	_ BatchFilter     = (*hardSpread)(nil)
	_ Explainer       = (*hardSpread)(nil)
	_ PreFilterPlugin = (*hardSpread)(nil)
	_ BatchScorer     = (*softSpread)(nil)
	_ PreScorePlugin  = (*softSpread)(nil)
)

// antiAffinity allows at most k instances of the app per domain: the
// request's own limit or, stricter, one a placed instance keeps.
type antiAffinity struct {
	skipper
	full   *Status
	limit  [numLevels]int32  // per level, 0: none
	levels [numLevels]int    // the levels with a limit, levels[:n]
	n      int               //
	ok     [numLevels][]bool // per domain: below the limit
}

func newAntiAffinity() *antiAffinity {
	return &antiAffinity{full: NewStatus(Unschedulable, "anti-affinity limit reached")}
}

// Name returns the plugin name.
func (p *antiAffinity) Name() string { return PluginAntiAffinity }

// PreFilter prepares the replica, or skips the plugin when the request has nothing for it.
func (p *antiAffinity) PreFilter(c *Cycle) *Status {
	p.n = 0
	for lv := range p.limit {
		lim := c.reqAnti[lv]
		if m := c.app.antiLimit(lv); m > 0 && (lim == 0 || m < lim) {
			lim = m
		}
		p.limit[lv] = lim
		if lim <= 0 {
			continue
		}
		p.levels[p.n] = lv
		p.n++
		if lv == lvNode {
			c.ensureCounts()
			continue
		}
		// Whether each domain has room, so the node loops test one bool.
		size := len(c.inv.dom[lv].names)
		p.ok[lv] = slices.Grow(p.ok[lv][:0], size)[:size]
		for d := range p.ok[lv] {
			p.ok[lv][d] = c.app.count(lv, int32(d)) < lim
		}
	}
	if p.n == 0 {
		return p.skipStatus()
	}
	return nil
}

// Filter implements FilterPlugin.
func (p *antiAffinity) Filter(c *Cycle, n *NodeInfo) *Status {
	for _, lv := range p.levels[:p.n] {
		if lv == lvNode {
			if c.nodeCount[n.slot] >= p.limit[lvNode] {
				return p.full
			}
			continue
		}
		if d := n.dom[lv]; d >= 0 && !p.ok[lv][d] {
			return p.full
		}
	}
	return nil
}

// FilterBatch implements BatchFilter, a level at a time over the dense
// per-slot domain slices: a few kilobytes per rule.
func (p *antiAffinity) FilterBatch(c *Cycle, src, dst []int32) []int32 {
	for k, lv := range p.levels[:p.n] {
		if k > 0 {
			src, dst = dst, dst[:0]
		}
		if lv == lvNode {
			counts, limit := c.nodeCount, p.limit[lvNode]
			for _, i := range src {
				if counts[i] < limit {
					dst = append(dst, i)
				}
			}
			continue
		}
		dom, ok := c.inv.domOf[lv], p.ok[lv]
		for _, i := range src {
			if d := dom[i]; d < 0 || ok[d] {
				dst = append(dst, i)
			}
		}
	}
	return dst
}

// spreadState is one spread rule prepared for the current replica.
type spreadState struct {
	lv         int
	maxSkew    int32
	minDomains int32
	counts     []int32 // instances per domain (per slot for KeyNode)
	elig       []bool
	numElig    int
	min, max   int32
	scratch    []int32
	ok         []bool // per domain: a replica may go there (hard rules)
	nodeLimit  int32  // KeyNode: a replica may go where the count is below
}

func (st *spreadState) count(d int32) int32 {
	if int(d) < len(st.counts) {
		return st.counts[d]
	}
	return 0
}

// compute counts the app's instances per domain over the nodes in scope
// and finds the least and most loaded eligible domains.
func (st *spreadState) compute(c *Cycle) {
	e := c.eligible()
	lv := st.lv
	st.elig, st.numElig = e.elig[lv], e.numElig[lv]
	var mn, mx int32 = -1, 0
	switch lv {
	case lvNode:
		c.ensureCounts()
		st.counts = c.nodeCount
		withInstances := 0
		for slot, cnt := range c.app.nodes {
			if !st.elig[slot] {
				continue
			}
			withInstances++
			if mn < 0 || cnt < mn {
				mn = cnt
			}
			mx = max(mx, cnt)
		}
		if withInstances < st.numElig {
			mn = 0
		}
	default:
		if !c.scoped {
			st.counts = c.app.dom[lv]
		} else {
			size := len(c.inv.dom[lv].names)
			if cap(st.scratch) < size {
				st.scratch = make([]int32, size)
			}
			st.scratch = st.scratch[:size]
			clear(st.scratch)
			for slot, cnt := range c.app.nodes {
				n := &c.inv.nodes[slot]
				if d := n.dom[lv]; d >= 0 && c.inScope(n) {
					st.scratch[d] += cnt
				}
			}
			st.counts = st.scratch
		}
		for d, ok := range st.elig {
			if !ok {
				continue
			}
			cnt := st.count(int32(d))
			if mn < 0 || cnt < mn {
				mn = cnt
			}
			mx = max(mx, cnt)
		}
	}
	if mn < 0 || st.numElig < int(st.minDomains) {
		mn = 0
	}
	st.min, st.max = mn, mx
	// Whether a replica may go into each domain, so that the node loops
	// test one bool per candidate. For KeyNode the limit is on the dense
	// per-slot count instead.
	st.nodeLimit = mn + st.maxSkew
	if lv != lvNode {
		size := len(c.inv.dom[lv].names)
		st.ok = slices.Grow(st.ok[:0], size)[:size]
		for d := range st.ok {
			st.ok[d] = st.count(int32(d))+1-mn <= st.maxSkew
		}
	}
}

// compileSpread prepares the request's hard (soft false) or soft spread
// rules into dst, reusing its storage.
func compileSpread(c *Cycle, dst []spreadState, soft bool) []spreadState {
	n := 0
	for _, r := range c.req.Spread {
		if r.Soft != soft {
			continue
		}
		if n == len(dst) {
			dst = append(dst, spreadState{})
		}
		st := &dst[n]
		st.lv, _ = levelOf(r.Key)
		st.maxSkew = int32(min(r.MaxSkew, 1<<30))
		st.minDomains = int32(min(r.MinDomains, 1<<30))
		st.compute(c)
		n++
	}
	return dst[:n]
}

// hardSpread enforces hard spread rules (PodTopologySpread DoNotSchedule).
type hardSpread struct {
	skipper
	missing, skew *Status
	rules         []spreadState
}

func newHardSpread() *hardSpread {
	return &hardSpread{
		missing: NewStatus(UnschedulableAndUnresolvable, "node lacks the spread topology key"),
		skew:    NewStatus(Unschedulable, "max skew exceeded"),
	}
}

// Name returns the plugin name.
func (p *hardSpread) Name() string { return PluginHardSpread }

// PreFilter prepares the replica, or skips the plugin when the request has nothing for it.
func (p *hardSpread) PreFilter(c *Cycle) *Status {
	p.rules = compileSpread(c, p.rules, false)
	if len(p.rules) == 0 {
		return p.skipStatus()
	}
	return nil
}

// Filter implements FilterPlugin.
func (p *hardSpread) Filter(c *Cycle, n *NodeInfo) *Status {
	for i := range p.rules {
		st := &p.rules[i]
		d := n.dom[st.lv]
		if d < 0 {
			return p.missing
		}
		if st.count(d)+1-st.min > st.maxSkew {
			return p.skew
		}
	}
	return nil
}

// FilterBatch implements BatchFilter, a rule at a time over the dense
// per-slot domain slices.
func (p *hardSpread) FilterBatch(c *Cycle, src, dst []int32) []int32 {
	for r := range p.rules {
		if r > 0 {
			src, dst = dst, dst[:0]
		}
		st := &p.rules[r]
		if st.lv == lvNode {
			counts, limit := c.nodeCount, st.nodeLimit
			for _, i := range src {
				if counts[i] < limit {
					dst = append(dst, i)
				}
			}
			continue
		}
		dom, ok := c.inv.domOf[st.lv], st.ok
		for _, i := range src {
			if d := dom[i]; d >= 0 && ok[d] {
				dst = append(dst, i)
			}
		}
	}
	return dst
}

// softSpread prefers the emptier domains of soft spread rules.
type softSpread struct {
	skipper
	rules []spreadState
}

// Name returns the plugin name.
func (p *softSpread) Name() string { return PluginSoftSpread }

// PreScore prepares the replica, or skips the plugin when the request has nothing for it.
func (p *softSpread) PreScore(c *Cycle) *Status {
	p.rules = compileSpread(c, p.rules, true)
	if len(p.rules) == 0 {
		return p.skipStatus()
	}
	return nil
}

// Score implements ScorePlugin.
func (p *softSpread) Score(c *Cycle, n *NodeInfo) int64 {
	var sum int64
	for i := range p.rules {
		st := &p.rules[i]
		d := n.dom[st.lv]
		if d < 0 {
			continue // nodes lacking the key score nothing for this rule
		}
		if st.max == st.min {
			sum += MaxScore
			continue
		}
		cnt := min(max(st.count(d), st.min), st.max)
		sum += int64(MaxScore) * int64(st.max-cnt) / int64(st.max-st.min)
	}
	return sum / int64(len(p.rules))
}

// ScoreBatch implements BatchScorer.
func (p *softSpread) ScoreBatch(c *Cycle, slots []int32, weight int64, scores []int64) {
	nodes := c.inv.nodes
	for j, i := range slots {
		scores[j] += weight * p.Score(c, &nodes[i])
	}
}
