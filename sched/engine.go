package sched

import "slices"

// The engine's loops know plugins only by the optional interfaces they
// implement (see filterEntry): a NodeFilter or NodeScorer is cached with
// the candidates (cache.go), a BatchFilter or BatchScorer runs as one
// call over a list of slots, anything else is called node by node. A
// custom plugin implementing those interfaces takes exactly the path of a
// built-in one.

// active is what takes part in the current replica, after the PreFilter
// and PreScore hooks, sorted by the path each plugin takes.
type active struct {
	filters    []*filterEntry // every filter taking part, in profile order (why-not)
	node       []*filterEntry // NodeFilters, the free-resource tester first
	dyn        []*filterEntry // the rest: run on every replica
	free       bool           // node[0] tests free resources: the sweep does it inline
	freeOnly   bool           // ... and that is all node[0] does
	scorers    []*scoreEntry  // every score taking part (the reference loop)
	nodeS      []*scoreEntry  // NodeScorers outside the resource group
	dynS       []*scoreEntry  // the rest
	wl, wb, wm int64          // the resource group's weights (resourceScorer)
	blockAll   *Status        // a PreFilter that rejects every node
	blockBy    int
	key        []byte // what the cached candidates depend on (NodeFilter.AppendKey...)
}

// prepare runs the PreFilter and PreScore hooks for the current replica
// and sorts the plugins that take part by the path they take.
func (c *Cycle) prepare() {
	s, a := c.s, &c.active
	a.filters, a.node, a.dyn = a.filters[:0], a.node[:0], a.dyn[:0]
	a.free, a.freeOnly = false, false
	a.blockAll, a.blockBy = nil, -1
	for i := range s.filters {
		f := &s.filters[i]
		if f.pre != nil {
			st := f.pre.PreFilter(c)
			if st.Code() == Skip {
				continue
			}
			if !st.IsSuccess() && a.blockAll == nil {
				a.blockAll, a.blockBy = st, i
			}
		}
		a.filters = append(a.filters, f)
		switch {
		case f.node == nil:
			a.dyn = append(a.dyn, f)
		case f.free != nil && !a.free:
			// Filters are a conjunction: testing the free resources first,
			// inline, changes nothing but speed.
			a.free, a.freeOnly = true, f.free.fitsFreeOnly(c)
			a.node = slices.Insert(a.node, 0, f)
		default:
			a.node = append(a.node, f)
		}
	}
	a.scorers, a.nodeS, a.dynS = a.scorers[:0], a.nodeS[:0], a.dynS[:0]
	a.wl, a.wb, a.wm = 0, 0, 0
	for i := range s.scorers {
		e := &s.scorers[i]
		if e.pre != nil && e.pre.PreScore(c).Code() == Skip {
			continue
		}
		a.scorers = append(a.scorers, e)
		switch {
		case e.res != nil:
			wl, wb, wm := e.res.resourceWeights(e.weight)
			a.wl, a.wb, a.wm = a.wl+wl, a.wb+wb, a.wm+wm
		case e.node != nil:
			a.nodeS = append(a.nodeS, e)
		default:
			a.dynS = append(a.dynS, e)
		}
	}
	// The cached candidates hold for one set of node-only plugins and
	// what each of them reads.
	key := a.key[:0]
	for _, f := range a.node {
		key = f.node.AppendKey(c, appendInt(key, int64(f.idx)))
	}
	key = appendInt(key, -1)
	for _, e := range a.scorers {
		if e.node != nil {
			key = e.node.AppendKey(c, appendInt(appendInt(key, int64(e.idx)), e.weight))
		}
	}
	a.key = key
}

// placeOne chooses the node for the current replica. In exact mode on a
// large inventory the node loop is split over Config.Parallelism
// goroutines (as kube-scheduler's parallelizer does); each keeps its own
// best node and the results merge deterministically, since ties are
// broken by the node slot, not by visiting order.
func (c *Cycle) placeOne() (slot int32, score int64, ok bool) {
	c.prepare()
	if c.active.blockAll != nil {
		return 0, 0, false
	}
	s := c.s
	total := len(c.inv.nodes)
	if total == 0 {
		return 0, 0, false
	}
	salt := mix64(c.tieSalt + uint64(c.replica)*0x9e3779b97f4a7c15)
	var r scanOut
	switch p := min(s.cfg.Parallelism, total/minNodesPerWorker); {
	case s.uncached: // tests: the plain per-node loop, the reference
		start, want := 0, total
		if s.cfg.Mode == Sampled {
			start, want = s.next%total, s.numToFind(c.inv.live)
		}
		r = c.scan(start, total, want, salt)
		s.next = (start + r.visited) % total
	case s.cfg.Mode == Sampled:
		start := s.next % total
		r = c.window(start, s.numToFind(c.inv.live), salt)
		s.next = (start + r.visited) % total
	case p <= 1:
		s.grow(1)
		r = c.columns(0, total, &s.work[0], salt)
	default:
		s.grow(p)
		chunk := (total + p - 1) / p
		// Goroutines pay off when a worker must sweep its whole range;
		// refreshing a few nodes and taking the best of the cached scores
		// costs less than waking them, so that runs on the caller.
		parallel := false
		for w := range p {
			lo := w * chunk
			parallel = parallel || !c.fresh(lo, min(lo+chunk, total), &s.work[w])
		}
		for w := 1; w < p; w++ {
			run := func() {
				lo := w * chunk
				s.outs[w] = c.columns(lo, min(lo+chunk, total), &s.work[w], salt)
			}
			if parallel {
				s.wg.Go(run)
			} else {
				run()
			}
		}
		s.outs[0] = c.columns(0, chunk, &s.work[0], salt)
		s.wg.Wait()
		r = s.outs[0]
		for _, o := range s.outs[1:p] {
			if o.beats(r) {
				r = o
			}
		}
	}
	if r.best < 0 {
		return 0, 0, false
	}
	return r.best, r.score, true
}

// minNodesPerWorker keeps the goroutine hand-off (a microsecond or two)
// small against the work it saves.
const minNodesPerWorker = 2048

func (s *Scheduler) grow(p int) {
	for len(s.work) < p {
		s.work = append(s.work, workScratch{})
	}
	for len(s.outs) < p {
		s.outs = append(s.outs, scanOut{})
	}
}

type scanOut struct {
	best    int32
	score   int64
	tie     uint64
	visited int
}

func (o scanOut) beats(r scanOut) bool {
	if o.best < 0 {
		return false
	}
	return r.best < 0 || o.score > r.score || o.score == r.score && o.tie < r.tie
}

// filterList appends to dst the slots of src that f passes.
func (c *Cycle) filterList(f *filterEntry, src, dst []int32) []int32 {
	if f.batch != nil {
		return f.batch.FilterBatch(c, src, dst)
	}
	nodes := c.inv.nodes
	for _, i := range src {
		if f.p.Filter(c, &nodes[i]) == nil {
			dst = append(dst, i)
		}
	}
	return dst
}

// scoreList adds e's weighted score of each node in slots to scores.
func (c *Cycle) scoreList(e *scoreEntry, slots []int32, scores []int64) {
	if e.batch != nil {
		e.batch.ScoreBatch(c, slots, e.weight, scores)
		return
	}
	nodes := c.inv.nodes
	for j, i := range slots {
		scores[j] += e.weight * e.p.Score(c, &nodes[i])
	}
}

// columns is the exact-mode node loop over slots [lo, hi), run a plugin at
// a time rather than a node at a time: each filter narrows a list of
// candidate slots in a loop of its own, then each score adds to a column
// of scores. Per node this costs a fraction of calling every plugin for
// every node, because each loop is small enough for the compiler to keep
// in registers. The result equals scan's: same feasible set, same scores,
// same tie-break.
func (c *Cycle) columns(lo, hi int, w *workScratch, salt uint64) scanOut {
	total := len(c.inv.nodes)
	a := &c.active
	c.syncBase(lo, hi, w)
	// The cached candidates must survive the replica: the first dynamic
	// filter copies the survivors into the worker's buffer, the next ones
	// narrow it in place, and the survivors' cached scores are then
	// gathered by slot.
	cand, scores := w.base, w.baseScore
	if len(a.dyn) > 0 {
		buf := slices.Grow(w.cand[:0], len(cand))
		src := cand
		for k, f := range a.dyn {
			dst := buf[:0]
			if k > 0 {
				dst = src[:0]
			}
			src = c.filterList(f, src, dst)
		}
		w.cand, cand = buf, src
		w.scores = slices.Grow(w.scores[:0], len(cand))[:len(cand)]
		scores = w.scores
		at := w.scoresBySlot()
		for j, i := range cand {
			scores[j] = at[int(i)-lo]
		}
	} else if len(a.dynS) > 0 { // the dynamic scores add in place
		w.scores = append(w.scores[:0], scores...)
		scores = w.scores
	}
	out := scanOut{best: -1, visited: hi - lo}
	if len(cand) == 0 {
		return out
	}
	for _, e := range a.dynS {
		c.scoreList(e, cand, scores)
	}
	off := int(salt % uint64(total))
	best := 0
	bestTie := tieKey(int(cand[0]), off, total)
	for j := 1; j < len(cand); j++ {
		if scores[j] < scores[best] {
			continue
		}
		t := tieKey(int(cand[j]), off, total)
		if scores[j] > scores[best] || t < bestTie {
			best, bestTie = j, t
		}
	}
	out.best, out.score, out.tie = cand[best], scores[best], uint64(bestTie)
	return out
}

// window is sampled mode on the cached candidates: from the first
// candidate at or after start, wrapping, it runs the dynamic filters
// until want nodes pass, and picks the best. It visits exactly the nodes
// scan would and returns the same node, without touching the others.
func (c *Cycle) window(start, want int, salt uint64) scanOut {
	s, a := c.s, &c.active
	s.grow(1)
	w := &s.work[0]
	total := len(c.inv.nodes)
	c.syncBase(0, total, w)
	out := scanOut{best: -1, visited: total}
	base, baseScore := w.base, w.baseScore
	if len(base) == 0 {
		return out
	}
	off := int(salt % uint64(total))
	b0, _ := slices.BinarySearch(base, int32(start))
	found := 0
	for k := range base {
		b := b0 + k
		if b >= len(base) {
			b -= len(base)
		}
		i := base[b]
		n := &c.inv.nodes[i]
		ok := true
		for _, f := range a.dyn {
			if f.p.Filter(c, n) != nil {
				ok = false
				break
			}
		}
		if !ok {
			continue
		}
		sc := baseScore[b]
		for _, e := range a.dynS {
			sc += e.weight * e.p.Score(c, n)
		}
		if out.best < 0 || sc >= out.score {
			tie := tieKey(int(i), off, total)
			if out.best < 0 || sc > out.score || uint64(tie) < out.tie {
				out.best, out.score, out.tie = i, sc, uint64(tie)
			}
		}
		found++
		if found >= want {
			out.visited = tieKey(int(i), start, total) + 1
			break
		}
	}
	return out
}

func tieKey(i, off, total int) int {
	t := i - off
	if t < 0 {
		t += total
	}
	return t
}

// mix64 is splitmix64's finalizer: a cheap, well-spread hash for ties.
func mix64(x uint64) uint64 {
	x ^= x >> 30
	x *= 0xbf58476d1ce4e5b9
	x ^= x >> 27
	x *= 0x94d049bb133111eb
	x ^= x >> 31
	return x
}

// strHash is FNV-1a: stable across processes, unlike maphash.
func strHash(s string) uint64 {
	h := uint64(14695981039346656037)
	for i := 0; i < len(s); i++ {
		h ^= uint64(s[i])
		h *= 1099511628211
	}
	return h
}
