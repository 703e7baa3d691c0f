package netvlan

import (
	"net/netip"
	"strconv"
	"testing"
)

// BenchmarkAllocate measures one Allocate and Release in pools of every
// size, empty and fully reserved but for their last address: with the free
// set the cost does not depend on either (the scanning allocator took
// 0.29 s for the reserved /8).
func BenchmarkAllocate(b *testing.B) {
	for _, bits := range []int{24, 16, 8} {
		for _, reserved := range []bool{false, true} {
			name := "prefix" + strconv.Itoa(bits)
			if reserved {
				name += "-reserved"
			}
			b.Run(name, func(b *testing.B) {
				cidr := netip.PrefixFrom(netip.AddrFrom4([4]byte{10, 0, 0, 0}), bits)
				p := Pool{VLAN: 10, CIDR: cidr}
				if reserved {
					// Everything but the last host address.
					last := addrOf(u32(broadcast(cidr)) - 1)
					p.Reserved = []Range{{First: cidr.Addr().Next().Next(), Last: addrOf(u32(last) - 1)}}
				}
				m, err := NewIPAM(p)
				if err != nil {
					b.Fatal(err)
				}
				for b.Loop() {
					l, err := m.Allocate(10, "c")
					if err != nil {
						b.Fatal(err)
					}
					m.Release(l.Addr.Addr(), "c")
				}
			})
		}
	}
}
