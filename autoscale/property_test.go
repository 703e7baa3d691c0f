package autoscale

import (
	"math"
	"math/rand/v2"
	"testing"
	"time"
)

// randomConfig draws a valid policy with every rule possibly on.
func randomConfig(r *rand.Rand) Config {
	c := DefaultConfig()
	c.MinReplicas = r.IntN(5)
	c.MaxReplicas = c.MinReplicas + 1 + r.IntN(60)
	c.Tolerance = &Tolerances{Up: r.Float64() * 0.3, Down: r.Float64() * 0.3}
	c.Metrics = []MetricSpec{AppAverage("tps", 1+r.Float64()*100)}
	if r.IntN(2) == 0 {
		c.Metrics = append(c.Metrics, CPUUtilization(10+r.IntN(150)))
	}
	if r.IntN(2) == 0 {
		c.Metrics = append(c.Metrics, InstanceAverage("conn", 1+r.Float64()*50))
	}
	if r.IntN(2) == 0 {
		c.Metrics = append(c.Metrics, AppValue("latency", 0.1+r.Float64()))
	}
	switch r.IntN(3) {
	case 0:
		c.Behavior, c.LegacyBehavior = nil, true
	case 1:
		c.Behavior.ScaleUp.Select = Select(r.IntN(3))
		c.Behavior.ScaleDown.Select = Select(r.IntN(3))
		c.Behavior.ScaleDown.StabilizationWindow = time.Duration(r.IntN(600)) * time.Second
		c.Behavior.ScaleUp.Policies = []Policy{{Type: PolicyType(1 + r.IntN(2)), Value: 1 + r.IntN(200), Period: time.Duration(1+r.IntN(600)) * time.Second}}
	}
	if r.IntN(3) == 0 {
		c.SustainedLow.Window = time.Duration(1+r.IntN(600)) * time.Second
		c.Metrics[0].LowWater = c.Metrics[0].Value * r.Float64() * 0.9
		if c.Metrics[0].LowWater == 0 {
			c.Metrics[0].LowWater = c.Metrics[0].Value / 2
		}
	}
	if r.IntN(3) == 0 {
		c.Migration = Migration{BytesPerInstance: 1 + r.Float64()*1e10, BytesPerSecond: 1 + r.Float64()*1e8, Period: time.Duration(1+r.IntN(600)) * time.Second, ScaleOut: r.IntN(2) == 0}
	}
	if r.IntN(3) == 0 {
		c.Forecast = Forecast{Lead: time.Duration(1+r.IntN(600)) * time.Second, TrendWindow: time.Duration(1+r.IntN(600)) * time.Second, Season: time.Duration(r.IntN(2)) * time.Hour}
	}
	return c
}

// randomValue is mostly sane, sometimes hostile.
func randomValue(r *rand.Rand, scale float64) float64 {
	switch r.IntN(20) {
	case 0:
		return math.NaN()
	case 1:
		return -r.Float64()
	case 2:
		return math.Inf(1)
	case 3:
		return 0
	case 4:
		return 1e15
	}
	return r.Float64() * scale
}

func randomObservation(r *rand.Rand, cfg *Config, now time.Time, current int) Observation {
	obs := Observation{Now: now, Current: current, App: map[string]float64{}}
	if r.IntN(10) > 0 {
		obs.App["tps"] = randomValue(r, 5000)
	}
	obs.App["latency"] = randomValue(r, 3)
	n := current + r.IntN(3)
	for i := range n {
		in := Instance{Name: "i", Ready: r.IntN(6) > 0, Phase: Phase(r.IntN(10) / 8)}
		in.Deleting = r.IntN(15) == 0
		if r.IntN(4) == 0 {
			in.Started = now.Add(-time.Duration(r.IntN(600)) * time.Second)
			in.ReadyChanged = in.Started.Add(time.Duration(r.IntN(60)) * time.Second)
		}
		if r.IntN(8) > 0 {
			in.Samples = append(in.Samples, Sample{Metric: "cpu", Value: randomValue(r, 2), Request: 1, Missing: r.IntN(10) == 0})
		}
		if r.IntN(8) > 0 {
			in.Samples = append(in.Samples, Sample{Metric: "conn", Value: randomValue(r, 200)})
		}
		_ = i
		obs.Instances = append(obs.Instances, in)
	}
	return obs
}

func TestPropertyNeverOutsideBounds(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	for range 300 {
		cfg := randomConfig(r)
		if err := cfg.Validate(); err != nil {
			t.Fatalf("randomConfig made an invalid config: %v", err)
		}
		a, err := New(cfg)
		if err != nil {
			t.Fatal(err)
		}
		current := r.IntN(cfg.MaxReplicas + 5)
		now := t0
		for range 40 {
			now = now.Add(time.Duration(1+r.IntN(60)) * time.Second)
			obs := randomObservation(r, &cfg, now, current)
			d, err := a.Decide(obs)
			if err != nil {
				t.Fatalf("Decide: %v", err)
			}
			if d.Desired < cfg.MinReplicas || d.Desired > cfg.MaxReplicas {
				t.Fatalf("desired %d outside [%d, %d]\n%s", d.Desired, cfg.MinReplicas, cfg.MaxReplicas, d.String())
			}
			if r.IntN(5) > 0 { // sometimes the change is not carried out
				current = d.Desired
			}
		}
	}
}

// uniformObs has n ready instances whose conn samples are base[i]×k.
func uniformObs(n int, base []float64, k float64) Observation {
	obs := Observation{Now: t0, Current: n}
	for i := range n {
		obs.Instances = append(obs.Instances, Instance{Name: "i", Ready: true, Samples: []Sample{
			{Metric: "conn", Value: base[i] * k},
			{Metric: "cpu", Value: base[i] * k / 100, Request: 1},
		}})
	}
	return obs
}

func TestPropertyNoChangeInsideTolerance(t *testing.T) {
	r := rand.New(rand.NewPCG(3, 4))
	for range 2000 {
		cfg := DefaultConfig()
		cfg.MaxReplicas = 100
		cfg.Tolerance = &Tolerances{Up: r.Float64() * 0.5, Down: r.Float64() * 0.5}
		target := 1 + r.Float64()*100
		cfg.Metrics = []MetricSpec{InstanceAverage("conn", target)}
		n := 1 + r.IntN(50)
		// An average strictly inside the band (kept clear of its edges so
		// that thousandths rounding cannot cross them).
		lo, hi := target*(1-cfg.Tolerance.Down)+0.01, target*(1+cfg.Tolerance.Up)-0.01
		if lo >= hi {
			continue
		}
		avg := lo + r.Float64()*(hi-lo)
		base := make([]float64, n)
		for i := range base {
			base[i] = avg
		}
		obs := uniformObs(n, base, 1)
		d, err := Recommend(&cfg, nil, &obs)
		if err != nil {
			t.Fatal(err)
		}
		if d.Desired != n || d.Metrics[0].Replicas != n {
			t.Fatalf("average %g, target %g, tolerance %+v: %d -> %d\n%s", avg, target, cfg.Tolerance, n, d.Desired, d.String())
		}
	}
}

func TestPropertyMonotoneInLoad(t *testing.T) {
	r := rand.New(rand.NewPCG(5, 6))
	for range 500 {
		cfg := randomConfig(r)
		cfg.Metrics = []MetricSpec{InstanceAverage("conn", 1+r.Float64()*50)}
		if r.IntN(2) == 0 {
			cfg.Metrics[0] = CPUUtilization(10 + r.IntN(150))
		}
		cfg.SustainedLow = SustainedLow{}
		cfg.Forecast = Forecast{}
		cfg.MinReplicas = max(cfg.MinReplicas, 1)
		if cfg.MinReplicas > cfg.MaxReplicas {
			cfg.MaxReplicas = cfg.MinReplicas
		}
		n := cfg.MinReplicas + r.IntN(cfg.MaxReplicas-cfg.MinReplicas+1)
		base := make([]float64, n)
		for i := range base {
			base[i] = r.Float64() * 100
		}
		h := &History{}
		for j := range r.IntN(10) {
			h.Recommendations = append(h.Recommendations, Recommendation{At: t0.Add(-time.Duration(10*(10-j)) * time.Second), Replicas: 1 + r.IntN(cfg.MaxReplicas)})
		}
		prev := -1
		for k := 0.0; k <= 5; k += 0.05 {
			obs := uniformObs(n, base, k)
			d, err := Recommend(&cfg, h, &obs)
			if err != nil {
				t.Fatal(err)
			}
			if d.Desired < prev {
				t.Fatalf("load ×%.2f gives %d, less than %d at a lower load\n%s", k, d.Desired, prev, d.String())
			}
			prev = d.Desired
		}
	}
}

// flaps counts the reversals of direction in a replica series.
func flaps(steps []SimStep) (changes, reversals int) {
	dir := 0
	for i := 1; i < len(steps); i++ {
		delta := steps[i].Replicas - steps[i-1].Replicas
		if delta == 0 {
			continue
		}
		changes++
		d := 1
		if delta < 0 {
			d = -1
		}
		if dir != 0 && d != dir {
			reversals++
		}
		dir = d
	}
	return changes, reversals
}

func TestTraceNoFlappingAndFastSpike(t *testing.T) {
	r := rand.New(rand.NewPCG(7, 8))
	// Two hours at 15 s: steady load of 2.4 instances' worth at a 60 %
	// CPU target (4 instances) with ±20 % noise on every reading, then a
	// 5× spike.
	var load []float64
	for range 480 {
		load = append(load, 2.4*(1+0.4*(r.Float64()-0.5)))
	}
	spikeAt := len(load)
	load = append(load, repeat(12, 40)...)

	cfg := DefaultConfig()
	cfg.MaxReplicas = 50
	cfg.Metrics = []MetricSpec{CPUUtilization(60)}
	sim := Simulation{Config: cfg, Initial: 4}
	steps, err := sim.Run(load)
	if err != nil {
		t.Fatal(err)
	}
	changes, reversals := flaps(steps[:spikeAt])
	if reversals > 2 || changes > 4 {
		t.Fatalf("noisy steady load: %d changes, %d reversals\n%s", changes, reversals, Sparkline(steps[:spikeAt]))
	}
	// The same trace under a naive policy (no dead band, no windows)
	// flaps, so the bound above means something.
	naive := cfg
	naive.Tolerance = &Tolerances{}
	naive.Behavior = &Behavior{
		ScaleUp:   Rules{Policies: []Policy{{Type: PolicyPercent, Value: 1000, Period: time.Second}}},
		ScaleDown: Rules{Policies: []Policy{{Type: PolicyPercent, Value: 100, Period: time.Second}}},
	}
	nsim := Simulation{Config: naive, Initial: 4}
	nsteps, err := nsim.Run(load[:spikeAt])
	if err != nil {
		t.Fatal(err)
	}
	if _, nrev := flaps(nsteps); nrev < 50 {
		t.Fatalf("naive policy reversed only %d times; the trace is not noisy enough", nrev)
	}
	// 5×: 12 instances' worth at 60 % needs 20; reach it within 1 minute.
	need := int(math.Ceil(12 / 0.6))
	reached := -1
	for i := spikeAt; i < len(steps); i++ {
		if steps[i].Replicas >= need {
			reached = i - spikeAt
			break
		}
	}
	if reached < 0 || reached > 4 {
		t.Fatalf("5× spike: reached %d replicas after %d decisions (want <= 4)\n%s", need, reached, Sparkline(steps[spikeAt-4:]))
	}
}
