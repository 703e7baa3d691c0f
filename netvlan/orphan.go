package netvlan

import (
	"context"
	"slices"

	"github.com/ovn-org/libovsdb/ovsdb"

	"github.com/shoalkit/shoal/netvlan/ovsmodel"
)

// ownedVeth is a host-namespace veth whose alias names this switch's owner.
type ownedVeth struct {
	name   string
	index  int
	alias  string
	parsed vethAlias
}

// beginAttach marks an Attach of the port name as in flight.
func (s *Switch) beginAttach(name string) {
	s.attachMu.Lock()
	defer s.attachMu.Unlock()
	if s.attaching == nil {
		s.attaching = map[string]int{}
	}
	s.attaching[name]++
}

// endAttach ends what beginAttach began.
func (s *Switch) endAttach(name string) {
	s.attachMu.Lock()
	defer s.attachMu.Unlock()
	if s.attaching[name]--; s.attaching[name] <= 0 {
		delete(s.attaching, name)
	}
}

// removeOrphans deletes the veths of owned that have no Port row: the
// leftovers of an Attach that died between creating the pair and
// committing its rows. Veths of an Attach in flight are kept. Whether a
// Port row exists is asked of ovsdb-server itself, not the cache, which
// may lag behind a commit or be empty while reconnecting; a row of any
// owner keeps the veth.
//
// Races with Attach: one in flight when the candidates are picked may
// commit at any time, so it is left alone; one that began earlier has
// finished, and its row is in what ovsdb-server answers next or its veth
// is gone; one that begins later cannot create a veth of that name while
// the candidate exists, and the candidate is deleted only if it is still
// the link the dump saw (same index, name and alias).
func (s *Switch) removeOrphans(ctx context.Context, owned []ownedVeth) ([]Port, error) {
	if len(owned) == 0 {
		return nil, nil
	}
	s.attachMu.Lock()
	owned = slices.DeleteFunc(owned, func(v ownedVeth) bool { return s.attaching[v.name] > 0 })
	s.attachMu.Unlock()
	if len(owned) == 0 {
		return nil, nil
	}
	ops := make([]ovsdb.Operation, 0, len(owned))
	for _, v := range owned {
		ops = append(ops, ovsdb.Operation{
			Op:      ovsdb.OperationSelect,
			Table:   ovsmodel.PortTable,
			Where:   []ovsdb.Condition{ovsdb.NewCondition("name", ovsdb.ConditionEqual, v.name)},
			Columns: []string{"_uuid"},
		})
	}
	res, _, err := s.transact(ctx, ops)
	if err != nil {
		return nil, err
	}
	if len(res) < len(owned) {
		return nil, newError(ErrUnavailable, "ovsdb-server answered %d of %d port lookups", len(res), len(owned))
	}
	var removed []Port
	for i, v := range owned {
		if res[i].Error != "" || len(res[i].Rows) > 0 {
			continue
		}
		// Delete what the dump saw, only if it is still that veth.
		l, err := s.host.h.LinkByIndex(v.index)
		if err != nil || l.Attrs().Name != v.name || l.Attrs().Alias != v.alias {
			continue
		}
		if err := s.host.h.LinkDel(l); err != nil {
			s.log.Warn("netvlan: delete orphaned veth failed", "link", v.name, "err", err)
			continue
		}
		s.log.Info("netvlan: deleted veth without a port row", "link", v.name,
			"container", v.parsed.ContainerID, "iface", v.parsed.IfName)
		removed = append(removed, Port{ContainerID: v.parsed.ContainerID, IfName: v.parsed.IfName, Name: v.name})
	}
	slices.SortFunc(removed, func(a, b Port) int { return compareStrings(a.Name, b.Name) })
	return removed, nil
}
