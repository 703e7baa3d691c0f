package autoscale

import (
	"slices"
	"time"
)

// Recommendation is one unstabilised recommendation, kept for the
// stabilisation windows.
type Recommendation struct {
	At       time.Time
	Replicas int
}

// ScaleEvent is one change of the replica count, kept for the rate
// policies and the migration budget.
type ScaleEvent struct {
	At time.Time
	// Change is positive for scale-out, negative for scale-in.
	Change int
}

// Point is one metric reading kept for the sustained-low rule, scale-to-zero
// and the forecast.
type Point struct {
	At time.Time
	// Value is MetricProposal.Value and Load MetricProposal.Load.
	Value, Load float64
	// OK is false when the metric could not be read.
	OK bool
}

// History is what the windows remember between decisions. [Recommend]
// only reads it; [History.Record] adds a decision to it. The zero value is
// an empty history.
type History struct {
	Recommendations []Recommendation
	Events          []ScaleEvent
	// Points holds each metric's readings by MetricSpec.Name, oldest first.
	Points map[string][]Point
}

// maxPoints bounds the readings kept per metric.
const maxPoints = 1 << 16

// Clone returns a deep copy of h.
func (h *History) Clone() History {
	c := History{
		Recommendations: slices.Clone(h.Recommendations),
		Events:          slices.Clone(h.Events),
	}
	if h.Points != nil {
		c.Points = make(map[string][]Point, len(h.Points))
		for k, v := range h.Points {
			c.Points[k] = slices.Clone(v)
		}
	}
	return c
}

// Record adds decision d, made under cfg, to h and forgets what no window
// of cfg can look at any more. It assumes the decision was carried out;
// record the decision the caller actually applied.
func (h *History) Record(cfg *Config, d *Decision) {
	if !cfg.defaulted() {
		c := cfg.withDefaults()
		cfg = &c
	}
	if len(h.Recommendations) == 0 {
		// As Kubernetes does on its first look at an autoscaler, the
		// replica count found counts as a recommendation.
		h.Recommendations = append(h.Recommendations, Recommendation{At: d.At, Replicas: d.Current})
	}
	if d.Recommendation >= 0 {
		h.Recommendations = append(h.Recommendations, Recommendation{At: d.At, Replicas: d.Recommendation})
	}
	if d.Desired != d.Current {
		h.Events = append(h.Events, ScaleEvent{At: d.At, Change: d.Desired - d.Current})
	}
	if len(d.Metrics) > 0 && h.Points == nil {
		h.Points = make(map[string][]Point, len(d.Metrics))
	}
	for i := range d.Metrics {
		m := &d.Metrics[i]
		h.Points[m.Metric] = append(h.Points[m.Metric], Point{At: d.At, Value: m.Value, Load: m.Load, OK: m.Err == nil})
	}
	h.prune(cfg, d.At)
}

func (h *History) prune(cfg *Config, now time.Time) {
	recWindow := span(cfg.DownscaleStabilization)
	var eventWindow time.Duration
	if b := cfg.Behavior; b != nil {
		recWindow = max(b.ScaleUp.StabilizationWindow, b.ScaleDown.StabilizationWindow)
		for _, p := range b.ScaleUp.Policies {
			eventWindow = max(eventWindow, p.Period)
		}
		for _, p := range b.ScaleDown.Policies {
			eventWindow = max(eventWindow, p.Period)
		}
	}
	if cfg.Migration.BytesPerInstance > 0 {
		eventWindow = max(eventWindow, cfg.Migration.Period)
	}
	h.Recommendations = dropBefore(h.Recommendations, now.Add(-recWindow), func(r Recommendation) time.Time { return r.At })
	h.Events = dropBefore(h.Events, now.Add(-eventWindow), func(e ScaleEvent) time.Time { return e.At })

	keep := max(cfg.SustainedLow.Window, cfg.Forecast.TrendWindow)
	if cfg.ScaleToZero {
		keep = max(keep, span(cfg.IdleBeforeZero))
	}
	if cfg.Forecast.Lead > 0 && cfg.Forecast.Season > 0 {
		keep = max(keep, cfg.Forecast.Season+cfg.Forecast.Season/8)
	}
	cut := now.Add(-keep)
	for k, pts := range h.Points {
		// Keep one reading at or before the cut: it shows whether a run
		// of low readings began before the window.
		i := 0
		for i+1 < len(pts) && !pts[i+1].At.After(cut) {
			i++
		}
		if len(pts)-i > maxPoints {
			i = len(pts) - maxPoints
		}
		if i > 0 {
			h.Points[k] = slices.Delete(pts, 0, i)
		}
	}
}

// dropBefore removes the leading entries older than cut (entries are in
// time order).
func dropBefore[T any](s []T, cut time.Time, at func(T) time.Time) []T {
	i := 0
	for i < len(s) && at(s[i]).Before(cut) {
		i++
	}
	if i == 0 {
		return s
	}
	return slices.Delete(s, 0, i)
}
