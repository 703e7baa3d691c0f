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
// # Defaults
//
// [DefaultConfig] carries the Kubernetes defaults (tolerance 0.1, 300 s
// scale-down stabilisation, 5 min CPU start-up period, 30 s initial
// readiness delay, min 1) and, deliberately, the autoscaling/v2 behavior a
// spec gets when its behavior is present but empty ([DefaultBehavior]):
// scale-out by max(4 instances, 100 %) per 15 s with no stabilisation,
// scale-in by up to 100 % per 15 s after 300 s of stabilisation. Its caps
// count per period, so they do not change with how often decisions are
// made. A nil Config.Behavior reproduces a spec without behavior exactly:
// at most max(2×current, 4) per decision and the 300 s scale-in window.
//
// # Where it differs from Kubernetes
//
//   - An app scaled to 0 with MinReplicas above 0 is brought back to
//     MinReplicas (Kubernetes treats it as "autoscaling disabled"): a
//     decision is never outside [MinReplicas, MaxReplicas].
//   - An app metric with an average-value target is divided by
//     Observation.Current (Kubernetes divides by the status replica count).
//   - An instance with a zero Started time counts as started long ago
//     (Kubernetes treats a pod without a start time as unready for CPU).
//   - Failed and deleting instances need no request (Kubernetes fails the
//     metric when any listed pod lacks one).
//   - Tolerances are one setting per autoscaler, up and down, rather than a
//     field of each direction's behavior; the effect is the same.
//   - Samples are counted in thousandths, as Kubernetes quantities are, and
//     must be finite, >= 0 and <= 1e12; anything else makes that metric
//     unreadable for the decision.
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
