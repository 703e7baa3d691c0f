package sched

import "slices"

// Cycle is the state of one placement: the request compiled against the
// inventory, the app's instance counts, and the plugins taking part in
// the current replica. Plugins receive it for reading; it is valid only
// during the call.
type Cycle struct {
	s        *Scheduler
	inv      *Inventory
	req      *Request
	reqBuf   Request // the request of the running Place, so that it need not escape
	replica  int
	unplaced int
	app      *appState
	query           // the request compiled to interned ids
	counts          // the app's instances per node
	active   active // the plugins of this replica
	state    map[string]any
}

// query is a request compiled to the inventory's interned ids, so that
// the filters compare integers.
type query struct {
	anyZone  bool
	zones    []int32
	level    int32 // -1 any, -2 no node can match
	netZone  int32 // -1 any, -2 no node can match
	selector []int32
	noSel    bool // a selector pair no node has
	scoped   bool // some constraint narrows the nodes whose domains count for spread
	vlan     int32
	res      Resources
	image    int32
	reqAnti  [numLevels]int32 // the request's anti-affinity limits, kept by its allocations
	tieSalt  uint64
}

// counts holds the app's instance count per node slot, filled on demand
// (ensureCounts) and kept current as replicas are placed.
type counts struct {
	nodeCount   []int32
	touched     []int32
	countsReady bool
}

// Request returns the request being placed; it must not be modified.
func (c *Cycle) Request() *Request { return c.req }

// Replica returns the index of the replica being placed (0-based).
func (c *Cycle) Replica() int { return c.replica }

// Node returns the node in a slot (see NodeInfo.Slot), for BatchFilter
// and BatchScorer.
func (c *Cycle) Node(slot int32) *NodeInfo { return &c.inv.nodes[slot] }

// AppCount returns the instances of the request's app on the node.
func (c *Cycle) AppCount(n *NodeInfo) int {
	if c.countsReady {
		return int(c.nodeCount[n.slot])
	}
	return int(c.app.nodes[n.slot]) // only read while plugins run
}

// DomainCount returns the instances of the request's app in the node's
// domain of key (0 if the node lacks the key).
func (c *Cycle) DomainCount(n *NodeInfo, key TopologyKey) int {
	lv, ok := levelOf(key)
	if !ok {
		return 0
	}
	if lv == lvNode {
		return c.AppCount(n)
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
	c.tieSalt = mix64(c.s.cfg.Seed ^ strHash(req.App))
	if cap(c.nodeCount) < len(inv.nodes) {
		c.nodeCount = make([]int32, len(inv.nodes))
	}
	c.nodeCount = c.nodeCount[:len(inv.nodes)]
	c.touched = c.touched[:0]
	c.countsReady = false
	c.state = nil
}

// ensureCounts fills the dense per-node instance counts of the app. The
// walk over the app's instances is paid only by the plugins that read
// counts per node a node at a time (node-level spread and anti-affinity);
// AppCount reads the inventory's sparse counts until then.
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
	c.countsReady = false
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
	return c.anyZone || slicesContains(c.zones, n.dom[lvZone]) && n.dom[lvZone] >= 0
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
