package netvlan

import (
	"sync"

	"github.com/ovn-org/libovsdb/model"

	"github.com/shoalkit/shoal/netvlan/ovsmodel"
)

// rowIndex keeps what the hot paths look up (a bridge's UUID by name, what
// ovs-vswitchd reported for an interface) as plain values, updated from
// the cache's change events. Reading the cache through libovsdb clones
// the row through JSON: a bridge row carries all its port UUIDs, and every
// waiting Attach re-read its interface on every change, which on a bridge
// with a thousand ports cost more CPU than the rest of the attach.
type rowIndex struct {
	mu      sync.Mutex
	bridges map[string]string      // bridge name → UUID
	ifaces  map[string]ifaceReport // Interface UUID → ovs-vswitchd's columns
}

// ifaceReport is what ovs-vswitchd writes back to an Interface row.
type ifaceReport struct {
	ofport    *int
	linkState *string
	err       *string
}

// reset empties the index for a new cache (after every connection).
func (x *rowIndex) reset() {
	x.mu.Lock()
	x.bridges, x.ifaces = map[string]string{}, map[string]ifaceReport{}
	x.mu.Unlock()
}

// update records one row change; m is nil when the row was deleted.
func (x *rowIndex) update(table string, old, m model.Model) {
	switch table {
	case ovsmodel.BridgeTable:
		x.mu.Lock()
		defer x.mu.Unlock()
		if o, ok := old.(*ovsmodel.Bridge); ok && x.bridges[o.Name] == o.UUID {
			delete(x.bridges, o.Name)
		}
		if n, ok := m.(*ovsmodel.Bridge); ok && x.bridges != nil {
			x.bridges[n.Name] = n.UUID
		}
	case ovsmodel.InterfaceTable:
		x.mu.Lock()
		defer x.mu.Unlock()
		if o, ok := old.(*ovsmodel.Interface); ok {
			delete(x.ifaces, o.UUID)
		}
		if n, ok := m.(*ovsmodel.Interface); ok && x.ifaces != nil {
			x.ifaces[n.UUID] = ifaceReport{ofport: clonePtr(n.Ofport), linkState: clonePtr(n.LinkState), err: clonePtr(n.Error)}
		}
	}
}

// bridge returns the UUID of the bridge called name.
func (x *rowIndex) bridge(name string) (string, bool) {
	x.mu.Lock()
	defer x.mu.Unlock()
	uuid, ok := x.bridges[name]
	return uuid, ok
}

// iface returns what ovs-vswitchd reported for the Interface row uuid.
func (x *rowIndex) iface(uuid string) (ifaceReport, bool) {
	x.mu.Lock()
	defer x.mu.Unlock()
	r, ok := x.ifaces[uuid]
	return r, ok
}

func clonePtr[T any](p *T) *T {
	if p == nil {
		return nil
	}
	v := *p
	return &v
}
