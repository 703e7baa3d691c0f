package sched

import (
	"slices"
	"sync"
)

// Scheduler places requests on an Inventory. It is safe for concurrent
// use: calls serialize on the inventory's lock.
type Scheduler struct {
	inv         *Inventory
	cfg         Config
	filters     []FilterPlugin
	scorers     []ScorePlugin
	weights     []int64
	next        int // Sampled: where the next window starts
	parallelism int
	custom      bool // some plugin is not a built-in: it may read AppCount
	// uncached makes placeOne use scan, the plain per-node loop without
	// caches; tests compare the fast loops with it.
	uncached bool
	cycle    Cycle
	elig     eligCache
}

// New returns a Scheduler for inv built from the plugins of reg (nil means
// NewRegistry()). It returns ErrInvalid for a bad config.
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
	s := &Scheduler{inv: inv, cfg: cfg, parallelism: cfg.Parallelism}
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
		s.filters = append(s.filters, f)
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
		s.scorers = append(s.scorers, sp)
		s.weights = append(s.weights, sw.Weight)
	}
	for _, f := range s.filters {
		s.custom = s.custom || filterKind(f) == kindGeneric
	}
	for _, sp := range s.scorers {
		s.custom = s.custom || scoreKind(sp) == kindGeneric
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

// eligCache keeps, per topology level, which domains hold at least one node
// in the request's scope; it depends only on the scope and on the
// inventory's topology, so it survives across calls for the same scope.
type eligCache struct {
	valid    bool
	gen      uint64
	zones    []int32
	anyZone  bool
	level    int32
	netZone  int32
	selector []int32
	noSel    bool
	elig     [numLevels][]bool
	numElig  [numLevels]int
}

// Cycle is the state of one placement: the request compiled against the
// inventory, and what plugins prepared for the current replica. Plugins
// receive it for reading; it is valid only during the call.
type Cycle struct {
	s        *Scheduler
	inv      *Inventory
	req      *Request
	reqBuf   Request // the request of the running Place, so that it need not escape
	replica  int
	unplaced int
	app      *appState

	// the request compiled to interned ids
	anyZone  bool
	zones    []int32
	level    int32 // -1 any, -2 no node can match
	netZone  int32
	selector []int32
	noSel    bool // a selector pair no node has
	scoped   bool
	vlan     int32
	res      Resources
	image    int32
	antiLv   [numLevels]int
	nAnti    int
	antiOk   [numLevels][]bool // per domain: below the anti-affinity limit
	reqAnti  [numLevels]int32
	anti     [numLevels]int32 // request's and placed instances' limits
	tieSalt  uint64

	nodeCount   []int32 // per slot instance count of the app, kept current once filled
	touched     []int32
	countsReady bool
	needCounts  bool

	filters  []FilterPlugin // active for this replica
	fkinds   []uint8        // built-in kind of each, for the inlined fast path
	resFit   bool           // ResourceFit is among them
	fidx     []int          // their index in s.filters
	blockAll *Status        // a PreFilter that rejects every node
	blockBy  int
	scorers  []ScorePlugin
	skinds   []uint8
	weights  []int64

	hard, soft []spreadState
	outs       []scanOut // per worker, written by the workers at their own index
	wg         sync.WaitGroup
	work       []workScratch
	sig        []uint8   // the active plugin kinds
	key        stableKey // what the stable plugins read of the request
	imageScore int64     // ImageLocality's score for the request's image
	state      map[string]any
}

// Request returns the request being placed; it must not be modified.
func (c *Cycle) Request() *Request { return c.req }

// Replica returns the index of the replica being placed (0-based).
func (c *Cycle) Replica() int { return c.replica }

// AppCount returns the instances of the request's app on the node.
func (c *Cycle) AppCount(n *NodeInfo) int { return int(c.nodeCount[n.slot]) }

// DomainCount returns the instances of the request's app in the node's
// domain of key (0 if the node lacks the key).
func (c *Cycle) DomainCount(n *NodeInfo, key TopologyKey) int {
	lv, ok := levelOf(key)
	if !ok {
		return 0
	}
	if lv == lvNode {
		return int(c.nodeCount[n.slot])
	}
	return int(c.app.count(lv, n.dom[lv]))
}

// SetState stores per-cycle data for a custom plugin, keyed by its name.
// Call it from PreFilter or PreScore only: Filter and Score run
// concurrently and may only read it with State.
func (c *Cycle) SetState(key string, v any) {
	if c.state == nil {
		c.state = make(map[string]any)
	}
	c.state[key] = v
}

// State returns data stored by SetState during this Place call.
func (c *Cycle) State(key string) any { return c.state[key] }

func (c *Cycle) begin(req *Request) {
	inv := c.inv
	c.req = req
	c.app = inv.app(req.App)
	c.anyZone = len(req.Zones) == 0
	c.zones = c.zones[:0]
	for _, z := range req.Zones {
		c.zones = append(c.zones, inv.dom[lvZone].lookup(z))
	}
	c.level = -1
	if req.Level != "" {
		c.level = inv.levels.lookup(req.Level)
		if c.level < 0 {
			c.level = -2
		}
	}
	c.netZone = -1
	if req.NetZone != "" {
		c.netZone = inv.dom[lvNetZone].lookup(req.NetZone)
		if c.netZone < 0 {
			c.netZone = -2
		}
	}
	c.selector = c.selector[:0]
	c.noSel = false
	for k, v := range req.NodeSelector {
		id, ok := inv.labels[labelPair{k, v}]
		if !ok {
			c.noSel = true
		}
		c.selector = append(c.selector, id)
	}
	slices.Sort(c.selector)
	c.scoped = !c.anyZone || c.level != -1 || c.netZone != -1 || len(req.NodeSelector) > 0
	c.vlan = int32(req.VLAN)
	c.res = req.Resources
	c.image = -1
	if req.Image != "" {
		if id, ok := inv.imageIDs[req.Image]; ok {
			c.image = id
		}
	}
	c.reqAnti = [numLevels]int32{}
	for _, a := range req.AntiAffinity {
		lv, _ := levelOf(a.Key)
		c.reqAnti[lv] = int32(min(a.Max, 1<<30))
	}
	for lv := range c.anti {
		lim := c.reqAnti[lv]
		if m := c.app.antiLimit(lv); m > 0 && (lim == 0 || m < lim) {
			lim = m
		}
		c.anti[lv] = lim
	}
	c.tieSalt = mix64(c.s.cfg.Seed ^ strHash(req.App))
	if cap(c.nodeCount) < len(inv.nodes) {
		c.nodeCount = make([]int32, len(inv.nodes))
	}
	c.nodeCount = c.nodeCount[:len(inv.nodes)]
	c.touched = c.touched[:0]
	c.countsReady = false
	// The dense per-node counts cost a walk over the app's instances;
	// only node-level rules and custom plugins (through AppCount) read
	// them.
	c.needCounts = c.anti[lvNode] > 0 || c.s.custom
	for _, r := range req.Spread {
		c.needCounts = c.needCounts || r.Key == KeyNode
	}
	c.state = nil
}

// ensureCounts fills the dense per-node instance counts of the app.
func (c *Cycle) ensureCounts() {
	if c.countsReady {
		return
	}
	c.countsReady = true
	for slot, cnt := range c.app.nodes {
		c.nodeCount[slot] = cnt
		c.touched = append(c.touched, slot)
	}
}

func (c *Cycle) placed(slot int32) {
	if !c.countsReady {
		return // ensureCounts will read the inventory, which has it
	}
	if c.nodeCount[slot] == 0 {
		c.touched = append(c.touched, slot)
	}
	c.nodeCount[slot]++
}

func (c *Cycle) end() {
	for _, slot := range c.touched {
		c.nodeCount[slot] = 0
	}
	c.touched = c.touched[:0]
	if c.app != nil && c.app.total == 0 {
		c.inv.dropApp(c.app)
	}
	c.app = nil
	c.req = nil
	c.state = nil
}

// inScope reports whether a node passes the request's zone, level, network
// zone and label constraints: the nodes whose domains count for spread.
func (c *Cycle) inScope(n *NodeInfo) bool {
	return c.zoneOK(n) && c.levelOK(n) && c.netZoneOK(n) && c.labelsOK(n)
}

func (c *Cycle) zoneOK(n *NodeInfo) bool {
	return c.anyZone || slices.Contains(c.zones, n.dom[lvZone]) && n.dom[lvZone] >= 0
}

func (c *Cycle) levelOK(n *NodeInfo) bool { return c.level == -1 || n.level == c.level }

func (c *Cycle) netZoneOK(n *NodeInfo) bool {
	return c.netZone == -1 || n.dom[lvNetZone] == c.netZone
}

func (c *Cycle) labelsOK(n *NodeInfo) bool {
	if len(c.selector) == 0 {
		return true
	}
	if c.noSel {
		return false
	}
	// both sorted: a merge walk
	j := 0
	for _, want := range c.selector {
		for j < len(n.labels) && n.labels[j] < want {
			j++
		}
		if j == len(n.labels) || n.labels[j] != want {
			return false
		}
	}
	return true
}

// eligible returns, per level, which domains hold a node in scope.
func (c *Cycle) eligible() *eligCache {
	e := &c.s.elig
	inv := c.inv
	if e.valid && e.gen == inv.topoGen && e.anyZone == c.anyZone && slices.Equal(e.zones, c.zones) &&
		e.level == c.level && e.netZone == c.netZone && e.noSel == c.noSel && slices.Equal(e.selector, c.selector) {
		return e
	}
	e.valid, e.gen, e.anyZone, e.level, e.netZone, e.noSel = true, inv.topoGen, c.anyZone, c.level, c.netZone, c.noSel
	e.zones = append(e.zones[:0], c.zones...)
	e.selector = append(e.selector[:0], c.selector...)
	for lv := range e.elig {
		size := len(inv.nodes)
		if lv != lvNode {
			size = len(inv.dom[lv].names)
		}
		e.elig[lv] = slices.Grow(e.elig[lv][:0], size)[:size]
		clear(e.elig[lv])
		e.numElig[lv] = 0
	}
	for i := range inv.nodes {
		n := &inv.nodes[i]
		if !n.live || !c.inScope(n) {
			continue
		}
		for lv, d := range n.dom {
			if d >= 0 && !e.elig[lv][d] {
				e.elig[lv][d] = true
				e.numElig[lv]++
			}
		}
	}
	return e
}

// prepare runs the PreFilter and PreScore hooks for the current replica
// and selects the plugins that take part.
func (c *Cycle) prepare() {
	s := c.s
	if c.needCounts {
		c.ensureCounts()
	}
	c.filters, c.fidx, c.fkinds, c.resFit = c.filters[:0], c.fidx[:0], c.fkinds[:0], false
	c.blockAll, c.blockBy = nil, -1
	for i, f := range s.filters {
		if pf, ok := f.(PreFilterPlugin); ok {
			st := pf.PreFilter(c)
			if st.Code() == Skip {
				continue
			}
			if !st.IsSuccess() && c.blockAll == nil {
				c.blockAll, c.blockBy = st, i
			}
		}
		c.filters = append(c.filters, f)
		c.fidx = append(c.fidx, i)
		c.fkinds = append(c.fkinds, filterKind(f))
		c.resFit = c.resFit || c.fkinds[len(c.fkinds)-1] == kindResourceFit
	}
	c.scorers, c.weights, c.skinds = c.scorers[:0], c.weights[:0], c.skinds[:0]
	c.imageScore = 0
	for i, sp := range s.scorers {
		if ps, ok := sp.(PreScorePlugin); ok && ps.PreScore(c).Code() == Skip {
			continue
		}
		c.scorers = append(c.scorers, sp)
		c.weights = append(c.weights, s.weights[i])
		c.skinds = append(c.skinds, scoreKind(sp))
	}
	// The workers' caches hold for one set of active plugins and one
	// request, as far as the stable plugins read it.
	c.sig = append(append(append(c.sig[:0], c.fkinds...), 0xff), c.skinds...)
	c.key = stableKey{
		res: c.res, vlan: c.vlan, anyZone: c.anyZone, level: c.level, netZone: c.netZone, noSel: c.noSel,
		image: c.image, imageScore: c.imageScore,
		zones: c.zones, selector: c.selector, tolerations: c.req.Tolerations, kinds: c.sig, weights: c.weights,
	}
}

// stableKey is what the stable plugins read of a request: two requests
// with equal keys get the same cached candidates and scores.
type stableKey struct {
	res         Resources
	vlan        int32
	anyZone     bool
	noSel       bool
	level       int32
	netZone     int32
	image       int32
	imageScore  int64
	zones       []int32
	selector    []int32
	tolerations []Toleration
	kinds       []uint8
	weights     []int64
}

func (k *stableKey) equal(o *stableKey) bool {
	return k.res == o.res && k.vlan == o.vlan && k.anyZone == o.anyZone && k.noSel == o.noSel &&
		k.level == o.level && k.netZone == o.netZone && k.image == o.image && k.imageScore == o.imageScore &&
		slices.Equal(k.zones, o.zones) && slices.Equal(k.selector, o.selector) &&
		slices.Equal(k.tolerations, o.tolerations) && slices.Equal(k.kinds, o.kinds) && slices.Equal(k.weights, o.weights)
}

// set copies o into k, slices included, reusing k's storage.
func (k *stableKey) set(o *stableKey) {
	zones, selector, tolerations, kinds, weights := k.zones, k.selector, k.tolerations, k.kinds, k.weights
	*k = *o
	k.zones = append(zones[:0], o.zones...)
	k.selector = append(selector[:0], o.selector...)
	k.tolerations = append(tolerations[:0], o.tolerations...)
	k.kinds = append(kinds[:0], o.kinds...)
	k.weights = append(weights[:0], o.weights...)
}

// placeOne chooses the node for the current replica. In exact mode on a
// large inventory the node loop is split over Config.Parallelism
// goroutines (as kube-scheduler's parallelizer does); each keeps its own
// best node and the results merge deterministically, since ties are
// broken by the node slot, not by visiting order.
func (c *Cycle) placeOne() (slot int32, score int64, ok bool) {
	c.prepare()
	if c.blockAll != nil {
		return 0, 0, false
	}
	total := len(c.inv.nodes)
	if total == 0 {
		return 0, 0, false
	}
	salt := mix64(c.tieSalt + uint64(c.replica)*0x9e3779b97f4a7c15)
	var r scanOut
	switch p := min(c.s.parallelism, total/minNodesPerWorker); {
	case c.s.uncached: // tests: the plain per-node loop, the reference
		start, want := 0, total
		if c.s.cfg.Mode == Sampled {
			start, want = c.s.next%total, c.s.numToFind(c.inv.live)
		}
		r = c.scan(start, total, want, salt)
		c.s.next = (start + r.visited) % total
	case c.s.cfg.Mode == Sampled:
		start := c.s.next % total
		r = c.window(start, c.s.numToFind(c.inv.live), salt)
		c.s.next = (start + r.visited) % total
	case p <= 1:
		c.grow(1)
		r = c.columns(0, total, &c.work[0], salt)
	default:
		c.grow(p)
		chunk := (total + p - 1) / p
		for len(c.outs) < p {
			c.outs = append(c.outs, scanOut{})
		}
		// Goroutines pay off when a worker must sweep its whole range;
		// refreshing a few nodes and taking the best of the cached scores
		// costs less than waking them, so that runs on the caller.
		parallel := false
		for w := range p {
			lo := w * chunk
			parallel = parallel || !c.fresh(lo, min(lo+chunk, total), &c.work[w])
		}
		for w := 1; w < p; w++ {
			run := func() {
				lo := w * chunk
				c.outs[w] = c.columns(lo, min(lo+chunk, total), &c.work[w], salt)
			}
			if parallel {
				c.wg.Go(run)
			} else {
				run()
			}
		}
		c.outs[0] = c.columns(0, chunk, &c.work[0], salt)
		c.wg.Wait()
		r = c.outs[0]
		for _, o := range c.outs[1:p] {
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

// Built-in plugins are recognised once per replica and called through a
// switch on their kind, which lets the compiler inline their small tests
// into the node loop; other plugins go through the interface.
const (
	kindGeneric uint8 = iota
	kindResourceFit
	kindAntiAffinity
	kindHardSpread
	kindZoneLevel
	kindNetworkZone
	kindNodeLabels
	kindTaints
	kindLeast
	kindMost
	kindBalanced
	kindImage
	kindSoftSpread
	kindTaintScore
)

func filterKind(f FilterPlugin) uint8 {
	switch f.(type) {
	case *resourceFit:
		return kindResourceFit
	case *antiAffinity:
		return kindAntiAffinity
	case *hardSpread:
		return kindHardSpread
	case *zoneLevel:
		return kindZoneLevel
	case *networkZone:
		return kindNetworkZone
	case *nodeLabels:
		return kindNodeLabels
	case *taintToleration:
		return kindTaints
	}
	return kindGeneric
}

func scoreKind(s ScorePlugin) uint8 {
	switch s.(type) {
	case *leastAllocated:
		return kindLeast
	case *mostAllocated:
		return kindMost
	case *balancedAllocation:
		return kindBalanced
	case *imageLocality:
		return kindImage
	case *softSpread:
		return kindSoftSpread
	case *taintToleration:
		return kindTaintScore
	}
	return kindGeneric
}

func (c *Cycle) passes(fi int, k uint8, n *NodeInfo) bool {
	switch k {
	case kindResourceFit:
		return c.fitsResources(n)
	case kindAntiAffinity:
		return c.antiOK(n)
	case kindHardSpread:
		return c.spreadOK(n)
	case kindZoneLevel:
		return c.zoneOK(n) && c.levelOK(n)
	case kindNetworkZone:
		return c.netZoneOK(n)
	case kindNodeLabels:
		return c.labelsOK(n)
	case kindTaints:
		return !n.cordoned && c.taintsOK(n)
	}
	return c.filters[fi].Filter(c, n) == nil
}

func (c *Cycle) score(si int, k uint8, n *NodeInfo) int64 {
	switch k {
	case kindLeast:
		return c.resourceScores(&c.inv.hot[n.slot], 1, 0, 0)
	case kindMost:
		return c.resourceScores(&c.inv.hot[n.slot], 0, 0, 1)
	case kindBalanced:
		return c.resourceScores(&c.inv.hot[n.slot], 0, 1, 0)
	}
	return c.scorers[si].Score(c, n)
}

// workScratch is one node-loop worker's state. base and baseScore cache,
// for the worker's range of slots, the candidates that pass the stable
// filters and their stable score. They stay valid across replicas and
// across Place calls while the request's stable key, the worker's range
// and the inventory's topology stay the same: the nodes whose state
// changed in between, read from the inventory's change log, are
// re-evaluated one by one.
type workScratch struct {
	cand      []int32
	scores    []int64
	base      []int32
	baseScore []int64
	valid     bool
	key       stableKey
	lo, hi    int
	topoGen   uint64
	version   uint64
}

// dst returns where a filter pass over cand writes: the worker's own
// buffers on the first pass, in place afterwards.
func (w *workScratch) dst(cand []int32, scores []int64, copied *bool) ([]int32, []int64) {
	if *copied {
		return cand, scores
	}
	*copied = true
	w.cand = slices.Grow(w.cand[:0], len(cand))[:len(cand)]
	w.scores = slices.Grow(w.scores[:0], len(cand))[:len(cand)]
	return w.cand, w.scores
}

func (c *Cycle) grow(p int) {
	for len(c.work) < p {
		c.work = append(c.work, workScratch{})
	}
}

// Stable plugins give the same answer for a node throughout a batch
// unless the node itself changes: resources, zones, labels, taints and
// images. Spread, anti-affinity and custom plugins are re-run on every
// replica.
func stableFilter(k uint8) bool {
	switch k {
	case kindResourceFit, kindZoneLevel, kindNetworkZone, kindNodeLabels, kindTaints:
		return true
	}
	return false
}

func stableScore(k uint8) bool {
	switch k {
	case kindLeast, kindMost, kindBalanced, kindImage, kindTaintScore:
		return true
	}
	return false
}

// columns is the exact-mode node loop over slots [lo, hi), run a plugin at
// a time rather than a node at a time: each filter narrows a list of
// candidate slots in a tight loop of its own, then each score adds to a
// column of scores. Per node this costs a fraction of calling every plugin
// for every node, because each loop is small enough for the compiler to
// keep in registers. The result equals scan's: same feasible set, same
// scores, same tie-break.
func (c *Cycle) columns(lo, hi int, w *workScratch, salt uint64) scanOut {
	nodes := c.inv.nodes
	total := len(nodes)
	c.syncBase(lo, hi, w)
	// The dynamic filters narrow a copy of the cached candidates, a
	// filter (and for spread, a rule) at a time.
	// The dynamic filters narrow the cached candidates a filter (and for
	// spread and anti-affinity, a rule) at a time. The first pass copies
	// into the worker's own buffers, the cache must survive the replica;
	// later passes work in place.
	cand, scores := w.base, w.baseScore
	copied := false
	for fi, fk := range c.fkinds {
		if stableFilter(fk) {
			continue
		}
		switch fk {
		case kindHardSpread:
			for r := range c.hard {
				st := &c.hard[r]
				dc, ds := w.dst(cand, scores, &copied)
				j := 0
				if st.lv == lvNode {
					counts, limit := c.nodeCount, st.nodeLimit
					for b, i := range cand {
						if counts[i] < limit {
							dc[j], ds[j] = i, scores[b]
							j++
						}
					}
				} else {
					dom, ok := c.inv.domOf[st.lv], st.ok
					for b, i := range cand {
						if d := dom[i]; d >= 0 && ok[d] {
							dc[j], ds[j] = i, scores[b]
							j++
						}
					}
				}
				cand, scores = dc[:j], ds[:j]
			}
		case kindAntiAffinity:
			for _, lv := range c.antiLv[:c.nAnti] {
				dc, ds := w.dst(cand, scores, &copied)
				j := 0
				if lv == lvNode {
					counts, limit := c.nodeCount, c.anti[lvNode]
					for b, i := range cand {
						if counts[i] < limit {
							dc[j], ds[j] = i, scores[b]
							j++
						}
					}
				} else {
					dom, ok := c.inv.domOf[lv], c.antiOk[lv]
					for b, i := range cand {
						if d := dom[i]; d < 0 || ok[d] {
							dc[j], ds[j] = i, scores[b]
							j++
						}
					}
				}
				cand, scores = dc[:j], ds[:j]
			}
		default:
			dc, ds := w.dst(cand, scores, &copied)
			j := 0
			for b, i := range cand {
				if c.filters[fi].Filter(c, &nodes[i]) == nil {
					dc[j], ds[j] = i, scores[b]
					j++
				}
			}
			cand, scores = dc[:j], ds[:j]
		}
	}
	dynScores := false
	for _, sk := range c.skinds {
		dynScores = dynScores || !stableScore(sk)
	}
	if dynScores && !copied { // the dynamic scores add in place
		dc, ds := w.dst(cand, scores, &copied)
		copy(dc, cand)
		copy(ds, scores)
		cand, scores = dc, ds
	}
	out := scanOut{best: -1, visited: hi - lo}
	if len(cand) == 0 {
		return out
	}
	for si, sk := range c.skinds {
		if stableScore(sk) {
			continue
		}
		wt := c.weights[si]
		for j, i := range cand {
			scores[j] += wt * c.score(si, sk, &nodes[i])
		}
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

// syncBase brings the worker's cache for slots [lo, hi) up to date:
// rebuilt when the request's stable key, the range or the topology
// changed, else refreshed for the nodes the change log names.
func (c *Cycle) syncBase(lo, hi int, w *workScratch) {
	inv := c.inv
	fresh := c.fresh(lo, hi, w)
	var changed []int32
	if fresh {
		changed, _ = inv.changesSince(w.version)
	}
	if fresh {
		for _, x := range changed {
			if x >= int32(lo) && x < int32(hi) {
				c.refreshBase(x, w)
			}
		}
	} else {
		c.buildBase(lo, hi, w)
		w.key.set(&c.key)
		w.lo, w.hi, w.topoGen = lo, hi, inv.topoGen
	}
	w.version = inv.version
}

// fresh reports whether the worker's cache for [lo, hi) can be brought up
// to date from the change log rather than rebuilt.
func (c *Cycle) fresh(lo, hi int, w *workScratch) bool {
	inv := c.inv
	if !w.valid || w.lo != lo || w.hi != hi || w.topoGen != inv.topoGen || !w.key.equal(&c.key) {
		return false
	}
	_, ok := inv.changesSince(w.version)
	return ok
}

// window is sampled mode on the cached candidates: from the first
// candidate at or after start, wrapping, it runs the dynamic filters
// until want nodes pass, and picks the best. It visits exactly the nodes
// scan would and returns the same node, without touching the others.
func (c *Cycle) window(start, want int, salt uint64) scanOut {
	c.grow(1)
	w := &c.work[0]
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
		for fi, fk := range c.fkinds {
			if !stableFilter(fk) && !c.passes(fi, fk, n) {
				ok = false
				break
			}
		}
		if !ok {
			continue
		}
		sc := baseScore[b]
		for si, sk := range c.skinds {
			if !stableScore(sk) {
				sc += c.weights[si] * c.score(si, sk, n)
			}
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

// buildBase sweeps slots [lo, hi): liveness and free resources from the
// compact hot slice first (filters are a conjunction, so running
// ResourceFit first changes nothing but speed), then the other stable
// filters, then the stable scores. When nothing but ResourceFit filters,
// the resource scores are computed in the same sweep, while the node's
// hot entry is in cache.
func (c *Cycle) buildBase(lo, hi int, w *workScratch) {
	nodes, hot := c.inv.nodes, c.inv.hot
	var wl, wb, wm int64 // weights of the resource scores, 0 if inactive
	otherScores := false
	for si, sk := range c.skinds {
		switch sk {
		case kindLeast:
			wl = c.weights[si]
		case kindBalanced:
			wb = c.weights[si]
		case kindMost:
			wm = c.weights[si]
		case kindImage, kindTaintScore:
			otherScores = true
		}
	}
	otherFilters := c.vlan != 0 && c.resFit
	for _, fk := range c.fkinds {
		otherFilters = otherFilters || fk != kindResourceFit && stableFilter(fk)
	}
	base, scores := w.base[:0], w.baseScore[:0]
	fused := !otherFilters && c.resFit
	switch {
	case fused:
		for i := lo; i < hi; i++ {
			if h := &hot[i]; h.live && c.fitsHot(h) {
				base = append(base, int32(i))
				scores = append(scores, c.resourceScores(h, wl, wb, wm))
			}
		}
	case c.resFit:
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
		zones := c.inv.domOf[lvZone]
		netZones := c.inv.domOf[lvNetZone]
		for fi, fk := range c.fkinds {
			if !stableFilter(fk) || fk == kindResourceFit && c.vlan == 0 {
				continue
			}
			j := 0
			switch {
			case fk == kindZoneLevel && c.level == -1:
				// zones only: the dense zone slice, no node reads
				for _, i := range base {
					if z := zones[i]; z >= 0 && slices.Contains(c.zones, z) {
						base[j] = i
						j++
					}
				}
			case fk == kindNetworkZone:
				for _, i := range base {
					if netZones[i] == c.netZone {
						base[j] = i
						j++
					}
				}
			default:
				for _, i := range base {
					if c.passes(fi, fk, &nodes[i]) {
						base[j] = i
						j++
					}
				}
			}
			base = base[:j]
		}
		for _, i := range base {
			scores = append(scores, c.resourceScores(&hot[i], wl, wb, wm))
		}
	}
	if otherScores {
		for si, sk := range c.skinds {
			if sk == kindImage || sk == kindTaintScore {
				wt := c.weights[si]
				for j, i := range base {
					scores[j] += wt * c.score(si, sk, &nodes[i])
				}
			}
		}
	}
	w.base, w.baseScore, w.valid = base, scores, true
}

// refreshBase re-evaluates one node whose state changed since the base
// was built: it leaves, joins or stays with a new score.
func (c *Cycle) refreshBase(x int32, w *workScratch) {
	b, found := slices.BinarySearch(w.base, x)
	n := &c.inv.nodes[x]
	ok := c.inv.hot[x].live
	for fi, fk := range c.fkinds {
		if ok && stableFilter(fk) {
			ok = c.passes(fi, fk, n)
		}
	}
	switch {
	case !ok && found:
		w.base = slices.Delete(w.base, b, b+1)
		w.baseScore = slices.Delete(w.baseScore, b, b+1)
	case ok:
		var wl, wb, wm, sc int64
		for si, sk := range c.skinds {
			switch sk {
			case kindLeast:
				wl = c.weights[si]
			case kindBalanced:
				wb = c.weights[si]
			case kindMost:
				wm = c.weights[si]
			case kindImage, kindTaintScore:
				sc += c.weights[si] * c.score(si, sk, n)
			}
		}
		sc += c.resourceScores(&c.inv.hot[x], wl, wb, wm)
		if found {
			w.baseScore[b] = sc
		} else {
			w.base = slices.Insert(w.base, b, x)
			w.baseScore = slices.Insert(w.baseScore, b, sc)
		}
	}
}

func tieKey(i, off, total int) int {
	t := i - off
	if t < 0 {
		t += total
	}
	return t
}

// scan filters and scores count nodes from start (wrapping), stopping once
// want feasible nodes are found. It only reads shared state, so several
// scans run at once on disjoint ranges. Ties go to the node whose slot
// comes first after a per-replica offset derived from the seed: cheap,
// and independent of the order the nodes are visited in.
func (c *Cycle) scan(start, count, want int, salt uint64) scanOut {
	nodes, hot := c.inv.nodes, c.inv.hot
	total := len(nodes)
	fkinds, skinds, weights := c.fkinds, c.skinds, c.weights
	var wl, wb, wm int64 // the resource scores, summed in one call
	for si, sk := range skinds {
		switch sk {
		case kindLeast:
			wl = weights[si]
		case kindBalanced:
			wb = weights[si]
		case kindMost:
			wm = weights[si]
		}
	}
	off := int(salt % uint64(total))
	out := scanOut{best: -1}
	found := 0
	for k := range count {
		i := start + k
		if i >= total {
			i -= total
		}
		h := &hot[i]
		if !h.live || c.resFit && !c.fitsHot(h) {
			continue
		}
		n := &nodes[i]
		feasible := true
		for fi, fk := range fkinds {
			if fk == kindResourceFit {
				if c.vlan != 0 && n.ipsLeft(c.vlan) < 1 {
					feasible = false
					break
				}
				continue
			}
			if !c.passes(fi, fk, n) {
				feasible = false
				break
			}
		}
		if !feasible {
			continue
		}
		sc := c.resourceScores(h, wl, wb, wm)
		for si, sk := range skinds {
			if sk != kindLeast && sk != kindBalanced && sk != kindMost {
				sc += weights[si] * c.score(si, sk, n)
			}
		}
		if out.best < 0 || sc >= out.score {
			tie := tieKey(i, off, total)
			if out.best < 0 || sc > out.score || uint64(tie) < out.tie {
				out.best, out.score, out.tie = int32(i), sc, uint64(tie)
			}
		}
		found++
		if found >= want {
			out.visited = k + 1
			return out
		}
	}
	out.visited = count
	return out
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
