package sched

import (
	"fmt"
	"slices"
)

// skipper hands out one Skip status per plugin, so that skipping does not
// allocate on every replica.
type skipper struct{ skip *Status }

func (s *skipper) skipStatus() *Status {
	if s.skip == nil {
		s.skip = &Status{code: Skip}
	}
	return s.skip
}

func tolerated(tols []Toleration, t Taint) bool {
	for _, tol := range tols {
		if tol.tolerates(t) {
			return true
		}
	}
	return false
}

// taintToleration keeps requests off cordoned nodes and nodes with a
// NoSchedule taint they do not tolerate (filter), and prefers nodes without
// untolerated PreferNoSchedule taints (score).
type taintToleration struct {
	skipper
	cordoned, tainted *Status
}

func newTaintToleration() *taintToleration {
	return &taintToleration{
		cordoned: NewStatus(Unschedulable, "node cordoned"),
		tainted:  NewStatus(UnschedulableAndUnresolvable, "untolerated NoSchedule taint"),
	}
}

// Name returns the plugin name.
func (p *taintToleration) Name() string { return PluginTaintToleration }

// PreFilter prepares the replica, or skips the plugin when the request has nothing for it.
func (p *taintToleration) PreFilter(c *Cycle) *Status {
	if c.inv.tainted == 0 {
		return p.skipStatus()
	}
	return nil
}

// Filter implements FilterPlugin.
func (p *taintToleration) Filter(c *Cycle, n *NodeInfo) *Status {
	if n.cordoned {
		return p.cordoned
	}
	if !c.taintsOK(n) {
		return p.tainted
	}
	return nil
}

func (c *Cycle) taintsOK(n *NodeInfo) bool {
	if !n.hasTaints {
		return true
	}
	for _, t := range n.taints {
		if t.Effect == NoSchedule && !tolerated(c.req.Tolerations, t) {
			return false
		}
	}
	return true
}

// PreScore prepares the replica, or skips the plugin when the request has nothing for it.
func (p *taintToleration) PreScore(c *Cycle) *Status { return p.PreFilter(c) }

// Score implements ScorePlugin.
func (p *taintToleration) Score(c *Cycle, n *NodeInfo) int64 {
	if !n.hasTaints {
		return MaxScore
	}
	k := int64(0)
	for _, t := range n.taints {
		if t.Effect == PreferNoSchedule && !tolerated(c.req.Tolerations, t) {
			k++
		}
	}
	return MaxScore / (k + 1)
}

// Explain implements Explainer.
func (p *taintToleration) Explain(c *Cycle, blocked []*NodeInfo) []string {
	cordoned, tainted := 0, 0
	for _, n := range blocked {
		if n.cordoned {
			cordoned++
		} else {
			tainted++
		}
	}
	var out []string
	if cordoned > 0 {
		out = append(out, fmt.Sprintf("%d cordoned node(s) would fit: uncordon one", cordoned))
	}
	if tainted > 0 {
		out = append(out, fmt.Sprintf("%d node(s) with an untolerated NoSchedule taint would fit: add a toleration", tainted))
	}
	return out
}

// zoneLevel keeps a request inside its compute zones and service level.
type zoneLevel struct {
	skipper
	zone, level *Status
}

func newZoneLevel() *zoneLevel {
	return &zoneLevel{
		zone:  NewStatus(UnschedulableAndUnresolvable, "zone not requested"),
		level: NewStatus(UnschedulableAndUnresolvable, "level not requested"),
	}
}

// Name returns the plugin name.
func (p *zoneLevel) Name() string { return PluginZoneLevel }

// PreFilter prepares the replica, or skips the plugin when the request has nothing for it.
func (p *zoneLevel) PreFilter(c *Cycle) *Status {
	if c.anyZone && c.level == -1 {
		return p.skipStatus()
	}
	return nil
}

// Filter implements FilterPlugin.
func (p *zoneLevel) Filter(c *Cycle, n *NodeInfo) *Status {
	if !c.zoneOK(n) {
		return p.zone
	}
	if !c.levelOK(n) {
		return p.level
	}
	return nil
}

// Explain implements Explainer.
func (p *zoneLevel) Explain(c *Cycle, blocked []*NodeInfo) []string {
	if len(blocked) == 0 {
		return nil
	}
	return []string{fmt.Sprintf("%d node(s) outside the requested zones/level would fit (e.g. %s in zone %q, level %q)",
		len(blocked), blocked[0].Name(), blocked[0].spec.Zone, blocked[0].spec.Level)}
}

// networkZone keeps a request inside its network zone.
type networkZone struct {
	skipper
	other *Status
}

func newNetworkZone() *networkZone {
	return &networkZone{other: NewStatus(UnschedulableAndUnresolvable, "other network zone")}
}

// Name returns the plugin name.
func (p *networkZone) Name() string { return PluginNetworkZone }

// PreFilter prepares the replica, or skips the plugin when the request has nothing for it.
func (p *networkZone) PreFilter(c *Cycle) *Status {
	if c.netZone == -1 {
		return p.skipStatus()
	}
	return nil
}

// Filter implements FilterPlugin.
func (p *networkZone) Filter(c *Cycle, n *NodeInfo) *Status {
	if !c.netZoneOK(n) {
		return p.other
	}
	return nil
}

// Explain implements Explainer.
func (p *networkZone) Explain(c *Cycle, blocked []*NodeInfo) []string {
	if len(blocked) == 0 {
		return nil
	}
	return []string{fmt.Sprintf("%d node(s) in other network zones would fit (e.g. %s in %q)",
		len(blocked), blocked[0].Name(), blocked[0].spec.NetZone)}
}

// nodeLabels keeps a request on nodes carrying its NodeSelector labels.
type nodeLabels struct {
	skipper
	mismatch *Status
}

func newNodeLabels() *nodeLabels {
	return &nodeLabels{mismatch: NewStatus(UnschedulableAndUnresolvable, "node selector does not match")}
}

// Name returns the plugin name.
func (p *nodeLabels) Name() string { return PluginNodeLabels }

// PreFilter prepares the replica, or skips the plugin when the request has nothing for it.
func (p *nodeLabels) PreFilter(c *Cycle) *Status {
	if len(c.selector) == 0 {
		return p.skipStatus()
	}
	return nil
}

// Filter implements FilterPlugin.
func (p *nodeLabels) Filter(c *Cycle, n *NodeInfo) *Status {
	if !c.labelsOK(n) {
		return p.mismatch
	}
	return nil
}

// Explain implements Explainer.
func (p *nodeLabels) Explain(c *Cycle, blocked []*NodeInfo) []string {
	if len(blocked) == 0 {
		return nil
	}
	return []string{fmt.Sprintf("%d node(s) without the selected labels would fit", len(blocked))}
}

// resourceFit checks free cpu, memory, disk and IPs left on the VLAN.
type resourceFit struct {
	cpu, mem, disk, ip *Status
}

func newResourceFit() *resourceFit {
	return &resourceFit{
		cpu:  NewStatus(Unschedulable, "insufficient cpu"),
		mem:  NewStatus(Unschedulable, "insufficient memory"),
		disk: NewStatus(Unschedulable, "insufficient disk"),
		ip:   NewStatus(Unschedulable, "no IP left on the vlan"),
	}
}

// Name returns the plugin name.
func (p *resourceFit) Name() string { return PluginResourceFit }

// Filter implements FilterPlugin.
func (p *resourceFit) Filter(c *Cycle, n *NodeInfo) *Status {
	if c.fitsResources(n) {
		return nil
	}
	r := &c.res
	switch {
	case n.capacity.MilliCPU-n.alloc.MilliCPU < r.MilliCPU:
		return p.cpu
	case n.capacity.Memory-n.alloc.Memory < r.Memory:
		return p.mem
	case n.capacity.Disk-n.alloc.Disk < r.Disk:
		return p.disk
	case c.vlan != 0 && n.ipsLeft(c.vlan) < 1:
		return p.ip
	}
	return nil
}

// fitsResources is resourceFit's test, small enough to inline in the
// scheduler's node loop.
func (c *Cycle) fitsResources(n *NodeInfo) bool {
	return c.fitsHot(&c.inv.hot[n.slot]) && (c.vlan == 0 || n.ipsLeft(c.vlan) > 0)
}

func (c *Cycle) fitsHot(h *nodeHot) bool {
	return h.free.MilliCPU >= c.res.MilliCPU && h.free.Memory >= c.res.Memory && h.free.Disk >= c.res.Disk
}

// antiAffinity allows at most k instances of the app per domain.
type antiAffinity struct {
	skipper
	full *Status
}

func newAntiAffinity() *antiAffinity {
	return &antiAffinity{full: NewStatus(Unschedulable, "anti-affinity limit reached")}
}

// Name returns the plugin name.
func (p *antiAffinity) Name() string { return PluginAntiAffinity }

// PreFilter prepares the replica, or skips the plugin when the request has nothing for it.
func (p *antiAffinity) PreFilter(c *Cycle) *Status {
	c.nAnti = 0
	for lv, lim := range c.anti {
		if lim <= 0 {
			continue
		}
		c.antiLv[c.nAnti] = lv
		c.nAnti++
		if lv == lvNode {
			continue
		}
		// Whether each domain has room, so the node loops test one bool.
		size := len(c.inv.dom[lv].names)
		c.antiOk[lv] = slices.Grow(c.antiOk[lv][:0], size)[:size]
		for d := range c.antiOk[lv] {
			c.antiOk[lv][d] = c.app.count(lv, int32(d)) < lim
		}
	}
	if c.nAnti == 0 {
		return p.skipStatus()
	}
	return nil
}

// Filter implements FilterPlugin.
func (p *antiAffinity) Filter(c *Cycle, n *NodeInfo) *Status {
	if c.antiOK(n) {
		return nil
	}
	return p.full
}

func (c *Cycle) antiOK(n *NodeInfo) bool { return c.antiOKSlot(n.slot) }

// antiOKSlot reads the dense per-level domain slices, not the node, so
// that the exact-mode loop sweeps a few kilobytes per rule.
func (c *Cycle) antiOKSlot(slot int32) bool {
	for _, lv := range c.antiLv[:c.nAnti] {
		lim := c.anti[lv]
		if lv == lvNode {
			if c.nodeCount[slot] >= lim {
				return false
			}
			continue
		}
		if d := c.inv.domOf[lv][slot]; d >= 0 && !c.antiOk[lv][d] {
			return false
		}
	}
	return true
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

func (c *Cycle) compileSpread(dst []spreadState, soft bool) []spreadState {
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
	c.hard = c.compileSpread(c.hard, false)
	if len(c.hard) == 0 {
		return p.skipStatus()
	}
	return nil
}

// Filter implements FilterPlugin.
func (p *hardSpread) Filter(c *Cycle, n *NodeInfo) *Status {
	for i := range c.hard {
		st := &c.hard[i]
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

func (c *Cycle) spreadOK(n *NodeInfo) bool { return c.spreadOKSlot(n.slot) }

func (c *Cycle) spreadOKSlot(slot int32) bool {
	for i := range c.hard {
		if !c.hard[i].allows(c, slot) {
			return false
		}
	}
	return true
}

func (st *spreadState) allows(c *Cycle, slot int32) bool {
	if st.lv == lvNode {
		return c.nodeCount[slot] < st.nodeLimit
	}
	d := c.inv.domOf[st.lv][slot]
	return d >= 0 && st.ok[d]
}

// softSpread prefers the emptier domains of soft spread rules.
type softSpread struct{ skipper }

// Name returns the plugin name.
func (p *softSpread) Name() string { return PluginSoftSpread }

// PreScore prepares the replica, or skips the plugin when the request has nothing for it.
func (p *softSpread) PreScore(c *Cycle) *Status {
	c.soft = c.compileSpread(c.soft, true)
	if len(c.soft) == 0 {
		return p.skipStatus()
	}
	return nil
}

// Score implements ScorePlugin.
func (p *softSpread) Score(c *Cycle, n *NodeInfo) int64 {
	var sum int64
	for i := range c.soft {
		st := &c.soft[i]
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
	return sum / int64(len(c.soft))
}

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
	c.imageScore = p.score
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

// leastAllocated prefers the emptiest nodes (spreads load).
type leastAllocated struct{}

// Name returns the plugin name.
func (p *leastAllocated) Name() string { return PluginLeastAllocated }

// Score implements ScorePlugin.
func (p *leastAllocated) Score(c *Cycle, n *NodeInfo) int64 {
	return c.resourceScores(&c.inv.hot[n.slot], 1, 0, 0)
}

// mostAllocated prefers the fullest nodes (bin-packs).
type mostAllocated struct{}

// Name returns the plugin name.
func (p *mostAllocated) Name() string { return PluginMostAllocated }

// Score implements ScorePlugin.
func (p *mostAllocated) Score(c *Cycle, n *NodeInfo) int64 {
	return c.resourceScores(&c.inv.hot[n.slot], 0, 0, 1)
}

// balancedAllocation prefers nodes whose cpu and memory shares stay close
// (kube's BalancedAllocation: one minus their standard deviation).
type balancedAllocation struct{}

// Name returns the plugin name.
func (p *balancedAllocation) Name() string { return PluginBalanced }

// Score implements ScorePlugin.
func (p *balancedAllocation) Score(c *Cycle, n *NodeInfo) int64 {
	return c.resourceScores(&c.inv.hot[n.slot], 0, 1, 0)
}

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
