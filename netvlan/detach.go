package netvlan

import (
	"context"
	"net/netip"
	"slices"
	"strconv"
	"time"

	"github.com/ovn-org/libovsdb/model"
	"github.com/ovn-org/libovsdb/ovsdb"

	"github.com/shoalkit/shoal/netvlan/ovsmodel"
)

// portRef names a Port row to delete and the bridge that holds it ("" when
// no bridge does).
type portRef struct {
	uuid, bridge string
	ifaces       []string
	qos          string // QoS and Queue are root tables: OVSDB keeps them until deleted
	queues       []string
}

// Detach removes every interface of a container that this switch's owner
// attached: the OVS port, the veth pair and the address lease. Detaching a
// container that has nothing attached is not an error, so Detach can be
// retried. ifNames restricts it to those container interfaces.
func (s *Switch) Detach(ctx context.Context, containerID string, ifNames ...string) error {
	if containerID == "" {
		return newError(ErrInvalid, "detach without a container id")
	}
	if err := checkID("container id", containerID); err != nil {
		return err
	}
	for _, n := range ifNames {
		if err := checkID("interface name", n); err != nil {
			return wrapError(ErrInvalid, err, "detach %s", containerID)
		}
	}
	ports, err := s.ownedPorts(ctx)
	if err != nil {
		return err
	}
	var mine []ovsmodel.Port
	for _, p := range ports {
		if p.ExternalIDs[keyContainer] == containerID && (len(ifNames) == 0 || slices.Contains(ifNames, p.ExternalIDs[keyIfName])) {
			mine = append(mine, p)
		}
	}
	return s.remove(ctx, mine)
}

// remove deletes ports (rows, veth, lease), chunked and paced.
func (s *Switch) remove(ctx context.Context, ports []ovsmodel.Port) error {
	if len(ports) == 0 {
		return nil
	}
	owners, err := s.bridgesOf(ctx)
	if err != nil {
		return err
	}
	refs := make([]portRef, len(ports))
	for i, p := range ports {
		refs[i].uuid = p.UUID
		refs[i].ifaces = p.Interfaces
		if p.QOS != nil {
			if queues, ok := s.qosOf(ctx, *p.QOS); ok {
				refs[i].qos, refs[i].queues = *p.QOS, queues
			}
		}
		if br, ok := owners[p.UUID]; ok {
			refs[i].bridge = br.UUID
		}
	}
	if err := s.deleteRows(ctx, refs); err != nil {
		return err
	}
	for _, p := range ports {
		s.deleteLink(p.Name)
		if a, err := netip.ParsePrefix(p.ExternalIDs[keyAddr]); err == nil {
			s.ipam.Release(a.Addr(), p.ExternalIDs[keyContainer]+"/"+p.ExternalIDs[keyIfName])
		}
	}
	return nil
}

// deleteRows removes ports from their bridges in chunks of DeleteChunk (the
// Port and Interface rows go with them: OVSDB collects unreferenced rows of
// non-root tables). Between chunks it waits for ovs-vswitchd to apply the
// last one, so that a mass delete never stalls it for long.
func (s *Switch) deleteRows(ctx context.Context, refs []portRef) error {
	s.deletes.Lock()
	defer s.deletes.Unlock()
	for start := 0; start < len(refs); start += s.cfg.DeleteChunk {
		chunk := refs[start:min(start+s.cfg.DeleteChunk, len(refs))]
		last := start+s.cfg.DeleteChunk >= len(refs)
		byBridge := map[string][]string{}
		var ops []ovsdb.Operation
		var rows []ovsdb.Operation
		for _, r := range chunk {
			// OVSDB would collect the unreferenced rows itself; deleting
			// them explicitly also cleans up rows no bridge holds.
			rows = append(rows, deleteByUUID(ovsmodel.PortTable, r.uuid))
			for _, i := range r.ifaces {
				rows = append(rows, deleteByUUID(ovsmodel.InterfaceTable, i))
			}
			if r.qos != "" {
				rows = append(rows, deleteByUUID(ovsmodel.QoSTable, r.qos))
			}
			for _, q := range r.queues {
				rows = append(rows, deleteByUUID(ovsmodel.QueueTable, q))
			}
			if r.bridge != "" {
				byBridge[r.bridge] = append(byBridge[r.bridge], r.uuid)
			}
		}
		for br, uuids := range byBridge {
			b := &ovsmodel.Bridge{UUID: br}
			o, err := s.ovs.Where(b).Mutate(b, model.Mutation{Field: &b.Ports, Mutator: ovsdb.MutateOperationDelete, Value: uuids})
			if err != nil {
				return wrapError(ErrUnavailable, err, "remove ports from bridge %s", br)
			}
			ops = append(ops, o...)
		}
		ops = append(ops, rows...)
		var target int
		if !last {
			o, next, err := s.bumpNextCfg(ctx)
			if err != nil {
				return err
			}
			ops = append(ops, o...)
			target = next
		}
		if _, _, err := s.transact(ctx, ops); err != nil {
			return err
		}
		if !last {
			s.waitCurCfg(ctx, target)
		}
	}
	return nil
}

// deleteByUUID deletes one row; deleting a row that is already gone
// matches nothing and is not an error.
func deleteByUUID(table, uuid string) ovsdb.Operation {
	return ovsdb.Operation{
		Op:    ovsdb.OperationDelete,
		Table: table,
		Where: []ovsdb.Condition{ovsdb.NewCondition("_uuid", ovsdb.ConditionEqual, ovsdb.UUID{GoUUID: uuid})},
	}
}

// bumpNextCfg returns the mutation that increments Open_vSwitch.next_cfg
// (as ovs-vsctl does to learn when ovs-vswitchd has applied a change) and
// the value it will have.
func (s *Switch) bumpNextCfg(ctx context.Context) ([]ovsdb.Operation, int, error) {
	root, err := s.root(ctx)
	if err != nil {
		return nil, 0, err
	}
	r := &ovsmodel.OpenvSwitch{UUID: root.UUID}
	o, err := s.ovs.Where(r).Mutate(r, model.Mutation{Field: &r.NextCfg, Mutator: ovsdb.MutateOperationAdd, Value: 1})
	if err != nil {
		return nil, 0, wrapError(ErrUnavailable, err, "bump next_cfg")
	}
	return o, root.NextCfg + 1, nil
}

// waitCurCfg waits up to PaceTimeout for ovs-vswitchd's cur_cfg to reach
// target. Running late is logged, not an error: the change is committed.
func (s *Switch) waitCurCfg(ctx context.Context, target int) {
	ctx, cancel := context.WithTimeout(ctx, s.cfg.PaceTimeout)
	defer cancel()
	start := time.Now()
	err := s.waitFor(ctx, func() (bool, error) {
		root, err := s.root(ctx)
		if err != nil {
			return false, nil //nolint:nilerr // the cache may be reconnecting; keep waiting
		}
		return root.CurCfg >= target, nil
	})
	if err != nil {
		s.log.Warn("netvlan: ovs-vswitchd is behind", "next_cfg", target, "waited_ms", sinceMs(start), "err", err)
	}
}

// List returns every port this switch's owner attached, as recorded in
// OVSDB, with ofport, link state and error from the Interface rows.
func (s *Switch) List(ctx context.Context) ([]Port, error) {
	ports, err := s.ownedPorts(ctx)
	if err != nil {
		return nil, err
	}
	owners, err := s.bridgesOf(ctx)
	if err != nil {
		return nil, err
	}
	out := make([]Port, 0, len(ports))
	for i := range ports {
		var iface *ovsmodel.Interface
		if len(ports[i].Interfaces) == 1 {
			i := &ovsmodel.Interface{UUID: ports[i].Interfaces[0]}
			if s.ovs.Get(ctx, i) == nil {
				iface = i
			}
		}
		bridge := ""
		if br, ok := owners[ports[i].UUID]; ok {
			bridge = br.Name
		}
		out = append(out, s.portFromRows(&ports[i], iface, bridge))
	}
	slices.SortFunc(out, func(a, b Port) int {
		if c := compareStrings(a.ContainerID, b.ContainerID); c != 0 {
			return c
		}
		return compareStrings(a.IfName, b.IfName)
	})
	return out, nil
}

func compareStrings(a, b string) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

// restoreLeases claims the addresses recorded on existing ports, so that
// the pools know them after an agent restart.
func (s *Switch) restoreLeases(ctx context.Context) error {
	ports, err := s.ownedPorts(ctx)
	if err != nil {
		return err
	}
	for _, p := range ports {
		a, err := netip.ParsePrefix(p.ExternalIDs[keyAddr])
		if err != nil {
			continue
		}
		pool, ok := s.ipam.PoolFor(a.Addr())
		if !ok {
			continue
		}
		owner := p.ExternalIDs[keyContainer] + "/" + p.ExternalIDs[keyIfName]
		if _, err := s.ipam.Claim(pool.VLAN, a.Addr(), owner); err != nil {
			s.log.Warn("netvlan: recorded lease not restored", "port", p.Name, "addr", a, "vlan", strconv.Itoa(pool.VLAN), "err", err)
		}
	}
	return nil
}

// detachAll detaches many containers with one paced, chunked delete.
func (s *Switch) detachAll(ctx context.Context, containerIDs []string) error {
	ports, err := s.ownedPorts(ctx)
	if err != nil {
		return err
	}
	want := make(map[string]bool, len(containerIDs))
	for _, id := range containerIDs {
		want[id] = true
	}
	var mine []ovsmodel.Port
	for _, p := range ports {
		if want[p.ExternalIDs[keyContainer]] {
			mine = append(mine, p)
		}
	}
	return s.remove(ctx, mine)
}
