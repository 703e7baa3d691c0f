package sched

// scan is the reference: the plain per-node loop with no cache and no
// fast path, every active filter's Filter then every score's Score on
// every node in turn, from start (wrapping) until want feasible nodes are
// found. Tests compare the engine's loops with it. Ties go to the node
// whose slot comes first after a per-replica offset derived from the
// seed: cheap, and independent of the order the nodes are visited in.
func (c *Cycle) scan(start, count, want int, salt uint64) scanOut {
	a := &c.active
	nodes, hot := c.inv.nodes, c.inv.hot
	total := len(nodes)
	off := int(salt % uint64(total))
	out := scanOut{best: -1}
	found := 0
	for k := range count {
		i := start + k
		if i >= total {
			i -= total
		}
		if !hot[i].live {
			continue
		}
		n := &nodes[i]
		feasible := true
		for _, f := range a.filters {
			if f.p.Filter(c, n) != nil {
				feasible = false
				break
			}
		}
		if !feasible {
			continue
		}
		var sc int64
		for _, e := range a.scorers {
			sc += e.weight * e.p.Score(c, n)
		}
		if out.best < 0 || sc >= out.score {
			tie := tieKey(i, off, total)
			if out.best < 0 || sc > out.score || uint64(tie) < out.tie {
				out.best, out.score, out.tie = int32(i), sc, uint64(tie)
			}
		}
		found++
		if found >= want {
			out.visited = k + 1
			return out
		}
	}
	out.visited = count
	return out
}
