package sched

import (
	"encoding/binary"
	"fmt"
)

// The filters whose verdict depends only on the node and the request:
// they implement NodeFilter, so the nodes they pass are cached across
// replicas and calls, and BatchFilter, so the first sweep runs each as a
// tight loop over a list of slots.
var (
	_ NodeFilter  = (*taintToleration)(nil)
	_ BatchFilter = (*taintToleration)(nil)
	_ NodeScorer  = (*taintToleration)(nil)
	_ BatchScorer = (*taintToleration)(nil)
	_ Explainer   = (*taintToleration)(nil)
	_ NodeFilter  = (*zoneLevel)(nil)
	_ BatchFilter = (*zoneLevel)(nil)
	_ Explainer   = (*zoneLevel)(nil)
	_ NodeFilter  = (*networkZone)(nil)
	_ BatchFilter = (*networkZone)(nil)
	_ Explainer   = (*networkZone)(nil)
	_ NodeFilter  = (*nodeLabels)(nil)
	_ BatchFilter = (*nodeLabels)(nil)
	_ Explainer   = (*nodeLabels)(nil)
	_ NodeFilter  = (*resourceFit)(nil)
	_ BatchFilter = (*resourceFit)(nil)
	_ Explainer   = (*resourceFit)(nil)
	_ freeFitter  = (*resourceFit)(nil)
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

// Cache keys are built from fixed-width integers and length-prefixed
// strings, so that two different requests never give the same bytes.
func appendInt(key []byte, v int64) []byte { return binary.LittleEndian.AppendUint64(key, uint64(v)) }

func appendString(key []byte, s string) []byte { return append(appendInt(key, int64(len(s))), s...) }

func appendInt32s(key []byte, vs []int32) []byte {
	key = appendInt(key, int64(len(vs)))
	for _, v := range vs {
		key = binary.LittleEndian.AppendUint32(key, uint32(v))
	}
	return key
}

func appendBool(key []byte, b bool) []byte {
	if b {
		return append(key, 1)
	}
	return append(key, 0)
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

// FilterBatch implements BatchFilter.
func (p *taintToleration) FilterBatch(c *Cycle, src, dst []int32) []int32 {
	nodes := c.inv.nodes
	for _, i := range src {
		if n := &nodes[i]; !n.cordoned && c.taintsOK(n) {
			dst = append(dst, i)
		}
	}
	return dst
}

// AppendKey implements NodeFilter and NodeScorer: the verdicts and scores
// depend on the request's tolerations.
func (p *taintToleration) AppendKey(c *Cycle, key []byte) []byte {
	key = appendInt(key, int64(len(c.req.Tolerations)))
	for _, t := range c.req.Tolerations {
		key = appendBool(appendString(appendString(appendString(key, t.Key), t.Value), string(t.Effect)), t.Exists)
	}
	return key
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

// ScoreBatch implements BatchScorer.
func (p *taintToleration) ScoreBatch(c *Cycle, slots []int32, weight int64, scores []int64) {
	for j, i := range slots {
		scores[j] += weight * p.Score(c, &c.inv.nodes[i])
	}
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

// FilterBatch implements BatchFilter. Zones alone are read from the
// inventory's dense per-slot zone slice, without touching the nodes.
func (p *zoneLevel) FilterBatch(c *Cycle, src, dst []int32) []int32 {
	if c.level == -1 {
		zones := c.inv.domOf[lvZone]
		for _, i := range src {
			if z := zones[i]; z >= 0 && slicesContains(c.zones, z) {
				dst = append(dst, i)
			}
		}
		return dst
	}
	nodes := c.inv.nodes
	for _, i := range src {
		if n := &nodes[i]; c.zoneOK(n) && c.levelOK(n) {
			dst = append(dst, i)
		}
	}
	return dst
}

// AppendKey implements NodeFilter: the requested zones and level.
func (p *zoneLevel) AppendKey(c *Cycle, key []byte) []byte {
	return appendInt32s(appendInt(appendBool(key, c.anyZone), int64(c.level)), c.zones)
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

// FilterBatch implements BatchFilter on the dense per-slot slice of
// network zones. It runs only when PreFilter did not skip, so the
// request names a network zone.
func (p *networkZone) FilterBatch(c *Cycle, src, dst []int32) []int32 {
	netZones := c.inv.domOf[lvNetZone]
	for _, i := range src {
		if c.netZone == -1 || netZones[i] == c.netZone {
			dst = append(dst, i)
		}
	}
	return dst
}

// AppendKey implements NodeFilter: the requested network zone.
func (p *networkZone) AppendKey(c *Cycle, key []byte) []byte { return appendInt(key, int64(c.netZone)) }

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

// FilterBatch implements BatchFilter.
func (p *nodeLabels) FilterBatch(c *Cycle, src, dst []int32) []int32 {
	nodes := c.inv.nodes
	for _, i := range src {
		if c.labelsOK(&nodes[i]) {
			dst = append(dst, i)
		}
	}
	return dst
}

// AppendKey implements NodeFilter: the selector's interned label pairs.
func (p *nodeLabels) AppendKey(c *Cycle, key []byte) []byte {
	return appendInt32s(appendBool(key, c.noSel), c.selector)
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

// FilterBatch implements BatchFilter.
func (p *resourceFit) FilterBatch(c *Cycle, src, dst []int32) []int32 {
	nodes := c.inv.nodes
	for _, i := range src {
		if c.fitsResources(&nodes[i]) {
			dst = append(dst, i)
		}
	}
	return dst
}

// AppendKey implements NodeFilter: the requested resources and VLAN.
func (p *resourceFit) AppendKey(c *Cycle, key []byte) []byte {
	return appendInt(appendInt(appendInt(appendInt(key, c.res.MilliCPU), c.res.Memory), c.res.Disk), int64(c.vlan))
}

// fitsFreeOnly implements freeFitter: without a VLAN the free resources
// are all there is to check.
func (p *resourceFit) fitsFreeOnly(c *Cycle) bool { return c.vlan == 0 }

// fitsResources is resourceFit's test, small enough to inline.
func (c *Cycle) fitsResources(n *NodeInfo) bool {
	return c.fitsHot(&c.inv.hot[n.slot]) && (c.vlan == 0 || n.ipsLeft(c.vlan) > 0)
}

func (c *Cycle) fitsHot(h *nodeHot) bool {
	return h.free.MilliCPU >= c.res.MilliCPU && h.free.Memory >= c.res.Memory && h.free.Disk >= c.res.Disk
}

// freeFitter is implemented by a filter whose verdict starts with "the
// request's resources fit the node's free resources" (ResourceFit): the
// engine makes that test inline in its first sweep over the compact slice
// of free resources, before any other filter runs, and calls the filter
// itself only when fitsFreeOnly says the test is not all it does.
type freeFitter interface {
	fitsFreeOnly(c *Cycle) bool
}

// slicesContains is slices.Contains for the zone lists, kept small for
// inlining into the filter loops.
func slicesContains(s []int32, v int32) bool {
	for _, x := range s {
		if x == v {
			return true
		}
	}
	return false
}
