package sched

// TopologyKey names a level of the data-centre topology that spread and
// anti-affinity rules count over. Only the keys declared here are known;
// any other value is rejected with ErrInvalid.
type TopologyKey string

// The known topology keys, from the finest to the coarsest.
const (
	// KeyNode makes every node its own domain (kube's hostname key).
	KeyNode TopologyKey = "node"
	// KeyRack groups the nodes of one rack (Node.Rack).
	KeyRack TopologyKey = "rack"
	// KeySwitch groups the nodes behind one top-of-rack or aggregation
	// switch (Node.Switch).
	KeySwitch TopologyKey = "switch"
	// KeyRoom groups the nodes of one machine room (Node.Room).
	KeyRoom TopologyKey = "room"
	// KeyDatacenter groups the nodes of one datacenter (Node.Datacenter).
	KeyDatacenter TopologyKey = "datacenter"
	// KeyZone groups the nodes of one compute zone (Node.Zone).
	KeyZone TopologyKey = "zone"
	// KeyNetZone groups the nodes of one network zone (Node.NetZone).
	KeyNetZone TopologyKey = "netzone"
)

// Internal level indexes; a node's interned domain per level lives in
// NodeInfo.dom so that every rule check is one array load.
const (
	lvNode = iota
	lvRack
	lvSwitch
	lvRoom
	lvDatacenter
	lvZone
	lvNetZone
	numLevels
)

func levelOf(k TopologyKey) (int, bool) {
	switch k {
	case KeyNode:
		return lvNode, true
	case KeyRack:
		return lvRack, true
	case KeySwitch:
		return lvSwitch, true
	case KeyRoom:
		return lvRoom, true
	case KeyDatacenter:
		return lvDatacenter, true
	case KeyZone:
		return lvZone, true
	case KeyNetZone:
		return lvNetZone, true
	}
	return 0, false
}

func keyOf(lv int) TopologyKey {
	switch lv {
	case lvRack:
		return KeyRack
	case lvSwitch:
		return KeySwitch
	case lvRoom:
		return KeyRoom
	case lvDatacenter:
		return KeyDatacenter
	case lvZone:
		return KeyZone
	case lvNetZone:
		return KeyNetZone
	}
	return KeyNode
}

// domainTable interns the domain names of one level to dense ids so that
// per-app counts are slices indexed by domain, not maps.
type domainTable struct {
	ids   map[string]int32
	names []string
	nodes []int32 // live nodes per domain; a domain with none is not a domain
}

func (t *domainTable) intern(name string) int32 {
	if name == "" {
		return -1
	}
	if id, ok := t.ids[name]; ok {
		return id
	}
	if t.ids == nil {
		t.ids = make(map[string]int32)
	}
	id := int32(len(t.names))
	t.ids[name] = id
	t.names = append(t.names, name)
	t.nodes = append(t.nodes, 0)
	return id
}

func (t *domainTable) lookup(name string) int32 {
	if id, ok := t.ids[name]; ok {
		return id
	}
	return -1
}

func (t *domainTable) name(id int32) string {
	if id < 0 || int(id) >= len(t.names) {
		return ""
	}
	return t.names[id]
}
