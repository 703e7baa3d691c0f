package sched

import (
	"fmt"
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

// Config configures a Scheduler. Start from DefaultConfig.
type Config struct {
	// Mode is Exact (the default) or Sampled.
	Mode Mode
	// PercentageOfNodesToScore is, in Sampled mode, the share of the
	// nodes (1..100) to find feasible before choosing. 0 means adaptive,
	// as in kube-scheduler: 50% minus 1% per 125 nodes, at least 5%.
	PercentageOfNodesToScore int
	// MinFeasibleNodesToFind is, in Sampled mode, the least number of
	// feasible nodes to find before choosing (default 100, as kube).
	MinFeasibleNodesToFind int
	// Filters lists the filter plugins to run, in order. The cheapest and
	// most selective first: the loop stops at a node's first rejection,
	// and why-not counts each node under that first rejection.
	Filters []string
	// Scores lists the score plugins and their weights (at least 1).
	Scores []ScoreWeight
	// Seed breaks ties between equally scored nodes. The same inventory,
	// request sequence, config and seed give the same placements.
	Seed uint64
}

// DefaultConfig returns the default profile: exact mode, every built-in
// filter, and spreading scores (least allocated, balanced, image locality,
// soft spread, taint preference). Replace PluginLeastAllocated by
// PluginMostAllocated to bin-pack.
func DefaultConfig() Config {
	return Config{
		Mode:                   Exact,
		MinFeasibleNodesToFind: 100,
		Filters: []string{
			PluginTaintToleration, PluginZoneLevel, PluginNetworkZone, PluginNodeLabels,
			PluginResourceFit, PluginAntiAffinity, PluginHardSpread,
		},
		Scores: []ScoreWeight{
			{PluginLeastAllocated, 1},
			{PluginBalanced, 1},
			{PluginImageLocality, 1},
			{PluginSoftSpread, 2},
			{PluginTaintToleration, 1},
		},
	}
}

// Scheduler places requests on an Inventory. It is safe for concurrent
// use: calls serialize on the inventory's lock.
type Scheduler struct {
	inv     *Inventory
	cfg     Config
	filters []FilterPlugin
	scorers []ScorePlugin
	weights []int64
	next    int // Sampled: where the next window starts
	cycle   Cycle
	elig    eligCache
}

// New returns a Scheduler for inv built from the plugins of reg (nil means
// NewRegistry()). It returns ErrInvalid for a bad config.
func New(inv *Inventory, cfg Config, reg *Registry) (*Scheduler, error) {
	if inv == nil {
		return nil, fmt.Errorf("%w: inventory: nil", ErrInvalid)
	}
	if reg == nil {
		reg = NewRegistry()
	}
	switch {
	case cfg.Mode != Exact && cfg.Mode != Sampled:
		return nil, fmt.Errorf("%w: config.Mode: unknown mode %d", ErrInvalid, cfg.Mode)
	case cfg.PercentageOfNodesToScore < 0 || cfg.PercentageOfNodesToScore > 100:
		return nil, fmt.Errorf("%w: config.PercentageOfNodesToScore: %d out of range 0..100", ErrInvalid, cfg.PercentageOfNodesToScore)
	case cfg.MinFeasibleNodesToFind < 0:
		return nil, fmt.Errorf("%w: config.MinFeasibleNodesToFind: negative (%d)", ErrInvalid, cfg.MinFeasibleNodesToFind)
	}
	if cfg.MinFeasibleNodesToFind == 0 {
		cfg.MinFeasibleNodesToFind = 100
	}
	s := &Scheduler{inv: inv, cfg: cfg}
	for i, name := range cfg.Filters {
		if slices.Contains(cfg.Filters[:i], name) {
			return nil, fmt.Errorf("%w: config.Filters[%d]: %q listed twice", ErrInvalid, i, name)
		}
		p, err := reg.build(name)
		if err != nil {
			return nil, fmt.Errorf("%w: config.Filters[%d]: %w", ErrInvalid, i, err)
		}
		f, ok := p.(FilterPlugin)
		if !ok {
			return nil, fmt.Errorf("%w: config.Filters[%d]: plugin %q is not a filter", ErrInvalid, i, name)
		}
		s.filters = append(s.filters, f)
	}
	for i, sw := range cfg.Scores {
		if sw.Weight < 1 {
			return nil, fmt.Errorf("%w: config.Scores[%d].Weight: %d, must be at least 1", ErrInvalid, i, sw.Weight)
		}
		for _, prev := range cfg.Scores[:i] {
			if prev.Name == sw.Name {
				return nil, fmt.Errorf("%w: config.Scores[%d]: %q listed twice", ErrInvalid, i, sw.Name)
			}
		}
		p, err := reg.build(sw.Name)
		if err != nil {
			return nil, fmt.Errorf("%w: config.Scores[%d]: %w", ErrInvalid, i, err)
		}
		sp, ok := p.(ScorePlugin)
		if !ok {
			return nil, fmt.Errorf("%w: config.Scores[%d]: plugin %q is not a score plugin", ErrInvalid, i, sw.Name)
		}
		s.scorers = append(s.scorers, sp)
		s.weights = append(s.weights, sw.Weight)
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
	c.begin(&req)
	defer c.end()
	res := &Result{Placements: make([]Placement, 0, req.Count)}
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
	return res, fmt.Errorf("%w: %d of %d replicas of app %q unplaced: %s", ErrUnschedulable, res.Unplaced, req.Count, req.App, res.WhyNot)
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
	c.begin(&req)
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
	image    int32
	reqAnti  [numLevels]int32
	anti     [numLevels]int32 // request's and placed instances' limits
	tieSalt  uint64

	nodeCount []int32 // per slot instance count of the app, kept current
	touched   []int32

	filters  []FilterPlugin // active for this replica
	fidx     []int          // their index in s.filters
	rejected []int          // per active filter, nodes it rejected first
	blockAll *Status        // a PreFilter that rejects every node
	blockBy  int
	scorers  []ScorePlugin
	weights  []int64

	hard, soft []spreadState
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
	for slot, cnt := range c.app.nodes {
		c.nodeCount[slot] = cnt
		c.touched = append(c.touched, slot)
	}
	c.state = nil
}

func (c *Cycle) placed(slot int32) {
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
		delete(c.inv.apps, c.app.name)
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
	c.filters, c.fidx, c.rejected = c.filters[:0], c.fidx[:0], c.rejected[:0]
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
		c.rejected = append(c.rejected, 0)
	}
	c.scorers, c.weights = c.scorers[:0], c.weights[:0]
	for i, sp := range s.scorers {
		if ps, ok := sp.(PreScorePlugin); ok && ps.PreScore(c).Code() == Skip {
			continue
		}
		c.scorers = append(c.scorers, sp)
		c.weights = append(c.weights, s.weights[i])
	}
}

// placeOne chooses the node for the current replica.
func (c *Cycle) placeOne() (slot int32, score int64, ok bool) {
	c.prepare()
	if c.blockAll != nil {
		return 0, 0, false
	}
	nodes := c.inv.nodes
	total := len(nodes)
	if total == 0 {
		return 0, 0, false
	}
	want := c.s.numToFind(c.inv.live)
	start := 0
	if c.s.cfg.Mode == Sampled {
		start = c.s.next % total
	}
	filters, rejected := c.filters, c.rejected
	scorers, weights := c.scorers, c.weights
	salt := mix64(c.tieSalt + uint64(c.replica)*0x9e3779b97f4a7c15)
	best, bestScore := int32(-1), int64(0)
	var bestTie uint64
	found, visited := 0, 0
	for k := range total {
		i := start + k
		if i >= total {
			i -= total
		}
		visited = k + 1
		n := &nodes[i]
		if !n.live {
			continue
		}
		feasible := true
		for fi, f := range filters {
			if f.Filter(c, n) != nil {
				rejected[fi]++
				feasible = false
				break
			}
		}
		if !feasible {
			continue
		}
		var sc int64
		for si, sp := range scorers {
			sc += weights[si] * sp.Score(c, n)
		}
		switch {
		case best < 0 || sc > bestScore:
			best, bestScore, bestTie = int32(i), sc, mix64(salt^uint64(i))
		case sc == bestScore:
			if t := mix64(salt ^ uint64(i)); t > bestTie {
				best, bestTie = int32(i), t
			}
		}
		found++
		if found >= want {
			break
		}
	}
	if c.s.cfg.Mode == Sampled {
		c.s.next = (start + visited) % total
	}
	if best < 0 {
		return 0, 0, false
	}
	return best, bestScore, true
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
