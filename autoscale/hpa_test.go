package autoscale

import (
	"errors"
	"math"
	"strings"
	"testing"
	"time"
)

// The cases below port the inputs and expected replica counts of the
// Kubernetes replica calculator tests
// (pkg/controller/podautoscaler/replica_calculator_test.go): same inputs,
// same counts. behavior_test.go ports those of the horizontal controller.

var t0 = time.Date(2026, 1, 1, 12, 0, 0, 0, time.UTC)

// Kubernetes' test constants: a 2 min CPU initialisation period, a 10 s
// initial readiness delay and a 1 min metrics window.
func k8sTestConfig(m MetricSpec) Config {
	c := DefaultConfig()
	c.MaxReplicas = maxReplicasLimit
	c.Metrics = []MetricSpec{m}
	c.StartupPeriod = 2 * time.Minute
	c.InitialReadinessDelay = 10 * time.Second
	c.SampleWindow = time.Minute
	return c
}

const (
	cool = 1 // started 3 min ago: past the initialisation period
	hot  = 2 // started now: inside it
)

// k8sPods mirrors the fixture of the Kubernetes tests: every pod has two
// containers, each requesting requests[i] cores and using levels[i] milli
// cores; pods past len(levels) have no metric; readiness false = unready.
type k8sPods struct {
	current   int
	requests  []float64
	levels    []int64
	notReady  []int // indexes with readiness False
	start     []int // cool or hot per pod; 0 = zero start time
	phase     []Phase
	deleting  []int
	resources bool
	omit      bool // pods without a level get no sample at all, not a Missing one
}

func (f k8sPods) instances(metric string) []Instance {
	n := max(f.current, len(f.phase))
	out := make([]Instance, n)
	for i := range n {
		in := Instance{Name: "test-pod-" + string(rune('0'+i)), Ready: true}
		for _, j := range f.notReady {
			if j == i {
				in.Ready = false
			}
		}
		for _, j := range f.deleting {
			if j == i {
				in.Deleting = true
			}
		}
		if f.phase != nil {
			in.Phase = f.phase[i]
		}
		if f.start != nil {
			switch f.start[i] {
			case cool:
				in.Started = t0.Add(-3 * time.Minute)
			case hot:
				in.Started = t0
			}
		}
		s := Sample{Metric: metric}
		if f.resources {
			req := 1.0
			if f.requests != nil {
				req = f.requests[i]
			}
			s.Request = 2 * req
			if i < len(f.levels) {
				s.Value = 2 * float64(f.levels[i]) / 1000
			} else {
				s.Missing = true
			}
			if !s.Missing || !f.omit {
				in.Samples = []Sample{s}
			}
		} else if i < len(f.levels) {
			s.Value = float64(f.levels[i]) / 1000
			in.Samples = []Sample{s}
		}
		out[i] = in
	}
	return out
}

func propose1(t *testing.T, cfg Config, obs Observation) MetricProposal {
	t.Helper()
	if obs.Now.IsZero() {
		obs.Now = t0
	}
	d, err := Recommend(&cfg, nil, &obs)
	if err != nil {
		t.Fatalf("Recommend: %v", err)
	}
	if len(d.Metrics) != 1 {
		t.Fatalf("decision has %d metric proposals, want 1: %s", len(d.Metrics), d.String())
	}
	return d.Metrics[0]
}

func TestReplicaCalcResource(t *testing.T) {
	three := []float64{0.9, 1.0, 1.1}
	cases := []struct {
		name     string
		pods     k8sPods
		target   int
		tol      *Tolerances // Kubernetes orders them {down, up}
		want     int
		wantUtil float64
	}{
		{"scale up", k8sPods{current: 3, levels: []int64{300, 500, 700}}, 30, nil, 5, 50},
		{"scale up: unready pod scales less", k8sPods{current: 3, levels: []int64{300, 500, 700}, notReady: []int{0}}, 30, nil, 4, 60},
		{"scale up: hot-CPU pod scales less", k8sPods{current: 3, levels: []int64{300, 500, 700}, start: []int{hot, cool, cool}}, 30, nil, 4, 60},
		{"no scale: unready pods ignored", k8sPods{current: 3, levels: []int64{400, 500, 700}, notReady: []int{1, 2}}, 30, nil, 3, 40},
		{"no scale: hot-CPU pods ignored", k8sPods{current: 3, levels: []int64{400, 500, 700}, notReady: []int{1, 2}, start: []int{cool, hot, hot}}, 30, nil, 3, 40},
		{"scale up: failed pods ignored", k8sPods{current: 2, levels: []int64{500, 700}, notReady: []int{2, 3}, phase: []Phase{PhaseRunning, PhaseRunning, PhaseFailed, PhaseFailed}}, 30, nil, 4, 60},
		{"scale up: pods being deleted are ignored", k8sPods{current: 2, levels: []int64{500, 700}, notReady: []int{2, 3}, phase: []Phase{0, 0, 0, 0}, deleting: []int{2, 3}}, 30, nil, 4, 60},
		{"scale down", k8sPods{current: 5, levels: []int64{100, 300, 500, 250, 250}}, 50, nil, 3, 28},
		{"scale down: exclude unready pods", k8sPods{current: 5, levels: []int64{100, 300, 500, 250, 250}, notReady: []int{3, 4}}, 50, nil, 2, 30},
		{"scale down: exclude unscheduled pods", k8sPods{current: 5, levels: []int64{100}, notReady: []int{1, 2, 3, 4}, phase: []Phase{PhaseRunning, PhasePending, PhasePending, PhasePending, PhasePending}}, 50, nil, 1, 10},
		{"scale down: ignore hot-CPU pods", k8sPods{current: 5, levels: []int64{100, 300, 500, 250, 250}, start: []int{cool, cool, cool, hot, hot}}, 50, nil, 2, 30},
		{"scale down: failed pods ignored", k8sPods{current: 5, levels: []int64{100, 300, 500, 250, 250}, notReady: []int{5, 6}, phase: []Phase{0, 0, 0, 0, 0, PhaseFailed, PhaseFailed}}, 50, nil, 3, 28},
		{"scale down: pods being deleted are ignored", k8sPods{current: 5, levels: []int64{100, 300, 500, 250, 250}, notReady: []int{5, 6}, phase: []Phase{0, 0, 0, 0, 0, 0, 0}, deleting: []int{5, 6}}, 50, nil, 3, 28},
		{"tolerance", k8sPods{current: 3, requests: three, levels: []int64{1010, 1030, 1020}}, 100, nil, 3, 102},
		{"outside a 0% tolerance", k8sPods{current: 3, requests: three, levels: []int64{909, 1010, 1111}}, 100, &Tolerances{Down: 0, Up: 0}, 4, 101},
		{"within a 200% scale-up tolerance", k8sPods{current: 3, requests: three, levels: []int64{1890, 1910, 1900}}, 100, &Tolerances{Down: 0.1, Up: 2}, 3, 190},
		{"outside 8% scale-up tolerance", k8sPods{current: 3, requests: three, levels: []int64{1100, 1080, 1090}}, 100, &Tolerances{Down: 2, Up: 0.08}, 4, 109},
		{"within a 36% scale-down tolerance", k8sPods{current: 3, requests: three, levels: []int64{660, 640, 650}}, 100, &Tolerances{Down: 0.36, Up: 0.1}, 3, 65},
		{"outside a 34% scale-down tolerance", k8sPods{current: 3, requests: three, levels: []int64{660, 640, 650}}, 100, &Tolerances{Down: 0.34, Up: 0.1}, 2, 65},
		{"superfluous metrics", k8sPods{current: 4, levels: []int64{4000, 9500, 3000, 7000, 3200, 2000}}, 100, nil, 24, 587},
		{"missing metrics", k8sPods{current: 4, levels: []int64{400, 95}}, 100, nil, 3, 24},
		{"missing metrics no change eq", k8sPods{current: 2, levels: []int64{1000}}, 100, nil, 2, 100},
		{"missing metrics no change gt", k8sPods{current: 2, levels: []int64{1900}}, 100, nil, 2, 190},
		{"missing metrics no change lt", k8sPods{current: 2, levels: []int64{600}}, 100, nil, 2, 60},
		{"missing metrics unready change", k8sPods{current: 3, levels: []int64{100, 450}, notReady: []int{0}}, 50, nil, 3, 45},
		{"missing metrics hot CPU no change", k8sPods{current: 3, levels: []int64{100, 450}, start: []int{hot, cool, cool}}, 50, nil, 3, 45},
		{"missing metrics unready scale up", k8sPods{current: 3, levels: []int64{100, 2000}, notReady: []int{0}}, 50, nil, 4, 200},
		{"missing metrics hot CPU scale up", k8sPods{current: 3, levels: []int64{100, 2000}, notReady: []int{0}, start: []int{hot, cool, cool}}, 50, nil, 4, 200},
		{"missing metrics unready scale down", k8sPods{current: 4, levels: []int64{100, 100, 100}, notReady: []int{0}}, 50, nil, 3, 10},
		{"missing metrics scale down target over 100", k8sPods{current: 4, requests: []float64{1, 1, 2, 2}, levels: []int64{200, 100, 100}, notReady: []int{0}}, 300, nil, 2, 6},
		{"rolling update with max surge", k8sPods{current: 2, levels: []int64{100, 100}, phase: []Phase{0, 0, 0}}, 50, nil, 2, 10},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			cfg := k8sTestConfig(CPUUtilization(tc.target))
			if tc.tol != nil {
				cfg.Tolerance = tc.tol
			}
			tc.pods.resources = true
			p := propose1(t, cfg, Observation{Current: tc.pods.current, Instances: tc.pods.instances("cpu")})
			if p.Err != nil {
				t.Fatalf("unexpected error: %v", p.Err)
			}
			if p.Replicas != tc.want || p.Value != tc.wantUtil {
				t.Fatalf("got %d replicas at %g%%, want %d at %g%% (%s)", p.Replicas, p.Value, tc.want, tc.wantUtil, p.Note)
			}
			// A pod left out of the samples altogether is missing (or
			// unready when pending), as a pod without metrics is in the
			// HPA: with one request for every pod, the same count. (It made
			// the whole metric unreadable.)
			if tc.pods.requests == nil {
				tc.pods.omit = true
				p := propose1(t, cfg, Observation{Current: tc.pods.current, Instances: tc.pods.instances("cpu")})
				if p.Err != nil || p.Replicas != tc.want || p.Value != tc.wantUtil {
					t.Fatalf("without samples for the missing pods: %d replicas at %g%% (%v), want %d at %g%% (%s)", p.Replicas, p.Value, p.Err, tc.want, tc.wantUtil, p.Note)
				}
			}
		})
	}
}

// Missing pods count 0 % on a scale-up and 100 % of their request on a
// scale-down (replica_calculator: "treat missing pods as using 0%" /
// "100% (all) of the resource request"), whether the sample is marked
// Missing or left out; left out, the request is the average one.
func TestReplicaCalcMissingPods(t *testing.T) {
	inst := func(name string, s ...Sample) Instance { return Instance{Name: name, Ready: true, Samples: s} }
	cpu := func(v float64) Sample { return Sample{Metric: "cpu", Value: v, Request: 1} }
	cases := []struct {
		name      string
		instances []Instance
		want      int
		missing   int
		note      string
	}{
		// 2 of 4 report 150 % of a 50 % target (ratio 3); the missing
		// two count 0: 75 %, ratio 1.5 over 4 -> 6.
		{"scale up, left out", []Instance{inst("a", cpu(1.5)), inst("b", cpu(1.5)), inst("c"), inst("d")}, 6, 2, "2 missing assumed 0 (scale-out)"},
		{"scale up, marked", []Instance{inst("a", cpu(1.5)), inst("b", cpu(1.5)), inst("c", Sample{Metric: "cpu", Request: 1, Missing: true}), inst("d", Sample{Metric: "cpu", Request: 1, Missing: true})}, 6, 2, "2 missing assumed 0 (scale-out)"},
		// 4 of 6 report 10 % (ratio 0.2); the missing two count 100 %:
		// (0.4 + 2) / 6 = 40 %, ratio 0.8 over 6 -> 5, not 1.
		{"scale down, left out", []Instance{inst("a", cpu(0.1)), inst("b", cpu(0.1)), inst("c", cpu(0.1)), inst("d", cpu(0.1)), inst("e"), inst("f")}, 5, 2, "2 missing assumed at target (scale-in)"},
		// Left out with requests of 2: the average request of those that
		// reported, 2, so 100 % of it is 2 cores each.
		{"scale down, left out, average request", []Instance{
			inst("a", Sample{Metric: "cpu", Value: 0.2, Request: 2}), inst("b", Sample{Metric: "cpu", Value: 0.2, Request: 2}),
			inst("c", Sample{Metric: "cpu", Value: 0.2, Request: 2}), inst("d", Sample{Metric: "cpu", Value: 0.2, Request: 2}), inst("e"), inst("f"),
		}, 5, 2, "2 missing assumed at target (scale-in)"},
		// A pending pod without a sample is unready, with the average
		// request: 2 report 150 %, the pending one counts 0 on a
		// scale-up: (3) / 3 = 100 %, ratio 2 over 3 -> 6.
		{"pending, left out", []Instance{inst("a", cpu(1.5)), inst("b", cpu(1.5)), {Name: "c", Phase: PhasePending}}, 6, 0, "1 unready assumed 0 (scale-out)"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			cfg := k8sTestConfig(CPUUtilization(50))
			p := propose1(t, cfg, Observation{Current: len(tc.instances), Instances: tc.instances})
			if p.Err != nil {
				t.Fatalf("metric unreadable: %v", p.Err)
			}
			if p.Replicas != tc.want || p.Missing != tc.missing || !strings.Contains(p.Note, tc.note) {
				t.Fatalf("got %d replicas, %d missing (%s); want %d, %d missing (%s)", p.Replicas, p.Missing, p.Note, tc.want, tc.missing, tc.note)
			}
		})
	}
}

func TestReplicaCalcResourceErrors(t *testing.T) {
	cfg := k8sTestConfig(CPUUtilization(100))
	// No request (Kubernetes: "missing request for").
	obs := Observation{Current: 1, Instances: []Instance{{Name: "a", Ready: true, Samples: []Sample{{Metric: "cpu", Value: 0.2}}}}}
	if p := propose1(t, cfg, obs); !errors.Is(p.Err, ErrUnreadable) {
		t.Fatalf("missing request: err = %v, want ErrUnreadable", p.Err)
	}
	// No metrics at all from ready pods.
	pods := k8sPods{current: 3, resources: true}
	if p := propose1(t, cfg, Observation{Current: 3, Instances: pods.instances("cpu")}); !errors.Is(p.Err, ErrUnreadable) {
		t.Fatalf("empty metrics: err = %v, want ErrUnreadable", p.Err)
	}
}

func TestReplicaCalcInstanceMetric(t *testing.T) {
	cases := []struct {
		name   string
		pods   k8sPods
		target float64
		tol    *Tolerances
		want   int
		avg    float64
	}{
		{"scale up", k8sPods{current: 3, levels: []int64{20000, 10000, 30000}}, 15, nil, 4, 20},
		{"unready hot CPU no less scale", k8sPods{current: 3, levels: []int64{50000, 10000, 30000}, notReady: []int{2}, start: []int{cool, cool, hot}}, 15, nil, 6, 30},
		{"unready hot CPU scale would scale down", k8sPods{current: 3, levels: []int64{50000, 15000, 30000}, notReady: []int{0, 2}, start: []int{hot, cool, hot}}, 15, nil, 7, 31.666},
		{"scale down", k8sPods{current: 5, levels: []int64{12000, 12000, 12000, 12000, 12000}}, 20, nil, 3, 12},
		{"tolerance", k8sPods{current: 3, levels: []int64{20000, 21000, 21000}}, 20, nil, 3, 20.666},
		{"configurable tolerance", k8sPods{current: 3, levels: []int64{20000, 21000, 21000}}, 20, &Tolerances{Down: 0.1, Up: 0.01}, 4, 20.666},
		{"missing metrics no change eq", k8sPods{current: 5, levels: []int64{20000, 19000, 21000}}, 20, nil, 5, 20},
		{"rolling update with max surge", k8sPods{current: 2, levels: []int64{10000, 10000}, phase: []Phase{0, 0, 0}}, 17, nil, 2, 10},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			cfg := k8sTestConfig(InstanceAverage("qps", tc.target))
			if tc.tol != nil {
				cfg.Tolerance = tc.tol
			}
			p := propose1(t, cfg, Observation{Current: tc.pods.current, Instances: tc.pods.instances("qps")})
			if p.Err != nil {
				t.Fatal(p.Err)
			}
			if p.Replicas != tc.want || p.Value != tc.avg {
				t.Fatalf("got %d replicas at average %g, want %d at %g (%s)", p.Replicas, p.Value, tc.want, tc.avg, p.Note)
			}
		})
	}
}

func TestReplicaCalcAppMetric(t *testing.T) {
	cases := []struct {
		name     string
		current  int
		notReady []int
		value    float64
		spec     MetricSpec
		tol      *Tolerances
		want     int
	}{
		// Object and external metrics with a value target.
		{"object scale up", 3, nil, 20, AppValue("qps", 15), nil, 4},
		{"object ignores unready pods", 3, []int{0, 2}, 50, AppValue("qps", 10), nil, 5},
		{"external ignores unready pods", 3, []int{0, 2}, 8.6, AppValue("qps", 4.4), nil, 2},
		{"object scale down", 5, nil, 12, AppValue("qps", 20), nil, 3},
		{"external scale down", 5, nil, 8.6, AppValue("qps", 14.334), nil, 3},
		{"object tolerance", 3, nil, 20.666, AppValue("qps", 20), nil, 3},
		{"external tolerance", 3, nil, 8.6, AppValue("qps", 8.888), nil, 3},
		{"object configurable tolerance", 3, nil, 20.666, AppValue("qps", 20), &Tolerances{Down: 0.1, Up: 0.01}, 4},
		{"external configurable tolerance", 3, nil, 8.9, AppValue("qps", 8.8), &Tolerances{Down: 0.1, Up: 0.01}, 4},
		// Per-pod object and external metrics (average value target).
		{"per-pod object scale up", 3, nil, 20, AppAverage("qps", 5), nil, 4},
		{"per-pod object scale down", 5, nil, 6, AppAverage("qps", 2), nil, 3},
		{"per-pod object tolerance", 4, nil, 20.166, AppAverage("qps", 5), nil, 4},
		{"per-pod object configurable tolerance", 4, nil, 20.208, AppAverage("qps", 5), &Tolerances{Down: 0.1, Up: 0.01}, 5},
		{"per-pod external scale up", 3, nil, 8.6, AppAverage("qps", 2.15), nil, 4},
		{"per-pod external scale down", 5, nil, 8.6, AppAverage("qps", 2.867), nil, 3},
		{"per-pod external tolerance", 3, nil, 8.6, AppAverage("qps", 2.9), nil, 3},
		{"per-pod external configurable tolerance", 3, nil, 8.6, AppAverage("qps", 2.8), &Tolerances{Down: 0.1, Up: 0.01}, 4},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			cfg := k8sTestConfig(tc.spec)
			if tc.tol != nil {
				cfg.Tolerance = tc.tol
			}
			pods := k8sPods{current: tc.current, notReady: tc.notReady}
			p := propose1(t, cfg, Observation{
				Current: tc.current, Instances: pods.instances("qps"),
				App: map[string]float64{"qps": tc.value},
			})
			if p.Err != nil {
				t.Fatal(p.Err)
			}
			if p.Replicas != tc.want {
				t.Fatalf("got %d replicas, want %d (%s)", p.Replicas, tc.want, p.Note)
			}
		})
	}
}

func TestReplicaCalcOverflowClamps(t *testing.T) {
	cfg := k8sTestConfig(AppValue("qps", 0.001))
	p := propose1(t, cfg, Observation{Current: 3, App: map[string]float64{"qps": maxSample}})
	if p.Err != nil || p.Replicas != maxReplicasLimit {
		t.Fatalf("got %d (%v), want %d", p.Replicas, p.Err, maxReplicasLimit)
	}
}

// hugeDemand builds an observation whose single app metric proposes far
// more than any limit, so the decision shows the limit itself.
func hugeDemand(current int, at time.Time) Observation {
	return Observation{Now: at, Current: current, App: map[string]float64{"qps": 1e9}}
}

func tinyDemand(current int, at time.Time) Observation {
	return Observation{Now: at, Current: current, App: map[string]float64{"qps": 0}}
}

func behaviorConfig(up, down Rules) Config {
	c := DefaultConfig()
	c.MinReplicas, c.MaxReplicas = 1, 1000
	c.Metrics = []MetricSpec{AppValue("qps", 1)}
	c.Behavior = &Behavior{ScaleUp: up, ScaleDown: down}
	return c
}

// TestBehaviorRateLimits ports the cases of TestCalculateScaleUpLimitWithScalingRules,
// TestCalculateScaleDownLimitWithBehaviors and TestConvertDesiredReplicasWithBehaviorRate
// from Karmada's FederatedHPA, a copy of the Kubernetes HPA controller,
// plus the autoscaling/v2 defaults.
func TestBehaviorRateLimits(t *testing.T) {
	p := func(typ PolicyType, v int, period time.Duration) Policy {
		return Policy{Type: typ, Value: v, Period: period}
	}
	downDefault := DefaultBehavior().ScaleDown
	downDefault.StabilizationWindow = 0
	upDefault := DefaultBehavior().ScaleUp
	cases := []struct {
		name    string
		cfgUp   Rules
		cfgDown Rules
		max     int
		current int
		up      bool
		events  []ScaleEvent // relative to t0
		want    int
	}{
		{"up: no previous events", Rules{Policies: []Policy{p(PolicyInstances, 4, time.Minute)}}, downDefault, 1000, 5, true, nil, 9},
		{"up: with previous scale up event", Rules{Policies: []Policy{p(PolicyInstances, 4, time.Minute)}}, downDefault, 1000, 5, true, []ScaleEvent{{At: t0.Add(-30 * time.Second), Change: 2}}, 7},
		{"up: disabled", Rules{Select: SelectDisabled, Policies: []Policy{p(PolicyInstances, 4, time.Minute)}}, downDefault, 1000, 5, true, nil, 5},
		{"up: min change", Rules{Select: SelectMin, Policies: []Policy{p(PolicyInstances, 4, time.Minute), p(PolicyInstances, 2, time.Minute)}}, downDefault, 1000, 5, true, nil, 7},
		{"up: percent", Rules{Policies: []Policy{p(PolicyPercent, 50, time.Minute)}}, downDefault, 1000, 10, true, nil, 15},
		{"up: beyond max", Rules{Policies: []Policy{p(PolicyPercent, 200, time.Minute)}}, downDefault, 10, 8, true, nil, 10},
		{"up: event outside the period is forgotten", Rules{Policies: []Policy{p(PolicyInstances, 4, time.Minute)}}, downDefault, 1000, 5, true, []ScaleEvent{{At: t0.Add(-time.Minute), Change: 2}}, 9},
		{"up: defaults from 1", upDefault, downDefault, 1000, 1, true, nil, 5},
		{"up: defaults from 10", upDefault, downDefault, 1000, 10, true, nil, 20},
		{"down: no previous events", upDefault, Rules{Policies: []Policy{p(PolicyPercent, 20, time.Minute)}}, 1000, 10, false, nil, 8},
		{"down: with previous scale down event", upDefault, Rules{Policies: []Policy{p(PolicyPercent, 20, time.Minute)}}, 1000, 10, false, []ScaleEvent{{At: t0.Add(-30 * time.Second), Change: -1}}, 8},
		{"down: multiple policies", upDefault, Rules{Policies: []Policy{p(PolicyPercent, 10, time.Minute), p(PolicyInstances, 5, time.Minute)}}, 1000, 100, false, nil, 90},
		{"down: disabled", upDefault, Rules{Select: SelectDisabled, Policies: []Policy{p(PolicyPercent, 20, time.Minute)}}, 1000, 10, false, nil, 10},
		{"down: min change", upDefault, Rules{Select: SelectMin, Policies: []Policy{p(PolicyPercent, 10, time.Minute), p(PolicyInstances, 15, time.Minute)}}, 1000, 100, false, nil, 90},
		{"down: default policy goes to min", upDefault, downDefault, 1000, 10, false, nil, 1},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			cfg := behaviorConfig(tc.cfgUp, tc.cfgDown)
			cfg.MaxReplicas = tc.max
			obs := tinyDemand(tc.current, t0)
			if tc.up {
				obs = hugeDemand(tc.current, t0)
			}
			h := &History{Events: tc.events, Recommendations: []Recommendation{{At: t0.Add(-time.Hour), Replicas: tc.current}}}
			d, err := Recommend(&cfg, h, &obs)
			if err != nil {
				t.Fatal(err)
			}
			if d.Desired != tc.want {
				t.Fatalf("got %d, want %d\n%s", d.Desired, tc.want, d.String())
			}
		})
	}
}

// TestLegacyBehaviorless ports the behaviour-less normalisation: at most
// max(2×current, 4), clamped to min and max, and the highest
// recommendation of the downscale window.
func TestLegacyBehaviorless(t *testing.T) {
	cases := []struct {
		name               string
		current, min, max  int
		demand             float64 // qps with a target of 1 per instance (value target)
		want               int
		wantRule           Rule
		recentRecommending int // 0: none
	}{
		{"desired within range", 5, 3, 10, 7, 7, "", 0},
		{"desired below min", 5, 3, 10, 2, 3, RuleBelowMin, 0},
		{"desired above max", 5, 3, 10, 15, 10, RuleAboveMax, 0},
		{"scale up limit from 1", 1, 1, 100, 50, 4, RuleScaleUpLimit, 0},
		{"scale up limit from 10", 10, 1, 100, 50, 20, RuleScaleUpLimit, 0},
		{"scale up limit from 100", 100, 1, 1000, 5000, 200, RuleScaleUpLimit, 0},
		{"upscale cap greater than max", 3, 1, 5, 50, 5, RuleAboveMax, 0},
		{"scale down held by recent higher recommendation", 5, 1, 10, 2, 5, RuleStabilizeDown, 5},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			cfg := DefaultConfig()
			cfg.Behavior, cfg.LegacyBehavior = nil, true
			cfg.MinReplicas, cfg.MaxReplicas = tc.min, tc.max
			cfg.Metrics = []MetricSpec{AppAverage("qps", 1)}
			h := &History{Recommendations: []Recommendation{{At: t0.Add(-time.Hour), Replicas: tc.current}}}
			if tc.recentRecommending > 0 {
				h.Recommendations = append(h.Recommendations, Recommendation{At: t0.Add(-time.Minute), Replicas: tc.recentRecommending})
			}
			obs := Observation{Now: t0, Current: tc.current, App: map[string]float64{"qps": tc.demand}}
			d, err := Recommend(&cfg, h, &obs)
			if err != nil {
				t.Fatal(err)
			}
			if d.Desired != tc.want || d.LimitedBy() != tc.wantRule {
				t.Fatalf("got %d limited by %q, want %d by %q\n%s", d.Desired, d.LimitedBy(), tc.want, tc.wantRule, d.String())
			}
		})
	}
}

func TestStabilizationWindows(t *testing.T) {
	cfg := behaviorConfig(DefaultBehavior().ScaleUp, DefaultBehavior().ScaleDown)
	cfg.Behavior.ScaleUp.StabilizationWindow = time.Minute
	cfg.Metrics = []MetricSpec{AppAverage("qps", 1)}
	h := &History{Recommendations: []Recommendation{
		{At: t0.Add(-10 * time.Minute), Replicas: 9}, // outside both windows
		{At: t0.Add(-4 * time.Minute), Replicas: 8},  // inside the 300 s scale-down window
		{At: t0.Add(-30 * time.Second), Replicas: 5}, // inside the 60 s scale-up window
	}}
	// Scale-up to 7 is held to the lowest recommendation of the last minute.
	d, _ := Recommend(&cfg, h, &Observation{Now: t0, Current: 4, App: map[string]float64{"qps": 7}})
	if d.Desired != 5 || d.LimitedBy() != RuleStabilizeUp {
		t.Fatalf("scale-up: got %d by %q, want 5 by %q\n%s", d.Desired, d.LimitedBy(), RuleStabilizeUp, d.String())
	}
	// Scale-down to 2 is held to the highest recommendation of 300 s.
	d, _ = Recommend(&cfg, h, &Observation{Now: t0, Current: 6, App: map[string]float64{"qps": 2}})
	if d.Desired != 6 || d.LimitedBy() != RuleStabilizeDown {
		t.Fatalf("scale-down: got %d by %q, want 6 by %q\n%s", d.Desired, d.LimitedBy(), RuleStabilizeDown, d.String())
	}
	// Default: with no history the current count is the first
	// recommendation, so the first decision never scales in.
	cfg = behaviorConfig(DefaultBehavior().ScaleUp, DefaultBehavior().ScaleDown)
	d, _ = Recommend(&cfg, nil, &Observation{Now: t0, Current: 6, App: map[string]float64{"qps": 0}})
	if d.Desired != 6 {
		t.Fatalf("first decision scaled in to %d\n%s", d.Desired, d.String())
	}
	// And does not delay a scale-up (0 s scale-up window).
	d, _ = Recommend(&cfg, nil, &Observation{Now: t0, Current: 2, App: map[string]float64{"qps": 6}})
	if d.Desired != 6 {
		t.Fatalf("first decision scaled out to %d, want 6\n%s", d.Desired, d.String())
	}
}

func TestMultipleMetricsLargestWins(t *testing.T) {
	cfg := DefaultConfig()
	cfg.MaxReplicas = 100
	cfg.Metrics = []MetricSpec{AppAverage("tps", 100), InstanceAverage("conn", 50)}
	insts := make([]Instance, 4)
	for i := range insts {
		insts[i] = Instance{Name: "i", Ready: true, Samples: []Sample{{Metric: "conn", Value: 100}}}
	}
	obs := Observation{Now: t0, Current: 4, Instances: insts, App: map[string]float64{"tps": 500}}
	d, err := Recommend(&cfg, nil, &obs)
	if err != nil {
		t.Fatal(err)
	}
	if d.Metrics[0].Replicas != 5 || d.Metrics[1].Replicas != 8 || d.Desired != 8 {
		t.Fatalf("got tps %d conn %d desired %d, want 5, 8, 8\n%s", d.Metrics[0].Replicas, d.Metrics[1].Replicas, d.Desired, d.String())
	}
	if d.Reason() != "conn above target" {
		t.Fatalf("reason %q", d.Reason())
	}
}

func TestUnreadableMetricBlocksScaleInNotOut(t *testing.T) {
	cfg := DefaultConfig()
	cfg.MaxReplicas = 100
	cfg.Behavior.ScaleDown.StabilizationWindow = 0
	cfg.Metrics = []MetricSpec{AppAverage("tps", 100), AppAverage("queue", 10)}
	h := &History{Recommendations: []Recommendation{{At: t0.Add(-time.Hour), Replicas: 4}}}

	// Out: tps wants 8, queue unreadable (NaN): scale out anyway.
	d, _ := Recommend(&cfg, h, &Observation{Now: t0, Current: 4, App: map[string]float64{"tps": 800, "queue": nan()}})
	if d.Desired != 8 || !errors.Is(d.Metrics[1].Err, ErrUnreadable) {
		t.Fatalf("scale-out with an unreadable metric: got %d (%v)\n%s", d.Desired, d.Metrics[1].Err, d.String())
	}
	// In: tps wants 1, queue missing: hold.
	d, _ = Recommend(&cfg, h, &Observation{Now: t0, Current: 4, App: map[string]float64{"tps": 100}})
	if d.Desired != 4 || d.LimitedBy() != RuleUnreadable || d.Recommendation != -1 {
		t.Fatalf("scale-in with an unreadable metric: got %d by %q rec %d\n%s", d.Desired, d.LimitedBy(), d.Recommendation, d.String())
	}
	// Nothing readable: hold.
	d, _ = Recommend(&cfg, h, &Observation{Now: t0, Current: 4})
	if d.Desired != 4 || d.LimitedBy() != RuleUnreadable {
		t.Fatalf("nothing readable: got %d by %q", d.Desired, d.LimitedBy())
	}
}

func TestOutOfBoundsGoesToBound(t *testing.T) {
	cfg := DefaultConfig()
	cfg.MinReplicas, cfg.MaxReplicas = 2, 6
	cfg.Metrics = []MetricSpec{AppAverage("tps", 100)}
	for _, tc := range []struct{ cur, want int }{{9, 6}, {1, 2}, {0, 2}} {
		d, err := Recommend(&cfg, nil, &Observation{Now: t0, Current: tc.cur, App: map[string]float64{"tps": 1e6}})
		if err != nil || d.Desired != tc.want {
			t.Fatalf("current %d: got %d (%v), want %d", tc.cur, d.Desired, err, tc.want)
		}
	}
}

func nan() float64 { return math.NaN() }

func TestManyMetrics(t *testing.T) {
	cfg := DefaultConfig()
	cfg.MaxReplicas = 100
	names := []string{"a", "b", "c", "d", "e", "f"}
	obs := Observation{Now: t0, Current: 2, App: map[string]float64{}}
	for i := range 2 {
		in := Instance{Name: "i", Ready: true}
		for j, n := range names {
			in.Samples = append(in.Samples, Sample{Metric: n, Value: float64(10 * (j + 1))})
		}
		_ = i
		obs.Instances = append(obs.Instances, in)
	}
	// Samples listed in the reverse order of the metrics still match.
	for i := len(names) - 1; i >= 0; i-- {
		cfg.Metrics = append(cfg.Metrics, InstanceAverage(names[i], 10))
	}
	d, err := Recommend(&cfg, nil, &obs)
	if err != nil {
		t.Fatal(err)
	}
	for i, m := range d.Metrics {
		want := 2 * (len(names) - i)
		if m.Err != nil || m.Replicas != want {
			t.Fatalf("metric %s: %d (%v), want %d", m.Metric, m.Replicas, m.Err, want)
		}
	}
	if d.Desired != 6 { // 12 proposed, capped at max(2+4, 2×2) per 15 s
		t.Fatalf("desired %d\n%s", d.Desired, d.String())
	}
}
