package kubepeer

import (
	"context"
	"errors"
	"strings"
	"testing"

	v1 "k8s.io/api/core/v1"

	"github.com/shoalkit/shoal/internal/errs"
	"github.com/shoalkit/shoal/sched"
)

// smallConfig is a comparison that runs in seconds: 500 nodes, 50 racks,
// every scenario in both modes, both sides checked.
func smallConfig() Config {
	return Config{
		Nodes: 500, Racks: 50, Switches: 10, Replicas: 10,
		ExactApps: 6, SampledApps: 12, Runs: 1, SchedRepeats: 2,
	}
}

// TestCompareSmallFleet runs the whole comparison on a small fleet: both
// schedulers must place every replica, schedtest's checker must accept
// every placement of both, and the scenario kube-scheduler cannot express
// must be reported and run on sched alone.
func TestCompareSmallFleet(t *testing.T) {
	rep, err := Run(t.Context(), smallConfig())
	if rep != nil {
		var b strings.Builder
		if err := rep.Write(&b); err != nil {
			t.Fatal(err)
		}
		t.Log("\n" + b.String())
	}
	if err != nil {
		t.Fatal(err)
	}
	if got, want := len(rep.Rows), 2*len(Scenarios()); got != want {
		t.Fatalf("%d rows, want %d", got, want)
	}
	for _, r := range rep.Rows {
		name := r.Scenario + "/" + r.Mode.String()
		if r.Sched.Quality.Violation != nil || r.Kube.Quality.Violation != nil {
			t.Errorf("%s: violations: kube %v, sched %v", name, r.Kube.Quality.Violation, r.Sched.Quality.Violation)
		}
		if len(r.Sched.Runs) != 1 {
			t.Errorf("%s: sched ran %d times, want 1", name, len(r.Sched.Runs))
		}
		if r.Scenario == "rack-max-2" {
			if !errors.Is(r.Inexpressible, ErrInexpressible) || len(r.Kube.Runs) != 0 {
				t.Errorf("%s: kube-scheduler cannot say at most 2 per rack, got %v and %d runs", name, r.Inexpressible, len(r.Kube.Runs))
			}
			continue
		}
		if r.Inexpressible != nil || len(r.Kube.Runs) != 1 {
			t.Fatalf("%s: kube-scheduler not run: %v", name, r.Inexpressible)
		}
		switch r.Mode {
		case Exact:
			if r.Kube.Evaluated != 500 {
				t.Errorf("%s: kube evaluated %.0f nodes per pod, want all 500", name, r.Kube.Evaluated)
			}
		case Sampled:
			// 50% - 500/125 = 46% of 500 nodes
			if r.Kube.Evaluated < 230 || r.Kube.Evaluated >= 500 {
				t.Errorf("%s: kube evaluated %.0f nodes per pod, want 230..499", name, r.Kube.Evaluated)
			}
		}
		if r.Scenario == "rack-max-1" || r.Scenario == "hard-spread" {
			for side, q := range map[string]Quality{"kube": r.Kube.Quality, "sched": r.Sched.Quality} {
				if q.RackSkew != 1 {
					t.Errorf("%s: %s rack skew %d, want 1 (10 replicas over 50 racks, at most 1 per rack)", name, side, q.RackSkew)
				}
			}
		}
		if r.Kube.Quality.CPUSpread <= 0 || r.Sched.Quality.CPUSpread <= 0 {
			t.Errorf("%s: CPU spread kube %v sched %v, want > 0 (the background is uneven)", name, r.Kube.Quality.CPUSpread, r.Sched.Quality.CPUSpread)
		}
	}
}

// TestJudgeCatchesBrokenRule feeds the checker placements that break the
// rule: two instances of an app allowed one per rack, in one rack.
func TestJudgeCatchesBrokenRule(t *testing.T) {
	f, err := NewFleet(100, 10, 2, 1)
	if err != nil {
		t.Fatal(err)
	}
	chk, err := f.checker()
	if err != nil {
		t.Fatal(err)
	}
	req := Scenarios()[1].Requests(1, 1)[0] // rack-max-1
	// nodes 0 and 1 are both in rack r000
	steps := []step{
		{req: req, res: sched.Result{Placements: []sched.Placement{{Node: f.Nodes[0].Name}}}},
		{req: req, res: sched.Result{Placements: []sched.Placement{{Node: f.Nodes[1].Name}}}},
	}
	q := judge(f, chk, steps)
	if !errors.Is(q.Violation, ErrViolation) || !strings.Contains(q.Violation.Error(), "anti-affinity") {
		t.Fatalf("violation %v, want an anti-affinity violation", q.Violation)
	}
	if q.RackSkew != 2 {
		t.Errorf("rack skew %d, want 2", q.RackSkew)
	}
}

// TestKubeStepsRejects covers what kube-scheduler can get wrong before the
// checker sees it.
func TestKubeStepsRejects(t *testing.T) {
	reqs := Scenarios()[0].Requests(1, 2)
	podApp := map[string]int{"plain-0000-0": 0, "plain-0000-1": 0}
	ok := []decision{{pod: "plain-0000-0", node: "n1"}, {pod: "plain-0000-1", node: "n2"}}
	bound := map[string]string{"plain-0000-0": "n1", "plain-0000-1": "n2"}
	for _, tc := range []struct {
		name string
		run  kubeRun
	}{
		{"failure", kubeRun{decisions: ok, bound: bound, failures: []string{"plain-0000-1: 0/2 nodes are available"}}},
		{"missing", kubeRun{decisions: ok[:1], bound: bound}},
		{"twice", kubeRun{decisions: []decision{ok[0], ok[0]}, bound: bound}},
		{"moved", kubeRun{decisions: ok, bound: map[string]string{"plain-0000-0": "n1", "plain-0000-1": "n3"}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := kubeSteps(reqs, podApp, &tc.run)
			if err := errs.CheckShape(err, "kubepeer", ErrViolation); err != nil {
				t.Fatal(err)
			}
		})
	}
	steps, err := kubeSteps(reqs, podApp, &kubeRun{decisions: ok, bound: bound})
	if err != nil || len(steps) != 2 || steps[1].res.Placements[0].Node != "n2" || steps[1].req.Count != 1 {
		t.Fatalf("steps %+v, err %v", steps, err)
	}
}

func TestPodFor(t *testing.T) {
	base := sched.Request{App: "web", Count: 1, Resources: replicaResources()}
	t.Run("rules", func(t *testing.T) {
		req := base
		req.Zones = []string{"zone-a"}
		req.Level = "general"
		req.Spread = []sched.SpreadRule{{Key: sched.KeyRack, MaxSkew: 1, MinDomains: 3}, {Key: sched.KeySwitch, MaxSkew: 2, Soft: true}}
		req.AntiAffinity = []sched.AntiAffinity{{Key: sched.KeyNode, Max: 1}}
		req.Tolerations = []sched.Toleration{{Key: "dedicated", Exists: true, Effect: sched.NoSchedule}}
		p, err := PodFor(&req, 3)
		if err != nil {
			t.Fatal(err)
		}
		if p.Name != "web-3" || p.Labels[labelApp] != "web" || p.Spec.NodeSelector[labelLevel] != "general" {
			t.Errorf("meta %s %v %v", p.Name, p.Labels, p.Spec.NodeSelector)
		}
		if cpu := p.Spec.Containers[0].Resources.Requests.Cpu().MilliValue(); cpu != 500 {
			t.Errorf("cpu request %dm, want 500m", cpu)
		}
		tsc := p.Spec.TopologySpreadConstraints
		if len(tsc) != 2 || tsc[0].TopologyKey != labelRack || tsc[0].WhenUnsatisfiable != v1.DoNotSchedule || *tsc[0].MinDomains != 3 ||
			tsc[1].TopologyKey != labelSwitch || tsc[1].WhenUnsatisfiable != v1.ScheduleAnyway || tsc[1].MaxSkew != 2 {
			t.Errorf("spread %+v", tsc)
		}
		anti := p.Spec.Affinity.PodAntiAffinity.RequiredDuringSchedulingIgnoredDuringExecution
		if len(anti) != 1 || anti[0].TopologyKey != labelHostname || anti[0].LabelSelector.MatchLabels[labelApp] != "web" {
			t.Errorf("anti-affinity %+v", anti)
		}
		zones := p.Spec.Affinity.NodeAffinity.RequiredDuringSchedulingIgnoredDuringExecution.NodeSelectorTerms[0].MatchExpressions[0]
		if zones.Key != labelZone || zones.Values[0] != "zone-a" {
			t.Errorf("zones %+v", zones)
		}
		if tol := p.Spec.Tolerations; len(tol) != 1 || tol[0].Operator != v1.TolerationOpExists {
			t.Errorf("tolerations %+v", tol)
		}
	})
	for _, tc := range []struct {
		name string
		edit func(*sched.Request)
		kind error
	}{
		{"two per rack", func(r *sched.Request) { r.AntiAffinity = []sched.AntiAffinity{{Key: sched.KeyRack, Max: 2}} }, ErrInexpressible},
		{"vlan", func(r *sched.Request) { r.VLAN = 100 }, ErrInexpressible},
		{"all or nothing", func(r *sched.Request) { r.AllOrNothing = true }, ErrInexpressible},
		{"no app", func(r *sched.Request) { r.App = "" }, ErrInvalid},
		{"bad key", func(r *sched.Request) { r.Spread = []sched.SpreadRule{{Key: "shelf", MaxSkew: 1}} }, ErrInvalid},
	} {
		t.Run(tc.name, func(t *testing.T) {
			req := base
			tc.edit(&req)
			p, err := PodFor(&req, 0)
			if p != nil {
				t.Errorf("got a pod %s for a request kube cannot be given", p.Name)
			}
			if err := errs.CheckShape(err, "kubepeer", tc.kind); err != nil {
				t.Fatal(err)
			}
		})
	}
}

func TestNodeFor(t *testing.T) {
	f, err := NewFleet(20, 4, 2, 1)
	if err != nil {
		t.Fatal(err)
	}
	n := f.Nodes[7]
	n.Taints = []sched.Taint{{Key: "old", Effect: sched.PreferNoSchedule}}
	n.Cordoned = true
	k := NodeFor(n)
	if k.Name != n.Name || k.Labels[labelRack] != n.Rack || k.Labels[labelSwitch] != n.Switch || k.Labels[labelZone] != n.Zone || k.Labels[labelHostname] != n.Name {
		t.Errorf("labels %v for %+v", k.Labels, n)
	}
	if got := k.Status.Allocatable.Cpu().MilliValue(); got != n.Capacity.MilliCPU {
		t.Errorf("allocatable cpu %d, want %d", got, n.Capacity.MilliCPU)
	}
	if got := k.Status.Allocatable.Memory().Value(); got != n.Capacity.Memory {
		t.Errorf("allocatable memory %d, want %d", got, n.Capacity.Memory)
	}
	if !k.Spec.Unschedulable || len(k.Spec.Taints) != 1 || k.Spec.Taints[0].Effect != v1.TaintEffectPreferNoSchedule {
		t.Errorf("spec %+v", k.Spec)
	}
	n.Rack = ""
	if _, ok := NodeFor(n).Labels[labelRack]; ok {
		t.Error("a node without a rack got a rack label")
	}
}

// TestErrorShapes covers the error paths of configuration and fleet.
func TestErrorShapes(t *testing.T) {
	for _, tc := range []struct {
		name string
		err  error
		kind error
	}{
		{"negative nodes", run(Config{Nodes: -1}), ErrInvalid},
		{"negative runs", run(Config{Runs: -2}), ErrInvalid},
		{"replicas over racks", run(Config{Racks: 5, Replicas: 6}), ErrInvalid},
		{"racks over nodes", run(Config{Nodes: 10, Racks: 20, Replicas: 2}), ErrInvalid},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if err := errs.CheckShape(tc.err, "kubepeer", tc.kind); err != nil {
				t.Fatal(err)
			}
		})
	}
}

func run(cfg Config) error {
	_, err := Run(context.Background(), cfg)
	return err
}

func TestZeroConfigIsDefault(t *testing.T) {
	got, err := Config{}.withDefaults()
	if err != nil {
		t.Fatal(err)
	}
	d := DefaultConfig()
	if got.Nodes != d.Nodes || got.Racks != d.Racks || got.Switches != d.Switches || got.Replicas != d.Replicas ||
		got.ExactApps != d.ExactApps || got.SampledApps != d.SampledApps || got.Runs != d.Runs ||
		got.SchedRepeats != d.SchedRepeats || got.Seed != d.Seed || got.Timeout != d.Timeout ||
		len(got.Modes) != 2 || len(got.Scenarios) != len(Scenarios()) || got.Progress == nil {
		t.Fatalf("zero config became %+v, want the defaults %+v", got, d)
	}
}

func TestWithinKeepsKindAndPrefixOnce(t *testing.T) {
	err := within(newError(ErrViolation, "pod %q scheduled twice", "a-0"), "%s %s run %d: kube-scheduler", "plain", Exact, 1)
	if err := errs.CheckShape(err, "kubepeer", ErrViolation); err != nil {
		t.Fatal(err)
	}
	if want := `kubepeer: plain exact run 1: kube-scheduler: pod "a-0" scheduled twice`; err.Error() != want {
		t.Fatalf("%q, want %q", err, want)
	}
	if err := errs.CheckShape(within(errors.New("informers did not sync"), "setup"), "kubepeer", ErrUnavailable); err != nil {
		t.Fatal(err)
	}
}
