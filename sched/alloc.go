package sched

import (
	"slices"
	"strconv"
)

// AllocationID identifies one allocation (one placed replica) in an
// Inventory. IDs are never reused by the same Inventory.
type AllocationID uint64

// Allocation is one instance of an app that holds resources on a node.
type Allocation struct {
	// App is the app the instance belongs to.
	App string
	// Resources are taken from the node's free capacity.
	Resources Resources
	// VLAN, if not zero, takes one IP address of that VLAN on the node.
	VLAN int
	// AntiAffinity rules stay with the instance: later instances of the
	// same app must respect them (kube's anti-affinity symmetry).
	AntiAffinity []AntiAffinity
}

type ruleRef struct{ max, refs int32 }

// appState is what the inventory knows of one app: instance counts per node
// (sparse) and per domain (dense, by interned domain id), kept current by
// every allocate and release so that spread and anti-affinity checks are
// array loads.
type appState struct {
	name  string
	total int32
	nodes map[int32]int32
	dom   [numLevels][]int32 // lvNode unused
	anti  [numLevels][]ruleRef
}

func (a *appState) count(lv int, d int32) int32 {
	if d < 0 || int(d) >= len(a.dom[lv]) {
		return 0
	}
	return a.dom[lv][d]
}

// antiLimit returns the strictest anti-affinity limit the app's placed
// instances impose on lv, or 0.
func (a *appState) antiLimit(lv int) int32 {
	var lim int32
	for _, r := range a.anti[lv] {
		if lim == 0 || r.max < lim {
			lim = r.max
		}
	}
	return lim
}

type allocation struct {
	node int32
	vlan int32
	app  *appState
	res  Resources
	anti [numLevels]int32
}

// Allocate records an instance of an app on a node, taking its resources
// and, if a VLAN is given, one IP address on that VLAN. It returns
// ErrInvalid for a bad allocation, ErrNotFound for an unknown node and
// ErrConflict when the node lacks the free capacity or IPs. It does not
// check placement rules: that is the Scheduler's job.
func (inv *Inventory) Allocate(node string, a Allocation) (AllocationID, error) {
	if a.App == "" {
		return 0, newError(ErrInvalid, "allocation.App: empty")
	}
	if err := a.Resources.validate("allocation.Resources"); err != nil {
		return 0, err
	}
	if a.VLAN < 0 || a.VLAN > 4094 {
		return 0, newError(ErrInvalid, "allocation.VLAN: %d out of range 1..4094", a.VLAN)
	}
	var anti [numLevels]int32
	for i, r := range a.AntiAffinity {
		if err := r.validate("allocation.AntiAffinity[" + strconv.Itoa(i) + "]"); err != nil {
			return 0, err
		}
		lv, _ := levelOf(r.Key)
		if anti[lv] == 0 || int32(min(r.Max, 1<<30)) < anti[lv] {
			anti[lv] = int32(min(r.Max, 1<<30))
		}
	}
	inv.mu.Lock()
	defer inv.mu.Unlock()
	ni, err := inv.lookup(node)
	if err != nil {
		return 0, err
	}
	free := ni.Free()
	if a.Resources.MilliCPU > free.MilliCPU || a.Resources.Memory > free.Memory || a.Resources.Disk > free.Disk {
		return 0, newError(ErrConflict, "allocation of %q does not fit node %q (free %s)", a.App, node, formatResources(free))
	}
	if a.VLAN != 0 && ni.ipsLeft(int32(a.VLAN)) < 1 {
		return 0, newError(ErrConflict, "node %q has no IP left on vlan %d", node, a.VLAN)
	}
	return inv.allocateLocked(ni, inv.app(a.App), a.Resources, int32(a.VLAN), anti), nil
}

func (inv *Inventory) app(name string) *appState {
	if a, ok := inv.apps[name]; ok {
		return a
	}
	var a *appState
	if k := len(inv.spareApps); k > 0 {
		a, inv.spareApps = inv.spareApps[k-1], inv.spareApps[:k-1]
		a.name = name
	} else {
		a = &appState{name: name, nodes: make(map[int32]int32)}
	}
	inv.apps[name] = a
	return a
}

// dropApp forgets an app with no instances left. Its state, all counts
// back at zero, is kept for reuse (up to a few dozen), so that an app
// scaling between zero and one does not allocate on every update.
func (inv *Inventory) dropApp(a *appState) {
	if inv.apps[a.name] != a {
		return // dropped already
	}
	delete(inv.apps, a.name)
	if len(inv.spareApps) < 64 {
		inv.spareApps = append(inv.spareApps, a)
	}
}

func (inv *Inventory) allocateLocked(ni *NodeInfo, app *appState, res Resources, vlan int32, anti [numLevels]int32) AllocationID {
	ni.alloc.MilliCPU += res.MilliCPU
	ni.alloc.Memory += res.Memory
	ni.alloc.Disk += res.Disk
	h := &inv.hot[ni.slot]
	h.free.MilliCPU -= res.MilliCPU
	h.free.Memory -= res.Memory
	h.free.Disk -= res.Disk
	if vlan != 0 {
		for i := range ni.vlans {
			if ni.vlans[i].vlan == vlan {
				ni.vlans[i].left--
				break
			}
		}
	}
	app.total++
	app.nodes[ni.slot]++
	for lv := lvRack; lv < numLevels; lv++ {
		d := ni.dom[lv]
		if d < 0 {
			continue
		}
		if int(d) >= len(app.dom[lv]) {
			app.dom[lv] = append(app.dom[lv], make([]int32, len(inv.dom[lv].names)-len(app.dom[lv]))...)
		}
		app.dom[lv][d]++
	}
	for lv, m := range anti {
		if m == 0 {
			continue
		}
		found := false
		for i := range app.anti[lv] {
			if app.anti[lv][i].max == m {
				app.anti[lv][i].refs++
				found = true
				break
			}
		}
		if !found {
			app.anti[lv] = append(app.anti[lv], ruleRef{max: m, refs: 1})
		}
	}
	inv.touch(ni.slot)
	id := inv.nextID
	inv.nextID++
	inv.allocs[id] = allocation{node: ni.slot, vlan: vlan, app: app, res: res, anti: anti}
	ni.allocs = append(ni.allocs, id)
	return id
}

// Release removes an allocation, returning its resources and IP.
func (inv *Inventory) Release(id AllocationID) error {
	inv.mu.Lock()
	defer inv.mu.Unlock()
	if !inv.releaseLocked(id) {
		return newError(ErrNotFound, "allocation %d", id)
	}
	return nil
}

func (inv *Inventory) releaseLocked(id AllocationID) bool {
	a, ok := inv.allocs[id]
	if !ok {
		return false
	}
	delete(inv.allocs, id)
	ni := &inv.nodes[a.node]
	ni.alloc.MilliCPU -= a.res.MilliCPU
	ni.alloc.Memory -= a.res.Memory
	ni.alloc.Disk -= a.res.Disk
	inv.touch(a.node)
	h := &inv.hot[a.node]
	h.free.MilliCPU += a.res.MilliCPU
	h.free.Memory += a.res.Memory
	h.free.Disk += a.res.Disk
	if a.vlan != 0 {
		for i := range ni.vlans {
			if ni.vlans[i].vlan == a.vlan {
				ni.vlans[i].left++
				break
			}
		}
	}
	app := a.app
	app.total--
	if c := app.nodes[a.node] - 1; c > 0 {
		app.nodes[a.node] = c
	} else {
		delete(app.nodes, a.node)
	}
	for lv := lvRack; lv < numLevels; lv++ {
		if d := ni.dom[lv]; d >= 0 {
			app.dom[lv][d]--
		}
	}
	for lv, m := range a.anti {
		if m == 0 {
			continue
		}
		for i := range app.anti[lv] {
			if app.anti[lv][i].max == m {
				if app.anti[lv][i].refs--; app.anti[lv][i].refs == 0 {
					app.anti[lv] = slices.Delete(app.anti[lv], i, i+1)
				}
				break
			}
		}
	}
	for i, x := range ni.allocs {
		if x == id {
			last := len(ni.allocs) - 1
			ni.allocs[i] = ni.allocs[last]
			ni.allocs = ni.allocs[:last]
			break
		}
	}
	if app.total == 0 {
		inv.dropApp(app)
	}
	return true
}

// AppCount returns the number of placed instances of an app.
func (inv *Inventory) AppCount(app string) int {
	inv.mu.Lock()
	defer inv.mu.Unlock()
	if a, ok := inv.apps[app]; ok {
		return int(a.total)
	}
	return 0
}

// AllocationInfo describes one allocation.
type AllocationInfo struct {
	ID        AllocationID
	Node      string
	App       string
	Resources Resources
	VLAN      int
}

// Allocation returns an allocation by id.
func (inv *Inventory) Allocation(id AllocationID) (AllocationInfo, error) {
	inv.mu.Lock()
	defer inv.mu.Unlock()
	a, ok := inv.allocs[id]
	if !ok {
		return AllocationInfo{}, newError(ErrNotFound, "allocation %d", id)
	}
	return AllocationInfo{ID: id, Node: inv.nodes[a.node].spec.Name, App: a.app.name, Resources: a.res, VLAN: int(a.vlan)}, nil
}
