package sched

// The scores that depend only on the node and the request: they implement
// NodeScorer, so their sum is cached with the candidates.
var (
	_ NodeScorer     = (*imageLocality)(nil)
	_ BatchScorer    = (*imageLocality)(nil)
	_ PreScorePlugin = (*imageLocality)(nil)
	_ NodeScorer     = (*leastAllocated)(nil)
	_ BatchScorer    = (*leastAllocated)(nil)
	_ resourceScorer = (*leastAllocated)(nil)
	_ NodeScorer     = (*mostAllocated)(nil)
	_ BatchScorer    = (*mostAllocated)(nil)
	_ resourceScorer = (*mostAllocated)(nil)
	_ NodeScorer     = (*balancedAllocation)(nil)
	_ BatchScorer    = (*balancedAllocation)(nil)
	_ resourceScorer = (*balancedAllocation)(nil)
)

// imageLocality prefers nodes that hold the request's image, the more the
// larger the image: a 23 MB image is worth nothing, 1 GB or more is worth
// MaxScore (kube-scheduler's thresholds). Unlike kube it does not scale by
// how many nodes hold the image: spread and anti-affinity rules keep the
// replicas from piling onto those few nodes.
type imageLocality struct {
	skipper
	score int64
}

const (
	imageMinSize = 23 << 20
	imageMaxSize = 1000 << 20
)

// Name returns the plugin name.
func (p *imageLocality) Name() string { return PluginImageLocality }

// PreScore prepares the replica, or skips the plugin when the request has nothing for it.
func (p *imageLocality) PreScore(c *Cycle) *Status {
	if c.image < 0 || c.inv.images[c.image].nodes == 0 {
		return p.skipStatus()
	}
	size := min(max(c.inv.images[c.image].size, imageMinSize), imageMaxSize)
	p.score = MaxScore * (size - imageMinSize) / (imageMaxSize - imageMinSize)
	if p.score == 0 {
		return p.skipStatus()
	}
	return nil
}

// Score implements ScorePlugin.
func (p *imageLocality) Score(c *Cycle, n *NodeInfo) int64 {
	if c.inv.images[c.image].has(n.slot) {
		return p.score
	}
	return 0
}

// ScoreBatch implements BatchScorer on the image's bitset by slot.
func (p *imageLocality) ScoreBatch(c *Cycle, slots []int32, weight int64, scores []int64) {
	im := &c.inv.images[c.image]
	for j, i := range slots {
		if im.has(i) {
			scores[j] += weight * p.score
		}
	}
}

// AppendKey implements NodeScorer: the image and what it is worth.
func (p *imageLocality) AppendKey(c *Cycle, key []byte) []byte {
	return appendInt(appendInt(key, int64(c.image)), p.score)
}

// usedShare returns (allocated + request) / capacity for cpu and memory;
// a dimension the node lacks (capacity 0) is left out by the scores.
func (c *Cycle) usedShare(h *nodeHot) (cpu, mem float64) {
	return 1 - float64(h.free.MilliCPU-c.res.MilliCPU)*h.invCPU, 1 - float64(h.free.Memory-c.res.Memory)*h.invMem
}

// avgShare is the mean used share over the dimensions the node has.
func avgShare(h *nodeHot, cpu, mem float64) float64 {
	switch {
	case h.invCPU != 0 && h.invMem != 0:
		return min((cpu+mem)*0.5, 1)
	case h.invCPU != 0:
		return min(cpu, 1)
	case h.invMem != 0:
		return min(mem, 1)
	}
	return 1
}

// resourceScorer is implemented by the three resource scores, which share
// one computation of a node's used shares: the engine sums their weights
// and computes all three in one pass over the compact free-resource slice
// (in the same sweep as the resource filter when it can). The weighted
// sum equals what their Score methods give one by one.
type resourceScorer interface {
	// resourceWeights returns the weights of the least-allocated,
	// balanced and most-allocated scores for the plugin's weight w.
	resourceWeights(w int64) (wl, wb, wm int64)
}

// appendResKey is the cache key of the resource scores: the request's
// cpu and memory.
func appendResKey(c *Cycle, key []byte) []byte {
	return appendInt(appendInt(key, c.res.MilliCPU), c.res.Memory)
}

func scoreResources(c *Cycle, slots []int32, wl, wb, wm int64, scores []int64) {
	hot := c.inv.hot
	for j, i := range slots {
		scores[j] += c.resourceScores(&hot[i], wl, wb, wm)
	}
}

// leastAllocated prefers the emptiest nodes (spreads load).
type leastAllocated struct{}

// Name returns the plugin name.
func (p *leastAllocated) Name() string { return PluginLeastAllocated }

// Score implements ScorePlugin.
func (p *leastAllocated) Score(c *Cycle, n *NodeInfo) int64 {
	return c.resourceScores(&c.inv.hot[n.slot], 1, 0, 0)
}

// ScoreBatch implements BatchScorer.
func (p *leastAllocated) ScoreBatch(c *Cycle, slots []int32, w int64, scores []int64) {
	scoreResources(c, slots, w, 0, 0, scores)
}

// AppendKey implements NodeScorer.
func (p *leastAllocated) AppendKey(c *Cycle, key []byte) []byte { return appendResKey(c, key) }

func (p *leastAllocated) resourceWeights(w int64) (wl, wb, wm int64) { return w, 0, 0 }

// mostAllocated prefers the fullest nodes (bin-packs).
type mostAllocated struct{}

// Name returns the plugin name.
func (p *mostAllocated) Name() string { return PluginMostAllocated }

// Score implements ScorePlugin.
func (p *mostAllocated) Score(c *Cycle, n *NodeInfo) int64 {
	return c.resourceScores(&c.inv.hot[n.slot], 0, 0, 1)
}

// ScoreBatch implements BatchScorer.
func (p *mostAllocated) ScoreBatch(c *Cycle, slots []int32, w int64, scores []int64) {
	scoreResources(c, slots, 0, 0, w, scores)
}

// AppendKey implements NodeScorer.
func (p *mostAllocated) AppendKey(c *Cycle, key []byte) []byte { return appendResKey(c, key) }

func (p *mostAllocated) resourceWeights(w int64) (wl, wb, wm int64) { return 0, 0, w }

// balancedAllocation prefers nodes whose cpu and memory shares stay close
// (kube's BalancedAllocation: one minus their standard deviation).
type balancedAllocation struct{}

// Name returns the plugin name.
func (p *balancedAllocation) Name() string { return PluginBalanced }

// Score implements ScorePlugin.
func (p *balancedAllocation) Score(c *Cycle, n *NodeInfo) int64 {
	return c.resourceScores(&c.inv.hot[n.slot], 0, 1, 0)
}

// ScoreBatch implements BatchScorer.
func (p *balancedAllocation) ScoreBatch(c *Cycle, slots []int32, w int64, scores []int64) {
	scoreResources(c, slots, 0, w, 0, scores)
}

// AppendKey implements NodeScorer.
func (p *balancedAllocation) AppendKey(c *Cycle, key []byte) []byte { return appendResKey(c, key) }

func (p *balancedAllocation) resourceWeights(w int64) (wl, wb, wm int64) { return 0, w, 0 }

// resourceScores is the weighted sum of the least-allocated (wl),
// balanced (wb) and most-allocated (wm) scores of a node, sharing one
// computation of its used shares. The three plugins call it with one
// weight each, so the fused loops give exactly their scores.
func (c *Cycle) resourceScores(h *nodeHot, wl, wb, wm int64) int64 {
	cpu, mem := c.usedShare(h)
	var sc int64
	if wl != 0 || wm != 0 {
		avg := avgShare(h, cpu, mem)
		if wl != 0 {
			sc += wl * int64((1-avg)*MaxScore)
		}
		if wm != 0 {
			sc += wm * int64(avg*MaxScore)
		}
	}
	if wb != 0 {
		if h.invCPU == 0 || h.invMem == 0 {
			sc += wb * MaxScore
		} else {
			d := min(cpu, 1) - min(mem, 1)
			if d < 0 {
				d = -d
			}
			sc += wb * int64((1-d*0.5)*MaxScore)
		}
	}
	return sc
}
