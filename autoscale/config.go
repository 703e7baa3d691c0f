package autoscale

import (
	"fmt"
	"time"
)

// MetricKind says where a metric's samples come from.
type MetricKind int

const (
	// KindResource is a per-instance resource (CPU, memory) that has a
	// request, so it can be targeted as an integer percent of the request
	// (Kubernetes "Resource" metrics).
	KindResource MetricKind = iota + 1
	// KindInstance is a per-instance metric without a request: connections
	// or TPS of each instance (Kubernetes "Pods" metrics).
	KindInstance
	// KindApp is one value for the whole app: total TPS, queue length
	// (Kubernetes "Object" and "External" metrics).
	KindApp
)

// String returns the kind's name.
func (k MetricKind) String() string {
	switch k {
	case KindResource:
		return "resource"
	case KindInstance:
		return "instance"
	case KindApp:
		return "app"
	default:
		return fmt.Sprintf("MetricKind(%d)", int(k))
	}
}

// TargetType says how a metric's target is expressed.
type TargetType int

const (
	// TargetUtilization is an integer percent of the instances' requests;
	// only for [KindResource].
	TargetUtilization TargetType = iota + 1
	// TargetAverageValue is a value per instance: the average over the
	// instances for per-instance metrics, the app value divided by the
	// replica count for [KindApp].
	TargetAverageValue
	// TargetValue is a value for the whole app; only for [KindApp].
	TargetValue
)

// String returns the target type's name.
func (t TargetType) String() string {
	switch t {
	case TargetUtilization:
		return "utilization"
	case TargetAverageValue:
		return "average-value"
	case TargetValue:
		return "value"
	default:
		return fmt.Sprintf("TargetType(%d)", int(t))
	}
}

// MetricSpec is one metric the app scales on.
type MetricSpec struct {
	// Name identifies the metric; per-instance samples and app values are
	// matched to it by this name.
	Name string
	// Kind says where the samples come from.
	Kind MetricKind
	// Target says how the target is expressed.
	Target TargetType
	// Utilization is the target percent of the request for
	// [TargetUtilization] (Kubernetes averageUtilization; may exceed 100).
	Utilization int
	// Value is the target for [TargetAverageValue] and [TargetValue], in the
	// metric's own unit.
	Value float64
	// IgnoreUnready leaves out the samples of instances that are not ready
	// or still warming up, as Kubernetes does for CPU only (see
	// [Instance.WarmingUp]). [CPUUtilization] sets it.
	IgnoreUnready bool
	// LowWater is the sustained-low threshold in the metric's value unit
	// (percent for utilisation): with [SustainedLow] set, the app scales in
	// only after every sample of this metric in the window stayed below
	// it. 0 means this metric does not gate scale-in.
	LowWater float64
}

// CPUUtilization is the Kubernetes default metric: CPU as an integer
// percent of the request, samples of unready or warming-up instances left
// out.
func CPUUtilization(percent int) MetricSpec {
	return MetricSpec{Name: "cpu", Kind: KindResource, Target: TargetUtilization, Utilization: percent, IgnoreUnready: true}
}

// InstanceAverage targets an average value per instance of a per-instance
// metric such as connections or TPS.
func InstanceAverage(name string, perInstance float64) MetricSpec {
	return MetricSpec{Name: name, Kind: KindInstance, Target: TargetAverageValue, Value: perInstance}
}

// AppValue targets a whole-app value such as queue length or latency.
func AppValue(name string, value float64) MetricSpec {
	return MetricSpec{Name: name, Kind: KindApp, Target: TargetValue, Value: value}
}

// AppAverage targets a whole-app value shared out per instance, such as
// total TPS with a per-instance budget.
func AppAverage(name string, perInstance float64) MetricSpec {
	return MetricSpec{Name: name, Kind: KindApp, Target: TargetAverageValue, Value: perInstance}
}

// Tolerances is the dead band around the target inside which nothing moves:
// no scale-out while metric/target <= 1+Up, no scale-in while
// metric/target >= 1-Down.
type Tolerances struct {
	// Up is the scale-out tolerance (Kubernetes default 0.1).
	Up float64
	// Down is the scale-in tolerance (Kubernetes default 0.1).
	Down float64
}

func (t Tolerances) within(ratio float64) bool {
	return 1-t.Down <= ratio && ratio <= 1+t.Up
}

// PolicyType is the unit of a rate policy.
type PolicyType int

const (
	// PolicyInstances limits the change to a number of instances per period
	// (Kubernetes "Pods").
	PolicyInstances PolicyType = iota + 1
	// PolicyPercent limits the change to a percent of the replica count at
	// the start of the period (Kubernetes "Percent").
	PolicyPercent
)

// Policy is one rate limit: at most Value instances or percent per Period.
type Policy struct {
	// Type is the unit of Value.
	Type PolicyType
	// Value is the number of instances or the percent; must be > 0.
	Value int
	// Period is the sliding window the change is counted over; 1 s to 30 min
	// as in Kubernetes.
	Period time.Duration
}

// Select says which policy wins when several apply.
type Select int

const (
	// SelectMax allows the largest change of all policies (the Kubernetes
	// default). The zero value means SelectMax.
	SelectMax Select = iota
	// SelectMin allows the smallest change.
	SelectMin
	// SelectDisabled forbids any change in this direction.
	SelectDisabled
)

// Rules is the behaviour of one direction (autoscaling/v2 HPAScalingRules).
type Rules struct {
	// StabilizationWindow: scale-out uses the lowest and scale-in the
	// highest recommendation of this window (0 to 1 h).
	StabilizationWindow time.Duration
	// Select picks among Policies.
	Select Select
	// Policies limit the rate of change; at least one unless Select is
	// SelectDisabled.
	Policies []Policy
}

// Behavior is the autoscaling/v2 behavior: rules for each direction.
type Behavior struct {
	// ScaleUp rules the scale-out.
	ScaleUp Rules
	// ScaleDown rules the scale-in.
	ScaleDown Rules
}

// DefaultBehavior returns exactly what Kubernetes fills in for a spec with
// an empty behavior: scale-out with no stabilisation and at most 4
// instances or 100 % per 15 s, whichever is more; scale-in with a 300 s
// stabilisation window and at most 100 % per 15 s.
func DefaultBehavior() *Behavior {
	return &Behavior{
		ScaleUp: Rules{
			StabilizationWindow: 0,
			Select:              SelectMax,
			Policies: []Policy{
				{Type: PolicyInstances, Value: 4, Period: 15 * time.Second},
				{Type: PolicyPercent, Value: 100, Period: 15 * time.Second},
			},
		},
		ScaleDown: Rules{
			StabilizationWindow: 300 * time.Second,
			Select:              SelectMax,
			Policies: []Policy{
				{Type: PolicyPercent, Value: 100, Period: 15 * time.Second},
			},
		},
	}
}

// SustainedLow is the cache-cluster rule: scale in only after every sample
// of every metric with a LowWater stayed below it for Window. Scale-out
// keeps the normal tolerance, so the dead band for scale-out (target ×
// (1+Tolerances.Up)) and the one for scale-in (LowWater, sustained) are set
// apart.
type SustainedLow struct {
	// Window is how long the metrics must stay low; 0 disables the rule.
	Window time.Duration
}

// Migration caps each step by a data-migration bandwidth budget: moving
// BytesPerInstance at BytesPerSecond allows
// max(1, floor(BytesPerSecond × Period / BytesPerInstance)) instances per
// Period. It always caps scale-in (data leaves the removed instances) and
// also caps scale-out when ScaleOut is set (data rebalances onto new ones).
type Migration struct {
	// BytesPerInstance is the data to move per instance added or removed;
	// 0 disables the cap.
	BytesPerInstance float64
	// BytesPerSecond is the migration rate allowed.
	BytesPerSecond float64
	// Period is the window the budget is counted over.
	Period time.Duration
	// ScaleOut applies the cap to scale-out too.
	ScaleOut bool
}

// Forecast scales out ahead of load predicted from the app's own history:
// the same moment one Season ago (the level now plus the change seen then)
// and the linear trend over TrendWindow, both Lead ahead. A forecast only
// ever raises the proposal; it never scales in on its own.
type Forecast struct {
	// Lead is how far ahead to provision (instance start-up plus warm-up);
	// 0 disables forecasting.
	Lead time.Duration
	// Season is the seasonal period (for example 24 h); 0: no seasonal term.
	Season time.Duration
	// TrendWindow is the window the trend is fitted over; 0: no trend term.
	TrendWindow time.Duration
}

// Config is the scaling policy of one app. Start from [DefaultConfig]. A
// zero field takes its documented default, except MaxReplicas and
// Metrics, which have none: a Config without them is refused, naming the
// field. (Forgetting MaxReplicas must not scale a 50-instance app to an
// unasked-for 10.)
type Config struct {
	// MinReplicas is the floor (default 1, as Kubernetes, when 0). To let
	// the app scale to zero, set ScaleToZero and leave MinReplicas 0.
	MinReplicas int
	// ScaleToZero lets the app scale to 0 instances after every app metric
	// read 0 for IdleBeforeZero, and wakes it on an app metric (Kubernetes'
	// HPAScaleToZero with minReplicas 0). It needs a [KindApp] metric.
	// Default false.
	ScaleToZero bool
	// MaxReplicas is the ceiling. Required, as in Kubernetes: 0 is refused.
	MaxReplicas int
	// Metrics are the metrics scaled on; the largest proposal wins.
	// Required: at least one.
	Metrics []MetricSpec
	// Tolerance is the dead band. Default (nil) 0.1 up and down, as
	// Kubernetes; a non-nil value is used as it is, so &Tolerances{} scales
	// on any deviation.
	Tolerance *Tolerances
	// Behavior is the autoscaling/v2 behavior. Default (nil)
	// [DefaultBehavior], what Kubernetes fills in for an empty behavior. A
	// non-nil Behavior is used as it is: each direction needs its policies
	// (or SelectDisabled), and a zero StabilizationWindow is no window.
	Behavior *Behavior
	// LegacyBehavior reproduces a Kubernetes spec without behavior instead
	// of Behavior: scale-out capped at max(2×current, 4) per decision and
	// scale-in stabilised over DownscaleStabilization. Behavior must then
	// be nil. The default (false) uses Behavior, whose caps are per period
	// rather than per decision and so do not depend on how often Recommend
	// is called.
	LegacyBehavior bool
	// DownscaleStabilization is the scale-in window of LegacyBehavior
	// (default 300 s, the kube-controller-manager default, when 0).
	//
	// For this and the durations below, 0 means the default and a negative
	// value means none (0 s), as net.Dialer's KeepAlive.
	DownscaleStabilization time.Duration
	// StartupPeriod is how long after start an instance's samples may still
	// carry start-up spikes (default 5 min when 0, none when negative;
	// Kubernetes --horizontal-pod-autoscaler-cpu-initialization-period).
	StartupPeriod time.Duration
	// InitialReadinessDelay is how long after start a readiness change still
	// counts as the first one (default 30 s when 0, none when negative;
	// Kubernetes --horizontal-pod-autoscaler-initial-readiness-delay).
	InitialReadinessDelay time.Duration
	// SampleWindow is the window a per-instance sample is averaged over
	// (default 30 s when 0, none when negative); a sample taken less than
	// one window after the instance became ready still contains unready
	// time.
	SampleWindow time.Duration
	// SustainedLow gates scale-in (default off).
	SustainedLow SustainedLow
	// Migration caps steps by a bandwidth budget (default off).
	Migration Migration
	// IdleBeforeZero is how long every app metric must have read 0 before
	// the app is scaled to zero (default 5 min when 0, none when negative;
	// only with ScaleToZero).
	IdleBeforeZero time.Duration
	// Forecast scales out ahead of predicted load (default off).
	Forecast Forecast
}

// DefaultConfig returns the defaults: min 1, tolerance 0.1 each way, the
// autoscaling/v2 default behavior, 300 s legacy scale-in stabilisation,
// 5 min start-up period, 30 s initial readiness delay, 30 s sample window,
// 5 min idle before zero; scale-to-zero, sustained-low, migration cap and
// forecast off. MaxReplicas and Metrics have no default: set them.
func DefaultConfig() Config {
	return Config{
		MinReplicas:            1,
		Tolerance:              &Tolerances{Up: 0.1, Down: 0.1},
		Behavior:               DefaultBehavior(),
		DownscaleStabilization: 300 * time.Second,
		StartupPeriod:          5 * time.Minute,
		InitialReadinessDelay:  30 * time.Second,
		SampleWindow:           30 * time.Second,
		IdleBeforeZero:         5 * time.Minute,
	}
}

// span returns a duration field's effective value: a negative one means
// none.
func span(d time.Duration) time.Duration { return max(d, 0) }

// withDefaults returns c with its zero fields filled from DefaultConfig:
// the policy Recommend runs. MinReplicas stays 0 only with ScaleToZero, and
// Behavior nil only with LegacyBehavior. c's slices and pointers are
// shared, not copied.
func (c Config) withDefaults() Config {
	d := DefaultConfig()
	if c.MinReplicas == 0 && !c.ScaleToZero {
		c.MinReplicas = d.MinReplicas
	}
	if c.Tolerance == nil {
		c.Tolerance = d.Tolerance
	}
	if c.Behavior == nil && !c.LegacyBehavior {
		c.Behavior = d.Behavior
	}
	for _, f := range []struct{ p, def *time.Duration }{
		{&c.DownscaleStabilization, &d.DownscaleStabilization},
		{&c.StartupPeriod, &d.StartupPeriod},
		{&c.InitialReadinessDelay, &d.InitialReadinessDelay},
		{&c.SampleWindow, &d.SampleWindow},
		{&c.IdleBeforeZero, &d.IdleBeforeZero},
	} {
		if *f.p == 0 {
			*f.p = *f.def
		}
	}
	return c
}

// defaulted reports whether c needs no defaults filled in, so that the
// decision path can use it without a copy.
func (c *Config) defaulted() bool {
	return (c.MinReplicas != 0 || c.ScaleToZero) && c.Tolerance != nil &&
		(c.Behavior != nil || c.LegacyBehavior) && c.DownscaleStabilization != 0 &&
		c.StartupPeriod != 0 && c.InitialReadinessDelay != 0 && c.SampleWindow != 0 && c.IdleBeforeZero != 0
}
