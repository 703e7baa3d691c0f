package autoscale

import (
	"math"
	"time"
)

// Phase is the lifecycle phase of an instance.
type Phase int

const (
	// PhaseRunning is a started instance (the zero value).
	PhaseRunning Phase = iota
	// PhasePending is an instance not yet running (being scheduled, pulling
	// its image): counted as unready.
	PhasePending
	// PhaseFailed is an instance that has failed: left out entirely.
	PhaseFailed
)

// Sample is one per-instance reading of a metric.
type Sample struct {
	// Metric is the MetricSpec.Name this sample belongs to.
	Metric string
	// Value is the reading in the metric's unit (cores, bytes,
	// connections, TPS). It must be finite, >= 0 and <= 1e12; it is counted
	// in thousandths, as Kubernetes quantities are.
	Value float64
	// Request is the instance's request of the resource, in the unit of
	// Value; needed for [TargetUtilization], also when the value is
	// missing: a sample without it makes the metric unreadable, as a pod
	// without a request does in Kubernetes.
	Request float64
	// Missing says the request is known but no value was collected.
	Missing bool
}

// Instance is one copy of the app as seen at the time of the decision.
type Instance struct {
	// Name identifies the instance in explanations.
	Name string
	// Phase is its lifecycle phase.
	Phase Phase
	// Deleting marks an instance being shut down: left out entirely.
	Deleting bool
	// Ready is its readiness.
	Ready bool
	// Started is when it started; zero means long ago (past any start-up
	// period).
	Started time.Time
	// ReadyChanged is when Ready last changed; zero means never since start.
	ReadyChanged time.Time
	// SampledAt is when its samples were taken; zero means unknown.
	SampledAt time.Time
	// Samples are its readings, at most one per metric. An instance without
	// a sample for a metric counts as missing that sample (as unready when
	// pending), as a pod left out of the metrics does in Kubernetes: 0 on a
	// scale-out, the target (100 % of its request for utilisation) on a
	// scale-in. For utilisation its request is then the average request of
	// the samples that carried one; give a Sample with Missing set to state
	// it exactly.
	Samples []Sample
}

// sampleAt looks for the sample of metric at index hint first: callers
// usually list samples in the order of Config.Metrics.
func (in *Instance) sampleAt(metric string, hint int) (Sample, bool) {
	if hint < len(in.Samples) && in.Samples[hint].Metric == metric {
		return in.Samples[hint], true
	}
	return in.sample(metric)
}

func (in *Instance) sample(metric string) (Sample, bool) {
	for i := range in.Samples {
		if in.Samples[i].Metric == metric {
			return in.Samples[i], true
		}
	}
	return Sample{}, false
}

// WarmingUp reports whether Kubernetes would leave this running
// instance's CPU sample out at now: within the start-up period when it is
// not ready or its sample was taken less than one sample window after it
// became ready; after it, when it is not ready and never was.
func (in *Instance) WarmingUp(now time.Time, cfg *Config) bool {
	if !cfg.defaulted() {
		c := cfg.withDefaults()
		cfg = &c
	}
	return in.warmingUp(now.Add(-span(cfg.StartupPeriod)), cfg)
}

// warmingUp takes the start of the start-up period, now - StartupPeriod,
// computed once per decision.
func (in *Instance) warmingUp(startCut time.Time, cfg *Config) bool {
	if !in.Started.IsZero() && in.Started.After(startCut) {
		return !in.Ready || in.SampledAt.Before(in.ReadyChanged.Add(span(cfg.SampleWindow)))
	}
	return !in.Ready && in.Started.Add(span(cfg.InitialReadinessDelay)).After(in.ReadyChanged)
}

// Observation is everything one decision looks at. The caller takes it at
// one moment; nothing in this package reads the clock.
type Observation struct {
	// Now is the time of the decision.
	Now time.Time
	// Current is the replica count the app is scaled to now.
	Current int
	// Instances are the app's instances with their samples. When nil, app
	// metrics with a value target count Current instances as ready.
	Instances []Instance
	// App holds the whole-app metric values by MetricSpec.Name. A value
	// that is absent, NaN, infinite or negative makes that metric
	// unreadable.
	App map[string]float64
}

func (o *Observation) validate() error {
	if o.Now.IsZero() {
		return invalid("Observation.Now", "zero time (the decision's time must be given)")
	}
	if o.Current < 0 {
		return invalid("Observation.Current", "negative (%d)", o.Current)
	}
	if o.Current > maxReplicasLimit {
		return invalid("Observation.Current", "exceeds %d", maxReplicasLimit)
	}
	return nil
}

// toMilli converts a reading to thousandths; ok is false for NaN,
// infinite, negative or oversized values.
func toMilli(v float64) (int64, bool) {
	if math.IsNaN(v) || v < 0 || v > maxSample {
		return 0, false
	}
	// v×1000 stays below 2^52, where adding one half is exact: this
	// rounds half up like math.Round does for non-negative values.
	return int64(v*1000 + 0.5), true
}

func badSample(what string, v float64) error {
	switch {
	case math.IsNaN(v):
		return unreadable("%s is NaN", what)
	case math.IsInf(v, 0):
		return unreadable("%s is infinite", what)
	case v < 0:
		return unreadable("%s is negative (%g)", what, v)
	default:
		return unreadable("%s is %g, above %g", what, v, float64(maxSample))
	}
}
