package autoscale

import (
	"errors"
	"math"
	"testing"
	"time"
)

// FuzzRecommend feeds arbitrary numbers, as configuration and as
// observations, to the validation and the decision: nothing panics, a bad
// configuration is an ErrInvalid error, and a decision stays within min and
// max.
func FuzzRecommend(f *testing.F) {
	f.Add(3, 1, 10, 0.1, 0.1, 60.0, 100.0, 0.5, 1.0, 250.0, uint8(0), int64(15))
	f.Add(0, 0, 5, 0.0, 0.0, 1.0, 1e12, math.NaN(), -1.0, math.Inf(1), uint8(255), int64(-5))
	f.Add(7, 8, 2, -0.1, math.NaN(), 0.0, -3.0, 1e15, 0.0, 0.0, uint8(17), int64(0))
	f.Fuzz(func(t *testing.T, current, minR, maxR int, tolUp, tolDown, target, app, sample, request, conn float64, flags uint8, step int64) {
		cfg := DefaultConfig()
		cfg.MinReplicas, cfg.MaxReplicas = minR, maxR
		cfg.Tolerance = &Tolerances{Up: tolUp, Down: tolDown}
		cfg.Metrics = []MetricSpec{
			{Name: "cpu", Kind: KindResource, Target: TargetUtilization, Utilization: int(math.Mod(target, 1e7)), IgnoreUnready: flags&1 != 0},
			{Name: "tps", Kind: MetricKind(1 + flags%4), Target: TargetType(1 + (flags>>2)%4), Value: target},
		}
		if flags&16 != 0 {
			cfg.Behavior, cfg.LegacyBehavior = nil, true
		}
		if flags&32 != 0 {
			cfg.Migration = Migration{BytesPerInstance: math.Abs(conn), BytesPerSecond: math.Abs(app), Period: time.Duration(step) * time.Second}
		}
		if flags&64 != 0 {
			cfg.Forecast = Forecast{Lead: time.Duration(step) * time.Second, TrendWindow: time.Minute, Season: time.Hour}
		}
		if flags&128 != 0 {
			cfg.SustainedLow.Window = time.Duration(step) * time.Second
			cfg.Metrics[1].LowWater = target / 2
		}
		valid := cfg.Validate()
		a, err := New(cfg)
		if (err == nil) != (valid == nil) {
			t.Fatalf("New and Validate disagree: %v vs %v", err, valid)
		}
		if err != nil {
			if !errors.Is(err, ErrInvalid) {
				t.Fatalf("config error %v does not wrap ErrInvalid", err)
			}
			return
		}
		now := t0
		for i := range 4 {
			now = now.Add(time.Duration(max(1, step%3600)) * time.Second)
			obs := Observation{Now: now, Current: current, App: map[string]float64{"tps": app}}
			for j := range max(0, min(current, 50)) + i {
				obs.Instances = append(obs.Instances, Instance{
					Name: "i", Ready: (int(flags)+j)%3 != 0, Phase: Phase((int(flags) + j) % 3),
					Samples: []Sample{{Metric: "cpu", Value: sample * float64(j+1), Request: request}, {Metric: "tps", Value: conn}},
				})
			}
			d, err := a.Decide(obs)
			if err != nil {
				if !errors.Is(err, ErrInvalid) {
					t.Fatalf("observation error %v does not wrap ErrInvalid", err)
				}
				return
			}
			if d.Desired < cfg.MinReplicas || d.Desired > cfg.MaxReplicas {
				t.Fatalf("desired %d outside [%d, %d]\n%s", d.Desired, cfg.MinReplicas, cfg.MaxReplicas, d.String())
			}
			_ = d.String()
			current = d.Desired
		}
	})
}
