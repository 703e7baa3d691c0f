package sched

import "slices"

// workScratch is one node-loop worker's state. base and baseScore cache,
// for the worker's range of slots, the candidates that pass the node-only
// filters (NodeFilter) and their node-only score (NodeScorer); scoreAt
// holds the same scores by slot. They stay valid across replicas and
// across Place calls while the cycle's key, the worker's range and the
// inventory's topology stay the same: the nodes whose state changed in
// between, read from the inventory's change log, are re-evaluated one by
// one.
type workScratch struct {
	cand      []int32
	scores    []int64
	base      []int32
	baseScore []int64
	scoreAt   []int64 // by slot - lo
	valid     bool
	// scoreAtValid: scoreAt matches base
	scoreAtValid bool
	key          []byte
	lo, hi       int
	topoGen      uint64
	version      uint64
}

// syncBase brings the worker's cache for slots [lo, hi) up to date:
// rebuilt when the cycle's key, the range or the topology changed, else
// refreshed for the nodes the change log names.
func (c *Cycle) syncBase(lo, hi int, w *workScratch) {
	inv := c.inv
	if c.fresh(lo, hi, w) {
		changed, _ := inv.changesSince(w.version)
		for _, x := range changed {
			if x >= int32(lo) && x < int32(hi) {
				c.refreshBase(x, w)
			}
		}
	} else {
		c.buildBase(lo, hi, w)
		w.key = append(w.key[:0], c.active.key...)
		w.lo, w.hi, w.topoGen = lo, hi, inv.topoGen
	}
	w.version = inv.version
}

// fresh reports whether the worker's cache for [lo, hi) can be brought up
// to date from the change log rather than rebuilt.
func (c *Cycle) fresh(lo, hi int, w *workScratch) bool {
	inv := c.inv
	if !w.valid || w.lo != lo || w.hi != hi || w.topoGen != inv.topoGen || string(w.key) != string(c.active.key) {
		return false
	}
	_, ok := inv.changesSince(w.version)
	return ok
}

// buildBase sweeps slots [lo, hi): liveness and free resources from the
// compact hot slice first, then the other node-only filters a filter at a
// time, then the node-only scores. When testing the free resources is all
// the filters do, the resource scores are computed in the same sweep,
// while the node's hot entry is in cache.
func (c *Cycle) buildBase(lo, hi int, w *workScratch) {
	a := &c.active
	hot := c.inv.hot
	wl, wb, wm := a.wl, a.wb, a.wm
	rest := a.node
	if a.free && a.freeOnly {
		rest = rest[1:]
	}
	base, scores := w.base[:0], w.baseScore[:0]
	fused := a.free && len(rest) == 0
	switch {
	case fused:
		for i := lo; i < hi; i++ {
			if h := &hot[i]; h.live && c.fitsHot(h) {
				base = append(base, int32(i))
				scores = append(scores, c.resourceScores(h, wl, wb, wm))
			}
		}
	case a.free:
		for i := lo; i < hi; i++ {
			if h := &hot[i]; h.live && c.fitsHot(h) {
				base = append(base, int32(i))
			}
		}
	default:
		for i := lo; i < hi; i++ {
			if hot[i].live {
				base = append(base, int32(i))
			}
		}
	}
	if !fused {
		for _, f := range rest {
			base = c.filterList(f, base, base[:0])
		}
		scores = slices.Grow(scores, len(base))[:len(base)]
		if wl != 0 || wb != 0 || wm != 0 {
			for j, i := range base {
				scores[j] = c.resourceScores(&hot[i], wl, wb, wm)
			}
		} else {
			clear(scores)
		}
	}
	for _, e := range a.nodeS {
		c.scoreList(e, base, scores)
	}
	w.base, w.baseScore, w.valid, w.scoreAtValid = base, scores, true, false
}

// scoresBySlot returns the cached scores by slot - lo, filled on first use
// after a rebuild: only the dynamic filters need it.
func (w *workScratch) scoresBySlot() []int64 {
	if !w.scoreAtValid {
		w.scoreAt = slices.Grow(w.scoreAt[:0], w.hi-w.lo)[:w.hi-w.lo]
		for j, i := range w.base {
			w.scoreAt[int(i)-w.lo] = w.baseScore[j]
		}
		w.scoreAtValid = true
	}
	return w.scoreAt
}

// refreshBase re-evaluates one node whose state changed since the base
// was built: it leaves, joins or stays with a new score.
func (c *Cycle) refreshBase(x int32, w *workScratch) {
	a := &c.active
	b, found := slices.BinarySearch(w.base, x)
	n := &c.inv.nodes[x]
	ok := c.inv.hot[x].live
	for _, f := range a.node {
		if !ok {
			break
		}
		ok = f.p.Filter(c, n) == nil
	}
	switch {
	case !ok && found:
		w.base = slices.Delete(w.base, b, b+1)
		w.baseScore = slices.Delete(w.baseScore, b, b+1)
	case ok:
		sc := c.resourceScores(&c.inv.hot[x], a.wl, a.wb, a.wm)
		for _, e := range a.nodeS {
			sc += e.weight * e.p.Score(c, n)
		}
		if found {
			w.baseScore[b] = sc
		} else {
			w.base = slices.Insert(w.base, b, x)
			w.baseScore = slices.Insert(w.baseScore, b, sc)
		}
		if w.scoreAtValid {
			w.scoreAt[int(x)-w.lo] = sc
		}
	}
}
