package alertcorr

import (
	"container/heap"
	"fmt"
	"slices"
	"strings"
)

// member is an alert as the solver sees it: its entity (-1 when none is
// known) and whether it says its host is unreachable.
type member struct {
	fp          Fingerprint
	labels      Labels
	ent         int32
	unreachable bool
}

// solution is one group the solver found: a root and the members it
// explains (indices into the solver's input).
type solution struct {
	root     int32 // -1 for an alert on no known entity
	rule     string
	evidence []string
	members  []int
}

// candidate is a possible root with the alerts it would explain.
type candidate struct {
	node     int32
	rank     int
	id       string
	rule     string
	evidence []string
	cover    []int
	left     int // members of cover not yet claimed, as last counted
}

// solve groups the members by the entity that explains them best. It is a
// pure function of the set of members and the topology (the caller holds
// the topology's read lock): the order of ms does not change the result.
// It is greedy set cover: the qualifying candidate that explains the most
// unclaimed alerts takes them, ties going to the wider kind, then the id.
//
// It also returns, per member, its component: members that some candidate
// or entity ties together, directly or through others, share one. A
// component's result depends only on its own members, so the engine
// recomputes only the components a change touches (see incremental.go).
func solve(t *Topology, c *Correlation, ms []member) ([]solution, []int32) {
	byEnt := map[int32][]int{}
	var unattached []int
	for i := range ms {
		if ms[i].ent < 0 {
			unattached = append(unattached, i)
			continue
		}
		byEnt[ms[i].ent] = append(byEnt[ms[i].ent], i)
	}
	// Per host: its own alerts and those of its containers; the alerting
	// containers; whether it is unreachable.
	hostSub := map[int32][]int{}
	hostCont := map[int32]int{}
	hostDown := map[int32]bool{}
	appCont := map[int32][]int32{}
	for e, idx := range byEnt {
		n := &t.nodes[e]
		switch n.kind {
		case KindHost:
			hostSub[e] = append(hostSub[e], idx...)
			for _, i := range idx {
				if ms[i].unreachable {
					hostDown[e] = true
				}
			}
		case KindContainer:
			hostSub[n.parent] = append(hostSub[n.parent], idx...)
			hostCont[n.parent]++
			if n.app >= 0 {
				appCont[n.app] = append(appCont[n.app], e)
			}
		}
	}
	var cands []*candidate
	add := func(node int32, rule string, cover []int, evidence ...string) {
		n := &t.nodes[node]
		cover = dedupInts(cover)
		cands = append(cands, &candidate{node: node, rank: n.kind.rank(), id: n.id, rule: rule, cover: cover, left: len(cover), evidence: evidence})
	}
	// Hosts.
	for h, sub := range hostSub {
		n := &t.nodes[h]
		own := len(byEnt[h])
		cont, total := hostCont[h], len(n.children)
		share := fmt.Sprintf("%d of its %d containers alerting", cont, total)
		switch {
		case own > 0:
			add(h, "host-alert", sub, fmt.Sprintf("host %s raised %d alerts itself (%s); %s", n.id, own, names(ms, byEnt[h], 3), share))
		case cont >= c.MinHostContainers && float64(cont) >= c.HostFraction*float64(total):
			add(h, "host-containers", sub, fmt.Sprintf("host %s: %s, at least %d and %.0f%%", n.id, share, c.MinHostContainers, 100*c.HostFraction))
		}
	}
	// Apps.
	for a := range unionKeys(appCont, byEnt, t, KindApp) {
		n := &t.nodes[a]
		conts := appCont[a]
		hosts := map[int32]bool{}
		var cover []int
		cover = append(cover, byEnt[a]...)
		for _, ct := range conts {
			hosts[t.nodes[ct].parent] = true
			cover = append(cover, byEnt[ct]...)
		}
		total := len(n.members)
		if len(hosts) >= c.MinAppHosts && float64(len(conts)) >= c.AppFraction*float64(total) {
			// The app explains the alerts on every host it runs on, also
			// where its own container's alert went missing, but not an
			// unreachable host where its container is quiet: that host
			// has a cause of its own.
			// Only hosts with alerts count, so that the evidence depends
			// on the app's own component alone.
			all := map[int32]bool{}
			for _, ct := range n.members {
				h := t.nodes[ct].parent
				if len(hostSub[h]) > 0 && (hosts[h] || !hostDown[h]) {
					all[h] = true
				}
			}
			for _, h := range sortedKeys(all) {
				cover = append(cover, hostSub[h]...)
			}
			add(a, "app-spread", cover, fmt.Sprintf("app %s: %d of its %d containers alerting on %d hosts (at least %d hosts and %.0f%%); it explains the alerts on the %d alerting hosts it runs on", n.id, len(conts), total, len(hosts), c.MinAppHosts, 100*c.AppFraction, len(all)))
		} else if len(byEnt[a]) > 0 {
			add(a, "own-alert", cover, fmt.Sprintf("app %s raised %d alerts itself (%s); %d of its containers alerting", n.id, len(byEnt[a]), names(ms, byEnt[a], 3), len(conts)))
		}
	}
	// Switches, racks and wider locations: their hosts unreachable, or
	// their own alerts.
	locHosts := map[int32][]int32{}
	for h := range hostSub {
		for _, l := range locations(t, h) {
			locHosts[l] = append(locHosts[l], h)
		}
	}
	for l, hs := range locHosts {
		n := &t.nodes[l]
		slices.Sort(hs)
		down := 0
		for _, h := range hs {
			if hostDown[h] {
				down++
			}
		}
		total := len(n.members)
		if n.kind == KindRack {
			total = len(n.children)
		}
		own := len(byEnt[l])
		qualifies := (n.kind == KindSwitch || n.kind == KindRack) && down >= c.MinSwitchHosts && float64(down) >= c.SwitchFraction*float64(total)
		if !qualifies && own == 0 {
			continue
		}
		cover := slices.Clone(byEnt[l])
		for _, h := range hs {
			cover = append(cover, hostSub[h]...)
		}
		if qualifies {
			add(l, n.kind.String()+"-unreachable", cover, fmt.Sprintf("%s %s: %d of its %d hosts unreachable (%s; at least %d and %.0f%%)", n.kind, n.id, down, total, strings.Join(c.Unreachable, ", "), c.MinSwitchHosts, 100*c.SwitchFraction))
		} else {
			add(l, "own-alert", cover, fmt.Sprintf("%s %s raised %d alerts itself (%s); %d hosts below it alerting", n.kind, n.id, own, names(ms, byEnt[l], 3), len(hs)))
		}
	}
	// Locations with own alerts but no alerting hosts below.
	for e, idx := range byEnt {
		n := &t.nodes[e]
		switch n.kind {
		case KindDatacenter, KindRoom, KindRack, KindSwitch:
			if _, ok := locHosts[e]; !ok {
				add(e, "own-alert", idx, fmt.Sprintf("%s %s raised %d alerts itself (%s)", n.kind, n.id, len(idx), names(ms, idx, 3)))
			}
		}
	}
	comp := components(len(ms), cands, byEnt)
	out := cover(cands, len(ms))
	// What no candidate took: each entity's own alerts are its incident;
	// an alert on no known entity is one of its own.
	claimed := make([]bool, len(ms))
	for _, s := range out {
		for _, i := range s.members {
			claimed[i] = true
		}
	}
	for _, e := range sortedKeys(byEnt) {
		var rest []int
		for _, i := range byEnt[e] {
			if !claimed[i] {
				rest = append(rest, i)
			}
		}
		if len(rest) > 0 {
			n := &t.nodes[e]
			out = append(out, solution{root: e, rule: "self", members: rest, evidence: []string{fmt.Sprintf("%s %s: %d alerts of its own (%s), no wider entity explains them", n.kind, n.id, len(rest), names(ms, rest, 3))}})
		}
	}
	for _, i := range unattached {
		out = append(out, solution{root: -1, rule: "unknown-entity", members: []int{i}, evidence: []string{"the alert names no entity of the topology: " + ms[i].labels.String()}})
	}
	return out, comp
}

// components labels each member with its component's smallest member
// index: union-find over every candidate's cover and every entity's own
// alerts (which its "self" incident may take together).
func components(n int, cands []*candidate, byEnt map[int32][]int) []int32 {
	parent := make([]int32, n)
	for i := range parent {
		parent[i] = int32(i)
	}
	find := func(i int32) int32 {
		for parent[i] != i {
			parent[i] = parent[parent[i]]
			i = parent[i]
		}
		return i
	}
	union := func(idx []int) {
		if len(idx) == 0 {
			return
		}
		a := find(int32(idx[0]))
		for _, i := range idx[1:] {
			b := find(int32(i))
			switch {
			case a < b:
				parent[b] = a
			case b < a:
				parent[a] = b
				a = b
			}
		}
	}
	for _, c := range cands {
		union(c.cover)
	}
	for _, idx := range byEnt {
		union(idx)
	}
	for i := range parent {
		parent[i] = find(int32(i))
	}
	return parent
}

// candHeap orders candidates by unclaimed alerts, then rank, then id.
type candHeap []*candidate

func (h candHeap) Len() int { return len(h) }
func (h candHeap) Less(i, j int) bool {
	if h[i].left != h[j].left {
		return h[i].left > h[j].left
	}
	if h[i].rank != h[j].rank {
		return h[i].rank < h[j].rank
	}
	return h[i].id < h[j].id
}
func (h candHeap) Swap(i, j int) { h[i], h[j] = h[j], h[i] }

// Push is heap.Interface's.
func (h *candHeap) Push(x any) { *h = append(*h, x.(*candidate)) }

// Pop is heap.Interface's.
func (h *candHeap) Pop() any {
	old := *h
	x := old[len(old)-1]
	*h = old[:len(old)-1]
	return x
}

// cover runs lazy greedy set cover: unclaimed counts only fall, so a
// candidate popped with an up-to-date count is the best one. Each chosen
// root's evidence names its runner-up: the other candidate that would have
// explained the most of the same alerts. The runner-up is taken from the
// candidates' full covers, never from the heap's state, so it depends only
// on the root's own component: a component solved alone says the same.
func cover(cands []*candidate, n int) []solution {
	claimed := make([]bool, n)
	byMember := make([][]*candidate, n)
	for _, c := range cands {
		for _, i := range c.cover {
			byMember[i] = append(byMember[i], c)
		}
	}
	h := candHeap(slices.Clone(cands))
	heap.Init(&h)
	var out []solution
	overlap := map[*candidate]int{}
	for h.Len() > 0 {
		top := h[0]
		left := 0
		for _, i := range top.cover {
			if !claimed[i] {
				left++
			}
		}
		if left != top.left {
			top.left = left
			heap.Fix(&h, 0)
			continue
		}
		heap.Pop(&h)
		if left == 0 {
			continue
		}
		var members []int
		for _, i := range top.cover {
			if !claimed[i] {
				claimed[i] = true
				members = append(members, i)
			}
		}
		ev := append(slices.Clone(top.evidence), fmt.Sprintf("explains %d alerts not explained by a root chosen before it", len(members)))
		clear(overlap)
		for _, i := range members {
			for _, c := range byMember[i] {
				if c != top {
					overlap[c]++
				}
			}
		}
		var best *candidate
		for c, k := range overlap {
			if best == nil || k > overlap[best] || (k == overlap[best] && (c.rank < best.rank || (c.rank == best.rank && c.id < best.id))) {
				best = c
			}
		}
		if best != nil {
			ev = append(ev, fmt.Sprintf("runner-up: %s (%s), which would explain %d of these %d alerts", best.id, best.rule, overlap[best], len(members)))
		} else {
			ev = append(ev, "no other candidate explains any of these alerts")
		}
		out = append(out, solution{root: top.node, rule: top.rule, evidence: ev, members: members})
	}
	return out
}

// locations returns the switch, rack, room and datacenter above host h.
func locations(t *Topology, h int32) []int32 {
	var out []int32
	seen := map[int32]bool{}
	walk := func(i int32) {
		for depth := 0; i >= 0 && depth < 8; depth++ {
			if !seen[i] {
				seen[i] = true
				out = append(out, i)
			}
			i = t.nodes[i].parent
		}
	}
	n := &t.nodes[h]
	walk(n.sw)
	walk(n.parent)
	return out
}

// names lists up to max distinct alertnames of the members idx.
func names(ms []member, idx []int, limit int) string {
	var out []string
	for _, i := range idx {
		n := ms[i].labels["alertname"]
		if !slices.Contains(out, n) {
			out = append(out, n)
		}
	}
	slices.Sort(out)
	if len(out) > limit {
		out = append(out[:limit], "…")
	}
	return strings.Join(out, ", ")
}

// unionKeys returns the apps with alerting containers or own alerts.
func unionKeys(appCont map[int32][]int32, byEnt map[int32][]int, t *Topology, kind Kind) map[int32]bool {
	out := map[int32]bool{}
	for a := range appCont {
		out[a] = true
	}
	for e := range byEnt {
		if t.nodes[e].kind == kind {
			out[e] = true
		}
	}
	return out
}

func sortedKeys[V any](m map[int32]V) []int32 {
	out := make([]int32, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	slices.Sort(out)
	return out
}

func dedupInts(s []int) []int {
	slices.Sort(s)
	return slices.Compact(s)
}
