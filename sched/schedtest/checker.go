package schedtest

import (
	"errors"
	"fmt"

	"github.com/shoalkit/shoal/sched"
)

// Checker is an independent model of a fleet: it validates placements
// against every constraint of sched, recomputing each from scratch. It is
// slow on purpose (O(nodes) per placement) and shares no code with sched.
type Checker struct {
	nodes []*cnode
	byKey map[string]*cnode
	rules map[string]map[sched.AntiAffinity]int // rules kept by placed instances, per app
}

type cnode struct {
	spec sched.Node
	used sched.Resources
	ips  map[int]int
	apps map[string]int
}

// NewChecker models nodes with no allocations.
func NewChecker(nodes []sched.Node) *Checker {
	k := &Checker{byKey: map[string]*cnode{}, rules: map[string]map[sched.AntiAffinity]int{}}
	for _, n := range nodes {
		c := &cnode{spec: n, ips: map[int]int{}, apps: map[string]int{}}
		for v, left := range n.VLANs {
			c.ips[v] = left
		}
		k.nodes = append(k.nodes, c)
		k.byKey[n.Name] = c
	}
	return k
}

func domain(n *sched.Node, key sched.TopologyKey) string {
	switch key {
	case sched.KeyNode:
		return n.Name
	case sched.KeyRack:
		return n.Rack
	case sched.KeySwitch:
		return n.Switch
	case sched.KeyRoom:
		return n.Room
	case sched.KeyDatacenter:
		return n.Datacenter
	case sched.KeyZone:
		return n.Zone
	case sched.KeyNetZone:
		return n.NetZone
	}
	return ""
}

func inScope(req *sched.Request, n *sched.Node) bool {
	if len(req.Zones) > 0 {
		ok := false
		for _, z := range req.Zones {
			ok = ok || z == n.Zone
		}
		if !ok {
			return false
		}
	}
	if req.Level != "" && req.Level != n.Level {
		return false
	}
	if req.NetZone != "" && req.NetZone != n.NetZone {
		return false
	}
	for k, v := range req.NodeSelector {
		if got, ok := n.Labels[k]; !ok || got != v {
			return false
		}
	}
	return true
}

func tolerates(tols []sched.Toleration, t sched.Taint) bool {
	for _, tol := range tols {
		if tol.Effect != "" && tol.Effect != t.Effect {
			continue
		}
		if tol.Key == "" && tol.Exists {
			return true
		}
		if tol.Key == t.Key && (tol.Exists || tol.Value == t.Value) {
			return true
		}
	}
	return false
}

// Why returns nil if one replica of req can go on the node now, or the
// first constraint it breaks.
func (k *Checker) Why(req *sched.Request, name string) error {
	if err := req.Validate(); err != nil {
		return err
	}
	c, ok := k.byKey[name]
	if !ok {
		return fmt.Errorf("node %q unknown", name)
	}
	n := &c.spec
	if n.Cordoned {
		return errors.New("cordoned")
	}
	for _, t := range n.Taints {
		if t.Effect == sched.NoSchedule && !tolerates(req.Tolerations, t) {
			return fmt.Errorf("taint %s=%s not tolerated", t.Key, t.Value)
		}
	}
	if !inScope(req, n) {
		return errors.New("outside zones/level/netzone/selector")
	}
	r := req.Resources
	if c.used.MilliCPU+r.MilliCPU > n.Capacity.MilliCPU || c.used.Memory+r.Memory > n.Capacity.Memory || c.used.Disk+r.Disk > n.Capacity.Disk {
		return fmt.Errorf("over capacity: used %+v + %+v > %+v", c.used, r, n.Capacity)
	}
	if req.VLAN != 0 && c.ips[req.VLAN] < 1 {
		return fmt.Errorf("no IP left on vlan %d", req.VLAN)
	}
	limits := map[sched.TopologyKey]int{}
	for _, a := range req.AntiAffinity {
		limits[a.Key] = a.Max
	}
	for a := range k.rules[req.App] {
		if m, ok := limits[a.Key]; !ok || a.Max < m {
			limits[a.Key] = a.Max
		}
	}
	for key, m := range limits {
		dom := domain(n, key)
		if dom == "" {
			continue
		}
		cnt := 0
		for _, o := range k.nodes {
			if domain(&o.spec, key) == dom {
				cnt += o.apps[req.App]
			}
		}
		if cnt >= m {
			return fmt.Errorf("anti-affinity: %d instances in %s %q, max %d", cnt, key, dom, m)
		}
	}
	for _, s := range req.Spread {
		if s.Soft {
			continue
		}
		dom := domain(n, s.Key)
		if dom == "" {
			return fmt.Errorf("spread: node lacks key %s", s.Key)
		}
		counts := map[string]int{}
		for _, o := range k.nodes {
			if d := domain(&o.spec, s.Key); d != "" && inScope(req, &o.spec) {
				counts[d] += o.apps[req.App]
			}
		}
		minCount := -1
		for _, cnt := range counts {
			if minCount < 0 || cnt < minCount {
				minCount = cnt
			}
		}
		if minCount < 0 || len(counts) < s.MinDomains {
			minCount = 0
		}
		if skew := counts[dom] + 1 - minCount; skew > s.MaxSkew {
			return fmt.Errorf("spread: skew %d over %s > %d (domain %q has %d, min %d, %d domains)", skew, s.Key, s.MaxSkew, dom, counts[dom], minCount, len(counts))
		}
	}
	return nil
}

// Feasible returns the nodes where one replica of req can go now.
func (k *Checker) Feasible(req *sched.Request) []string {
	var out []string
	for _, c := range k.nodes {
		if k.Why(req, c.spec.Name) == nil {
			out = append(out, c.spec.Name)
		}
	}
	return out
}

// Allocate records an allocation made outside Place (no rule checks).
func (k *Checker) Allocate(node string, a sched.Allocation) error {
	c, ok := k.byKey[node]
	if !ok {
		return fmt.Errorf("node %q unknown", node)
	}
	c.used.MilliCPU += a.Resources.MilliCPU
	c.used.Memory += a.Resources.Memory
	c.used.Disk += a.Resources.Disk
	if a.VLAN != 0 {
		c.ips[a.VLAN]--
	}
	c.apps[a.App]++
	for _, r := range a.AntiAffinity {
		if k.rules[a.App] == nil {
			k.rules[a.App] = map[sched.AntiAffinity]int{}
		}
		k.rules[a.App][r]++
	}
	return nil
}

// Release undoes Allocate.
func (k *Checker) Release(node string, a sched.Allocation) {
	c := k.byKey[node]
	c.used.MilliCPU -= a.Resources.MilliCPU
	c.used.Memory -= a.Resources.Memory
	c.used.Disk -= a.Resources.Disk
	if a.VLAN != 0 {
		c.ips[a.VLAN]++
	}
	if c.apps[a.App]--; c.apps[a.App] == 0 {
		delete(c.apps, a.App)
	}
	for _, r := range a.AntiAffinity {
		if k.rules[a.App][r]--; k.rules[a.App][r] == 0 {
			delete(k.rules[a.App], r)
		}
	}
}

// Apply validates the placements of res in order, each against the state
// left by the previous ones, and records them. When res has unplaced
// replicas (and is not all-or-nothing) it also checks that no node could
// have taken the next one. It returns the first violation.
func (k *Checker) Apply(req sched.Request, res *sched.Result) error {
	a := sched.Allocation{App: req.App, Resources: req.Resources, VLAN: req.VLAN, AntiAffinity: req.AntiAffinity}
	for i, p := range res.Placements {
		if err := k.Why(&req, p.Node); err != nil {
			return fmt.Errorf("replica %d on %s breaks a constraint: %w", i, p.Node, err)
		}
		if err := k.Allocate(p.Node, a); err != nil {
			return err
		}
	}
	if res.Unplaced > 0 {
		if req.AllOrNothing && len(res.Placements) > 0 {
			return fmt.Errorf("all-or-nothing request left %d placements", len(res.Placements))
		}
		if !req.AllOrNothing {
			if f := k.Feasible(&req); len(f) > 0 {
				return fmt.Errorf("%d replicas reported unplaced but %d nodes could take one (e.g. %s)", res.Unplaced, len(f), f[0])
			}
		}
	}
	if got := len(res.Placements) + res.Unplaced; got != req.Count {
		return fmt.Errorf("placed %d + unplaced %d != count %d", len(res.Placements), res.Unplaced, req.Count)
	}
	return nil
}

// SetCordoned mirrors Inventory.Cordon and Uncordon.
func (k *Checker) SetCordoned(node string, cordoned bool) {
	if c, ok := k.byKey[node]; ok {
		c.spec.Cordoned = cordoned
	}
}

// Used returns what the model holds allocated on a node and its instance
// count of app, to compare with the inventory.
func (k *Checker) Used(node, app string) (sched.Resources, int) {
	c, ok := k.byKey[node]
	if !ok {
		return sched.Resources{}, 0
	}
	return c.used, c.apps[app]
}
