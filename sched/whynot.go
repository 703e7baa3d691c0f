package sched

import (
	"fmt"
	"math"
	"sort"
	"strconv"
	"strings"
)

// Diagnosis is a why-not answer: what the filters did with the nodes for
// one replica, and what would have to change for it to be placed.
type Diagnosis struct {
	// Nodes is the number of nodes in the inventory.
	Nodes int
	// Feasible is the number of nodes that pass every filter.
	Feasible int
	// Unplaced is the number of replicas still to place.
	Unplaced int
	// Filters lists, in profile order, the filters that rejected nodes.
	Filters []FilterVerdict
	// Hints say what would have to change, e.g. "12 more cores in zone
	// \"a\" (at least, for 3 replica(s))" or "spread over rack needs a 4th
	// rack".
	Hints []string
}

// FilterVerdict is what one filter did.
type FilterVerdict struct {
	// Plugin is the filter's name.
	Plugin string
	// Rejected counts the nodes this filter rejected first (filters run in
	// profile order; a node is counted under its first rejection, as in
	// kube-scheduler's "0/N nodes are available" message).
	Rejected int
	// Only counts the nodes this filter alone rejects: they would be
	// feasible if it let them through.
	Only int
	// Reasons counts the first rejections by reason.
	Reasons map[string]int
}

// String renders the diagnosis on one line.
func (d *Diagnosis) String() string {
	if d == nil {
		return "<nil>"
	}
	var b strings.Builder
	fmt.Fprintf(&b, "%d/%d nodes feasible", d.Feasible, d.Nodes)
	for _, f := range d.Filters {
		reasons := make([]string, 0, len(f.Reasons))
		for r, n := range f.Reasons {
			reasons = append(reasons, fmt.Sprintf("%s %d", r, n))
		}
		sort.Strings(reasons)
		fmt.Fprintf(&b, "; %s rejected %d (%s)", f.Plugin, f.Rejected, strings.Join(reasons, ", "))
	}
	if len(d.Hints) > 0 {
		b.WriteString("; to place: ")
		b.WriteString(strings.Join(d.Hints, "; "))
	}
	return b.String()
}

// diagnose runs every active filter on every node without stopping at the
// first rejection, then asks the filters that block nodes on their own what
// would have to change. It is the slow path: it runs once per failure.
func (c *Cycle) diagnose() *Diagnosis {
	d := &Diagnosis{Nodes: c.inv.live, Unplaced: c.unplaced}
	s := c.s
	verdicts := make([]FilterVerdict, len(s.filters))
	a := &c.active
	for i, f := range s.filters {
		verdicts[i] = FilterVerdict{Plugin: f.p.Name(), Reasons: map[string]int{}}
	}
	if a.blockAll != nil {
		v := &verdicts[a.blockBy]
		v.Rejected, v.Only = c.inv.live, c.inv.live
		v.Reasons[a.blockAll.Reason()] = c.inv.live
		d.Hints = append(d.Hints, fmt.Sprintf("%s: %s", v.Plugin, a.blockAll.Reason()))
		d.Filters = []FilterVerdict{*v}
		return d
	}
	only := make([][]*NodeInfo, len(a.filters))
	for i := range c.inv.nodes {
		n := &c.inv.nodes[i]
		if !n.live {
			continue
		}
		first, fails := -1, 0
		for fi, f := range a.filters {
			if st := f.p.Filter(c, n); st != nil {
				if first < 0 {
					first = fi
					v := &verdicts[f.idx]
					v.Rejected++
					v.Reasons[st.Reason()]++
				}
				fails++
			}
		}
		switch fails {
		case 0:
			d.Feasible++
		case 1:
			verdicts[a.filters[first].idx].Only++
			only[first] = append(only[first], n)
		}
	}
	for _, v := range verdicts {
		if v.Rejected > 0 || v.Only > 0 {
			d.Filters = append(d.Filters, v)
		}
	}
	if d.Feasible > 0 {
		return d
	}
	for fi, f := range a.filters {
		if e, ok := f.p.(Explainer); ok {
			d.Hints = append(d.Hints, e.Explain(c, only[fi])...)
		}
	}
	if len(d.Hints) == 0 {
		d.Hints = append(d.Hints, "every node fails two or more filters: relax the request or add nodes")
	}
	return d
}

// ordinal renders 4 as "4th".
func ordinal(n int) string {
	suffix := "th"
	switch {
	case n%100 >= 11 && n%100 <= 13:
	case n%10 == 1:
		suffix = "st"
	case n%10 == 2:
		suffix = "nd"
	case n%10 == 3:
		suffix = "rd"
	}
	return strconv.Itoa(n) + suffix
}

func formatCores(milli int64) string {
	if milli == 1000 {
		return "1 core"
	}
	return strconv.FormatFloat(float64(milli)/1000, 'f', -1, 64) + " cores"
}

func formatBytes(b int64) string {
	const gi, mi = 1 << 30, 1 << 20
	if b >= gi {
		return strconv.FormatFloat(float64(b)/gi, 'f', 1, 64) + " GiB"
	}
	return strconv.FormatFloat(float64(b)/mi, 'f', 1, 64) + " MiB"
}

func formatResources(r Resources) string {
	return fmt.Sprintf("cpu %s, memory %s, disk %s", formatCores(r.MilliCPU), formatBytes(r.Memory), formatBytes(r.Disk))
}

// Explain says, per zone of the nodes that only lack resources, how much
// more the zone needs for the unplaced replicas, and what the closest node
// lacks for one.
func (p *resourceFit) Explain(c *Cycle, blocked []*NodeInfo) []string {
	if len(blocked) == 0 {
		return nil
	}
	type zoneNeed struct {
		name       string
		free       Resources
		ips        int64
		best       *NodeInfo
		bestShort  Resources
		bestIPs    bool
		bestWeight float64
	}
	r := c.req.Resources
	zones := map[string]*zoneNeed{}
	var order []*zoneNeed
	for _, n := range blocked {
		z := zones[n.spec.Zone]
		if z == nil {
			z = &zoneNeed{name: n.spec.Zone}
			zones[n.spec.Zone] = z
			order = append(order, z)
		}
		f := n.Free()
		z.free.MilliCPU = addSat(z.free.MilliCPU, max(f.MilliCPU, 0))
		z.free.Memory = addSat(z.free.Memory, max(f.Memory, 0))
		z.free.Disk = addSat(z.free.Disk, max(f.Disk, 0))
		noIP := c.vlan != 0 && n.ipsLeft(c.vlan) < 1
		if c.vlan != 0 {
			z.ips += int64(max(n.ipsLeft(c.vlan), 0))
		}
		short := Resources{
			MilliCPU: max(r.MilliCPU-f.MilliCPU, 0),
			Memory:   max(r.Memory-f.Memory, 0),
			Disk:     max(r.Disk-f.Disk, 0),
		}
		w := shortWeight(short, r)
		if noIP {
			w++
		}
		if z.best == nil || w < z.bestWeight {
			z.best, z.bestShort, z.bestIPs, z.bestWeight = n, short, noIP, w
		}
	}
	sort.Slice(order, func(i, j int) bool { return order[i].bestWeight < order[j].bestWeight })
	if len(order) > 5 {
		order = order[:5]
	}
	k := int64(max(c.unplaced, 1))
	var out []string
	for _, z := range order {
		zone, where := "zone "+strconv.Quote(z.name), "in zone "+strconv.Quote(z.name)
		if z.name == "" {
			zone, where = "nodes without a zone", "on nodes without a zone"
		}
		var need []string
		if v, ok := shortfall(k, r.MilliCPU, z.free.MilliCPU); !ok {
			need = append(need, "more cores than any node set can hold")
		} else if r.MilliCPU > 0 && v > 0 {
			need = append(need, strings.Replace(formatCores(v), " core", " more core", 1))
		}
		if v, ok := shortfall(k, r.Memory, z.free.Memory); !ok {
			need = append(need, "more memory than any node set can hold")
		} else if r.Memory > 0 && v > 0 {
			need = append(need, formatBytes(v)+" more memory")
		}
		if v, ok := shortfall(k, r.Disk, z.free.Disk); !ok {
			need = append(need, "more disk than any node set can hold")
		} else if r.Disk > 0 && v > 0 {
			need = append(need, formatBytes(v)+" more disk")
		}
		if v := k - z.ips; c.vlan != 0 && v > 0 {
			need = append(need, fmt.Sprintf("%d more IPs on vlan %d", v, c.vlan))
		}
		var one []string
		if z.bestShort.MilliCPU > 0 {
			one = append(one, strings.Replace(formatCores(z.bestShort.MilliCPU), " core", " more core", 1))
		}
		if z.bestShort.Memory > 0 {
			one = append(one, formatBytes(z.bestShort.Memory)+" more memory")
		}
		if z.bestShort.Disk > 0 {
			one = append(one, formatBytes(z.bestShort.Disk)+" more disk")
		}
		if z.bestIPs {
			one = append(one, fmt.Sprintf("an IP on vlan %d", c.vlan))
		}
		msg := fmt.Sprintf("%s: node %s needs %s for one replica", zone, z.best.Name(), strings.Join(one, " and "))
		if len(need) > 0 {
			msg = fmt.Sprintf("%s %s (at least, for %d replica(s)); node %s needs %s for one",
				strings.Join(need, ", "), where, k, z.best.Name(), strings.Join(one, " and "))
		}
		out = append(out, msg)
	}
	return out
}

// shortfall returns what k replicas of per need beyond free (k×per −
// free), or false when k×per exceeds int64: more than any set of nodes
// can hold, since a node's capacity is an int64 too.
func shortfall(k, per, free int64) (int64, bool) {
	if per > 0 && k > math.MaxInt64/per {
		return 0, false
	}
	return k*per - free, true
}

// addSat adds two non-negative amounts, stopping at the largest int64.
func addSat(a, b int64) int64 {
	if a > math.MaxInt64-b {
		return math.MaxInt64
	}
	return a + b
}

// shortWeight ranks a node's shortfall as a share of the request.
func shortWeight(short, req Resources) float64 {
	var w float64
	if req.MilliCPU > 0 {
		w += float64(short.MilliCPU) / float64(req.MilliCPU)
	}
	if req.Memory > 0 {
		w += float64(short.Memory) / float64(req.Memory)
	}
	if req.Disk > 0 {
		w += float64(short.Disk) / float64(req.Disk)
	}
	return w
}

// Explain says which limit blocks the nodes that only anti-affinity
// rejects, and how many domains would be needed.
func (p *antiAffinity) Explain(c *Cycle, blocked []*NodeInfo) []string {
	if len(blocked) == 0 {
		return nil
	}
	var out []string
	for _, lv := range p.levels[:p.n] {
		lim := p.limit[lv]
		full := map[int32]bool{}
		for _, n := range blocked {
			d := n.dom[lv]
			if d < 0 {
				continue
			}
			cnt := c.app.count(lv, d)
			if lv == lvNode {
				cnt = c.nodeCount[n.slot]
			}
			if cnt >= lim {
				full[d] = true
			}
		}
		if len(full) == 0 {
			continue
		}
		domains := c.inv.live
		if lv != lvNode {
			domains = 0
			for _, k := range c.inv.dom[lv].nodes {
				if k > 0 {
					domains++
				}
			}
		}
		out = append(out, fmt.Sprintf("anti-affinity (at most %d per %s): %d %s(s) that would fit hold %d already; needs a %s %s or Max %d",
			lim, keyOf(lv), len(full), keyOf(lv), lim, ordinal(domains+1), keyOf(lv), lim+1))
	}
	return out
}

// Explain says which spread rule blocks the nodes that only it rejects:
// too few domains for MinDomains, or the least loaded domains have no
// node that fits.
func (p *hardSpread) Explain(c *Cycle, blocked []*NodeInfo) []string {
	var out []string
	for i := range p.rules {
		st := &p.rules[i]
		key := keyOf(st.lv)
		if st.numElig < int(st.minDomains) && st.min == 0 {
			// With fewer domains than MinDomains the global minimum is 0,
			// so each domain takes at most MaxSkew instances.
			out = append(out, fmt.Sprintf("spread over %s needs a %s %s (MinDomains %d, %d eligible, each holding up to MaxSkew %d)",
				key, ordinal(st.numElig+1), key, st.minDomains, st.numElig, st.maxSkew))
			continue
		}
		blocks := false
		for _, n := range blocked {
			if d := n.dom[st.lv]; d >= 0 && st.count(d)+1-st.min > st.maxSkew {
				blocks = true
				break
			}
		}
		if !blocks {
			continue
		}
		var atMin []string
		for d, ok := range st.elig {
			if ok && st.count(int32(d)) == st.min {
				name := c.inv.dom[st.lv].name(int32(d))
				if st.lv == lvNode {
					name = c.inv.nodes[d].spec.Name
				}
				atMin = append(atMin, name)
			}
		}
		sort.Strings(atMin)
		if len(atMin) > 3 {
			atMin = append(atMin[:3], "…")
		}
		out = append(out, fmt.Sprintf("spread over %s (MaxSkew %d) needs room in a %s at the minimum of %d instance(s) (%s, none fits), a %s %s, or MaxSkew %d",
			key, st.maxSkew, key, st.min, strings.Join(atMin, ", "), ordinal(st.numElig+1), key, st.maxSkew+1))
	}
	return out
}
