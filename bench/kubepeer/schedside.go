package kubepeer

import (
	"errors"
	"runtime"
	"time"

	"github.com/shoalkit/shoal/sched"
	"github.com/shoalkit/shoal/sched/schedtest"
)

// schedRun is what sched did with one segment of the stream.
type schedRun struct {
	wall, cpu time.Duration
	results   []*sched.Result // one per request, in order
}

// runSched builds the fleet node by node into a new inventory, adds the
// background, and places reqs with one Place call per request (an app's
// replicas, each seeing the previous ones). The time covers the Place
// calls only: filter, score, and the allocation in the inventory (sched's
// assume); there is no queue and no binding.
func runSched(f *Fleet, m Mode, reqs []sched.Request) (*schedRun, error) {
	inv, err := schedtest.Inventory(f.Nodes)
	if err != nil {
		return nil, wrapError(ErrInvalid, err, "sched inventory")
	}
	for _, b := range f.Background {
		if _, err := inv.Allocate(b.Node, sched.Allocation{App: backgroundApp, Resources: b.Resources}); err != nil {
			return nil, wrapError(ErrInvalid, err, "background on node %q", b.Node)
		}
	}
	s, err := sched.New(inv, m.schedConfig(), nil)
	if err != nil {
		return nil, wrapError(ErrInvalid, err, "sched %s", m)
	}
	run := &schedRun{results: make([]*sched.Result, 0, len(reqs))}
	runtime.GC()
	cpu0 := processCPU()
	t0 := time.Now()
	for i := range reqs {
		res, err := s.Place(reqs[i])
		if err != nil && !errors.Is(err, sched.ErrUnschedulable) {
			return nil, wrapError(ErrInvalid, err, "sched %s: request of app %q", m, reqs[i].App)
		}
		run.results = append(run.results, res)
	}
	run.wall, run.cpu = time.Since(t0), processCPU()-cpu0
	return run, nil
}

// sameNodes reports whether two runs of the same stream placed every
// replica on the same node (sched is deterministic for the same seed).
func sameNodes(a, b *schedRun) bool {
	if len(a.results) != len(b.results) {
		return false
	}
	for i := range a.results {
		pa, pb := a.results[i].Placements, b.results[i].Placements
		if len(pa) != len(pb) {
			return false
		}
		for j := range pa {
			if pa[j].Node != pb[j].Node {
				return false
			}
		}
	}
	return true
}
