package kubepeer

import (
	"math"

	"github.com/shoalkit/shoal/sched"
	"github.com/shoalkit/shoal/sched/schedtest"
)

// Quality is how good one side's placements of a segment were, judged by
// schedtest's checker from the fleet's background state.
type Quality struct {
	// Violation is nil when the checker accepted every placement (capacity,
	// scope, anti-affinity including the rules placed instances keep, hard
	// spread skew), each against the state left by the ones before it, and
	// no replica was left unplaced while a node could take it.
	Violation error
	// CPUSpread is the standard deviation, over all nodes, of the share of
	// the node's CPU allocated after the segment (background included).
	// Least-allocated scoring lowers it.
	CPUSpread float64
	// MaxCPU is the largest share of a node's CPU allocated after the
	// segment.
	MaxCPU float64
	// RackSkew is, over the segment's apps, the largest difference between
	// the instance counts of an app's fullest and emptiest racks (all racks
	// counted): 1 is as even as 10 replicas over 50 racks can be.
	RackSkew int
}

// judge checks the placements of one side, given as a list of (request,
// result) pairs in the order they were made, and measures the balance.
func judge(f *Fleet, chk *schedtest.Checker, steps []step) Quality {
	var q Quality
	for _, s := range steps {
		if err := chk.Apply(s.req, &s.res); err != nil {
			q.Violation = wrapError(ErrViolation, err, "app %q", s.req.App)
			break
		}
	}
	var sum, sumSq float64
	for _, n := range f.Nodes {
		used, _ := chk.Used(n.Name, "")
		share := 0.0
		if n.Capacity.MilliCPU > 0 {
			share = float64(used.MilliCPU) / float64(n.Capacity.MilliCPU)
		}
		sum += share
		sumSq += share * share
		q.MaxCPU = math.Max(q.MaxCPU, share)
	}
	if k := float64(len(f.Nodes)); k > 0 {
		mean := sum / k
		q.CPUSpread = math.Sqrt(math.Max(sumSq/k-mean*mean, 0))
	}
	q.RackSkew = rackSkew(f, steps)
	return q
}

// step is one placement decision in the checker's terms.
type step struct {
	req sched.Request
	res sched.Result
}

// rackSkew returns the largest rack skew of any app in steps.
func rackSkew(f *Fleet, steps []step) int {
	rackOf := make(map[string]string, len(f.Nodes))
	racks := map[string]bool{}
	for _, n := range f.Nodes {
		rackOf[n.Name] = n.Rack
		racks[n.Rack] = true
	}
	perApp := map[string]map[string]int{}
	for _, s := range steps {
		for _, p := range s.res.Placements {
			if perApp[s.req.App] == nil {
				perApp[s.req.App] = map[string]int{}
			}
			perApp[s.req.App][rackOf[p.Node]]++
		}
	}
	worst := 0
	for _, counts := range perApp {
		lo, hi := math.MaxInt, 0
		for r := range racks {
			lo, hi = min(lo, counts[r]), max(hi, counts[r])
		}
		worst = max(worst, hi-lo)
	}
	return worst
}

// schedSteps turns sched's results into checker steps.
func schedSteps(reqs []sched.Request, run *schedRun) []step {
	steps := make([]step, len(reqs))
	for i := range reqs {
		steps[i] = step{req: reqs[i], res: *run.results[i]}
	}
	return steps
}

// kubeSteps turns kube-scheduler's decisions, in scheduling order, into
// one checker step per pod, after checking that every pod was scheduled
// once, bound where it was scheduled, and none failed.
func kubeSteps(reqs []sched.Request, podApp map[string]int, run *kubeRun) ([]step, error) {
	if len(run.failures) > 0 {
		return nil, newError(ErrViolation, "kube-scheduler failed %d pods, first %s", len(run.failures), run.failures[0])
	}
	if len(run.decisions) != len(podApp) || len(run.bound) != len(podApp) {
		return nil, newError(ErrViolation, "kube-scheduler scheduled %d and bound %d of %d pods", len(run.decisions), len(run.bound), len(podApp))
	}
	steps := make([]step, 0, len(run.decisions))
	seen := make(map[string]bool, len(run.decisions))
	for _, d := range run.decisions {
		i, ok := podApp[d.pod]
		if !ok || seen[d.pod] {
			return nil, newError(ErrViolation, "kube-scheduler scheduled pod %q twice or unasked", d.pod)
		}
		seen[d.pod] = true
		if got := run.bound[d.pod]; got != d.node {
			return nil, newError(ErrViolation, "pod %q scheduled on %q but bound to %q", d.pod, d.node, got)
		}
		req := reqs[i]
		req.Count = 1
		steps = append(steps, step{req: req, res: sched.Result{Placements: []sched.Placement{{Node: d.node}}}})
	}
	return steps, nil
}
