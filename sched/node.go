package sched

import "strconv"

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

// Slot returns the node's index in the inventory's table, which
// BatchFilter and BatchScorer receive (Cycle.Node turns it back into the
// node). It stays the node's while the node is in the inventory; a slot
// freed by RemoveNode is given to a node added later.
func (n *NodeInfo) Slot() int32 { return n.slot }

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
