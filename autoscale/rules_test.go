package autoscale

import (
	"errors"
	"math"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"
)

// drive feeds one app value per step (every 15 s from t0) to an
// Autoscaler, applying each decision, and returns the decisions.
func drive(t *testing.T, cfg Config, current int, values []float64) []Decision {
	t.Helper()
	a, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	out := make([]Decision, 0, len(values))
	for i, v := range values {
		d, err := a.Decide(Observation{Now: t0.Add(time.Duration(i) * 15 * time.Second), Current: current, App: map[string]float64{cfg.Metrics[0].Name: v}})
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, d)
		current = d.Desired
	}
	return out
}

func repeat(v float64, n int) []float64 {
	s := make([]float64, n)
	for i := range s {
		s[i] = v
	}
	return s
}

func TestSustainedLow(t *testing.T) {
	cfg := DefaultConfig()
	cfg.MaxReplicas = 20
	cfg.Behavior.ScaleDown.StabilizationWindow = 0
	cfg.SustainedLow.Window = 2 * time.Minute
	m := AppAverage("mem", 100)
	m.LowWater = 50
	cfg.Metrics = []MetricSpec{m}

	// 10 instances at 40 per instance: low, but scale-in waits until the
	// readings have been low for the whole 2 min window (8 steps of 15 s).
	ds := drive(t, cfg, 10, repeat(400, 12))
	for i, d := range ds {
		switch {
		case i < 8 && d.Desired != 10:
			t.Fatalf("step %d scaled in before the window: %d\n%s", i, d.Desired, d.String())
		case i < 8 && d.LimitedBy() != RuleSustainedLow:
			t.Fatalf("step %d limited by %q, want %q", i, d.LimitedBy(), RuleSustainedLow)
		case i == 8 && d.Desired != 4:
			t.Fatalf("step %d: got %d, want 4 once low for the window\n%s", i, d.Desired, d.String())
		}
	}

	// One reading at or above the low water restarts the window.
	vals := append(repeat(400, 6), 600)
	vals = append(vals, repeat(400, 9)...)
	ds = drive(t, cfg, 10, vals)
	for i, d := range ds {
		if i < 15 && d.Desired != 10 {
			t.Fatalf("step %d scaled in although step 6 was not low: %d", i, d.Desired)
		}
	}
	if ds[15].Desired != 4 {
		t.Fatalf("step 15: got %d, want 4\n%s", ds[15].Desired, ds[15].String())
	}

	// Scale-out is immediate: the dead band out is the tolerance.
	ds = drive(t, cfg, 10, []float64{400, 1200})
	if ds[1].Desired != 12 {
		t.Fatalf("scale-out: got %d, want 12", ds[1].Desired)
	}
}

func TestMigrationBudget(t *testing.T) {
	cfg := DefaultConfig()
	cfg.MaxReplicas = 40
	cfg.Behavior.ScaleDown.StabilizationWindow = 0
	cfg.Metrics = []MetricSpec{AppAverage("mem", 100)}
	// 8 GiB per instance at 64 MiB/s over 5 min: floor(64Mi×300/8Gi) = 2
	// instances per 5 min.
	cfg.Migration = Migration{BytesPerInstance: 8 << 30, BytesPerSecond: 64 << 20, Period: 5 * time.Minute}
	if got := cfg.Migration.perPeriod(); got != 2 {
		t.Fatalf("perPeriod = %d, want 2", got)
	}
	ds := drive(t, cfg, 10, repeat(100, 45))
	want := map[int]int{0: 8, 1: 8, 19: 8, 20: 6, 39: 6, 40: 4}
	for i, w := range want {
		if ds[i].Desired != w {
			t.Fatalf("step %d: got %d, want %d\n%s", i, ds[i].Desired, w, ds[i].String())
		}
	}
	if ds[1].LimitedBy() != RuleMigration {
		t.Fatalf("limited by %q, want %q", ds[1].LimitedBy(), RuleMigration)
	}
	// Scale-out is not capped unless asked.
	ds = drive(t, cfg, 4, []float64{2000})
	if ds[0].Desired != 8 {
		t.Fatalf("uncapped scale-out: got %d, want 8 (policy 4 or 100%%)", ds[0].Desired)
	}
	cfg.Migration.ScaleOut = true
	ds = drive(t, cfg, 4, []float64{2000})
	if ds[0].Desired != 6 || ds[0].LimitedBy() != RuleMigration {
		t.Fatalf("capped scale-out: got %d by %q, want 6", ds[0].Desired, ds[0].LimitedBy())
	}
	// A budget too small for one instance per period still allows one.
	m := Migration{BytesPerInstance: 1e12, BytesPerSecond: 1, Period: time.Minute}
	if m.perPeriod() != 1 {
		t.Fatalf("tiny budget: %d per period, want 1", m.perPeriod())
	}
}

func TestScaleToZeroAndWake(t *testing.T) {
	cfg := DefaultConfig()
	cfg.MinReplicas, cfg.ScaleToZero, cfg.MaxReplicas = 0, true, 10
	cfg.Behavior.ScaleDown.StabilizationWindow = 0
	cfg.IdleBeforeZero = time.Minute
	cfg.Metrics = []MetricSpec{AppValue("queue", 10)}

	vals := append(repeat(0, 8), 35)
	ds := drive(t, cfg, 2, vals)
	// Idle: down to 1 first, zero only after a minute of zeros.
	if ds[0].Desired != 1 || ds[0].LimitedBy() != RuleIdleBeforeZero {
		t.Fatalf("step 0: got %d by %q, want 1 by %q\n%s", ds[0].Desired, ds[0].LimitedBy(), RuleIdleBeforeZero, ds[0].String())
	}
	for i := 1; i < 4; i++ {
		if ds[i].Desired != 1 {
			t.Fatalf("step %d: got %d, want 1 until idle for 1 min", i, ds[i].Desired)
		}
	}
	if ds[4].Desired != 0 {
		t.Fatalf("step 4: got %d, want 0 after 1 min idle\n%s", ds[4].Desired, ds[4].String())
	}
	// Wake from zero: ceil(35/10) = 4, as Kubernetes scales from zero.
	if ds[8].Desired != 4 {
		t.Fatalf("wake: got %d, want 4\n%s", ds[8].Desired, ds[8].String())
	}
	// Scale-to-zero needs an app metric.
	bad := DefaultConfig()
	bad.MaxReplicas = 10
	bad.MinReplicas, bad.ScaleToZero = 0, true
	bad.Metrics = []MetricSpec{CPUUtilization(50)}
	if err := bad.Validate(); !errors.Is(err, ErrInvalid) || !strings.Contains(err.Error(), "ScaleToZero") {
		t.Fatalf("Validate = %v, want ErrInvalid naming ScaleToZero", err)
	}
	// MinReplicas left 0 without ScaleToZero is the default 1: the app
	// never scales to zero by omission.
	cfg.ScaleToZero = false
	if ds := drive(t, cfg, 2, repeat(0, 8)); ds[7].Desired != 1 {
		t.Fatalf("MinReplicas 0 without ScaleToZero scaled to %d, want the default floor 1", ds[7].Desired)
	}
	bad.Metrics = []MetricSpec{AppValue("queue", 10)}
	bad.MinReplicas = 2
	if err := bad.Validate(); !errors.Is(err, ErrInvalid) || !strings.Contains(err.Error(), "MinReplicas: 2 with ScaleToZero") {
		t.Fatalf("Validate = %v, want ErrInvalid naming MinReplicas", err)
	}
}

func TestForecastScalesOutAheadNeverIn(t *testing.T) {
	cfg := DefaultConfig()
	cfg.MaxReplicas = 50
	cfg.Behavior.ScaleDown.StabilizationWindow = 0
	cfg.Metrics = []MetricSpec{AppAverage("tps", 100)}
	cfg.Forecast = Forecast{Lead: 5 * time.Minute, TrendWindow: 5 * time.Minute}

	// A ramp of +10 TPS per 15 s: the trend predicts +200 in 5 min.
	var ramp []float64
	for i := range 30 {
		ramp = append(ramp, 400+10*float64(i))
	}
	ds := drive(t, cfg, 4, ramp)
	last := ds[len(ds)-1]
	reactive := int(math.Ceil(ramp[len(ramp)-1] / 100))
	if last.Desired <= reactive {
		t.Fatalf("forecast did not scale ahead: %d <= reactive %d\n%s", last.Desired, reactive, last.String())
	}
	if last.Metrics[0].ForecastReplicas != last.Desired || last.LimitedBy() != RuleForecast {
		t.Fatalf("forecast %d, desired %d, limited by %q\n%s", last.Metrics[0].ForecastReplicas, last.Desired, last.LimitedBy(), last.String())
	}

	// Falling load: the forecast never proposes fewer than the metrics.
	var fall []float64
	for i := range 30 {
		fall = append(fall, 1000-20*float64(i))
	}
	cfgNo := cfg
	cfgNo.Forecast = Forecast{}
	with, without := drive(t, cfg, 10, fall), drive(t, cfgNo, 10, fall)
	for i := range with {
		if with[i].Desired != without[i].Desired {
			t.Fatalf("step %d: forecast changed a falling-load decision: %d vs %d", i, with[i].Desired, without[i].Desired)
		}
	}
}

func TestForecastSeasonal(t *testing.T) {
	cfg := DefaultConfig()
	cfg.MaxReplicas = 50
	cfg.Metrics = []MetricSpec{AppAverage("tps", 100)}
	cfg.Forecast = Forecast{Lead: 10 * time.Minute, Season: time.Hour}
	// History: one hour ago the load jumped from 500 to 2000 ten minutes
	// later; now it is 500 again.
	h := &History{Points: map[string][]Point{"tps": {
		{At: t0.Add(-70 * time.Minute), Load: 500, OK: true},
		{At: t0.Add(-60 * time.Minute), Load: 500, OK: true},
		{At: t0.Add(-51 * time.Minute), Load: 500, OK: true},
		{At: t0.Add(-50 * time.Minute), Load: 2000, OK: true},
		{At: t0.Add(-40 * time.Minute), Load: 2000, OK: true},
	}}}
	d, err := Recommend(&cfg, h, &Observation{Now: t0, Current: 5, App: map[string]float64{"tps": 500}})
	if err != nil {
		t.Fatal(err)
	}
	if d.Desired != 10 || d.Metrics[0].Forecast != 2000 {
		t.Fatalf("seasonal: got %d (forecast %g), want 10 (2000)\n%s", d.Desired, d.Metrics[0].Forecast, d.String())
	}
	// Without the season in history there is no forecast.
	d, _ = Recommend(&cfg, nil, &Observation{Now: t0, Current: 5, App: map[string]float64{"tps": 500}})
	if d.Desired != 5 || d.Metrics[0].ForecastReplicas != 0 {
		t.Fatalf("no history: got %d (forecast replicas %d)", d.Desired, d.Metrics[0].ForecastReplicas)
	}
}

func TestDecisionExplainsItself(t *testing.T) {
	cfg := DefaultConfig()
	cfg.MaxReplicas = 10
	cfg.Metrics = []MetricSpec{CPUUtilization(50), InstanceAverage("conn", 100)}
	insts := []Instance{
		{Name: "a", Ready: true, Samples: []Sample{{Metric: "cpu", Value: 0.9, Request: 1}, {Metric: "conn", Value: 50}}},
		{Name: "b", Ready: true, Samples: []Sample{{Metric: "cpu", Value: 0.9, Request: 1}, {Metric: "conn", Value: 50}}},
		{Name: "c", Phase: PhaseFailed},
	}
	d, err := Recommend(&cfg, nil, &Observation{Now: t0, Current: 2, Instances: insts})
	if err != nil {
		t.Fatal(err)
	}
	if d.Desired != 4 || d.Metrics[0].Replicas != 4 || d.Metrics[1].Replicas != 1 || d.Metrics[0].Ignored != 1 {
		t.Fatalf("got %+v", d)
	}
	s := d.String()
	for _, want := range []string{"2 -> 4", "cpu above target", "cpu: 90 vs target 50", "conn: 50 vs target 100", "ignored 1"} {
		if !strings.Contains(s, want) {
			t.Fatalf("explanation lacks %q:\n%s", want, s)
		}
	}
	// Why it did not move.
	insts[0].Samples[0].Value, insts[1].Samples[0].Value = 0.52, 0.5
	d, _ = Recommend(&cfg, nil, &Observation{Now: t0, Current: 2, Instances: insts})
	if d.Desired != 2 || d.Reason() != "all metrics within tolerance of their targets" {
		t.Fatalf("got %d: %q", d.Desired, d.Reason())
	}
}

func TestValidateNamesTheField(t *testing.T) {
	base := func() Config {
		c := DefaultConfig()
		c.MaxReplicas = 10
		c.Metrics = []MetricSpec{CPUUtilization(50)}
		return c
	}
	cases := []struct {
		field  string
		mutate func(*Config)
	}{
		{"MinReplicas", func(c *Config) { c.MinReplicas = 11 }},
		{"MinReplicas", func(c *Config) { c.MinReplicas = -1 }},
		{"MaxReplicas", func(c *Config) { c.MaxReplicas = 0 }},
		{"Metrics", func(c *Config) { c.Metrics = nil }},
		{"Metrics[0].Kind", func(c *Config) { c.Metrics[0].Kind = 9 }},
		{"Metrics[0].Target", func(c *Config) { c.Metrics[0].Target = 0 }},
		{"Metrics[0].Utilization", func(c *Config) { c.Metrics[0].Utilization = 0 }},
		{"Metrics[0].Value", func(c *Config) { c.Metrics[0] = InstanceAverage("x", math.NaN()) }},
		{"Metrics[0].Value", func(c *Config) { c.Metrics[0] = InstanceAverage("x", -1) }},
		{"Metrics[0].Value", func(c *Config) { c.Metrics[0] = InstanceAverage("x", 0) }},
		{"Metrics[0].Value", func(c *Config) { c.Metrics[0] = InstanceAverage("x", math.Inf(1)) }},
		{"Metrics[0].Target", func(c *Config) {
			c.Metrics[0] = MetricSpec{Name: "x", Kind: KindInstance, Target: TargetValue, Value: 1}
		}},
		{"Metrics[0].Name", func(c *Config) { c.Metrics[0].Name = "" }},
		{"Metrics[1].Name", func(c *Config) { c.Metrics = append(c.Metrics, CPUUtilization(60)) }},
		{"Metrics[0].LowWater", func(c *Config) { c.Metrics[0].LowWater = 60; c.SustainedLow.Window = time.Minute }},
		{"Tolerance.Up", func(c *Config) { c.Tolerance.Up = math.NaN() }},
		{"Tolerance.Down", func(c *Config) { c.Tolerance.Down = -0.1 }},
		{"Behavior.ScaleUp.Policies", func(c *Config) { c.Behavior.ScaleUp.Policies = nil }},
		{"Behavior.ScaleDown.Policies[0].Period", func(c *Config) { c.Behavior.ScaleDown.Policies[0].Period = 0 }},
		{"Behavior.ScaleDown.Policies[0].Value", func(c *Config) { c.Behavior.ScaleDown.Policies[0].Value = 0 }},
		{"Behavior.ScaleDown.Policies[0].Type", func(c *Config) { c.Behavior.ScaleDown.Policies[0].Type = 7 }},
		{"Behavior.ScaleUp.Select", func(c *Config) { c.Behavior.ScaleUp.Select = 5 }},
		{"Behavior.ScaleDown.StabilizationWindow", func(c *Config) { c.Behavior.ScaleDown.StabilizationWindow = 2 * time.Hour }},
		{"SustainedLow.Window", func(c *Config) { c.SustainedLow.Window = time.Minute }},
		{"Migration.BytesPerSecond", func(c *Config) { c.Migration.BytesPerInstance = 1 }},
		{"Migration.BytesPerInstance", func(c *Config) { c.Migration.BytesPerInstance = math.NaN() }},
		{"Forecast", func(c *Config) { c.Forecast.Lead = time.Minute }},
		{"DownscaleStabilization", func(c *Config) { c.DownscaleStabilization = 61 * time.Minute }},
		{"SustainedLow.Window", func(c *Config) { c.SustainedLow.Window = -1 }},
		{"Behavior", func(c *Config) { c.LegacyBehavior = true }},
		{"MaxReplicas", func(c *Config) { c.MaxReplicas = -1 }},
	}
	for _, tc := range cases {
		c := base()
		tc.mutate(&c)
		err := c.Validate()
		if !errors.Is(err, ErrInvalid) || !strings.Contains(err.Error(), tc.field+":") || !strings.HasPrefix(err.Error(), "autoscale: ") {
			t.Errorf("%s: Validate = %v, want ErrInvalid naming it", tc.field, err)
		}
		if _, err := New(c); !errors.Is(err, ErrInvalid) {
			t.Errorf("%s: New = %v, want ErrInvalid", tc.field, err)
		}
	}
	if c := base(); c.Validate() != nil {
		t.Fatalf("base config invalid: %v", c.Validate())
	}
	// Observations.
	c := base()
	for _, tc := range []struct {
		field string
		obs   *Observation
	}{
		{"Observation.Now", &Observation{Current: 1}},
		{"Observation.Current", &Observation{Now: t0, Current: -1}},
		{"Observation", nil},
	} {
		if _, err := Recommend(&c, nil, tc.obs); !errors.Is(err, ErrInvalid) || !strings.Contains(err.Error(), tc.field) {
			t.Errorf("%s: Recommend = %v", tc.field, err)
		}
	}
	if _, err := Recommend(nil, nil, &Observation{Now: t0}); !errors.Is(err, ErrInvalid) {
		t.Errorf("nil config: %v", err)
	}
}

func TestBadSamplesMakeTheMetricUnreadable(t *testing.T) {
	cfg := DefaultConfig()
	cfg.MaxReplicas = 10
	cfg.Metrics = []MetricSpec{InstanceAverage("conn", 10)}
	for _, v := range []float64{math.NaN(), math.Inf(1), -1, 2e12} {
		obs := Observation{Now: t0, Current: 2, Instances: []Instance{
			{Name: "a", Ready: true, Samples: []Sample{{Metric: "conn", Value: v}}},
			{Name: "b", Ready: true, Samples: []Sample{{Metric: "conn", Value: 1}}},
		}}
		d, err := Recommend(&cfg, nil, &obs)
		if err != nil {
			t.Fatal(err)
		}
		if !errors.Is(d.Metrics[0].Err, ErrUnreadable) || d.Desired != 2 {
			t.Fatalf("sample %g: err %v, desired %d", v, d.Metrics[0].Err, d.Desired)
		}
	}
}

func TestWarmingUp(t *testing.T) {
	cfg := DefaultConfig()
	cfg.MaxReplicas = 10
	cases := []struct {
		name string
		in   Instance
		want bool
	}{
		{"ready long ago", Instance{Ready: true}, false},
		{"never ready", Instance{}, true},
		{"was ready, now not, after start-up", Instance{Started: t0.Add(-time.Hour), ReadyChanged: t0.Add(-time.Minute)}, false},
		{"not ready in start-up", Instance{Started: t0.Add(-time.Minute), ReadyChanged: t0.Add(-50 * time.Second), Ready: false}, true},
		{"ready in start-up, fresh sample", Instance{Started: t0.Add(-2 * time.Minute), Ready: true, ReadyChanged: t0.Add(-time.Minute), SampledAt: t0}, false},
		{"ready in start-up, sample spans readiness", Instance{Started: t0.Add(-2 * time.Minute), Ready: true, ReadyChanged: t0.Add(-10 * time.Second), SampledAt: t0}, true},
	}
	for _, tc := range cases {
		if got := tc.in.WarmingUp(t0, &cfg); got != tc.want {
			t.Errorf("%s: WarmingUp = %v, want %v", tc.name, got, tc.want)
		}
	}
}

func TestHistoryPrunes(t *testing.T) {
	cfg := DefaultConfig()
	cfg.MaxReplicas = 10
	cfg.Metrics = []MetricSpec{AppAverage("tps", 100)}
	a, _ := New(cfg)
	for i := range 200 {
		if _, err := a.Decide(Observation{Now: t0.Add(time.Duration(i) * 15 * time.Second), Current: 3, App: map[string]float64{"tps": 300}}); err != nil {
			t.Fatal(err)
		}
	}
	h := a.History()
	// 300 s of recommendations at 15 s: 21 at most.
	if len(h.Recommendations) > 22 || len(h.Points["tps"]) > 2 {
		t.Fatalf("history keeps %d recommendations and %d points", len(h.Recommendations), len(h.Points["tps"]))
	}
	// The copy is deep.
	h.Recommendations[0].Replicas = 99
	if a.History().Recommendations[0].Replicas == 99 {
		t.Fatal("History() shares memory with the autoscaler")
	}
}

func TestRecommendIsPure(t *testing.T) {
	cfg := DefaultConfig()
	cfg.MaxReplicas = 10
	cfg.Metrics = []MetricSpec{AppAverage("tps", 100)}
	cfg.Forecast = Forecast{Lead: time.Minute, TrendWindow: time.Minute}
	h := &History{
		Recommendations: []Recommendation{{At: t0.Add(-time.Minute), Replicas: 4}},
		Events:          []ScaleEvent{{At: t0.Add(-5 * time.Second), Change: 1}},
		Points:          map[string][]Point{"tps": {{At: t0.Add(-time.Minute), Load: 100, OK: true}}},
	}
	before := h.Clone()
	obs := Observation{Now: t0, Current: 4, App: map[string]float64{"tps": 900}}
	d1, err1 := Recommend(&cfg, h, &obs)
	d2, err2 := Recommend(&cfg, h, &obs)
	if err1 != nil || err2 != nil || !reflect.DeepEqual(d1, d2) {
		t.Fatalf("two calls differ: %v %v\n%s\n%s", err1, err2, d1.String(), d2.String())
	}
	if !reflect.DeepEqual(before, *h) {
		t.Fatal("Recommend changed the history")
	}
}

func TestAutoscalerConcurrentUse(t *testing.T) {
	cfg := DefaultConfig()
	cfg.MaxReplicas = 10
	cfg.Metrics = []MetricSpec{AppAverage("tps", 100)}
	a, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	for g := range 4 {
		wg.Go(func() {
			for i := range 50 {
				obs := Observation{Now: t0.Add(time.Duration(g*50+i) * time.Second), Current: 3, App: map[string]float64{"tps": float64(100 * i)}}
				if d, err := a.Decide(obs); err != nil || d.Desired < 1 || d.Desired > 10 {
					t.Errorf("Decide: %d, %v", d.Desired, err)
				}
				_ = a.History()
			}
		})
	}
	wg.Wait()
}

func TestSimulationRejectsBadInput(t *testing.T) {
	cfg := DefaultConfig()
	cfg.MaxReplicas = 10
	cfg.Metrics = []MetricSpec{InstanceAverage("tps", 100)}
	sim := Simulation{Config: cfg, StartupDelay: 30 * time.Second}
	steps, err := sim.Run([]float64{100, 500, math.NaN()})
	if !errors.Is(err, ErrInvalid) || !strings.Contains(err.Error(), "load[2]") || len(steps) != 2 {
		t.Fatalf("Run = %d steps, %v; want 2 steps and ErrInvalid naming load[2]", len(steps), err)
	}
	// The new instances are pending for the start-up delay: ready lags
	// the replica count.
	if steps[1].Replicas != 5 || steps[1].Ready != 1 || Sparkline(steps) != "15" {
		t.Fatalf("steps %+v, sparkline %q", steps, Sparkline(steps))
	}
	sim.Config.MaxReplicas = 0
	if _, err := sim.Run([]float64{1}); !errors.Is(err, ErrInvalid) {
		t.Fatalf("bad config: %v", err)
	}
}
