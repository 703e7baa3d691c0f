package autoscale

import (
	"errors"
	"math"
	"strings"
	"testing"

	"github.com/shoalkit/shoal/internal/errs"
)

// Every error path returns one shape: "autoscale: " once, the field or
// metric and what was wrong with its value; ErrInvalid or ErrUnreadable;
// never a kind's own text ("autoscale: invalid input: ...").
func TestErrorShape(t *testing.T) {
	cpu := []MetricSpec{CPUUtilization(60)}
	validate := func(c Config) func() error { return func() error { return c.Validate() } }
	metricErr := func(cfg Config, obs Observation) func() error {
		return func() error {
			obs.Now = t0
			d, err := Recommend(&cfg, nil, &obs)
			if err != nil || len(d.Metrics) == 0 {
				return err
			}
			return d.Metrics[0].Err
		}
	}
	inst := func(s Sample) Instance { return Instance{Name: "a", Ready: true, Samples: []Sample{s}} }
	cases := []struct {
		name string
		err  func() error
	}{
		{"zero config", validate(Config{})},
		{"max replicas", validate(Config{MaxReplicas: -1, Metrics: cpu})},
		{"min above max", validate(Config{MinReplicas: 3, MaxReplicas: 2, Metrics: cpu})},
		{"metric name", validate(Config{MaxReplicas: 2, Metrics: []MetricSpec{{Kind: KindApp}}})},
		{"metric value", validate(Config{MaxReplicas: 2, Metrics: []MetricSpec{InstanceAverage("x", math.NaN())}})},
		{"tolerance", validate(Config{MaxReplicas: 2, Metrics: cpu, Tolerance: &Tolerances{Up: -1}})},
		{"policy", validate(Config{MaxReplicas: 2, Metrics: cpu, Behavior: &Behavior{}})},
		{"scale to zero", validate(Config{MaxReplicas: 2, Metrics: cpu, ScaleToZero: true})},
		{"nil config", func() error { _, err := Recommend(nil, nil, &Observation{}); return err }},
		{"nil observation", func() error { _, err := Recommend(&Config{MaxReplicas: 2, Metrics: cpu}, nil, nil); return err }},
		{"observation time", func() error {
			_, err := Recommend(&Config{MaxReplicas: 2, Metrics: cpu}, nil, &Observation{Current: 1})
			return err
		}},
		{"observation current", func() error {
			_, err := Recommend(&Config{MaxReplicas: 2, Metrics: cpu}, nil, &Observation{Now: t0, Current: -1})
			return err
		}},
		{"no request", metricErr(Config{MaxReplicas: 2, Metrics: cpu}, Observation{Current: 1, Instances: []Instance{inst(Sample{Metric: "cpu", Value: 1})}})},
		{"nan sample", metricErr(Config{MaxReplicas: 2, Metrics: cpu}, Observation{Current: 1, Instances: []Instance{inst(Sample{Metric: "cpu", Value: math.NaN(), Request: 1})}})},
		{"no ready sample", metricErr(Config{MaxReplicas: 2, Metrics: cpu}, Observation{Current: 1, Instances: []Instance{{Name: "a", Phase: PhasePending}}})},
		{"no app value", metricErr(Config{MaxReplicas: 2, Metrics: []MetricSpec{AppValue("q", 1)}}, Observation{Current: 1})},
		{"bad app value", metricErr(Config{MaxReplicas: 2, Metrics: []MetricSpec{AppValue("q", 1)}}, Observation{Current: 1, App: map[string]float64{"q": -1}})},
		{"scaled to zero", metricErr(Config{MaxReplicas: 2, ScaleToZero: true, Metrics: []MetricSpec{CPUUtilization(60), AppValue("q", 1)}}, Observation{Current: 0, App: map[string]float64{"q": 0}})},
		{"simulation load", func() error {
			sim := Simulation{Config: Config{MaxReplicas: 2, Metrics: cpu}}
			_, err := sim.Run([]float64{1, math.Inf(1)})
			return err
		}},
		{"simulation initial", func() error {
			sim := Simulation{Config: Config{MaxReplicas: 2, Metrics: cpu}, Initial: -1}
			_, err := sim.Run([]float64{1})
			return err
		}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if err := errs.CheckShape(tc.err(), "autoscale", ErrInvalid, ErrUnreadable); err != nil {
				t.Error(err)
			}
		})
	}
}

// Simulation{Initial: 1e9}.Run made a slice of 1e9 instances (48 GB) and
// died of a runtime out-of-memory; every size it allocates from input is
// bounded and an oversized one is ErrInvalid naming the field.
func TestSimulationBoundsItsSizes(t *testing.T) {
	cpu := []MetricSpec{CPUUtilization(60)}
	cases := []struct {
		sim   Simulation
		field string
	}{
		{Simulation{Config: Config{MaxReplicas: 10, Metrics: cpu}, Initial: 1e9}, "Simulation.Initial: 1000000000 exceeds the 100000 instances"},
		{Simulation{Config: Config{MaxReplicas: 1e9, Metrics: cpu}}, "Simulation.Config.MaxReplicas: 1000000000 exceeds"},
		{Simulation{Config: Config{MaxReplicas: 10, Metrics: cpu}, Initial: -1}, "Simulation.Initial: negative"},
		{Simulation{Config: Config{MaxReplicas: 10, Metrics: cpu}, Interval: -1}, "Simulation.Interval"},
		{Simulation{Config: Config{MaxReplicas: 10, Metrics: cpu}, StartupDelay: -1}, "Simulation.StartupDelay"},
	}
	for _, tc := range cases {
		steps, err := tc.sim.Run([]float64{1, 2})
		if !errors.Is(err, ErrInvalid) || !strings.HasPrefix(err.Error(), "autoscale: "+tc.field) || steps != nil {
			t.Errorf("Run = %d steps, %v; want ErrInvalid naming %q", len(steps), err, tc.field)
		}
	}
	// At the bound it runs.
	sim := Simulation{Config: Config{MaxReplicas: maxSimInstances, Metrics: cpu}, Initial: 1000}
	if steps, err := sim.Run([]float64{100}); err != nil || len(steps) != 1 {
		t.Fatalf("Run at the bound = %v, %v", steps, err)
	}
}
