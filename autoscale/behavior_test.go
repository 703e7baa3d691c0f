package autoscale

import (
	"testing"
	"time"
)

// These cases port TestScalingWithRules and TestNormalizeDesiredReplicas of
// the Kubernetes horizontal controller (horizontal_test.go): the same
// spec, events and prenormalised recommendation give the same count and
// the same limiting condition.

// k8sRules mirrors generateScalingRules(pods, podsPeriod, percent,
// percentPeriod, stabilizationWindow) of the Kubernetes tests.
func k8sRules(pods, podsPeriod, percent, percentPeriod, window int) *Rules {
	r := &Rules{StabilizationWindow: time.Duration(window) * time.Second}
	if pods != 0 || podsPeriod != 0 {
		r.Policies = append(r.Policies, Policy{Type: PolicyInstances, Value: pods, Period: time.Duration(podsPeriod) * time.Second})
	}
	if percent != 0 || percentPeriod != 0 {
		r.Policies = append(r.Policies, Policy{Type: PolicyPercent, Value: percent, Period: time.Duration(percentPeriod) * time.Second})
	}
	return r
}

// k8sEvents mirrors generateEventsUniformDistribution: the changes spread
// evenly over the period, each in the middle of its segment, before t0.
func k8sEvents(sign int, changes []int, periodSeconds int) []ScaleEvent {
	seg := float64(periodSeconds) / float64(len(changes))
	out := make([]ScaleEvent, len(changes))
	for i, c := range changes {
		ago := float64(periodSeconds) - seg*float64(i+1) + seg/2
		out[i] = ScaleEvent{At: t0.Add(-time.Duration(ago * float64(time.Second))), Change: sign * c}
	}
	return out
}

// k8sCondition maps the Kubernetes ScalingLimited reasons to our rules.
var k8sCondition = map[string]Rule{
	"DesiredWithinRange": "",
	"ScaleUpLimit":       RuleScaleUpPolicy,
	"ScaleDownLimit":     RuleScaleDownPolicy,
	"TooManyReplicas":    RuleAboveMax,
	"TooFewReplicas":     RuleBelowMin,
}

func TestScalingWithRules(t *testing.T) {
	cases := []struct {
		name                 string
		upEvents, downEvents []ScaleEvent
		min, max             int
		up, down             *Rules
		current, desired     int
		want                 int
		cond                 string
	}{
		{"prenormalized desired replicas within range", nil, nil, 3, 8, nil, nil, 5, 7, 7, "DesiredWithinRange"},
		{"prenormalized desired replicas < minReplicas", nil, nil, 2, 8, nil, nil, 3, 1, 2, "TooFewReplicas"},
		{"prenormalized desired replicas within range when minReplicas is 0", nil, nil, 0, 10, nil, nil, 1, 0, 0, "DesiredWithinRange"},
		{"maxReplicas is the limit because maxReplicas < scaleUpLimit", nil, nil, 1, 10, nil, nil, 20, 1000, 10, "TooManyReplicas"},
		{"desired replica count is more than the maximum replica count", nil, nil, 100, 150, nil, nil, 100, 1000, 150, "TooManyReplicas"},
		{"scaleUpLimit is the limit because scaleUpLimit < maxReplicas with user policies", nil, nil, 1, 2000, k8sRules(0, 0, 1, 60, 0), nil, 3, 1000, 4, "ScaleUpLimit"},
		{"scaleUp with default behavior", nil, nil, 1, 1000, nil, nil, 10, 50, 20, "ScaleUpLimit"},
		{"scaleUp with pods policy larger than percent policy", nil, nil, 1, 1000, k8sRules(100, 60, 100, 60, 0), nil, 10, 500, 110, "ScaleUpLimit"},
		{"scaleUp with percent policy larger than pods policy", nil, nil, 1, 1000, k8sRules(2, 60, 100, 60, 0), nil, 10, 500, 20, "ScaleUpLimit"},
		{"scaleUp with spec MaxReplicas limitation with large pod policy", nil, nil, 1, 1000, k8sRules(100, 60, 0, 0, 0), nil, 10, 50, 50, "DesiredWithinRange"},
		{"scaleUp with spec MaxReplicas limitation with large percent policy", nil, nil, 1, 1000, k8sRules(10000, 60, 0, 0, 0), nil, 10, 50, 50, "DesiredWithinRange"},
		{"scaleUp with pod policy limitation", nil, nil, 1, 1000, k8sRules(30, 60, 0, 0, 0), nil, 10, 50, 40, "ScaleUpLimit"},
		{"scaleUp with percent policy limitation", nil, nil, 1, 1000, k8sRules(0, 0, 200, 60, 0), nil, 10, 50, 30, "ScaleUpLimit"},
		{"scaleDown with percent policy larger than pod policy", nil, nil, 1, 1000, nil, k8sRules(20, 60, 1, 60, 300), 100, 2, 80, "ScaleDownLimit"},
		{"scaleDown with pod policy larger than percent policy", nil, nil, 1, 1000, nil, k8sRules(2, 60, 1, 60, 300), 100, 2, 98, "ScaleDownLimit"},
		{"scaleDown with spec MinReplicas=nil limitation with large pod policy", nil, nil, 1, 1000, nil, k8sRules(100, 60, 0, 0, 300), 10, 0, 1, "TooFewReplicas"},
		{"scaleDown with spec MinReplicas limitation with large percent policy", nil, nil, 5, 1000, nil, k8sRules(0, 0, 100, 60, 300), 10, 2, 5, "TooFewReplicas"},
		{"scaleDown with pod policy limitation", nil, nil, 1, 1000, nil, k8sRules(5, 60, 0, 0, 300), 10, 2, 5, "ScaleDownLimit"},
		{"scaleDown with percent policy limitation", nil, nil, 1, 1000, nil, k8sRules(0, 0, 50, 60, 300), 10, 5, 5, "DesiredWithinRange"},
		{"scaleUp with spec MaxReplicas limitation with large pod policy and events", k8sEvents(1, []int{1, 5, 9}, 120), nil, 1, 200, k8sRules(300, 60, 0, 0, 0), nil, 100, 500, 200, "TooManyReplicas"},
		{"scaleUp with spec MaxReplicas limitation with large percent policy and events", k8sEvents(1, []int{1, 5, 9}, 120), nil, 1, 200, k8sRules(0, 0, 10000, 60, 0), nil, 100, 500, 200, "TooManyReplicas"},
		{"scaleUp with currentReplicas limitation with rate.PeriodSeconds with a lot of recent scale up events", k8sEvents(1, []int{1, 5, 9}, 120), nil, 1, 1000, k8sRules(5, 120, 0, 0, 0), nil, 100, 500, 100, "ScaleUpLimit"},
		{"scaleUp with pod policy and previous scale up events", k8sEvents(1, []int{1, 5, 9}, 120), nil, 1, 1000, k8sRules(150, 120, 0, 0, 0), nil, 100, 500, 235, "ScaleUpLimit"},
		{"scaleUp with percent policy and previous scale up events", k8sEvents(1, []int{1, 5, 9}, 120), nil, 1, 1000, k8sRules(0, 0, 200, 120, 0), nil, 100, 500, 255, "ScaleUpLimit"},
		{"scaleDown with default policy and previous events", nil, k8sEvents(-1, []int{1, 5, 9}, 120), 1, 1000, nil, nil, 10, 5, 5, "DesiredWithinRange"},
		{"scaleDown with spec MinReplicas=nil limitation with large pod policy and previous events", nil, k8sEvents(-1, []int{1, 5, 9}, 120), 1, 1000, nil, k8sRules(115, 120, 0, 0, 300), 100, 0, 1, "TooFewReplicas"},
		{"scaleDown with spec MinReplicas limitation with large pod policy and previous events", nil, k8sEvents(-1, []int{1, 5, 9}, 120), 5, 1000, nil, k8sRules(130, 120, 0, 0, 300), 100, 0, 5, "TooFewReplicas"},
		{"scaleDown with spec MinReplicas limitation with large percent policy and previous events", nil, k8sEvents(-1, []int{1, 5, 9}, 120), 5, 1000, nil, k8sRules(0, 0, 100, 120, 300), 100, 2, 5, "TooFewReplicas"},
		{"scaleDown with pod policy limitation and previous events", nil, k8sEvents(-1, []int{1, 5, 9}, 120), 1, 1000, nil, k8sRules(5, 120, 0, 0, 300), 100, 2, 100, "ScaleDownLimit"},
		{"scaleDown with percent policy limitation and previous events", nil, k8sEvents(-1, []int{2, 4, 6}, 120), 1, 1000, nil, k8sRules(0, 0, 50, 120, 300), 100, 0, 56, "ScaleDownLimit"},
		{"scaleDown with previous events preventing further scale down", nil, k8sEvents(-1, []int{10, 10, 10}, 120), 1, 1000, nil, k8sRules(0, 0, 10, 120, 300), 100, 0, 100, "ScaleDownLimit"},
		{"scaleDown with with previous events still allowing more scale down", nil, k8sEvents(-1, []int{10, 10, 10}, 120), 1, 1000, nil, k8sRules(0, 0, 1000, 120, 300), 10, 5, 5, "DesiredWithinRange"},
		{"check 'outdated' flag for events for one behavior for up", k8sEvents(1, []int{8, 12, 9, 11}, 120), nil, 1, 1000, k8sRules(1000, 60, 0, 0, 0), nil, 100, 200, 200, "DesiredWithinRange"},
		{"check that events were not marked 'outdated' for two different policies in the behavior for up", k8sEvents(1, []int{8, 12, 9, 11}, 120), nil, 1, 1000, k8sRules(1000, 120, 100, 60, 0), nil, 100, 200, 200, "DesiredWithinRange"},
		{"check that events were marked 'outdated' for two different policies in the behavior for up", k8sEvents(1, []int{8, 12, 9, 11}, 120), nil, 1, 1000, k8sRules(1000, 30, 100, 60, 0), nil, 100, 200, 200, "DesiredWithinRange"},
		{"check 'outdated' flag for events for one behavior for down", nil, k8sEvents(-1, []int{8, 12, 9, 11}, 120), 1, 1000, nil, k8sRules(1000, 60, 0, 0, 300), 100, 5, 5, "DesiredWithinRange"},
		{"check that events were not marked 'outdated' for two different policies in the behavior for down", nil, k8sEvents(-1, []int{8, 12, 9, 11}, 120), 1, 1000, nil, k8sRules(1000, 120, 100, 60, 300), 100, 5, 5, "DesiredWithinRange"},
		{"check that events were marked 'outdated' for two different policies in the behavior for down", nil, k8sEvents(-1, []int{8, 12, 9, 11}, 120), 1, 1000, nil, k8sRules(1000, 30, 100, 60, 300), 100, 5, 5, "DesiredWithinRange"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			cfg := DefaultConfig()
			cfg.MinReplicas, cfg.MaxReplicas = tc.min, tc.max
			cfg.ScaleToZero = tc.min == 0
			cfg.IdleBeforeZero = -1 // none: Kubernetes has no idle period before zero
			cfg.Metrics = []MetricSpec{AppAverage("qps", 1)}
			if tc.up != nil {
				cfg.Behavior.ScaleUp = *tc.up
			}
			if tc.down != nil {
				cfg.Behavior.ScaleDown = *tc.down
			}
			// Only rate limits are under test: the one recommendation on
			// record is older than any stabilisation window.
			h := &History{
				Recommendations: []Recommendation{{At: t0.Add(-2 * time.Hour), Replicas: tc.current}},
				Events:          append(append([]ScaleEvent{}, tc.upEvents...), tc.downEvents...),
			}
			obs := Observation{Now: t0, Current: tc.current, App: map[string]float64{"qps": float64(tc.desired)}}
			d, err := Recommend(&cfg, h, &obs)
			if err != nil {
				t.Fatal(err)
			}
			// (A current count outside min..max goes straight to the bound,
			// as the Kubernetes reconcile loop does, without a proposal.)
			if tc.current >= tc.min && tc.current <= tc.max && d.Proposed != tc.desired {
				t.Fatalf("proposal %d, want %d", d.Proposed, tc.desired)
			}
			if d.Desired != tc.want || d.LimitedBy() != k8sCondition[tc.cond] {
				t.Fatalf("got %d limited by %q, want %d (%s)\n%s", d.Desired, d.LimitedBy(), tc.want, tc.cond, d.String())
			}
		})
	}
}

func TestNormalizeDesiredReplicas(t *testing.T) {
	rec := func(r int, ago time.Duration) Recommendation { return Recommendation{At: t0.Add(-ago), Replicas: r} }
	cases := []struct {
		name      string
		recs      []Recommendation
		current   int
		desired   int
		stabilize int
	}{
		{"empty log", nil, 3, 5, 5},
		{"stabilize", []Recommendation{rec(4, 2*time.Minute), rec(5, time.Minute)}, 5, 3, 5},
		{"no stabilize", []Recommendation{rec(1, 2*time.Minute), rec(2, time.Minute)}, 4, 3, 3},
		{"no stabilize - old recommendations", []Recommendation{rec(10, 10*time.Minute), rec(9, 9*time.Minute)}, 4, 3, 3},
		{"stabilize - old recommendations", []Recommendation{rec(10, 10*time.Minute), rec(5, 2*time.Minute), rec(4, time.Minute)}, 6, 3, 5},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			cfg := DefaultConfig()
			cfg.Behavior, cfg.LegacyBehavior = nil, true
			cfg.MaxReplicas = 100
			cfg.Metrics = []MetricSpec{AppAverage("qps", 1)}
			obs := Observation{Now: t0, Current: tc.current, App: map[string]float64{"qps": float64(tc.desired)}}
			d, err := Recommend(&cfg, &History{Recommendations: tc.recs}, &obs)
			if err != nil {
				t.Fatal(err)
			}
			if d.Desired != tc.stabilize {
				t.Fatalf("got %d, want %d\n%s", d.Desired, tc.stabilize, d.String())
			}
		})
	}
}
