package autoscale_test

import (
	"fmt"
	"os"
	"time"

	"github.com/shoalkit/shoal/autoscale"
)

// Three instances at 50 % CPU against a 30 % target: ceil(3 × 50/30) = 5,
// exactly as the Kubernetes HPA decides.
func ExampleRecommend() {
	cfg := autoscale.DefaultConfig()
	cfg.MaxReplicas = 10
	cfg.Metrics = []autoscale.MetricSpec{autoscale.CPUUtilization(30)}
	now := time.Date(2026, 1, 1, 12, 0, 0, 0, time.UTC)
	obs := autoscale.Observation{Now: now, Current: 3}
	for i, used := range []float64{0.3, 0.5, 0.7} {
		obs.Instances = append(obs.Instances, autoscale.Instance{
			Name:    fmt.Sprintf("web-%d", i),
			Ready:   true,
			Samples: []autoscale.Sample{{Metric: "cpu", Value: used, Request: 1}},
		})
	}
	d, err := autoscale.Recommend(&cfg, nil, &obs)
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Print(d.String())
	// Output:
	// 2026-01-01T12:00:00Z: 3 -> 5 (cpu above target)
	//   cpu: 50 vs target 30 (ratio 1.667) -> 5: ceil(ratio × ready instances) [ready 3, unready 0, missing 0, ignored 0]
}

// The Autoscaler keeps the windows: a drop in load is followed only once
// the 300 s scale-down stabilisation window has passed.
func ExampleAutoscaler() {
	cfg := autoscale.DefaultConfig()
	cfg.MaxReplicas = 10
	cfg.Metrics = []autoscale.MetricSpec{autoscale.AppAverage("tps", 100)}
	a, err := autoscale.New(cfg)
	if err != nil {
		fmt.Println(err)
		return
	}
	start := time.Date(2026, 1, 1, 12, 0, 0, 0, time.UTC)
	replicas := 8
	for i, tps := range []float64{800, 200, 200, 200} {
		now := start.Add(time.Duration(i) * 150 * time.Second)
		d, err := a.Decide(autoscale.Observation{Now: now, Current: replicas, App: map[string]float64{"tps": tps}})
		if err != nil {
			fmt.Println(err)
			return
		}
		fmt.Printf("%s tps=%g %d -> %d  %s\n", now.Sub(start), tps, d.Current, d.Desired, d.Reason())
		replicas = d.Desired
	}
	// Output:
	// 0s tps=800 8 -> 8  all metrics within tolerance of their targets
	// 2m30s tps=200 8 -> 8  scale-down-stabilization: highest recommendation of the last 5m0s
	// 5m0s tps=200 8 -> 2  all metrics below target
	// 7m30s tps=200 2 -> 2  all metrics within tolerance of their targets
}

// A cache cluster: scale out at once, scale in only after memory stayed
// below the low water for a whole window, a few instances at a time as the
// migration budget allows.
func ExampleSimulation_Run() {
	cfg := autoscale.DefaultConfig()
	cfg.MaxReplicas = 20
	cfg.Behavior.ScaleDown.StabilizationWindow = 0
	mem := autoscale.InstanceAverage("mem_gb", 8)
	mem.LowWater = 5
	cfg.Metrics = []autoscale.MetricSpec{mem}
	cfg.SustainedLow.Window = time.Minute
	cfg.Migration = autoscale.Migration{BytesPerInstance: 8e9, BytesPerSecond: 200e6, Period: time.Minute}

	sim := autoscale.Simulation{Config: cfg, Initial: 4, Interval: 30 * time.Second}
	load := []float64{32, 32, 64, 64, 64, 20, 20, 20, 20, 20, 20}
	steps, err := sim.Run(load)
	if err != nil {
		fmt.Println(err)
		return
	}
	if err := autoscale.WriteSteps(os.Stdout, steps); err != nil {
		fmt.Println(err)
	}
	// Output:
	// t      load  ready  replicas  why
	// 0s     32    4      4
	// 30s    32    4      4
	// 1m0s   64    4      8  mem_gb above target
	// 1m30s  64    8      8
	// 2m0s   64    8      8
	// 2m30s  20    8      8  sustained-low: mem_gb has not stayed below 5 for 1m0s
	// 3m0s   20    8      8  sustained-low: mem_gb has not stayed below 5 for 1m0s
	// 3m30s  20    8      7  migration-budget: 1 instance(s) per 1m0s fit the migration budget, 0 already moved
	// 4m0s   20    7      7  migration-budget: 1 instance(s) per 1m0s fit the migration budget, 1 already moved
	// 4m30s  20    7      6  migration-budget: 1 instance(s) per 1m0s fit the migration budget, 0 already moved
	// 5m0s   20    6      6  migration-budget: 1 instance(s) per 1m0s fit the migration budget, 1 already moved
}

// A Config without MaxReplicas is refused, naming the field: the HPA has no
// default for it either, and a silent one would cap a 50-instance app.
func ExampleNew() {
	cfg := autoscale.DefaultConfig()
	cfg.Metrics = []autoscale.MetricSpec{autoscale.CPUUtilization(60)}
	_, err := autoscale.New(cfg)
	fmt.Println(err)
	// Output: autoscale: MaxReplicas: required (Kubernetes has no default either): the most instances the app may run
}
