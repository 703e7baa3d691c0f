package netvlan

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"net"
	"net/netip"
	"slices"
	"strings"
	"syscall"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/ovn-org/libovsdb/model"
	"github.com/ovn-org/libovsdb/ovsdb"
	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netlink/nl"
	"golang.org/x/sys/unix"

	"github.com/shoalkit/shoal/netvlan/ovsmodel"
)

// Attachment describes one container interface to wire: a veth pair whose
// container end is IfName inside the namespace Netns and whose host end is a
// port of Bridge on VLAN.
type Attachment struct {
	// ContainerID identifies the container; with IfName it identifies the
	// attachment. Required.
	ContainerID string
	// Netns is the path of the container's network namespace
	// (/proc/PID/ns/net or a bind mount such as /run/netns/NAME). Required.
	Netns string
	// IfName is the container-side interface name. Default Config.IfName.
	IfName string
	// InterfaceID goes to the Interface's external_ids:iface-id, for
	// controllers that key on it. Default ContainerID + "." + IfName.
	InterfaceID string
	// Bridge is the bridge to add the port to. Default Config.Bridge.
	Bridge string
	// VLAN is the access VLAN (1..4094): the port's tag. With Trunks it is
	// the native VLAN that the container's untagged frames go to. Zero is
	// allowed only with Trunks.
	VLAN int
	// Trunks makes the port a trunk carrying these VLANs tagged.
	Trunks []int
	// Addr is the container's address with its prefix length. Zero: the
	// next free address of VLAN's pool, when Config.Pools has one; else no
	// address.
	Addr netip.Prefix
	// Gateway is the default route. Zero: the pool's gateway when the
	// address came from or lies in a pool; else no default route.
	Gateway netip.Addr
	// MAC of the container end. Nil: 0a:58 and the IPv4 address, or a
	// random locally administered MAC without an address.
	MAC net.HardwareAddr
	// MTU of both ends. Zero: Config.MTU.
	MTU int
	// Rate limits the container's traffic. Zero: unlimited.
	Rate RateLimit
}

// Port is an attached container interface as netvlan recorded it in OVSDB.
type Port struct {
	ContainerID string
	IfName      string
	InterfaceID string
	Netns       string
	Name        string // the OVS port and the host end of the veth pair
	Bridge      string
	VLAN        int
	Trunks      []int
	Addr        netip.Prefix
	Gateway     netip.Addr
	MAC         net.HardwareAddr
	Hostname    string // from Config.Hostname; "" without an IPv4 address or an access VLAN
	Ofport      int    // OpenFlow port number; 0 until ovs-vswitchd has it, -1 on error
	LinkState   string // "up", "down" or "" when unknown
	Error       string // Interface.error: why ovs-vswitchd could not open it
	UUID        string // the Port row
	Rate        RateLimit
	RateEgress  RateMode // how Rate.Egress is enforced
	RateIngress RateMode // how Rate.Ingress is enforced
}

// key identifies an attachment.
func (p Port) key() string { return p.ContainerID + "/" + p.IfName }

// normalize fills defaults into a and checks it.
func (s *Switch) normalize(a *Attachment) error {
	if a.ContainerID == "" {
		return newError(ErrInvalid, "attachment without a container id")
	}
	if err := checkID("container id", a.ContainerID); err != nil {
		return err
	}
	if strings.ContainsAny(a.ContainerID, "/") {
		return newError(ErrInvalid, "container id %q contains '/'", a.ContainerID)
	}
	for _, f := range []struct{ what, v string }{{"network namespace path", a.Netns}, {"interface name", a.IfName}, {"interface id", a.InterfaceID}, {"bridge", a.Bridge}} {
		if err := checkID(f.what, f.v); err != nil {
			return wrapError(ErrInvalid, err, "container %s", a.ContainerID)
		}
	}
	if a.Netns == "" {
		return newError(ErrInvalid, "container %s: no network namespace path", a.ContainerID)
	}
	if a.IfName == "" {
		a.IfName = s.cfg.IfName
	}
	if len(a.IfName) >= unix.IFNAMSIZ || strings.ContainsAny(a.IfName, "/ \x00") || a.IfName == "." || a.IfName == ".." {
		return newError(ErrInvalid, "container %s: interface name %q is not a valid Linux interface name", a.ContainerID, a.IfName)
	}
	if a.InterfaceID == "" {
		a.InterfaceID = a.ContainerID + "." + a.IfName
	}
	if a.Bridge == "" {
		a.Bridge = s.cfg.Bridge
	}
	if a.MTU == 0 {
		a.MTU = s.cfg.MTU
	}
	if a.MTU < 0 || a.MTU > 65535 || (a.MTU > 0 && a.MTU < 68) {
		return newError(ErrInvalid, "container %s: mtu %d out of range 68..65535", a.ContainerID, a.MTU)
	}
	if a.VLAN != 0 || len(a.Trunks) == 0 {
		if err := checkVLAN(a.VLAN); err != nil {
			return wrapError(ErrInvalid, err, "container %s", a.ContainerID)
		}
	}
	for _, v := range a.Trunks {
		if err := checkVLAN(v); err != nil {
			return wrapError(ErrInvalid, err, "container %s trunk", a.ContainerID)
		}
	}
	a.Trunks = slices.Compact(slices.Sorted(slices.Values(a.Trunks)))
	if a.Addr.IsValid() && !a.Addr.Addr().Is4() {
		return newError(ErrInvalid, "container %s: address %v: only IPv4 is supported", a.ContainerID, a.Addr)
	}
	if a.MAC != nil && (len(a.MAC) != 6 || a.MAC[0]&1 != 0) {
		return newError(ErrInvalid, "container %s: mac %v is not a unicast Ethernet address", a.ContainerID, a.MAC)
	}
	if err := a.Rate.check(); err != nil {
		return wrapError(ErrInvalid, err, "container %s", a.ContainerID)
	}
	return nil
}

// maxIDLen bounds the ids and names an Attachment carries into OVSDB,
// error messages and logs.
const maxIDLen = 1024

// checkID refuses an id with a control character or invalid UTF-8 (a
// newline in a container id would reach logs and error text raw) or longer
// than maxIDLen bytes. The error quotes the id.
func checkID(what, id string) error {
	if len(id) > maxIDLen {
		return newError(ErrInvalid, "%s of %d bytes is longer than %d", what, len(id), maxIDLen)
	}
	if !utf8.ValidString(id) {
		return newError(ErrInvalid, "%s %q is not valid UTF-8", what, id)
	}
	for _, r := range id {
		if unicode.IsControl(r) {
			return newError(ErrInvalid, "%s %q contains the control character %U", what, id, r)
		}
	}
	return nil
}

// portName is the host end's name: a hash of owner, container id and
// interface name, so it fits IFNAMSIZ, is the same on every retry, and two
// attachments of one container interface collide on OVSDB's unique port
// name instead of both succeeding.
func (s *Switch) portName(containerID, ifName string) string {
	h := sha256.Sum256([]byte(s.cfg.Owner + "\x00" + containerID + "\x00" + ifName))
	return "nv" + hex.EncodeToString(h[:6])
}

// undo is a stack of rollback steps.
type undo []func()

func (u *undo) push(f func()) { *u = append(*u, f) }

func (u undo) run() {
	for i := len(u) - 1; i >= 0; i-- {
		u[i]()
	}
}

// Attach wires a container interface: a veth pair with one end named
// a.IfName inside the container's namespace (MAC, MTU, address, default
// route, up, transmit checksum offload off) and the other end an access (or
// trunk) port of the bridge, inserted with its Interface and the bridge's
// port list in one transaction. It returns once ovs-vswitchd has given the
// port its ofport.
//
// Attach is all-or-nothing: when any step fails, the veth, the OVSDB rows
// and the address lease it made are removed again. Attaching the same
// container interface twice is ErrConflict.
func (s *Switch) Attach(ctx context.Context, a Attachment) (Port, error) {
	return s.attach(ctx, a, nil)
}

// attach is Attach calling committed, when not nil, once the port's rows
// are in OVSDB and only the wait for ovs-vswitchd remains.
func (s *Switch) attach(ctx context.Context, a Attachment, committed func()) (Port, error) {
	if err := s.normalize(&a); err != nil {
		return Port{}, err
	}
	if err := s.ready(ctx); err != nil {
		return Port{}, err
	}
	name := s.portName(a.ContainerID, a.IfName)
	br, err := s.bridge(ctx, a.Bridge)
	if err != nil {
		return Port{}, err
	}
	if existing := s.portByName(ctx, name); existing != nil {
		return Port{}, newError(ErrConflict, "container %s interface %s is already attached as port %s", a.ContainerID, a.IfName, name)
	}
	// In flight until Attach returns: from before the veth exists until
	// its rows are committed and seen, or the veth is gone again, Reconcile
	// must not take it for one a crash left behind.
	s.beginAttach(name)
	defer s.endAttach(name)
	var rollback undo
	ok := false
	defer func() {
		if !ok {
			rollback.run()
		}
	}()
	lease, err := s.lease(&a)
	if err != nil {
		return Port{}, err
	}
	if lease != nil {
		rollback.push(func() { s.ipam.Release(lease.Addr.Addr(), lease.Owner) })
	}
	if a.MAC == nil {
		a.MAC = macFor(a.Addr.Addr())
	}
	cns, err := openContainerNetns(a.Netns)
	if err != nil {
		return Port{}, wrapError(errKind(err), err, "container %s", a.ContainerID)
	}
	defer cns.close()
	if err := s.createVeth(cns, name, &a); err != nil {
		return Port{}, err
	}
	rollback.push(func() { s.deleteLink(name) })
	if err := s.setupContainer(cns, &a); err != nil {
		return Port{}, err
	}
	req := &addRequest{bridge: *br, ingress: a.Rate.Ingress}
	req.iface, req.port = s.rows(name, &a)
	egress, err := s.applyEgress(cns, &a, &req.iface)
	if err != nil {
		return Port{}, err
	}
	if egress != RateUnlimited {
		req.port.ExternalIDs[keyRateEgress] = string(egress)
	}
	if err := s.commit.add(ctx, req); err != nil {
		return Port{}, err
	}
	if committed != nil {
		committed()
	}
	rollback.push(func() {
		dctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), s.cfg.ReadyTimeout)
		defer cancel()
		if err := s.deleteRows(dctx, []portRef{req.ref()}); err != nil {
			s.log.Warn("netvlan: rollback of port failed", "port", name, "err", err)
		}
	})
	iface, err := s.waitOfport(ctx, name, req.iuuid)
	if err != nil {
		return Port{}, wrapError(errKind(err), err, "container %s port %s", a.ContainerID, name)
	}
	if a.Rate.Ingress > 0 {
		mode, err := s.confirmIngress(ctx, name, a.Rate.Ingress)
		if err != nil {
			return Port{}, wrapError(errKind(err), err, "container %s", a.ContainerID)
		}
		if mode != RateOVSHTB {
			if err := s.setPortID(ctx, req.uuid, keyRateIngress, string(mode)); err != nil {
				return Port{}, err
			}
		}
		req.port.ExternalIDs[keyRateIngress] = string(mode)
	}
	ok = true
	p := s.portFromRows(&req.port, iface, a.Bridge)
	p.UUID = req.uuid
	return p, nil
}

// errKind returns the sentinel err wraps, ErrUnavailable when none.
func errKind(err error) error {
	for _, k := range []error{ErrInvalid, ErrNotFound, ErrConflict, ErrExhausted, ErrClosed, ErrUnavailable} {
		if errors.Is(err, k) {
			return k
		}
	}
	return ErrUnavailable
}

// lease fills a.Addr and a.Gateway from the pools; it returns the lease to
// release on failure, or nil when no pool was involved.
func (s *Switch) lease(a *Attachment) (*Lease, error) {
	owner := a.ContainerID + "/" + a.IfName
	var l Lease
	var err error
	switch {
	case a.Addr.IsValid():
		pool, ok := s.ipam.PoolFor(a.Addr.Addr())
		if !ok {
			return nil, nil //nolint:nilnil // an address outside every pool needs no lease
		}
		if pool.CIDR.Bits() != a.Addr.Bits() {
			return nil, newError(ErrInvalid, "container %s: address %v does not match pool %v", a.ContainerID, a.Addr, pool.CIDR)
		}
		if l, err = s.ipam.Claim(pool.VLAN, a.Addr.Addr(), owner); err != nil {
			return nil, wrapError(errKind(err), err, "container %s", a.ContainerID)
		}
	case a.VLAN != 0 && s.ipam.HasPool(a.VLAN):
		if l, err = s.ipam.Allocate(a.VLAN, owner); err != nil {
			return nil, wrapError(errKind(err), err, "container %s", a.ContainerID)
		}
		a.Addr = l.Addr
	default:
		return nil, nil //nolint:nilnil // no pool: no lease
	}
	if !a.Gateway.IsValid() {
		a.Gateway = l.Gateway
	}
	return &l, nil
}

// createVeth creates the pair with the host end in the host namespace and
// the peer already inside the container's, under its final name.
func (s *Switch) createVeth(cns *containerNetns, name string, a *Attachment) error {
	veth := &netlink.Veth{
		LinkAttrs:        netlink.LinkAttrs{Name: name, MTU: a.MTU},
		PeerName:         a.IfName,
		PeerNamespace:    netlink.NsFd(cns.ns),
		PeerHardwareAddr: a.MAC,
	}
	if err := s.host.h.LinkAdd(veth); err != nil {
		if errors.Is(err, syscall.EEXIST) {
			return wrapError(ErrConflict, err, "container %s: interface %s already exists in the host namespace or %s in the container's", a.ContainerID, name, a.IfName)
		}
		return wrapError(ErrUnavailable, err, "container %s: create veth %s", a.ContainerID, name)
	}
	// Ownership goes on the host end in the kernel before anything else
	// can fail, so that a crash before the rows are committed leaves a veth
	// Reconcile can recognise as ours (see alias.go). The kernel ignores an
	// alias in the request that creates the link, so it is set here.
	host, err := s.host.h.LinkByName(name)
	if err == nil {
		err = s.host.h.LinkSetAlias(host, encodeAlias(s.cfg.Owner, a.ContainerID, a.IfName))
	}
	if err != nil {
		s.deleteLink(name)
		return wrapError(ErrUnavailable, err, "container %s: set the alias of veth %s", a.ContainerID, name)
	}
	return nil
}

// deleteLink removes the host end (and with it the pair) if it exists.
func (s *Switch) deleteLink(name string) {
	l, err := s.host.h.LinkByName(name)
	if err != nil {
		return
	}
	if err := s.host.h.LinkDel(l); err != nil {
		s.log.Warn("netvlan: delete veth failed", "link", name, "err", err)
	}
}

// setupContainer configures the container end and brings both ends up.
func (s *Switch) setupContainer(cns *containerNetns, a *Attachment) error {
	fail := func(err error, what string) error {
		return wrapError(ErrUnavailable, err, "container %s: %s", a.ContainerID, what)
	}
	link, err := cns.h.LinkByName(a.IfName)
	if err != nil {
		return fail(err, "find "+a.IfName)
	}
	if a.Addr.IsValid() {
		addr := &netlink.Addr{IPNet: &net.IPNet{IP: a.Addr.Addr().AsSlice(), Mask: net.CIDRMask(a.Addr.Bits(), 32)}}
		if err := cns.h.AddrAdd(link, addr); err != nil {
			return fail(err, "address "+a.Addr.String())
		}
	}
	if !s.cfg.KeepTxChecksum {
		if err := cns.setTxChecksum(a.IfName, false); err != nil {
			return err
		}
		if on, err := cns.txChecksum(a.IfName); err != nil || on {
			return wrapError(ErrUnavailable, err, "container %s: tx checksum offload of %s is still on", a.ContainerID, a.IfName)
		}
	}
	if !s.cfg.KeepIPv6 {
		if err := noLinkLocal(cns.h, link); err != nil {
			return fail(err, "IPv6 address generation of "+a.IfName)
		}
	}
	if err := cns.h.LinkSetUp(link); err != nil {
		return fail(err, "set "+a.IfName+" up")
	}
	if a.Gateway.IsValid() {
		route := &netlink.Route{LinkIndex: link.Attrs().Index, Gw: a.Gateway.AsSlice()}
		if err := cns.h.RouteAdd(route); err != nil {
			return fail(err, "default route via "+a.Gateway.String())
		}
	}
	host, err := s.host.h.LinkByName(s.portName(a.ContainerID, a.IfName))
	if err != nil {
		return fail(err, "find host end")
	}
	if err := disableIPv6(s.host.ns, host.Attrs().Name); err != nil {
		return fail(err, "disable IPv6 on the host end")
	}
	if err := s.host.h.LinkSetUp(host); err != nil {
		return fail(err, "set host end up")
	}
	return nil
}

// noLinkLocal stops the kernel from giving the container end an IPv6
// link-local address (addrgenmode none), which must happen before the link
// comes up. Without an address the kernel sends nothing on its own: no
// duplicate address detection, router solicitations or MLD reports. The
// bridge floods every such multicast to every port of the VLAN (on the
// userspace datapath ovs-vswitchd's main thread copies it out N times and
// keeps a datapath flow per sender whose actions list all N ports, which
// every reconfiguration revalidates), and each new port sends several
// within seconds of coming up: a burst of attaches onto a bridge of N
// ports costs on the order of N² packet copies and ovs-vswitchd falls
// seconds behind. IPv6 stays usable for addresses the container adds
// itself. A kernel without IPv6 needs nothing.
func noLinkLocal(h *netlink.Handle, link netlink.Link) error {
	err := h.LinkSetIP6AddrGenMode(link, nl.IN6_ADDR_GEN_MODE_NONE)
	if errors.Is(err, unix.EAFNOSUPPORT) {
		return nil
	}
	return err
}

// rows builds the Interface and Port rows of an attachment.
func (s *Switch) rows(name string, a *Attachment) (ovsmodel.Interface, ovsmodel.Port) {
	iface := ovsmodel.Interface{
		Name: name,
		ExternalIDs: map[string]string{
			keyOwner:     s.cfg.Owner,
			keyContainer: a.ContainerID,
			keyIfName:    a.IfName,
			keyIfaceID:   a.InterfaceID,
			keyMAC:       a.MAC.String(),
		},
	}
	ids := map[string]string{
		keyOwner:     s.cfg.Owner,
		keyContainer: a.ContainerID,
		keyIfName:    a.IfName,
		keyIfaceID:   a.InterfaceID,
		keyNetns:     a.Netns,
		keyMAC:       a.MAC.String(),
	}
	if a.Addr.IsValid() {
		ids[keyAddr] = a.Addr.String()
	}
	if a.Gateway.IsValid() {
		ids[keyGateway] = a.Gateway.String()
	}
	if !a.Rate.IsZero() {
		ids[keyRate] = a.Rate.String()
	}
	if a.Rate.Ingress > 0 {
		ids[keyRateIngress] = string(RateOVSHTB)
	}
	port := ovsmodel.Port{Name: name, ExternalIDs: ids}
	if a.VLAN != 0 {
		tag := a.VLAN
		port.Tag = &tag
	}
	if len(a.Trunks) > 0 {
		port.Trunks = slices.Clone(a.Trunks)
		vm := ovsmodel.PortVLANModeTrunk
		if a.VLAN != 0 {
			vm = ovsmodel.PortVLANModeNativeUntagged
		}
		port.VLANMode = &vm
	}
	return iface, port
}

// waitOfport waits until ovs-vswitchd has opened the interface, the
// Interface row uuid called name: ofport set, or an error. It reads the
// index, not the cache, because every change wakes every waiter.
func (s *Switch) waitOfport(ctx context.Context, name, uuid string) (*ovsmodel.Interface, error) {
	ctx, cancel := context.WithTimeout(ctx, s.cfg.ReadyTimeout)
	defer cancel()
	var got *ovsmodel.Interface
	err := s.waitFor(ctx, func() (bool, error) {
		r, ok := s.index.iface(uuid)
		if !ok || r.ofport == nil {
			return false, nil
		}
		if *r.ofport > 0 {
			got = &ovsmodel.Interface{UUID: uuid, Name: name, Ofport: r.ofport, LinkState: r.linkState, Error: r.err}
			return true, nil
		}
		if r.err != nil && *r.err != "" {
			return false, newError(ErrUnavailable, "ovs-vswitchd cannot open %s: %s", name, *r.err)
		}
		return false, nil
	})
	if err != nil {
		if errors.Is(err, context.DeadlineExceeded) || errors.Is(err, context.Canceled) {
			return nil, wrapError(ErrUnavailable, err, "ovs-vswitchd gave %s no ofport", name)
		}
		return nil, err
	}
	return got, nil
}

// portByName returns the port called name from the cache, or nil.
func (s *Switch) portByName(ctx context.Context, name string) *ovsmodel.Port {
	p := &ovsmodel.Port{Name: name}
	if err := s.ovs.Get(ctx, p); err != nil {
		return nil
	}
	return p
}

// portFromRows builds a Port from the rows.
func (s *Switch) portFromRows(p *ovsmodel.Port, iface *ovsmodel.Interface, bridge string) Port {
	ids := p.ExternalIDs
	out := Port{
		ContainerID: ids[keyContainer],
		IfName:      ids[keyIfName],
		InterfaceID: ids[keyIfaceID],
		Netns:       ids[keyNetns],
		Name:        p.Name,
		Bridge:      bridge,
		Trunks:      slices.Clone(p.Trunks),
		UUID:        p.UUID,
	}
	if p.Tag != nil {
		out.VLAN = *p.Tag
	}
	out.Rate, _ = ParseRateLimit(ids[keyRate])
	out.RateEgress, out.RateIngress = RateMode(ids[keyRateEgress]), RateMode(ids[keyRateIngress])
	out.Addr, _ = netip.ParsePrefix(ids[keyAddr])
	out.Gateway, _ = netip.ParseAddr(ids[keyGateway])
	out.MAC, _ = net.ParseMAC(ids[keyMAC])
	if out.Addr.IsValid() {
		out.Hostname, _ = s.cfg.Hostname.Hostname(out.Addr.Addr(), out.VLAN)
	}
	if iface != nil {
		if iface.Ofport != nil {
			out.Ofport = *iface.Ofport
		}
		if iface.LinkState != nil {
			out.LinkState = *iface.LinkState
		}
		if iface.Error != nil {
			out.Error = *iface.Error
		}
	}
	return out
}

// randomBytes fills b from crypto/rand.
func randomBytes(b []byte) {
	_, _ = rand.Read(b)
}

// sinceMs is the milliseconds since t, for logs.
func sinceMs(t time.Time) float64 { return float64(time.Since(t).Microseconds()) / 1000 }

// setPortID sets one external_ids key of the Port row uuid.
func (s *Switch) setPortID(ctx context.Context, uuid, key, value string) error {
	p := &ovsmodel.Port{UUID: uuid}
	del, err := s.ovs.Where(p).Mutate(p, model.Mutation{Field: &p.ExternalIDs, Mutator: ovsdb.MutateOperationDelete, Value: []string{key}})
	if err != nil {
		return wrapError(ErrUnavailable, err, "update port %s", uuid)
	}
	ins, err := s.ovs.Where(p).Mutate(p, model.Mutation{Field: &p.ExternalIDs, Mutator: ovsdb.MutateOperationInsert, Value: map[string]string{key: value}})
	if err != nil {
		return wrapError(ErrUnavailable, err, "update port %s", uuid)
	}
	_, _, err = s.transact(ctx, append(del, ins...))
	return err
}
