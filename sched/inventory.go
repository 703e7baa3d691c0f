package sched

import (
	"slices"
	"sort"
	"strconv"
	"sync"
)

// Node describes a machine as it joins the inventory.
type Node struct {
	// Name identifies the node; it must be unique in the inventory.
	Name string
	// Zone, NetZone, Datacenter, Room, Rack and Switch place the node in
	// the topology; an empty value means the node lacks that key. Names
	// are global per key: two racks called "r1" in two datacenters are the
	// same rack, so qualify them ("dc1-r1") if they are not.
	Zone       string
	NetZone    string
	Datacenter string
	Room       string
	Rack       string
	Switch     string
	// Level is the node's service level (e.g. "critical", "general");
	// a request with a Level only lands on nodes of that level.
	Level string
	// Labels are matched by Request.NodeSelector.
	Labels map[string]string
	// Capacity is what the node offers to containers.
	Capacity Resources
	// VLANs maps a VLAN id (1..4094) to the IP addresses left on it that
	// containers on this node can take.
	VLANs map[int]int
	// Images maps the images present on the node to their size in bytes.
	Images map[string]int64
	// Taints keep requests that do not tolerate them away.
	Taints []Taint
	// Cordoned nodes take no new placements; their allocations stay.
	Cordoned bool
}

func (n *Node) validate() error {
	if n.Name == "" {
		return newError(ErrInvalid, "node.Name: empty")
	}
	if err := n.Capacity.validate("node " + strconv.Quote(n.Name) + ".Capacity"); err != nil {
		return err
	}
	for v, left := range n.VLANs {
		if v < 1 || v > 4094 {
			return newError(ErrInvalid, "node %q.VLANs: vlan %d out of range 1..4094", n.Name, v)
		}
		if left < 0 {
			return newError(ErrInvalid, "node %q.VLANs[%d]: negative IPs left (%d)", n.Name, v, left)
		}
	}
	for img, size := range n.Images {
		if img == "" {
			return newError(ErrInvalid, "node %q.Images: empty image name", n.Name)
		}
		if size < 0 {
			return newError(ErrInvalid, "node %q.Images[%q]: negative size (%d)", n.Name, img, size)
		}
	}
	for k := range n.Labels {
		if k == "" {
			return newError(ErrInvalid, "node %q.Labels: empty key", n.Name)
		}
	}
	return validateTaints(n.Name, n.Taints)
}

func validateTaints(node string, taints []Taint) error {
	for i, t := range taints {
		if t.Key == "" {
			return newError(ErrInvalid, "node %q.Taints[%d].Key: empty", node, i)
		}
		if t.Effect != NoSchedule && t.Effect != PreferNoSchedule {
			return newError(ErrInvalid, "node %q.Taints[%d].Effect: unknown effect %q", node, i, t.Effect)
		}
	}
	return nil
}

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

// NodeInfo is a node as the inventory holds it. Plugins receive it for
// reading only; it is valid for the duration of the call.
type NodeInfo struct {
	// Hot fields, read for every node of every placement, kept in one
	// small struct so that 10,000 nodes stay around a megabyte.
	slot      int32
	live      bool
	cordoned  bool
	hasTaints bool
	level     int32
	capacity  Resources
	alloc     Resources
	dom       [numLevels]int32
	*nodeCold
}

// nodeCold holds what only some requests or the slow paths read.
type nodeCold struct {
	labels []int32 // sorted interned label pairs
	vlans  []vlanIPs
	taints []Taint
	images []int32
	allocs []AllocationID
	spec   *Node // names, labels; VLANs and Images maps are not kept current
}

// nodeHot is the part of a node that every placement reads for every
// node: free resources and inverse capacities, 48 bytes, in a slice
// parallel to the nodes so that the exact-mode loop over 10,000 nodes
// sweeps under half a megabyte.
type nodeHot struct {
	free   Resources
	invCPU float64 // 1/capacity, 0 when the capacity is 0: scores multiply
	invMem float64
	live   bool
}

type vlanIPs struct {
	vlan int32
	left int32
}

// Name returns the node's name.
func (n *NodeInfo) Name() string { return n.spec.Name }

// Capacity returns the node's total capacity.
func (n *NodeInfo) Capacity() Resources { return n.capacity }

// Allocated returns the resources taken by allocations on the node.
func (n *NodeInfo) Allocated() Resources { return n.alloc }

// Free returns Capacity minus Allocated.
func (n *NodeInfo) Free() Resources {
	return Resources{
		MilliCPU: n.capacity.MilliCPU - n.alloc.MilliCPU,
		Memory:   n.capacity.Memory - n.alloc.Memory,
		Disk:     n.capacity.Disk - n.alloc.Disk,
	}
}

// Cordoned reports whether the node takes no new placements.
func (n *NodeInfo) Cordoned() bool { return n.cordoned }

// Taints returns the node's taints; the slice must not be modified.
func (n *NodeInfo) Taints() []Taint { return n.taints }

// Label returns the value of a node label.
func (n *NodeInfo) Label(key string) (string, bool) {
	v, ok := n.spec.Labels[key]
	return v, ok
}

// Level returns the node's service level.
func (n *NodeInfo) Level() string { return n.spec.Level }

// Topology returns the node's domain for key, or "" if it lacks the key.
func (n *NodeInfo) Topology(key TopologyKey) string {
	switch key {
	case KeyNode:
		return n.spec.Name
	case KeyRack:
		return n.spec.Rack
	case KeySwitch:
		return n.spec.Switch
	case KeyRoom:
		return n.spec.Room
	case KeyDatacenter:
		return n.spec.Datacenter
	case KeyZone:
		return n.spec.Zone
	case KeyNetZone:
		return n.spec.NetZone
	}
	return ""
}

// IPsLeft returns the IP addresses left on a VLAN on this node.
func (n *NodeInfo) IPsLeft(vlan int) int {
	for _, v := range n.vlans {
		if int(v.vlan) == vlan {
			return int(v.left)
		}
	}
	return 0
}

func (n *NodeInfo) ipsLeft(vlan int32) int32 {
	for _, v := range n.vlans {
		if v.vlan == vlan {
			return v.left
		}
	}
	return 0
}

type labelPair struct{ key, value string }

type imageInfo struct {
	name  string
	size  int64
	nodes int32
	bits  []uint64 // by node slot
}

func (im *imageInfo) has(slot int32) bool {
	w := int(slot >> 6)
	return w < len(im.bits) && im.bits[w]&(1<<(uint(slot)&63)) != 0
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

// Inventory holds the nodes and their allocations. All methods are safe
// for concurrent use; a Scheduler holds the inventory's lock for the whole
// of a Place call, so placements never see a half-applied update.
//
// Updates are incremental and cheap (well under a microsecond): nodes live
// in a slice with interned topology ids, and per-app instance counts per
// node and per domain are adjusted in place.
type Inventory struct {
	mu        sync.Mutex
	nodes     []NodeInfo
	hot       []nodeHot          // by slot, like nodes
	domOf     [numLevels][]int32 // domain per level by slot (-1: lacks the key), dense for the spread loops
	byName    map[string]int32
	freeSlot  []int32
	live      int
	dom       [numLevels]domainTable // lvNode unused
	levels    domainTable
	labels    map[labelPair]int32
	images    []imageInfo
	imageIDs  map[string]int32
	apps      map[string]*appState
	spareApps []*appState
	allocs    map[AllocationID]allocation
	nextID    AllocationID
	topoGen   uint64 // changes when nodes or their topology, labels or level change
	// changeLog lists the slots whose state changed (allocations, cordon,
	// taints, IPs, images), so that a scheduler can refresh its cached
	// candidates and scores for those nodes only. Entry k has version
	// logBase+k+1; version is the latest.
	changeLog []int32
	logBase   uint64
	version   uint64
	tainted   int // live nodes with taints or cordoned
}

// NewInventory returns an empty inventory.
func NewInventory() *Inventory {
	return &Inventory{
		byName:   make(map[string]int32),
		labels:   make(map[labelPair]int32),
		imageIDs: make(map[string]int32),
		apps:     make(map[string]*appState),
		allocs:   make(map[AllocationID]allocation),
		nextID:   1,
	}
}

// Len returns the number of nodes.
func (inv *Inventory) Len() int {
	inv.mu.Lock()
	defer inv.mu.Unlock()
	return inv.live
}

// AddNode adds a node. It returns ErrInvalid for a bad description and
// ErrConflict if a node of that name exists.
func (inv *Inventory) AddNode(n Node) error {
	if err := n.validate(); err != nil {
		return err
	}
	inv.mu.Lock()
	defer inv.mu.Unlock()
	if _, ok := inv.byName[n.Name]; ok {
		return newError(ErrConflict, "node %q already in the inventory", n.Name)
	}
	spec := n
	spec.Labels = cloneMap(n.Labels)
	spec.Taints = slices.Clone(n.Taints)
	spec.VLANs, spec.Images = nil, nil

	var slot int32
	if k := len(inv.freeSlot); k > 0 {
		slot = inv.freeSlot[k-1]
		inv.freeSlot = inv.freeSlot[:k-1]
	} else {
		slot = int32(len(inv.nodes))
		inv.nodes = append(inv.nodes, NodeInfo{})
	}
	ni := &inv.nodes[slot]
	*ni = NodeInfo{
		slot: slot, live: true, cordoned: n.Cordoned, hasTaints: len(spec.Taints) > 0, capacity: n.Capacity,
		nodeCold: &nodeCold{spec: &spec, taints: spec.Taints},
	}
	ni.dom[lvNode] = slot
	for len(inv.hot) < len(inv.nodes) {
		inv.hot = append(inv.hot, nodeHot{})
	}
	h := &inv.hot[slot]
	*h = nodeHot{live: true, free: n.Capacity}
	if n.Capacity.MilliCPU > 0 {
		h.invCPU = 1 / float64(n.Capacity.MilliCPU)
	}
	if n.Capacity.Memory > 0 {
		h.invMem = 1 / float64(n.Capacity.Memory)
	}
	names := [numLevels]string{lvRack: n.Rack, lvSwitch: n.Switch, lvRoom: n.Room, lvDatacenter: n.Datacenter, lvZone: n.Zone, lvNetZone: n.NetZone}
	for lv := lvRack; lv < numLevels; lv++ {
		d := inv.dom[lv].intern(names[lv])
		ni.dom[lv] = d
		if d >= 0 {
			inv.dom[lv].nodes[d]++
		}
	}
	ni.level = inv.levels.intern(n.Level)
	for lv := range inv.domOf {
		for len(inv.domOf[lv]) < len(inv.nodes) {
			inv.domOf[lv] = append(inv.domOf[lv], -1)
		}
		inv.domOf[lv][slot] = ni.dom[lv]
	}
	for k, v := range n.Labels {
		p := labelPair{k, v}
		id, ok := inv.labels[p]
		if !ok {
			id = int32(len(inv.labels))
			inv.labels[p] = id
		}
		ni.labels = append(ni.labels, id)
	}
	slices.Sort(ni.labels)
	for v, left := range n.VLANs {
		ni.vlans = append(ni.vlans, vlanIPs{vlan: int32(v), left: int32(min(left, 1<<30))})
	}
	sort.Slice(ni.vlans, func(i, j int) bool { return ni.vlans[i].vlan < ni.vlans[j].vlan })
	imgs := make([]string, 0, len(n.Images))
	for img := range n.Images {
		imgs = append(imgs, img)
	}
	slices.Sort(imgs)
	for _, img := range imgs {
		inv.addImageLocked(ni, img, n.Images[img])
	}
	inv.byName[n.Name] = slot
	inv.live++
	if ni.cordoned || len(ni.taints) > 0 {
		inv.tainted++
	}
	inv.topoGen++
	return nil
}

// touch records that a node's state changed.
func (inv *Inventory) touch(slot int32) {
	if len(inv.changeLog) >= 1<<14 {
		// Keep the recent half; a reader further behind rebuilds.
		half := len(inv.changeLog) / 2
		inv.logBase += uint64(half)
		inv.changeLog = append(inv.changeLog[:0], inv.changeLog[half:]...)
	}
	inv.changeLog = append(inv.changeLog, slot)
	inv.version++
}

// changesSince returns the slots changed after version v, or false if the
// log no longer reaches back that far.
func (inv *Inventory) changesSince(v uint64) ([]int32, bool) {
	if v < inv.logBase || v > inv.version {
		return nil, false
	}
	return inv.changeLog[v-inv.logBase:], true
}

func cloneMap[K comparable, V any](m map[K]V) map[K]V {
	if m == nil {
		return nil
	}
	c := make(map[K]V, len(m))
	for k, v := range m {
		c[k] = v
	}
	return c
}

func (inv *Inventory) lookup(name string) (*NodeInfo, error) {
	slot, ok := inv.byName[name]
	if !ok {
		return nil, newError(ErrNotFound, "node %q", name)
	}
	return &inv.nodes[slot], nil
}

// RemoveNode removes a node and releases the allocations on it, returning
// their ids so the caller can place those replicas again.
func (inv *Inventory) RemoveNode(name string) ([]AllocationID, error) {
	inv.mu.Lock()
	defer inv.mu.Unlock()
	ni, err := inv.lookup(name)
	if err != nil {
		return nil, err
	}
	var released []AllocationID
	if len(ni.allocs) > 0 {
		released = slices.Clone(ni.allocs)
	}
	for _, id := range released {
		inv.releaseLocked(id)
	}
	for _, img := range ni.images {
		im := &inv.images[img]
		im.bits[ni.slot>>6] &^= 1 << (uint(ni.slot) & 63)
		im.nodes--
	}
	for lv := lvRack; lv < numLevels; lv++ {
		if d := ni.dom[lv]; d >= 0 {
			inv.dom[lv].nodes[d]--
		}
	}
	if ni.cordoned || len(ni.taints) > 0 {
		inv.tainted--
	}
	slot := ni.slot
	inv.nodes[slot] = NodeInfo{slot: slot}
	inv.hot[slot] = nodeHot{}
	for lv := range inv.domOf {
		inv.domOf[lv][slot] = -1
	}
	delete(inv.byName, name)
	inv.freeSlot = append(inv.freeSlot, slot)
	inv.live--
	inv.topoGen++
	return released, nil
}

// Cordon stops new placements on a node; its allocations stay.
func (inv *Inventory) Cordon(name string) error { return inv.setCordoned(name, true) }

// Uncordon lets a cordoned node take placements again.
func (inv *Inventory) Uncordon(name string) error { return inv.setCordoned(name, false) }

func (inv *Inventory) setCordoned(name string, c bool) error {
	inv.mu.Lock()
	defer inv.mu.Unlock()
	ni, err := inv.lookup(name)
	if err != nil {
		return err
	}
	before := ni.cordoned || len(ni.taints) > 0
	ni.cordoned = c
	ni.spec.Cordoned = c
	inv.adjustTainted(before, ni)
	inv.touch(ni.slot)
	return nil
}

func (inv *Inventory) adjustTainted(before bool, ni *NodeInfo) {
	after := ni.cordoned || len(ni.taints) > 0
	switch {
	case before && !after:
		inv.tainted--
	case !before && after:
		inv.tainted++
	}
}

// SetTaints replaces a node's taints.
func (inv *Inventory) SetTaints(name string, taints []Taint) error {
	if err := validateTaints(name, taints); err != nil {
		return err
	}
	inv.mu.Lock()
	defer inv.mu.Unlock()
	ni, err := inv.lookup(name)
	if err != nil {
		return err
	}
	before := ni.cordoned || len(ni.taints) > 0
	ni.taints = slices.Clone(taints)
	ni.spec.Taints = ni.taints
	ni.hasTaints = len(ni.taints) > 0
	inv.adjustTainted(before, ni)
	inv.touch(ni.slot)
	return nil
}

// SetVLANIPs sets the IP addresses left on a VLAN on a node (0 removes
// the VLAN from the node).
func (inv *Inventory) SetVLANIPs(name string, vlan, left int) error {
	if vlan < 1 || vlan > 4094 {
		return newError(ErrInvalid, "vlan %d out of range 1..4094", vlan)
	}
	if left < 0 {
		return newError(ErrInvalid, "vlan %d: negative IPs left (%d)", vlan, left)
	}
	inv.mu.Lock()
	defer inv.mu.Unlock()
	ni, err := inv.lookup(name)
	if err != nil {
		return err
	}
	inv.touch(ni.slot)
	for i := range ni.vlans {
		if int(ni.vlans[i].vlan) == vlan {
			ni.vlans[i].left = int32(min(left, 1<<30))
			return nil
		}
	}
	ni.vlans = append(ni.vlans, vlanIPs{vlan: int32(vlan), left: int32(min(left, 1<<30))})
	return nil
}

// AddImage records that a node holds an image of the given size in bytes.
func (inv *Inventory) AddImage(name, image string, size int64) error {
	if image == "" {
		return newError(ErrInvalid, "image: empty name")
	}
	if size < 0 {
		return newError(ErrInvalid, "image %q: negative size (%d)", image, size)
	}
	inv.mu.Lock()
	defer inv.mu.Unlock()
	ni, err := inv.lookup(name)
	if err != nil {
		return err
	}
	inv.addImageLocked(ni, image, size)
	return nil
}

func (inv *Inventory) addImageLocked(ni *NodeInfo, image string, size int64) {
	id, ok := inv.imageIDs[image]
	if !ok {
		id = int32(len(inv.images))
		inv.imageIDs[image] = id
		inv.images = append(inv.images, imageInfo{name: image})
	}
	im := &inv.images[id]
	if size > 0 {
		im.size = size // schedulers key their caches on the image's score
	}
	inv.touch(ni.slot)
	if im.has(ni.slot) {
		return
	}
	for len(im.bits) <= int(ni.slot>>6) {
		im.bits = append(im.bits, 0)
	}
	im.bits[ni.slot>>6] |= 1 << (uint(ni.slot) & 63)
	im.nodes++
	ni.images = append(ni.images, id)
}

// RemoveImage records that a node no longer holds an image.
func (inv *Inventory) RemoveImage(name, image string) error {
	inv.mu.Lock()
	defer inv.mu.Unlock()
	ni, err := inv.lookup(name)
	if err != nil {
		return err
	}
	id, ok := inv.imageIDs[image]
	if !ok || !inv.images[id].has(ni.slot) {
		return newError(ErrNotFound, "image %q on node %q", image, name)
	}
	im := &inv.images[id]
	im.bits[ni.slot>>6] &^= 1 << (uint(ni.slot) & 63)
	im.nodes--
	inv.touch(ni.slot)
	if i := slices.Index(ni.images, id); i >= 0 {
		ni.images = slices.Delete(ni.images, i, i+1)
	}
	return nil
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

// NodeStatus is a copy of a node's description and current state.
type NodeStatus struct {
	// Node is the node's description with its current VLAN IPs, images,
	// taints and cordon.
	Node Node
	// Allocated is the sum of the node's allocations.
	Allocated Resources
	// Apps counts the instances of each app on the node.
	Apps map[string]int
}

// Node returns a copy of a node's description and state.
func (inv *Inventory) Node(name string) (NodeStatus, error) {
	inv.mu.Lock()
	defer inv.mu.Unlock()
	ni, err := inv.lookup(name)
	if err != nil {
		return NodeStatus{}, err
	}
	st := NodeStatus{Node: *ni.spec, Allocated: ni.alloc, Apps: make(map[string]int)}
	st.Node.Labels = cloneMap(ni.spec.Labels)
	st.Node.Taints = slices.Clone(ni.taints)
	st.Node.Cordoned = ni.cordoned
	st.Node.VLANs = make(map[int]int, len(ni.vlans))
	for _, v := range ni.vlans {
		st.Node.VLANs[int(v.vlan)] = int(v.left)
	}
	st.Node.Images = make(map[string]int64, len(ni.images))
	for _, id := range ni.images {
		st.Node.Images[inv.images[id].name] = inv.images[id].size
	}
	for _, id := range ni.allocs {
		st.Apps[inv.allocs[id].app.name]++
	}
	return st, nil
}

// Names returns the names of all nodes, in slot order (the order the
// scheduler visits them).
func (inv *Inventory) Names() []string {
	inv.mu.Lock()
	defer inv.mu.Unlock()
	out := make([]string, 0, inv.live)
	for i := range inv.nodes {
		if inv.nodes[i].live {
			out = append(out, inv.nodes[i].spec.Name)
		}
	}
	return out
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
