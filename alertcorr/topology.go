package alertcorr

import (
	"context"
	"encoding/json"
	"slices"
	"sync"
)

// Kind is the kind of an entity in the topology.
type Kind uint8

// The entity kinds: the physical tree datacenter → room → rack → host →
// container, the switch a host hangs off, and the app a container belongs to.
const (
	KindUnknown Kind = iota
	KindDatacenter
	KindRoom
	KindRack
	KindSwitch
	KindHost
	KindContainer
	KindApp
)

// String returns the kind's lower-case name, which is also the default
// label that names such an entity in an alert.
func (k Kind) String() string {
	switch k {
	case KindDatacenter:
		return "datacenter"
	case KindRoom:
		return "room"
	case KindRack:
		return "rack"
	case KindSwitch:
		return "switch"
	case KindHost:
		return "host"
	case KindContainer:
		return "container"
	case KindApp:
		return "app"
	}
	return "unknown"
}

// ParseKind returns the kind with the given name.
func ParseKind(s string) (Kind, error) {
	for k := KindDatacenter; k <= KindApp; k++ {
		if k.String() == s {
			return k, nil
		}
	}
	return KindUnknown, newError(ErrInvalid, "entity kind %q unknown", truncate(s))
}

// MarshalText renders the kind by its name, so JSON and YAML carry
// "host" rather than a number.
func (k Kind) MarshalText() ([]byte, error) {
	if k > KindApp {
		return nil, newError(ErrInvalid, "entity kind %d unknown", int(k))
	}
	return []byte(k.String()), nil
}

// UnmarshalText reads a kind by its name; "unknown" is KindUnknown. A
// decimal number (the form snapshots written before the text form hold)
// is read as the kind it numbers.
func (k *Kind) UnmarshalText(b []byte) error {
	s := string(b)
	if s == "unknown" {
		*k = KindUnknown
		return nil
	}
	if len(s) == 1 && s[0] >= '0' && s[0] <= '0'+byte(KindApp) {
		*k = Kind(s[0] - '0')
		return nil
	}
	v, err := ParseKind(s)
	if err != nil {
		return err
	}
	*k = v
	return nil
}

// UnmarshalJSON reads a kind as a JSON string (its name) or, as snapshots
// written before the text form hold it, a number.
func (k *Kind) UnmarshalJSON(b []byte) error {
	if len(b) > 0 && b[0] == '"' {
		var s string
		if err := json.Unmarshal(b, &s); err != nil {
			return wrapError(ErrInvalid, err, "entity kind")
		}
		return k.UnmarshalText([]byte(s))
	}
	return k.UnmarshalText(b)
}

// parentKinds returns the kinds an entity's Parent may have, and whether
// k is a kind at all.
func parentKinds(k Kind) ([]Kind, bool) {
	switch k {
	case KindDatacenter, KindApp:
		return nil, true
	case KindRoom:
		return []Kind{KindDatacenter}, true
	case KindRack:
		return []Kind{KindRoom}, true
	case KindSwitch:
		return []Kind{KindRoom, KindRack}, true
	case KindHost:
		return []Kind{KindRack, KindRoom}, true
	case KindContainer:
		return []Kind{KindHost}, true
	}
	return nil, false
}

// rank breaks ties between roots explaining as many alerts: the wider
// location first, then the app, then the host.
func (k Kind) rank() int {
	switch k {
	case KindApp:
		return 4
	case KindHost:
		return 5
	case KindContainer:
		return 6
	case KindSwitch:
		return 2
	case KindRack:
		return 3
	}
	return int(k) - 1 // datacenter 0, room 1
}

// Entity is one thing in the topology. IDs are unique within a kind.
type Entity struct {
	Kind Kind
	ID   string
	// Parent is the enclosing entity: a room's datacenter, a rack's room,
	// a switch's room or rack, a host's rack, a container's host. Empty
	// for datacenters and apps, optional for rooms, racks, switches, hosts.
	Parent string
	// Switch is a host's top-of-rack switch, or empty.
	Switch string
	// App is a container's app, or empty.
	App string
}

// TopologySource is where a topology comes from: in the platform the
// controller's inventory and instances, in tests a generator. Entities
// calls yield for every entity, each parent (and a host's switch, a
// container's app) before the entities that name it, and stops at the first
// error yield returns.
type TopologySource interface {
	Entities(ctx context.Context, yield func(Entity) error) error
}

// node is an entity as stored; references are indices into Topology.nodes.
type node struct {
	id       string
	kind     Kind
	parent   int32
	sw       int32
	app      int32
	children []int32 // by Parent: a host's containers, a rack's hosts, ...
	members  []int32 // an app's containers, a switch's hosts
}

type entityKey struct {
	kind Kind
	id   string
}

// Topology holds the entities and their relations. It is safe for
// concurrent use; updates as containers come and go are Upsert and Remove.
type Topology struct {
	mu    sync.RWMutex
	nodes []node
	byKey map[entityKey]int32
	free  []int32
	gen   uint64 // counts changes, so the engine knows to correlate again
}

// generation returns the count of changes so far.
func (t *Topology) generation() uint64 {
	t.mu.RLock()
	defer t.mu.RUnlock()
	return t.gen
}

// NewTopology returns an empty topology.
func NewTopology() *Topology {
	return &Topology{byKey: map[entityKey]int32{}}
}

// Len returns the number of entities.
func (t *Topology) Len() int {
	t.mu.RLock()
	defer t.mu.RUnlock()
	return len(t.byKey)
}

// Load adds every entity src yields, as Upsert.
func (t *Topology) Load(ctx context.Context, src TopologySource) error {
	return src.Entities(ctx, func(e Entity) error {
		if err := ctx.Err(); err != nil {
			return wrapError(ErrUnavailable, err, "loading topology")
		}
		return t.Upsert(e)
	})
}

// Upsert adds the entity or updates its relations. The entities it names
// must exist with a kind its place allows.
func (t *Topology) Upsert(e Entity) error {
	if e.ID == "" || len(e.ID) > maxValueLen {
		return newError(ErrInvalid, "%s entity id %q is empty or too long", e.Kind, truncate(e.ID))
	}
	if _, ok := parentKinds(e.Kind); !ok {
		return newError(ErrInvalid, "entity %s has kind %d, unknown", e.ID, int(e.Kind))
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.upsertLocked(e)
}

// upsertLocked is Upsert with the lock held.
func (t *Topology) upsertLocked(e Entity) error {
	allowed, ok := parentKinds(e.Kind)
	if !ok {
		return newError(ErrInvalid, "entity %s has kind %d, unknown", e.ID, int(e.Kind))
	}
	parent, err := t.lookupAny(e.Parent, allowed, e, "parent")
	if err != nil {
		return err
	}
	sw, app := int32(-1), int32(-1)
	if e.Switch != "" {
		if e.Kind != KindHost {
			return newError(ErrInvalid, "%s %s names a switch; only hosts do", e.Kind, e.ID)
		}
		if sw, err = t.lookupAny(e.Switch, []Kind{KindSwitch}, e, "switch"); err != nil {
			return err
		}
	}
	if e.App != "" {
		if e.Kind != KindContainer {
			return newError(ErrInvalid, "%s %s names an app; only containers do", e.Kind, e.ID)
		}
		if app, err = t.lookupAny(e.App, []Kind{KindApp}, e, "app"); err != nil {
			return err
		}
	}
	if e.Kind == KindContainer && parent < 0 {
		return newError(ErrInvalid, "container %s has no host", e.ID)
	}
	k := entityKey{e.Kind, e.ID}
	i, exists := t.byKey[k]
	if exists {
		t.unlink(i)
	} else {
		if n := len(t.free); n > 0 {
			i, t.free = t.free[n-1], t.free[:n-1]
		} else {
			i = int32(len(t.nodes))
			t.nodes = append(t.nodes, node{})
		}
		t.byKey[k] = i
		t.nodes[i] = node{id: e.ID, kind: e.Kind}
	}
	t.gen++
	n := &t.nodes[i]
	n.parent, n.sw, n.app = parent, sw, app
	if parent >= 0 {
		t.nodes[parent].children = append(t.nodes[parent].children, i)
	}
	if sw >= 0 {
		t.nodes[sw].members = append(t.nodes[sw].members, i)
	}
	if app >= 0 {
		t.nodes[app].members = append(t.nodes[app].members, i)
	}
	return nil
}

// lookupAny finds id among the allowed kinds; "" is no reference (-1).
func (t *Topology) lookupAny(id string, allowed []Kind, e Entity, what string) (int32, error) {
	if id == "" {
		return -1, nil
	}
	if len(allowed) == 0 {
		return -1, newError(ErrInvalid, "%s %s has a %s; its kind has none", e.Kind, e.ID, what)
	}
	for _, k := range allowed {
		if i, ok := t.byKey[entityKey{k, id}]; ok {
			return i, nil
		}
	}
	return -1, newError(ErrNotFound, "%s %s: %s %q (a %v)", e.Kind, e.ID, what, truncate(id), allowed)
}

// unlink removes node i from the lists its relations keep.
func (t *Topology) unlink(i int32) {
	n := &t.nodes[i]
	drop := func(list []int32) []int32 {
		if j := slices.Index(list, i); j >= 0 {
			list[j] = list[len(list)-1]
			return list[:len(list)-1]
		}
		return list
	}
	if n.parent >= 0 {
		t.nodes[n.parent].children = drop(t.nodes[n.parent].children)
	}
	if n.sw >= 0 {
		t.nodes[n.sw].members = drop(t.nodes[n.sw].members)
	}
	if n.app >= 0 {
		t.nodes[n.app].members = drop(t.nodes[n.app].members)
	}
}

// Remove deletes an entity that nothing refers to any more (a container
// that went away; a host after its containers).
func (t *Topology) Remove(kind Kind, id string) error {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.removeLocked(kind, id)
}

// removeLocked is Remove with the lock held.
func (t *Topology) removeLocked(kind Kind, id string) error {
	k := entityKey{kind, id}
	i, ok := t.byKey[k]
	if !ok {
		return newError(ErrNotFound, "%s %q", kind, truncate(id))
	}
	n := &t.nodes[i]
	if len(n.children) > 0 || len(n.members) > 0 {
		return newError(ErrConflict, "%s %s still has %d children and %d members", kind, id, len(n.children), len(n.members))
	}
	t.gen++
	t.unlink(i)
	delete(t.byKey, k)
	t.nodes[i] = node{parent: -1, sw: -1, app: -1}
	t.free = append(t.free, i)
	return nil
}

// Get returns the entity of that kind and id.
func (t *Topology) Get(kind Kind, id string) (Entity, bool) {
	t.mu.RLock()
	defer t.mu.RUnlock()
	i, ok := t.byKey[entityKey{kind, id}]
	if !ok {
		return Entity{}, false
	}
	return t.entity(i), true
}

// entity rebuilds the Entity of node i; the caller holds the lock.
func (t *Topology) entity(i int32) Entity {
	n := &t.nodes[i]
	e := Entity{Kind: n.kind, ID: n.id}
	if n.parent >= 0 {
		e.Parent = t.nodes[n.parent].id
	}
	if n.sw >= 0 {
		e.Switch = t.nodes[n.sw].id
	}
	if n.app >= 0 {
		e.App = t.nodes[n.app].id
	}
	return e
}

// lookup returns the index of the entity; the caller holds the lock.
func (t *Topology) lookup(kind Kind, id string) (int32, bool) {
	i, ok := t.byKey[entityKey{kind, id}]
	return i, ok
}
