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
//	cfg.MinReplicas, cfg.MaxReplicas = 2, 50 // MaxReplicas is required
//	cfg.Metrics = []autoscale.MetricSpec{
//		autoscale.CPUUtilization(60),
//		autoscale.InstanceAverage("connections", 800),
//		autoscale.AppAverage("tps", 1500),
//	}
//	a, err := autoscale.New(cfg)
//	if err != nil {
//		return err // "autoscale: MaxReplicas: required ..." names the field
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
//
// # Defaults
//
// A zero field of a [Config] is its documented default; MaxReplicas and
// Metrics have none and a Config without them is refused with an error
// naming the field. The defaults are Kubernetes' (tolerance 0.1 each way,
// 300 s scale-down stabilisation, 5 min CPU start-up period, 30 s initial
// readiness delay, min 1) and, deliberately, the autoscaling/v2 behavior a
// spec gets when its behavior is present but empty ([DefaultBehavior]):
// scale-out by max(4 instances, 100 %) per 15 s with no stabilisation,
// scale-in by up to 100 % per 15 s after 300 s of stabilisation. Its caps
// count per period, so they do not change with how often decisions are
// made. Config.LegacyBehavior reproduces a spec without behavior exactly:
// at most max(2×current, 4) per decision and the 300 s scale-in window.
// A negative duration means none (0 s), as net.Dialer's KeepAlive.
//
// Errors read "autoscale: FIELD: what was wrong (value)" and wrap
// [ErrInvalid]; an unreadable metric is reported in its
// [MetricProposal.Err], wrapping [ErrUnreadable].
//
// # Coming from the HPA
//
// An autoscaling/v2 HorizontalPodAutoscaler maps onto a Config field by
// field:
//
//	spec.minReplicas                    MinReplicas (0 needs ScaleToZero, as the HPAScaleToZero gate)
//	spec.maxReplicas                    MaxReplicas (required in both)
//	spec.metrics[] Resource             CPUUtilization(percent), or MetricSpec{Kind: KindResource, Target: TargetUtilization}
//	  target.averageUtilization         MetricSpec.Utilization (integer percent of the request)
//	  target.averageValue               MetricSpec{Kind: KindResource or KindInstance, Target: TargetAverageValue, Value}
//	spec.metrics[] Pods                 InstanceAverage(name, perInstance)
//	spec.metrics[] Object, External     AppValue(name, value) (target.value) or AppAverage(name, perInstance) (target.averageValue)
//	spec.behavior                       Behavior (nil: DefaultBehavior, what Kubernetes fills in)
//	  scaleUp / scaleDown               Behavior.ScaleUp / Behavior.ScaleDown (Rules)
//	  stabilizationWindowSeconds        Rules.StabilizationWindow (a time.Duration)
//	  selectPolicy Max / Min / Disabled SelectMax (zero value) / SelectMin / SelectDisabled
//	  policies[] Pods / Percent         Policy{Type: PolicyInstances / PolicyPercent, Value, Period}
//	  tolerance (1.33+, per direction)  Tolerance.Up / Tolerance.Down (one pair per autoscaler)
//	no spec.behavior at all             LegacyBehavior
//	--horizontal-pod-autoscaler-…
//	  tolerance                         Tolerance (nil: 0.1 each way)
//	  downscale-stabilization           DownscaleStabilization (LegacyBehavior only)
//	  cpu-initialization-period         StartupPeriod
//	  initial-readiness-delay           InitialReadinessDelay
//	  sync-period (15 s)                how often the caller calls Decide
//	metrics-server window               SampleWindow
//	pod status                          Instance: Phase, Ready, ReadyChanged, Started, Deleting; SampledAt the metric's timestamp
//
// Units: a Sample's Value and Request are in one unit of the caller's
// choosing, and Kubernetes quantities are thousandths of it: CPU in cores
// (0.25, not 250m: 250 millicores is 0.25), memory in bytes, connections
// and TPS as counts. Values are counted in thousandths as Kubernetes'
// MilliValue does, so utilisation percents and averages round as they do.
// A resource's Request comes with its Sample (Kubernetes reads it from the
// pod spec).
//
// Reasons and conditions: the rule that limited a decision,
// [Decision.LimitedBy], answers the HPA's ScalingLimited condition —
// RuleAboveMax is TooManyReplicas, RuleBelowMin TooFewReplicas,
// RuleScaleUpPolicy ScaleUpLimit, RuleScaleDownPolicy ScaleDownLimit, and
// "" DesiredWithinRange; RuleScaleUpLimit is the legacy path's
// ScaleUpLimit (max(2×current, 4)). RuleStabilizeUp and RuleStabilizeDown
// answer AbleToScale's ScaleUpStabilized and ScaleDownStabilized;
// RuleUnreadable answers ScalingActive false (FailedGetResourceMetric and
// friends) when no metric could be read, and holds a scale-in when only
// some could, as the HPA does. [Decision.Reason] and [Decision.String] are
// the event message, each metric's [MetricProposal] its status.currentMetrics
// entry (Value in the target's unit, Ready, Unready, Missing and Ignored
// the replica calculator's pod groups). RuleSustainedLow, RuleIdleBeforeZero,
// RuleMigration and RuleForecast have no HPA counterpart.
//
// Deliberate differences from Kubernetes:
//
//   - MinReplicas 0 means the default 1; scale-to-zero is asked for with
//     ScaleToZero (Kubernetes: minReplicas 0 behind the HPAScaleToZero
//     gate), so an app never scales to zero because a field was left out.
//   - Scaling to zero waits until every app metric has read 0 for
//     IdleBeforeZero (default 5 min; negative: none), on top of the
//     scale-down stabilisation. Kubernetes scales to zero once the object
//     or external metric reads 0 and the stabilisation window allows it.
//     IdleBeforeZero, like Tolerance and LegacyBehavior, has no spec field.
//   - An app scaled to 0 without ScaleToZero, or below MinReplicas, is
//     brought back to MinReplicas (Kubernetes treats a target at 0 as
//     "autoscaling disabled"): a decision is never outside [MinReplicas,
//     MaxReplicas].
//   - A nil Behavior is DefaultBehavior, not the legacy behaviour-less
//     algorithm (LegacyBehavior asks for that); a Behavior given is used as
//     it is: a zero StabilizationWindow is none, where Kubernetes defaults a
//     direction's unset window (300 s for scale-down).
//   - An app metric with an average-value target is divided by
//     Observation.Current (Kubernetes divides by the status replica count).
//   - An instance with a zero Started time counts as started long ago
//     (Kubernetes treats a pod without a start time as unready for CPU).
//   - Failed and deleting instances need no request (Kubernetes fails the
//     metric when any listed pod lacks one).
//   - An instance left out of a utilisation metric's samples is missing
//     with the average request of those that reported one; Kubernetes knows
//     each pod's request from its spec. A Sample with Missing set and the
//     Request gives the exact figure.
//   - Tolerances are one pair per autoscaler, up and down, rather than a
//     field of each direction's behavior; the effect is the same.
//   - Samples are counted in thousandths, as Kubernetes quantities are, and
//     must be finite, >= 0 and <= 1e12; anything else makes that metric
//     unreadable for the decision.
//   - The sustained-low rule, the migration budget and the forecast are
//     additions, all off by default.
package autoscale
