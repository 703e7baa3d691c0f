package sched

import (
	"slices"
	"sort"
	"sync"
)

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
