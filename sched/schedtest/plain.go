package schedtest

import (
	"bytes"

	"github.com/shoalkit/shoal/sched"
)

// plainFilter hides every fast path of the filter it wraps: the engine
// reaches it through Filter alone, node by node, with no cache. Each call
// also checks the contract: valid codes, the same verdict twice, a
// FilterBatch and an AppendKey that agree, and, now and then, no
// allocation. The conformance runs use one goroutine, so the scratch
// buffers need no lock.
type plainFilter struct {
	inner sched.FilterPlugin
	v     *violations
	slot  [1]int32
	kept  [1]int32
}

var (
	_ sched.FilterPlugin    = (*plainFilter)(nil)
	_ sched.PreFilterPlugin = (*plainFilter)(nil)
	_ sched.Explainer       = (*plainFilter)(nil)
	_ sched.ScorePlugin     = (*plainScore)(nil)
	_ sched.PreScorePlugin  = (*plainScore)(nil)
)

// Name returns the wrapped plugin's name.
func (w *plainFilter) Name() string { return w.inner.Name() }

// PreFilter forwards to the wrapped plugin's, if it has one.
func (w *plainFilter) PreFilter(c *sched.Cycle) *sched.Status {
	if pf, ok := w.inner.(sched.PreFilterPlugin); ok {
		return pf.PreFilter(c)
	}
	return nil
}

// Explain forwards to the wrapped plugin's, if it has one.
func (w *plainFilter) Explain(c *sched.Cycle, blocked []*sched.NodeInfo) []string {
	if e, ok := w.inner.(sched.Explainer); ok {
		return e.Explain(c, blocked)
	}
	return nil
}

// Filter returns the wrapped plugin's verdict and checks the contract.
func (w *plainFilter) Filter(c *sched.Cycle, n *sched.NodeInfo) *sched.Status {
	st := w.inner.Filter(c, n)
	if st != nil && st.Code() != sched.Unschedulable && st.Code() != sched.UnschedulableAndUnresolvable {
		w.v.add("Filter on node %s returned code %d (%q): success is a nil *Status, failure Unschedulable or UnschedulableAndUnresolvable",
			n.Name(), st.Code(), st.Reason())
	}
	if again := w.inner.Filter(c, n); (again == nil) != (st == nil) || again.Reason() != st.Reason() {
		w.v.add("Filter on node %s said %q, then %q", n.Name(), st.Reason(), again.Reason())
	}
	if b, ok := w.inner.(sched.BatchFilter); ok {
		w.slot[0] = n.Slot()
		kept := b.FilterBatch(c, w.slot[:], w.kept[:0])
		if pass := len(kept) == 1 && kept[0] == n.Slot(); pass != (st == nil) || len(kept) > 1 {
			w.v.add("FilterBatch on node %s kept %v, Filter said %q", n.Name(), kept, st.Reason())
		}
	}
	if w.v.count()%allocEvery == 0 {
		if nf, ok := w.inner.(sched.NodeFilter); ok {
			if k1, k2 := nf.AppendKey(c, nil), nf.AppendKey(c, nil); !bytes.Equal(k1, k2) {
				w.v.add("AppendKey gave %x, then %x", k1, k2)
			}
		}
		if allocates(func() { w.inner.Filter(c, n) }) {
			w.v.add("Filter on node %s allocates", n.Name())
		}
	}
	return st
}

// plainScore is plainFilter's counterpart for a score plugin.
type plainScore struct {
	inner sched.ScorePlugin
	v     *violations
	slot  [1]int32
	score [1]int64
}

// Name returns the wrapped plugin's name.
func (w *plainScore) Name() string { return w.inner.Name() }

// PreScore forwards to the wrapped plugin's, if it has one.
func (w *plainScore) PreScore(c *sched.Cycle) *sched.Status {
	if ps, ok := w.inner.(sched.PreScorePlugin); ok {
		return ps.PreScore(c)
	}
	return nil
}

// Score returns the wrapped plugin's score and checks the contract.
func (w *plainScore) Score(c *sched.Cycle, n *sched.NodeInfo) int64 {
	sc := w.inner.Score(c, n)
	if sc < 0 || sc > sched.MaxScore {
		w.v.add("Score of node %s is %d, outside 0..%d", n.Name(), sc, sched.MaxScore)
	}
	if again := w.inner.Score(c, n); again != sc {
		w.v.add("Score of node %s was %d, then %d", n.Name(), sc, again)
	}
	if b, ok := w.inner.(sched.BatchScorer); ok {
		w.slot[0], w.score[0] = n.Slot(), 0
		b.ScoreBatch(c, w.slot[:], 1, w.score[:])
		if w.score[0] != sc {
			w.v.add("ScoreBatch of node %s gave %d, Score %d", n.Name(), w.score[0], sc)
		}
	}
	if w.v.count()%allocEvery == 0 {
		if ns, ok := w.inner.(sched.NodeScorer); ok {
			if k1, k2 := ns.AppendKey(c, nil), ns.AppendKey(c, nil); !bytes.Equal(k1, k2) {
				w.v.add("AppendKey gave %x, then %x", k1, k2)
			}
		}
		if allocates(func() { w.inner.Score(c, n) }) {
			w.v.add("Score of node %s allocates", n.Name())
		}
	}
	return sc
}
