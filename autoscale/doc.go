// Package autoscale decides how many instances an app should run, from its
// CPU, connections and TPS: fast up, slow and sure down.
//
// Where it overlaps the Kubernetes Horizontal Pod Autoscaler it agrees with
// it exactly, with the same defaults: desired = ceil(current × metric ÷
// target) with a 0.1 tolerance band (settable up and down), the largest
// proposal of several metrics, CPU as an integer percent of requests,
// per-instance and whole-app metrics with value or average-value targets,
// unready, starting, missing, failed and deleting instances treated as the
// replica calculator treats them, an unreadable metric blocking scale-in
// but not scale-out, min and max, and the autoscaling/v2 behavior
// (stabilisation windows, rate policies with max/min/disabled selection).
//
// Beyond the HPA it has a sustained-low rule (scale in only after the
// metrics stayed below a lower threshold for a whole window), a step cap
// from a data-migration bandwidth budget, scale-to-zero after an idle
// period and wake-from-zero on an app metric, and a forecast that scales
// out ahead of seasonal or trending load and never scales in on its own.
//
// [Recommend] is the pure core: the time is part of the [Observation] and
// the windows are a [History] passed in, so nothing reads the clock. The
// [Autoscaler] keeps the history for one app. Every [Decision] explains
// itself: each metric's proposal, the rules that limited it, and why it
// did not move. [Simulation] replays a load trace against a policy.
//
// Usage:
//
//	cfg := autoscale.DefaultConfig()
//	cfg.MinReplicas, cfg.MaxReplicas = 2, 50
//	cfg.Metrics = []autoscale.MetricSpec{
//		autoscale.CPUUtilization(60),
//		autoscale.InstanceAverage("connections", 800),
//		autoscale.AppAverage("tps", 1500),
//	}
//	a, err := autoscale.New(cfg)
//	if err != nil {
//		return err
//	}
//	// every 15 s, from the metrics pipeline:
//	d, err := a.Decide(autoscale.Observation{
//		Now:       now,
//		Current:   replicas,
//		Instances: instances, // readiness and per-instance samples
//		App:       map[string]float64{"tps": totalTPS},
//	})
//	if err != nil {
//		return err
//	}
//	if d.Desired != replicas {
//		scaleTo(d.Desired) // d.String() says why
//	}
package autoscale
