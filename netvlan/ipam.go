package netvlan

import (
	"fmt"
	"math"
	"net/netip"
	"slices"
	"strings"
	"sync"
)

// MinVLAN and MaxVLAN bound the 802.1Q VLAN ids a port may carry; 0 and
// 4095 are reserved by the standard.
const (
	MinVLAN = 1
	MaxVLAN = 4094
)

// maxPoolBits is the longest prefix a pool may have: a /31 or /32 leaves no
// address for a container once the network, broadcast and gateway
// addresses are taken out.
const maxPoolBits = 30

// minPoolBits is the shortest prefix a pool may have. A VLAN is one
// broadcast domain; a /8 (16,777,214 hosts) is already far past what one
// can carry, and a shorter prefix (up to 0.0.0.0/0) is a typo, not a plan.
const minPoolBits = 8

// checkVLAN returns an ErrInvalid naming vlan when it is outside 1..4094.
func checkVLAN(vlan int) error {
	if vlan < MinVLAN || vlan > MaxVLAN {
		return newError(ErrInvalid, "vlan %d out of range %d..%d", vlan, MinVLAN, MaxVLAN)
	}
	return nil
}

// Range is an inclusive range of addresses, First <= Last.
type Range struct {
	First, Last netip.Addr
}

// Contains reports whether a is inside r.
func (r Range) Contains(a netip.Addr) bool {
	return r.First.Compare(a) <= 0 && a.Compare(r.Last) <= 0
}

// String returns "first-last", or the single address when First == Last.
func (r Range) String() string {
	if r.First == r.Last {
		return r.First.String()
	}
	return r.First.String() + "-" + r.Last.String()
}

// ParseRange parses "10.0.0.10-10.0.0.20" or a single address "10.0.0.1".
func ParseRange(s string) (Range, error) {
	first, last, found := strings.Cut(strings.TrimSpace(s), "-")
	a, err := netip.ParseAddr(strings.TrimSpace(first))
	if err != nil {
		return Range{}, wrapError(ErrInvalid, err, "range %q", s)
	}
	b := a
	if found {
		if b, err = netip.ParseAddr(strings.TrimSpace(last)); err != nil {
			return Range{}, wrapError(ErrInvalid, err, "range %q", s)
		}
	}
	if !a.Is4() || !b.Is4() {
		return Range{}, newError(ErrInvalid, "range %q: only IPv4 addresses are supported", s)
	}
	if b.Less(a) {
		return Range{}, newError(ErrInvalid, "range %q ends before it starts", s)
	}
	return Range{First: a, Last: b}, nil
}

// ParseCIDR parses an IPv4 network in CIDR notation for a pool: the address
// must be the network address (no host bits set) and the prefix /8 to /30:
// at least one address is left for a container, and no pool is larger than
// a VLAN can hold.
func ParseCIDR(s string) (netip.Prefix, error) {
	p, err := netip.ParsePrefix(strings.TrimSpace(s))
	if err != nil {
		return netip.Prefix{}, wrapError(ErrInvalid, err, "cidr %q", s)
	}
	if err := checkCIDR(p); err != nil {
		return netip.Prefix{}, err
	}
	return p, nil
}

func checkCIDR(p netip.Prefix) error {
	switch {
	case !p.IsValid():
		return newError(ErrInvalid, "cidr %v is not valid", p)
	case !p.Addr().Is4():
		return newError(ErrInvalid, "cidr %v: only IPv4 pools are supported", p)
	case p.Bits() > maxPoolBits:
		return newError(ErrInvalid, "cidr %v is too small: a pool needs at most /%d", p, maxPoolBits)
	case p.Bits() < minPoolBits:
		return newError(ErrInvalid, "cidr %v is too large: a pool may be at most a /%d", p, minPoolBits)
	case p.Masked() != p:
		return newError(ErrInvalid, "cidr %v has host bits set (network is %v)", p, p.Masked())
	}
	return nil
}

// Pool is the addresses containers on one VLAN get their IP from. The
// network and broadcast addresses, the gateway and the Reserved ranges are
// never handed out.
type Pool struct {
	VLAN     int          // 1..4094
	CIDR     netip.Prefix // an IPv4 network, /8 to /30
	Gateway  netip.Addr   // the default route; zero means the first host address of CIDR
	Reserved []Range      // addresses inside CIDR that are never handed out
}

// ParsePool builds a Pool from text: cidr as "10.1.0.0/24", gateway as an
// address or "" for the first host address, and reserved ranges as
// "10.1.0.2-10.1.0.9" or single addresses.
func ParsePool(vlan int, cidr, gateway string, reserved ...string) (Pool, error) {
	p := Pool{VLAN: vlan}
	var err error
	if p.CIDR, err = ParseCIDR(cidr); err != nil {
		return Pool{}, err
	}
	if gateway != "" {
		if p.Gateway, err = netip.ParseAddr(gateway); err != nil {
			return Pool{}, wrapError(ErrInvalid, err, "gateway %q", gateway)
		}
	}
	for _, s := range reserved {
		r, err := ParseRange(s)
		if err != nil {
			return Pool{}, err
		}
		p.Reserved = append(p.Reserved, r)
	}
	if err := p.normalize(); err != nil {
		return Pool{}, err
	}
	return p, nil
}

// normalize checks p and fills in the default gateway.
func (p *Pool) normalize() error {
	if err := checkVLAN(p.VLAN); err != nil {
		return err
	}
	if err := checkCIDR(p.CIDR); err != nil {
		return err
	}
	if !p.Gateway.IsValid() {
		p.Gateway = p.CIDR.Addr().Next()
	}
	if !p.CIDR.Contains(p.Gateway) || p.Gateway == p.CIDR.Addr() || p.Gateway == broadcast(p.CIDR) {
		return newError(ErrInvalid, "gateway %v is not a host address of %v", p.Gateway, p.CIDR)
	}
	for _, r := range p.Reserved {
		if !p.CIDR.Contains(r.First) || !p.CIDR.Contains(r.Last) || r.Last.Less(r.First) {
			return newError(ErrInvalid, "reserved range %v is not inside %v", r, p.CIDR)
		}
	}
	return nil
}

// broadcast returns the last address of an IPv4 prefix.
func broadcast(p netip.Prefix) netip.Addr {
	a := p.Masked().Addr().As4()
	host := uint32(math.MaxUint32) >> p.Bits()
	v := uint32(a[0])<<24 | uint32(a[1])<<16 | uint32(a[2])<<8 | uint32(a[3])
	v |= host
	return netip.AddrFrom4([4]byte{byte(v >> 24), byte(v >> 16), byte(v >> 8), byte(v)})
}

// Lease is an address handed out to one owner (a container's interface).
type Lease struct {
	VLAN    int
	Addr    netip.Prefix // the address with the pool's prefix length, as the interface gets it
	Gateway netip.Addr
	Owner   string
}

// IPAM hands out addresses from per-VLAN pools. It keeps its allocations in
// memory; a Switch records each lease in its port's external_ids and claims
// them back when it opens, so OVSDB is the record that survives restarts.
// An IPAM is safe for concurrent use.
type IPAM struct {
	mu    sync.Mutex
	pools map[int]*poolState // by VLAN
}

type poolState struct {
	Pool
	used   map[netip.Addr]string // address to owner
	owners map[string]netip.Addr // owner to address
	// free holds the addresses that may be handed out and are not: the
	// host addresses minus the gateway, the reserved ranges and the used
	// ones, as ranges. Allocate takes the first one at or after next, so
	// its cost depends on how fragmented the pool is, never on its size.
	free freeSet
	next uint32 // where the next search starts: recently freed addresses are reused last
}

func newPoolState(p Pool) *poolState {
	lo, hi := u32(p.CIDR.Addr())+1, u32(broadcast(p.CIDR))-1
	excluded := make([]span, 0, len(p.Reserved)+1)
	excluded = append(excluded, span{u32(p.Gateway), u32(p.Gateway)})
	for _, r := range p.Reserved {
		excluded = append(excluded, span{u32(r.First), u32(r.Last)})
	}
	return &poolState{
		Pool: p, used: map[netip.Addr]string{}, owners: map[string]netip.Addr{},
		free: newFreeSet(lo, hi, excluded), next: lo,
	}
}

// NewIPAM returns an IPAM over pools: one pool per VLAN, and no two pools
// may overlap.
func NewIPAM(pools ...Pool) (*IPAM, error) {
	m := &IPAM{pools: make(map[int]*poolState, len(pools))}
	for i := range pools {
		p := pools[i]
		p.Reserved = slices.Clone(p.Reserved)
		if err := p.normalize(); err != nil {
			return nil, err
		}
		if _, dup := m.pools[p.VLAN]; dup {
			return nil, newError(ErrInvalid, "two pools for vlan %d", p.VLAN)
		}
		for _, q := range m.pools {
			if q.CIDR.Overlaps(p.CIDR) {
				return nil, newError(ErrInvalid, "pools overlap: %v (vlan %d) and %v (vlan %d)", q.CIDR, q.VLAN, p.CIDR, p.VLAN)
			}
		}
		m.pools[p.VLAN] = newPoolState(p)
	}
	return m, nil
}

// HasPool reports whether vlan has a pool.
func (m *IPAM) HasPool(vlan int) bool {
	m.mu.Lock()
	defer m.mu.Unlock()
	_, ok := m.pools[vlan]
	return ok
}

// Allocate hands the next free address of vlan's pool to owner. An owner
// that already holds an address in the pool gets the same one back.
func (m *IPAM) Allocate(vlan int, owner string) (Lease, error) {
	if err := checkVLAN(vlan); err != nil {
		return Lease{}, err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	p, ok := m.pools[vlan]
	if !ok {
		return Lease{}, newError(ErrNotFound, "no address pool for vlan %d", vlan)
	}
	if a, ok := p.owners[owner]; ok {
		return p.lease(a, owner), nil
	}
	v, ok := p.free.take(p.next)
	if !ok {
		return Lease{}, newError(ErrExhausted, "address pool %v of vlan %d is exhausted (%d in use)", p.CIDR, vlan, len(p.used))
	}
	a := addrOf(v)
	p.used[a] = owner
	p.owners[owner] = a
	p.next = v + 1
	return p.lease(a, owner), nil
}

// Claim gives owner the address addr in vlan's pool: for addresses chosen
// by the caller and for leases read back from OVSDB. Claiming an address the
// owner already holds is harmless; one held by another owner is ErrConflict.
func (m *IPAM) Claim(vlan int, addr netip.Addr, owner string) (Lease, error) {
	if err := checkVLAN(vlan); err != nil {
		return Lease{}, err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	p, ok := m.pools[vlan]
	if !ok {
		return Lease{}, newError(ErrNotFound, "no address pool for vlan %d", vlan)
	}
	if !p.CIDR.Contains(addr) {
		return Lease{}, newError(ErrInvalid, "address %v is outside pool %v of vlan %d", addr, p.CIDR, vlan)
	}
	if o, used := p.used[addr]; used {
		if o == owner {
			return p.lease(addr, owner), nil
		}
		return Lease{}, newError(ErrConflict, "address %v is already held by %s", addr, o)
	}
	if !p.free.contains(u32(addr)) {
		return Lease{}, newError(ErrInvalid, "address %v is the network, broadcast, gateway or a reserved address of %v", addr, p.CIDR)
	}
	if prev, ok := p.owners[owner]; ok {
		delete(p.used, prev)
		p.free.add(u32(prev))
	}
	p.free.remove(u32(addr))
	p.used[addr] = owner
	p.owners[owner] = addr
	return p.lease(addr, owner), nil
}

// Release returns addr to its pool if owner holds it; anything else is a
// no-op, so releasing twice is harmless.
func (m *IPAM) Release(addr netip.Addr, owner string) {
	m.mu.Lock()
	defer m.mu.Unlock()
	for _, p := range m.pools {
		if p.CIDR.Contains(addr) && p.used[addr] == owner {
			delete(p.used, addr)
			delete(p.owners, owner)
			p.free.add(u32(addr))
			return
		}
	}
}

// InUse returns how many addresses of vlan's pool are handed out.
func (m *IPAM) InUse(vlan int) int {
	m.mu.Lock()
	defer m.mu.Unlock()
	if p, ok := m.pools[vlan]; ok {
		return len(p.used)
	}
	return 0
}

// PoolFor returns the pool whose network contains addr.
func (m *IPAM) PoolFor(addr netip.Addr) (Pool, bool) {
	m.mu.Lock()
	defer m.mu.Unlock()
	for _, p := range m.pools {
		if p.CIDR.Contains(addr) {
			return p.Pool, true
		}
	}
	return Pool{}, false
}

func (p *poolState) lease(a netip.Addr, owner string) Lease {
	return Lease{VLAN: p.VLAN, Addr: netip.PrefixFrom(a, p.CIDR.Bits()), Gateway: p.Gateway, Owner: owner}
}

// String describes the pool for messages.
func (p Pool) String() string {
	return fmt.Sprintf("vlan %d %v gw %v", p.VLAN, p.CIDR, p.Gateway)
}
