package kubepeer

import (
	"fmt"
	"io"
	"slices"
	"strings"
	"time"
)

// KubeVersion is the kube-scheduler this module runs (k8s.io/kubernetes in
// go.mod).
const KubeVersion = "v1.37.2"

// rate is placements per second of one timing.
func (t Timing) rate(n int) float64 {
	if t.Wall <= 0 {
		return 0
	}
	return float64(n) / t.Wall.Seconds()
}

// stats returns the median and range of f over runs.
func stats(runs []Timing, f func(Timing) float64) (med, lo, hi float64) {
	if len(runs) == 0 {
		return 0, 0, 0
	}
	v := make([]float64, len(runs))
	for i, r := range runs {
		v[i] = f(r)
	}
	slices.Sort(v)
	return v[len(v)/2], v[0], v[len(v)-1]
}

// Rate returns the median placements per second of a side and its range.
func (r *Row) Rate(s *Side) (med, lo, hi float64) {
	return stats(s.Runs, func(t Timing) float64 { return t.rate(r.Placements) })
}

// CPUPerPlacement returns the median CPU time per placement of a side.
func (r *Row) CPUPerPlacement(s *Side) time.Duration {
	med, _, _ := stats(s.Runs, func(t Timing) float64 { return float64(t.CPU) / float64(r.Placements) })
	return time.Duration(med)
}

// Ratios returns sched's speed over kube-scheduler's (median placements
// per second) and kube-scheduler's CPU time per placement over sched's;
// zeros when kube-scheduler had no run.
func (r *Row) Ratios() (speed, cpu float64) {
	k, _, _ := r.Rate(&r.Kube)
	s, _, _ := r.Rate(&r.Sched)
	kc, sc := r.CPUPerPlacement(&r.Kube), r.CPUPerPlacement(&r.Sched)
	if k > 0 {
		speed = s / k
	}
	if sc > 0 {
		cpu = float64(kc) / float64(sc)
	}
	return speed, cpu
}

func (r *Row) summary() string {
	s, _, _ := r.Rate(&r.Sched)
	if r.Inexpressible != nil {
		return fmt.Sprintf("%-12s %-8s sched %8.0f/s; kube-scheduler: %v", r.Scenario, r.Mode, s, r.Inexpressible)
	}
	k, _, _ := r.Rate(&r.Kube)
	speed, cpu := r.Ratios()
	return fmt.Sprintf("%-12s %-8s kube %7.1f/s  sched %8.0f/s  ×%.0f wall, ×%.0f CPU", r.Scenario, r.Mode, k, s, speed, cpu)
}

func verdict(q Quality) string {
	if q.Violation != nil {
		return "**broken**"
	}
	return "ok"
}

func rateCell(r *Row, s *Side) string {
	if len(s.Runs) == 0 {
		return "—"
	}
	med, lo, hi := r.Rate(s)
	if len(s.Runs) == 1 {
		return si(med)
	}
	return fmt.Sprintf("%s (%s–%s)", si(med), si(lo), si(hi))
}

// si prints a rate with three significant digits and a k for thousands.
func si(x float64) string {
	switch {
	case x >= 10000:
		return fmt.Sprintf("%.0fk", x/1000)
	case x >= 1000:
		return fmt.Sprintf("%.1fk", x/1000)
	case x >= 100:
		return fmt.Sprintf("%.0f", x)
	}
	return fmt.Sprintf("%.1f", x)
}

func cpuCell(r *Row, s *Side) string {
	if len(s.Runs) == 0 {
		return "—"
	}
	d := r.CPUPerPlacement(s)
	if d >= time.Millisecond {
		return fmt.Sprintf("%.1f ms", float64(d)/float64(time.Millisecond))
	}
	return fmt.Sprintf("%.1f µs", float64(d)/float64(time.Microsecond))
}

// Write prints the report: what was compared and how it was made fair,
// then one Markdown table row per scenario and mode.
func (rep *Report) Write(w io.Writer) error {
	c, f := rep.Config, rep.Fleet
	var bgCPU, capCPU int64
	for _, n := range f.Nodes {
		capCPU += n.Capacity.MilliCPU
	}
	for _, b := range f.Background {
		bgCPU += b.Resources.MilliCPU
	}
	var b strings.Builder
	fmt.Fprintf(&b, "sched beside kube-scheduler %s (k8s.io/kubernetes, default profile), in one process, on the same fleet and the same requests\n\n", KubeVersion)
	fmt.Fprintf(&b, "- fleet: %d nodes from schedtest.Fleet (32 cores, 128 GiB, 1 TiB each), %d racks, %d switches, built node by node into both; background: %d allocations holding %.1f%% of the CPU (seed %d), the same on both sides\n",
		len(f.Nodes), c.Racks, c.Switches, len(f.Background), 100*float64(bgCPU)/float64(capCPU), c.Seed)
	fmt.Fprintf(&b, "- requests: apps of %d replicas (0.5 core, 1 GiB, 10 GiB disk each), one request (sched) or %d pods (kube) per app; %d apps per scenario in exact mode, %d in sampled mode; a new scheduler of each side for every run; runs: %d (sched: median of %d repeats in each)\n",
		c.Replicas, c.Replicas, c.ExactApps, c.SampledApps, c.Runs, c.SchedRepeats)
	window, _ := schedEvaluated(c, Sampled)
	fmt.Fprintf(&b, "- fair by construction: GOMAXPROCS=%d for both (one process, the sides one after the other, a GC before each timed part); exact = sched Exact vs kube percentageOfNodesToScore 100; sampled = sched Sampled vs kube adaptive (both: %.0f feasible nodes of %d, the window starting where the previous pod's stopped); scoring = each side's default profile: least-allocated + balanced allocation (weight 1 each), image locality (no image: 0), soft spread (weight 2)\n",
		rep.GOMAXPROCS, window, len(f.Nodes))
	b.WriteString("- kube timing: from handing the pods to the scheduling queue until the last is bound: queue, scheduling cycle (PreFilter, Filter, Score on the snapshot), assume, binding cycle (Permit, PreBind, Bind answered by a fake-clientset reactor, the Scheduled event); no API server, etcd or watch\n")
	b.WriteString("- sched timing: the Place calls, one per app: filter, score, allocation in the inventory (its assume); no queue, no binding\n")
	b.WriteString("- CPU: the process's user+system time (all threads, GC included) during the timed part, per placement\n")
	b.WriteString("- nodes evaluated: kube's own count per pod (evaluated/feasible); sched reports none, so its column is the mode's count (exact: all nodes, mostly from the candidate cache; sampled: the window's feasible nodes)\n")
	b.WriteString("- quality: every placement of both sides checked in order by schedtest.Checker (capacity, anti-affinity, hard-spread skew; unplaced replicas); CPU σ = standard deviation of the allocated CPU share over the nodes afterwards (background included); rack skew = the largest (fullest − emptiest rack) of any app, 1 is the best 10 replicas over 50 racks allow\n\n")

	b.WriteString("| scenario | mode | pods | kube pods/s | sched placements/s | speed × | kube CPU/pod | sched CPU/placement | CPU × | kube nodes/pod evaluated (feasible) | sched nodes/placement | checker kube / sched | CPU σ kube / sched | rack skew kube / sched |\n")
	b.WriteString("|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|---|---|\n")
	for i := range rep.Rows {
		r := &rep.Rows[i]
		kubeRan := len(r.Kube.Runs) > 0
		speed, cpu := r.Ratios()
		speedCell, cpuRatio, kubeNodes := "—", "—", "—"
		if kubeRan {
			speedCell, cpuRatio = fmt.Sprintf("**%.0f×**", speed), fmt.Sprintf("%.0f×", cpu)
			kubeNodes = fmt.Sprintf("%.0f (%.0f)", r.Kube.Evaluated, r.Kube.Feasible)
		}
		kubeRate := rateCell(r, &r.Kube)
		if r.Inexpressible != nil {
			kubeRate = "cannot express"
		}
		pair := func(k, s string) string {
			if !kubeRan {
				k = "—"
			}
			return k + " / " + s
		}
		fmt.Fprintf(&b, "| %s | %s | %d | %s | %s | %s | %s | %s | %s | %s | %.0f | %s | %s | %s |\n",
			r.Scenario, r.Mode, r.Placements, kubeRate, rateCell(r, &r.Sched), speedCell,
			cpuCell(r, &r.Kube), cpuCell(r, &r.Sched), cpuRatio, kubeNodes, r.Sched.Evaluated,
			pair(verdict(r.Kube.Quality), verdict(r.Sched.Quality)),
			pair(fmt.Sprintf("%.4f", r.Kube.Quality.CPUSpread), fmt.Sprintf("%.4f", r.Sched.Quality.CPUSpread)),
			pair(fmt.Sprint(r.Kube.Quality.RackSkew), fmt.Sprint(r.Sched.Quality.RackSkew)))
	}
	for i := range rep.Rows {
		r := &rep.Rows[i]
		if r.Inexpressible != nil {
			fmt.Fprintf(&b, "\n%s (%s): not run on kube-scheduler: %v", r.Scenario, r.Mode, r.Inexpressible)
		}
		for _, s := range []struct {
			name string
			q    Quality
		}{{"kube-scheduler", r.Kube.Quality}, {"sched", r.Sched.Quality}} {
			if s.q.Violation != nil {
				fmt.Fprintf(&b, "\n%s (%s): %s: %v", r.Scenario, r.Mode, s.name, s.q.Violation)
			}
		}
	}
	b.WriteString("\n")
	_, err := io.WriteString(w, b.String())
	return err
}
