package autoscale

import (
	"errors"
	"fmt"
	"math"
	"time"
)

// maxReplicasLimit bounds every replica count, as Kubernetes' int32 does.
const maxReplicasLimit = math.MaxInt32

// maxSample bounds samples and targets so that thousandths stay exact in
// float64 and sums of a thousand of them stay inside int64.
const maxSample = 1e12

// nonNegProblem says what is wrong with v as a finite non-negative number,
// or "".
func nonNegProblem(v float64) string {
	switch {
	case math.IsNaN(v):
		return "NaN"
	case math.IsInf(v, 0):
		return "infinite"
	case v < 0:
		return fmt.Sprintf("negative (%g)", v)
	}
	return ""
}

func checkNonNeg(field string, v float64) error {
	if p := nonNegProblem(v); p != "" {
		return invalid(field, "%s", p)
	}
	return nil
}

func checkDuration(field string, d, limit time.Duration) error {
	if d < 0 {
		return invalid(field, "negative (%s)", d)
	}
	if limit > 0 && d > limit {
		return invalid(field, "%s exceeds %s", d, limit)
	}
	return nil
}

// Validate reports the first problem of c, with its zero fields taken as
// their defaults, as an error wrapping [ErrInvalid] that names the field.
func (c *Config) Validate() error {
	if c.defaulted() {
		return c.validate()
	}
	d := c.withDefaults()
	return d.validate()
}

// validate checks a Config whose defaults are filled in.
func (c *Config) validate() error {
	if c.MaxReplicas == 0 {
		return invalid("MaxReplicas", "required (Kubernetes has no default either): the most instances the app may run")
	}
	if c.MaxReplicas < 1 {
		return invalid("MaxReplicas", "must be at least 1, got %d", c.MaxReplicas)
	}
	if c.MaxReplicas > maxReplicasLimit {
		return invalid("MaxReplicas", "exceeds %d", maxReplicasLimit)
	}
	if c.MinReplicas < 0 {
		return invalid("MinReplicas", "negative (%d)", c.MinReplicas)
	}
	if c.ScaleToZero && c.MinReplicas != 0 {
		return invalid("MinReplicas", "%d with ScaleToZero (leave it 0)", c.MinReplicas)
	}
	if c.MinReplicas > c.MaxReplicas {
		return invalid("MinReplicas", "%d is above MaxReplicas %d", c.MinReplicas, c.MaxReplicas)
	}
	if len(c.Metrics) == 0 {
		return invalid("Metrics", "none configured")
	}
	hasApp, hasLow := false, false
	for i := range c.Metrics {
		if err := c.Metrics[i].validate(i); err != nil {
			return err
		}
		for j := range i {
			if c.Metrics[j].Name == c.Metrics[i].Name {
				return invalid(fmt.Sprintf("Metrics[%d].Name", i), "duplicate %q", c.Metrics[i].Name)
			}
		}
		hasApp = hasApp || c.Metrics[i].Kind == KindApp
		hasLow = hasLow || c.Metrics[i].LowWater > 0
	}
	if c.ScaleToZero && !hasApp {
		return invalid("ScaleToZero", "needs an app metric to wake the app from zero")
	}
	if err := checkNonNeg("Tolerance.Up", c.Tolerance.Up); err != nil {
		return err
	}
	if err := checkNonNeg("Tolerance.Down", c.Tolerance.Down); err != nil {
		return err
	}
	if c.LegacyBehavior && c.Behavior != nil {
		return invalid("Behavior", "set together with LegacyBehavior")
	}
	if c.Behavior != nil {
		if err := c.Behavior.ScaleUp.validate("Behavior.ScaleUp"); err != nil {
			return err
		}
		if err := c.Behavior.ScaleDown.validate("Behavior.ScaleDown"); err != nil {
			return err
		}
	}
	for _, d := range []struct {
		field string
		d     time.Duration
		limit time.Duration
	}{
		{"DownscaleStabilization", span(c.DownscaleStabilization), time.Hour},
		{"SustainedLow.Window", c.SustainedLow.Window, 0},
		{"Migration.Period", c.Migration.Period, 0},
		{"Forecast.Lead", c.Forecast.Lead, 0},
		{"Forecast.Season", c.Forecast.Season, 0},
		{"Forecast.TrendWindow", c.Forecast.TrendWindow, 0},
	} {
		if err := checkDuration(d.field, d.d, d.limit); err != nil {
			return err
		}
	}
	if c.SustainedLow.Window > 0 && !hasLow {
		return invalid("SustainedLow.Window", "set but no metric has a LowWater")
	}
	if c.SustainedLow.Window == 0 && hasLow {
		return invalid("SustainedLow.Window", "a metric has a LowWater but the window is 0")
	}
	if err := c.Migration.validate(); err != nil {
		return err
	}
	if c.Forecast.Lead > 0 && c.Forecast.Season == 0 && c.Forecast.TrendWindow == 0 {
		return invalid("Forecast", "Lead set but neither Season nor TrendWindow")
	}
	return nil
}

func (m *MetricSpec) validate(i int) error {
	if err := m.check(); err != nil {
		// Name the field only on failure: validation runs on every decision.
		var f fieldError
		if errors.As(err, &f) {
			return invalid(fmt.Sprintf("Metrics[%d]%s", i, f.field), "%s", f.msg)
		}
		return err
	}
	return nil
}

// fieldError is a problem in a field of a nested value, named relative to it.
type fieldError struct{ field, msg string }

func (e fieldError) Error() string { return e.field + ": " + e.msg }

func (m *MetricSpec) check() error {
	field := ""
	invalid := func(f, format string, args ...any) error {
		return fieldError{field: f, msg: fmt.Sprintf(format, args...)}
	}
	checkNonNeg := func(f string, v float64) error {
		if p := nonNegProblem(v); p != "" {
			return fieldError{field: f, msg: p}
		}
		return nil
	}
	if m.Name == "" {
		return invalid(field+".Name", "empty")
	}
	switch m.Kind {
	case KindResource, KindInstance, KindApp:
	default:
		return invalid(field+".Kind", "unknown metric kind %d", int(m.Kind))
	}
	switch m.Target {
	case TargetUtilization:
		if m.Kind != KindResource {
			return invalid(field+".Target", "utilization needs a resource metric, not %s", m.Kind)
		}
		if m.Utilization <= 0 {
			return invalid(field+".Utilization", "must be a positive percent, got %d", m.Utilization)
		}
		if m.Utilization > 1e6 {
			return invalid(field+".Utilization", "%d percent is out of range", m.Utilization)
		}
	case TargetAverageValue, TargetValue:
		if m.Target == TargetValue && m.Kind != KindApp {
			return invalid(field+".Target", "value needs an app metric, not %s", m.Kind)
		}
		if err := checkNonNeg(field+".Value", m.Value); err != nil {
			return err
		}
		if m.Value == 0 {
			return invalid(field+".Value", "missing (0)")
		}
		if m.Value > maxSample {
			return invalid(field+".Value", "%g exceeds %g", m.Value, float64(maxSample))
		}
		if math.Round(m.Value*1000) < 1 {
			return invalid(field+".Value", "%g is below the resolution of 0.001", m.Value)
		}
	default:
		return invalid(field+".Target", "unknown target type %d", int(m.Target))
	}
	if err := checkNonNeg(field+".LowWater", m.LowWater); err != nil {
		return err
	}
	if m.LowWater > 0 && m.LowWater >= m.targetValue() {
		return invalid(field+".LowWater", "%g is not below the target %g", m.LowWater, m.targetValue())
	}
	return nil
}

// targetValue is the target in the unit of MetricProposal.Value.
func (m *MetricSpec) targetValue() float64 {
	if m.Target == TargetUtilization {
		return float64(m.Utilization)
	}
	return m.Value
}

func (r *Rules) validate(field string) error {
	if err := checkDuration(field+".StabilizationWindow", r.StabilizationWindow, time.Hour); err != nil {
		return err
	}
	switch r.Select {
	case SelectMax, SelectMin, SelectDisabled:
	default:
		return invalid(field+".Select", "unknown select policy %d", int(r.Select))
	}
	if len(r.Policies) == 0 && r.Select != SelectDisabled {
		return invalid(field+".Policies", "none (use SelectDisabled to forbid changes)")
	}
	for i, p := range r.Policies {
		if p.Type == PolicyInstances || p.Type == PolicyPercent {
			if p.Value > 0 && p.Value <= maxReplicasLimit && p.Period >= time.Second && p.Period <= 30*time.Minute {
				continue
			}
		}
		f := fmt.Sprintf("%s.Policies[%d]", field, i)
		switch p.Type {
		case PolicyInstances, PolicyPercent:
		default:
			return invalid(f+".Type", "unknown policy type %d", int(p.Type))
		}
		if p.Value <= 0 {
			return invalid(f+".Value", "must be positive, got %d", p.Value)
		}
		if p.Value > maxReplicasLimit {
			return invalid(f+".Value", "exceeds %d", maxReplicasLimit)
		}
		if p.Period < time.Second || p.Period > 30*time.Minute {
			return invalid(f+".Period", "%s is outside 1s..30m", p.Period)
		}
	}
	return nil
}

func (m *Migration) validate() error {
	if err := checkNonNeg("Migration.BytesPerInstance", m.BytesPerInstance); err != nil {
		return err
	}
	if err := checkNonNeg("Migration.BytesPerSecond", m.BytesPerSecond); err != nil {
		return err
	}
	if m.BytesPerInstance == 0 {
		return nil
	}
	if m.BytesPerSecond == 0 {
		return invalid("Migration.BytesPerSecond", "missing (0) while BytesPerInstance is set")
	}
	if m.Period <= 0 {
		return invalid("Migration.Period", "missing (0) while BytesPerInstance is set")
	}
	return nil
}

// perPeriod is the number of instances the migration budget allows per
// Period, at least one so that scaling can always progress.
func (m *Migration) perPeriod() int {
	n := math.Floor(m.BytesPerSecond * m.Period.Seconds() / m.BytesPerInstance)
	if n < 1 || math.IsNaN(n) {
		return 1
	}
	if n > maxReplicasLimit {
		return maxReplicasLimit
	}
	return int(n)
}
