package netvlan

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"net/netip"
	"testing"
)

// naivePool is the scanning allocator IPAM had before its free set: it
// walks the pool address by address from the cursor. The free set must
// hand out exactly the same addresses in the same order.
type naivePool struct {
	p    Pool
	used map[netip.Addr]string
	own  map[string]netip.Addr
	next netip.Addr
}

func (n *naivePool) free(a netip.Addr) bool {
	if a == n.p.CIDR.Addr() || a == broadcast(n.p.CIDR) || a == n.p.Gateway {
		return false
	}
	if _, ok := n.used[a]; ok {
		return false
	}
	for _, r := range n.p.Reserved {
		if r.Contains(a) {
			return false
		}
	}
	return true
}

func (n *naivePool) allocate(owner string) (netip.Addr, bool) {
	if a, ok := n.own[owner]; ok {
		return a, true
	}
	a := n.next
	for range 1 << (32 - n.p.CIDR.Bits()) {
		if !n.p.CIDR.Contains(a) || a == broadcast(n.p.CIDR) {
			a = n.p.CIDR.Addr().Next()
		}
		if n.free(a) {
			n.used[a], n.own[owner], n.next = owner, a, a.Next()
			return a, true
		}
		a = a.Next()
	}
	return netip.Addr{}, false
}

func (n *naivePool) claim(a netip.Addr, owner string) error {
	if o, ok := n.used[a]; ok {
		if o == owner {
			return nil
		}
		return ErrConflict
	}
	if !n.free(a) {
		return ErrInvalid
	}
	if prev, ok := n.own[owner]; ok {
		delete(n.used, prev)
	}
	n.used[a], n.own[owner] = owner, a
	return nil
}

func (n *naivePool) release(a netip.Addr, owner string) {
	if n.used[a] == owner {
		delete(n.used, a)
		delete(n.own, owner)
	}
}

func TestFreeSetMatchesScanningAllocator(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	for round := range 200 {
		bits := 26 + r.IntN(4) // /26../29
		base := netip.AddrFrom4([4]byte{10, byte(round), 0, 0})
		p := Pool{VLAN: 10, CIDR: netip.PrefixFrom(base, bits)}
		hosts := 1<<(32-bits) - 2
		p.Gateway = addrOf(u32(base) + 1 + uint32(r.IntN(hosts)))
		for range r.IntN(4) {
			first := u32(base) + uint32(r.IntN(hosts+2))
			last := min(first+uint32(r.IntN(6)), u32(broadcast(p.CIDR)))
			p.Reserved = append(p.Reserved, Range{First: addrOf(first), Last: addrOf(last)})
		}
		m, err := NewIPAM(p)
		if err != nil {
			t.Fatal(err)
		}
		n := &naivePool{p: p, used: map[netip.Addr]string{}, own: map[string]netip.Addr{}, next: base.Next()}
		for op := range 300 {
			owner := fmt.Sprint("o", r.IntN(hosts+4))
			switch r.IntN(3) {
			case 0:
				l, err := m.Allocate(10, owner)
				want, ok := n.allocate(owner)
				if ok != (err == nil) || (ok && l.Addr.Addr() != want) {
					t.Fatalf("round %d op %d: Allocate(%s) = %v, %v; the scan gives %v, %v (pool %v)", round, op, owner, l.Addr, err, want, ok, p)
				}
				if !ok && !errors.Is(err, ErrExhausted) {
					t.Fatalf("exhausted pool: %v", err)
				}
			case 1:
				a := addrOf(u32(base) + uint32(r.IntN(hosts+2)))
				_, err := m.Claim(10, a, owner)
				if want := n.claim(a, owner); !errors.Is(err, want) && (want != nil || err != nil) {
					t.Fatalf("round %d op %d: Claim(%v, %s) = %v, the scan gives %v", round, op, a, owner, err, want)
				}
			default:
				a := addrOf(u32(base) + uint32(r.IntN(hosts+2)))
				if r.IntN(2) == 0 {
					if held, ok := n.own[owner]; ok {
						a = held
					}
				}
				m.Release(a, owner)
				n.release(a, owner)
			}
			if m.InUse(10) != len(n.used) {
				t.Fatalf("round %d op %d: in use %d, the scan has %d", round, op, m.InUse(10), len(n.used))
			}
		}
	}
}

func TestFreeSet(t *testing.T) {
	f := newFreeSet(1, 20, []span{{5, 7}, {6, 9}, {0, 1}, {20, 30}, {15, 15}})
	if got := fmt.Sprint(f); got != "[{2 4} {10 14} {16 19}]" {
		t.Fatalf("free set = %s", got)
	}
	f.add(15)
	f.add(15)
	if got := fmt.Sprint(f); got != "[{2 4} {10 19}]" {
		t.Fatalf("after add = %s", got)
	}
	if a, _ := f.take(19); a != 19 {
		t.Fatalf("take(19) = %d", a)
	}
	if a, _ := f.take(19); a != 2 {
		t.Fatalf("take(19) after the last = %d, want the wrap to 2", a)
	}
	f.remove(12)
	if got := fmt.Sprint(f); got != "[{3 4} {10 11} {13 18}]" || f.contains(12) || !f.contains(13) {
		t.Fatalf("after remove = %s", got)
	}
	empty := newFreeSet(1, 2, []span{{1, 2}})
	if _, ok := empty.take(0); ok {
		t.Fatal("take from an empty set succeeded")
	}
}
