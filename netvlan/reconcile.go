package netvlan

import (
	"context"
	"errors"
	"net/netip"
	"slices"
	"sync"

	"github.com/ovn-org/libovsdb/ovsdb"
	"github.com/vishvananda/netlink"
	"golang.org/x/sync/errgroup"

	"github.com/shoalkit/shoal/netvlan/ovsmodel"
)

// Report says what Reconcile changed.
type Report struct {
	Added     []Port    // attached anew: missing from OVSDB or replaced
	Removed   []Port    // removed: not desired, or their veth had vanished
	Retagged  []Port    // VLAN tag, trunks or VLAN mode fixed in place
	Unchanged int       // desired ports that were already right
	Failed    []Failure // desired attachments that could not be made
	// Orphaned are host veth ends whose alias names this switch's owner
	// but which had no Port row (the agent died between creating the pair
	// and committing the rows): deleted, with their peers. Only
	// ContainerID (as the alias has it: '#' and a hash when it was long),
	// IfName and Name are set.
	Orphaned []Port
}

// Failure is one desired attachment Reconcile could not make.
type Failure struct {
	ContainerID string
	IfName      string
	Err         error
}

// Changed reports whether Reconcile changed anything.
func (r Report) Changed() bool {
	return len(r.Added)+len(r.Removed)+len(r.Retagged)+len(r.Orphaned) > 0
}

// Reconcile brings the switch to the desired attachments, after a restart
// of the agent, ovsdb-server or ovs-vswitchd, or a container that died:
//
//   - owned ports that are not desired are removed (rows, veth, lease);
//   - owned ports whose host veth has vanished from the kernel (the
//     container's namespace was deleted) are removed, and attached again
//     when still desired and the namespace exists; OVSDB alone cannot tell,
//     as such a port keeps its ofport and shows no error;
//   - ports with a wrong tag, trunks or VLAN mode are fixed in place;
//   - desired attachments without a port are attached;
//   - host veth ends whose alias names this switch's owner but which have
//     no Port row (a crash between creating the pair and committing the
//     rows) are deleted, unless an Attach of that name is in flight;
//     veths with another owner's alias or none are never touched.
//
// Removals go in paced chunks, fixes in chunks of DeleteChunk per
// transaction, and attachments concurrently so that they share
// transactions. A desired attachment that cannot be made is reported in
// Report.Failed and does not stop the others; the error is for failures
// that stopped Reconcile itself. Running it again with the same desired
// state changes nothing.
func (s *Switch) Reconcile(ctx context.Context, desired []Attachment) (Report, error) {
	var rep Report
	want := make(map[string]*Attachment, len(desired))
	order := make([]string, 0, len(desired))
	for i := range desired {
		a := desired[i]
		if err := s.normalize(&a); err != nil {
			return rep, err
		}
		k := a.ContainerID + "/" + a.IfName
		if _, dup := want[k]; dup {
			return rep, newError(ErrInvalid, "container %s interface %s is desired twice", a.ContainerID, a.IfName)
		}
		want[k] = &a
		order = append(order, k)
	}
	ports, err := s.ownedPorts(ctx)
	if err != nil {
		return rep, err
	}
	links, orphans, err := s.hostLinks()
	if err != nil {
		return rep, err
	}
	if rep.Orphaned, err = s.removeOrphans(ctx, orphans); err != nil {
		return rep, err
	}
	owners, err := s.bridgesOf(ctx)
	if err != nil {
		return rep, err
	}
	have := map[string]bool{}
	var remove []ovsmodel.Port
	var reattach []*Attachment
	var retag []ovsmodel.Port
	for _, p := range ports {
		k := p.ExternalIDs[keyContainer] + "/" + p.ExternalIDs[keyIfName]
		a, desiredPort := want[k]
		switch {
		case !desiredPort:
			remove = append(remove, p)
		case !links[p.Name]:
			remove = append(remove, p)
			reattach = append(reattach, a)
			have[k] = true
		case a.Addr.IsValid() && a.Addr.String() != p.ExternalIDs[keyAddr],
			!a.Rate.IsZero() && a.Rate.String() != p.ExternalIDs[keyRate],
			a.Rate.IsZero() && p.ExternalIDs[keyRate] != "" && p.ExternalIDs[keyRate] != a.Rate.String():
			remove = append(remove, p)
			reattach = append(reattach, a)
			have[k] = true
		default:
			have[k] = true
			br := owners[p.UUID]
			if br == nil || br.Name != a.Bridge {
				remove = append(remove, p)
				reattach = append(reattach, a)
				continue
			}
			if fixed, ok := s.retag(p, a); ok {
				retag = append(retag, fixed)
			} else {
				rep.Unchanged++
			}
		}
	}
	for _, a := range reattach {
		s.keepAddress(a, ports)
	}
	for _, p := range remove {
		rep.Removed = append(rep.Removed, s.portFromRows(&p, nil, bridgeName(owners[p.UUID])))
	}
	if err := s.remove(ctx, remove); err != nil {
		return rep, err
	}
	if err := s.applyRetag(ctx, retag); err != nil {
		return rep, err
	}
	for _, p := range retag {
		rep.Retagged = append(rep.Retagged, s.portFromRows(&p, nil, bridgeName(owners[p.UUID])))
	}
	for _, k := range order {
		if !have[k] {
			a := want[k]
			// A host end without a Port row (the database was lost): the
			// name is derived from owner, container and interface, so it is
			// ours; remove it so the attachment can be made afresh.
			if name := s.portName(a.ContainerID, a.IfName); links[name] {
				s.deleteLink(name)
			}
			reattach = append(reattach, a)
		}
	}
	added, failed := s.attachAll(ctx, reattach)
	rep.Added, rep.Failed = added, failed
	return rep, nil
}

func bridgeName(b *ovsmodel.Bridge) string {
	if b == nil {
		return ""
	}
	return b.Name
}

// retag returns p with a's VLAN settings, and whether they differ.
func (s *Switch) retag(p ovsmodel.Port, a *Attachment) (ovsmodel.Port, bool) {
	_, want := s.rows(p.Name, a)
	same := deref(p.Tag) == deref(want.Tag) &&
		slices.Equal(p.Trunks, want.Trunks) &&
		deref(p.VLANMode) == deref(want.VLANMode)
	if same {
		return p, false
	}
	p.Tag, p.Trunks, p.VLANMode = want.Tag, want.Trunks, want.VLANMode
	if p.Trunks == nil {
		p.Trunks = []int{}
	}
	return p, true
}

// applyRetag writes the VLAN columns of ports, DeleteChunk ports per
// transaction.
func (s *Switch) applyRetag(ctx context.Context, ports []ovsmodel.Port) error {
	for start := 0; start < len(ports); start += s.cfg.DeleteChunk {
		var ops []ovsdb.Operation
		for i := start; i < min(start+s.cfg.DeleteChunk, len(ports)); i++ {
			p := &ports[i]
			o, err := s.updatePortVLAN(p)
			if err != nil {
				return err
			}
			ops = append(ops, o...)
		}
		if _, _, err := s.transact(ctx, ops); err != nil {
			return err
		}
	}
	return nil
}

// updatePortVLAN returns the update of p's tag, trunks and vlan_mode; an
// unset column is written as the empty set.
func (s *Switch) updatePortVLAN(p *ovsmodel.Port) ([]ovsdb.Operation, error) {
	row := ovsdb.Row{}
	tag, err := ovsdb.NewOvsSet(optional(p.Tag))
	if err != nil {
		return nil, wrapError(ErrInvalid, err, "tag of %s", p.Name)
	}
	row["tag"] = tag
	trunks, err := ovsdb.NewOvsSet(p.Trunks)
	if err != nil {
		return nil, wrapError(ErrInvalid, err, "trunks of %s", p.Name)
	}
	row["trunks"] = trunks
	mode, err := ovsdb.NewOvsSet(optional(p.VLANMode))
	if err != nil {
		return nil, wrapError(ErrInvalid, err, "vlan_mode of %s", p.Name)
	}
	row["vlan_mode"] = mode
	return []ovsdb.Operation{{
		Op:    ovsdb.OperationUpdate,
		Table: ovsmodel.PortTable,
		Row:   row,
		Where: []ovsdb.Condition{ovsdb.NewCondition("_uuid", ovsdb.ConditionEqual, ovsdb.UUID{GoUUID: p.UUID})},
	}}, nil
}

// optional turns an optional column into the slice OVSDB sets take.
func optional[T any](p *T) []T {
	if p == nil {
		return []T{}
	}
	return []T{*p}
}

// hostLinks returns the names of the links in the host namespace and the
// veths among them whose alias names this switch's owner, from one netlink
// dump.
func (s *Switch) hostLinks() (map[string]bool, []ownedVeth, error) {
	var links []netlink.Link
	var err error
	// A dump that races with link changes is interrupted; take a fresh one.
	for range 5 {
		if links, err = s.host.h.LinkList(); !errors.Is(err, netlink.ErrDumpInterrupted) {
			break
		}
	}
	if err != nil {
		return nil, nil, wrapError(ErrUnavailable, err, "list links in the host namespace")
	}
	m := make(map[string]bool, len(links))
	var owned []ownedVeth
	for _, l := range links {
		attrs := l.Attrs()
		m[attrs.Name] = true
		if l.Type() != "veth" || attrs.Alias == "" {
			continue
		}
		if a, ok := parseAlias(attrs.Alias); ok && a.ownedBy(s.cfg.Owner) {
			owned = append(owned, ownedVeth{name: attrs.Name, index: attrs.Index, alias: attrs.Alias, parsed: a})
		}
	}
	return m, owned, nil
}

// attachAll attaches concurrently so the attachments share transactions.
// At most MaxInFlight are being prepared or committed at once; one whose
// rows are committed gives up its place while it waits for its ofport, so
// the next ones join the transactions ovs-vswitchd is still working
// through instead of waiting for a whole reconfiguration of the bridge.
//
// prepare holds the places: each of its goroutines starts the attachment
// in waiting and returns once the rows are committed (or the attachment
// has ended). waiting, unlimited, carries them through the wait for the
// ofport; every waiting.Go happens before its prepare goroutine returns,
// so waiting.Wait after prepare.Wait sees them all. A failed attachment
// is reported and stops none of the others.
func (s *Switch) attachAll(ctx context.Context, as []*Attachment) ([]Port, []Failure) {
	var (
		mu      sync.Mutex
		added   []Port
		failed  []Failure
		prepare errgroup.Group
		waiting errgroup.Group
	)
	prepare.SetLimit(s.cfg.MaxInFlight)
	for _, a := range as {
		prepare.Go(func() error {
			committed, ended := make(chan struct{}), make(chan struct{})
			waiting.Go(func() error {
				defer close(ended)
				p, err := s.attach(ctx, *a, sync.OnceFunc(func() { close(committed) }))
				mu.Lock()
				defer mu.Unlock()
				if err != nil {
					failed = append(failed, Failure{ContainerID: a.ContainerID, IfName: a.IfName, Err: err})
					return nil
				}
				added = append(added, p)
				return nil
			})
			select {
			case <-committed:
			case <-ended:
			}
			return nil
		})
	}
	_ = prepare.Wait() // the goroutines return no errors: failures are collected
	_ = waiting.Wait()
	slices.SortFunc(added, func(a, b Port) int { return compareStrings(a.key(), b.key()) })
	return added, failed
}

// keepAddress gives a re-made attachment that names no address the one its
// old port recorded, so a container keeps its IP across a repair.
func (s *Switch) keepAddress(a *Attachment, ports []ovsmodel.Port) {
	if a.Addr.IsValid() {
		return
	}
	for _, p := range ports {
		if p.ExternalIDs[keyContainer] != a.ContainerID || p.ExternalIDs[keyIfName] != a.IfName {
			continue
		}
		if addr, err := netip.ParsePrefix(p.ExternalIDs[keyAddr]); err == nil {
			a.Addr = addr
			if gw, err := netip.ParseAddr(p.ExternalIDs[keyGateway]); err == nil && !a.Gateway.IsValid() {
				a.Gateway = gw
			}
		}
		return
	}
}
