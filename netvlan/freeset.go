package netvlan

import (
	"cmp"
	"encoding/binary"
	"net/netip"
	"slices"
	"sort"
)

// span is an inclusive range of IPv4 addresses as integers.
type span struct{ first, last uint32 }

// freeSet is a set of IPv4 addresses kept as sorted, disjoint and
// non-adjacent spans. Every operation costs a binary search plus, when a
// span splits or disappears, a copy of the spans after it: the cost grows
// with how fragmented the set is (at most one span per address handed out
// or reserved range), not with how many addresses it holds.
type freeSet []span

// newFreeSet returns the addresses lo..hi minus the excluded spans, which
// may overlap each other and reach outside lo..hi.
func newFreeSet(lo, hi uint32, excluded []span) freeSet {
	ex := slices.Clone(excluded)
	slices.SortFunc(ex, func(a, b span) int { return cmp.Compare(a.first, b.first) })
	var f freeSet
	cur := uint64(lo) // the first address not yet decided
	for _, e := range ex {
		if uint64(e.last) < cur {
			continue
		}
		if uint64(e.first) > uint64(hi) {
			break
		}
		if uint64(e.first) > cur {
			f = append(f, span{uint32(cur), e.first - 1})
		}
		cur = uint64(e.last) + 1
	}
	if cur <= uint64(hi) {
		f = append(f, span{uint32(cur), hi})
	}
	return f
}

// search returns the index of the first span that ends at or after a.
func (f freeSet) search(a uint32) int {
	return sort.Search(len(f), func(i int) bool { return f[i].last >= a })
}

// contains reports whether a is in the set.
func (f freeSet) contains(a uint32) bool {
	i := f.search(a)
	return i < len(f) && f[i].first <= a
}

// take removes and returns the first address at or after from, wrapping
// around to the lowest one; ok is false when the set is empty.
func (f *freeSet) take(from uint32) (uint32, bool) {
	if len(*f) == 0 {
		return 0, false
	}
	i := f.search(from)
	if i == len(*f) {
		i = 0
	}
	a := max(from, (*f)[i].first)
	if a > (*f)[i].last { // wrapped: from is past every span
		a = (*f)[i].first
	}
	f.removeAt(i, a)
	return a, true
}

// remove takes a out of the set if it is there.
func (f *freeSet) remove(a uint32) {
	i := f.search(a)
	if i < len(*f) && (*f)[i].first <= a {
		f.removeAt(i, a)
	}
}

// removeAt takes a out of span i, which holds it.
func (f *freeSet) removeAt(i int, a uint32) {
	s := &(*f)[i]
	switch {
	case s.first == s.last:
		*f = slices.Delete(*f, i, i+1)
	case a == s.first:
		s.first++
	case a == s.last:
		s.last--
	default:
		right := span{a + 1, s.last}
		s.last = a - 1
		*f = slices.Insert(*f, i+1, right)
	}
}

// add puts a back into the set, joining it to the spans next to it.
func (f *freeSet) add(a uint32) {
	i := f.search(a)
	if i < len(*f) && (*f)[i].first <= a {
		return // already there
	}
	joinLeft := i > 0 && (*f)[i-1].last+1 == a
	joinRight := i < len(*f) && (*f)[i].first-1 == a
	switch {
	case joinLeft && joinRight:
		(*f)[i-1].last = (*f)[i].last
		*f = slices.Delete(*f, i, i+1)
	case joinLeft:
		(*f)[i-1].last = a
	case joinRight:
		(*f)[i].first = a
	default:
		*f = slices.Insert(*f, i, span{a, a})
	}
}

func u32(a netip.Addr) uint32 {
	b := a.As4()
	return binary.BigEndian.Uint32(b[:])
}

func addrOf(v uint32) netip.Addr {
	var b [4]byte
	binary.BigEndian.PutUint32(b[:], v)
	return netip.AddrFrom4(b)
}
