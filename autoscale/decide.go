package autoscale

import (
	"errors"
	"fmt"
	"math"
	"strings"
	"time"
)

// Rule names a rule that changed or held a decision.
type Rule string

// The rules a decision can be shaped by, in the order they apply.
const (
	RuleAboveMax        Rule = "max-replicas"
	RuleBelowMin        Rule = "min-replicas"
	RuleUnreadable      Rule = "unreadable-metric"
	RuleForecast        Rule = "forecast"
	RuleStabilizeUp     Rule = "scale-up-stabilization"
	RuleStabilizeDown   Rule = "scale-down-stabilization"
	RuleSustainedLow    Rule = "sustained-low"
	RuleIdleBeforeZero  Rule = "idle-before-zero"
	RuleScaleUpLimit    Rule = "scale-up-limit"
	RuleScaleUpPolicy   Rule = "scale-up-policy"
	RuleScaleDownPolicy Rule = "scale-down-policy"
	RuleMigration       Rule = "migration-budget"
)

// Step is one rule's effect on a decision.
type Step struct {
	Rule     Rule
	From, To int
	Why      string
}

// Decision is the outcome of one [Recommend] and its explanation.
type Decision struct {
	// At is Observation.Now.
	At time.Time
	// Current is Observation.Current and Desired the replica count to
	// scale to; Desired is always within [MinReplicas, MaxReplicas].
	Current, Desired int
	// Proposed is the largest proposal of the readable metrics, before
	// any rule; Current when none could be used.
	Proposed int
	// Recommendation is the recommendation recorded for the stabilisation
	// windows; -1 when this decision records none (as Kubernetes when it
	// does not compute one).
	Recommendation int
	// Metrics are each metric's proposal, in Config.Metrics order.
	Metrics []MetricProposal
	// Steps are the rules that changed or held the value, in order.
	Steps []Step
}

// LimitedBy returns the last rule that shaped the decision, or "" when the
// largest proposal was taken as it was.
func (d *Decision) LimitedBy() Rule {
	if len(d.Steps) == 0 {
		return ""
	}
	return d.Steps[len(d.Steps)-1].Rule
}

// Reason says in one line why the decision is what it is.
func (d *Decision) Reason() string {
	if len(d.Steps) > 0 {
		s := d.Steps[len(d.Steps)-1]
		return fmt.Sprintf("%s: %s", s.Rule, s.Why)
	}
	switch {
	case d.Desired > d.Current:
		return fmt.Sprintf("%s above target", d.leader())
	case d.Desired < d.Current:
		return "all metrics below target"
	}
	return "all metrics within tolerance of their targets"
}

func (d *Decision) leader() string {
	best, name := -1, ""
	for i := range d.Metrics {
		if d.Metrics[i].Err == nil && d.Metrics[i].Replicas > best {
			best, name = d.Metrics[i].Replicas, d.Metrics[i].Metric
		}
	}
	return name
}

// String explains the decision over several lines.
func (d *Decision) String() string {
	var b strings.Builder
	fmt.Fprintf(&b, "%s: %d -> %d (%s)\n", d.At.UTC().Format(time.RFC3339), d.Current, d.Desired, d.Reason())
	for i := range d.Metrics {
		m := &d.Metrics[i]
		if m.Err != nil {
			fmt.Fprintf(&b, "  %s: %v\n", m.Metric, m.Err)
			continue
		}
		fmt.Fprintf(&b, "  %s: %.4g vs target %.4g (ratio %.3f) -> %d: %s [ready %d, unready %d, missing %d, ignored %d]",
			m.Metric, m.Value, m.Target, m.Ratio, m.Replicas, m.Note, m.Ready, m.Unready, m.Missing, m.Ignored)
		if m.ForecastReplicas > 0 {
			fmt.Fprintf(&b, "; forecast load %.4g -> %d", m.Forecast, m.ForecastReplicas)
		}
		b.WriteByte('\n')
	}
	for _, s := range d.Steps {
		fmt.Fprintf(&b, "  %s: %d -> %d: %s\n", s.Rule, s.From, s.To, s.Why)
	}
	return b.String()
}

func (d *Decision) step(r Rule, to int, why string, args ...any) {
	d.Steps = append(d.Steps, Step{Rule: r, From: d.Desired, To: to, Why: fmt.Sprintf(why, args...)})
	d.Desired = to
}

// Recommend is the pure decision: from a policy, the history of earlier
// decisions and what is observed now, the replica count to scale to. It
// reads no clock and changes nothing; add the decision to the history
// with [History.Record] (the [Autoscaler] does both). hist may be nil.
//
// It errs, wrapping [ErrInvalid], only on a bad cfg or obs; an unreadable
// metric is reported in the decision instead.
func Recommend(cfg *Config, hist *History, obs *Observation) (Decision, error) {
	if cfg == nil {
		return Decision{}, invalid("Config", "nil")
	}
	if obs == nil {
		return Decision{}, invalid("Observation", "nil")
	}
	if !cfg.defaulted() {
		d := cfg.withDefaults()
		cfg = &d
	}
	if err := cfg.validate(); err != nil {
		return Decision{}, err
	}
	if err := obs.validate(); err != nil {
		return Decision{}, err
	}
	if hist == nil {
		hist = &History{}
	}
	cur := obs.Current
	d := Decision{At: obs.Now, Current: cur, Desired: cur, Proposed: cur, Recommendation: -1}

	// Out of bounds: go straight to the bound, as Kubernetes does.
	if cur > cfg.MaxReplicas {
		d.step(RuleAboveMax, cfg.MaxReplicas, "current %d is above max %d", cur, cfg.MaxReplicas)
		return d, nil
	}
	if cur < cfg.MinReplicas {
		d.step(RuleBelowMin, cfg.MinReplicas, "current %d is below min %d", cur, cfg.MinReplicas)
		return d, nil
	}

	d.Metrics = make([]MetricProposal, len(cfg.Metrics))
	var small [4]perInstance
	var groups []perInstance
	if len(cfg.Metrics) > len(small) {
		groups = make([]perInstance, len(cfg.Metrics))
	} else {
		groups = small[:len(cfg.Metrics)]
	}
	groupAll(cfg, obs, groups)
	invalidCount, proposed := 0, 0
	var firstErr error
	for i := range cfg.Metrics {
		p := propose(&cfg.Metrics[i], groups[i], obs, cfg)
		if p.Err != nil {
			invalidCount++
			if firstErr == nil {
				firstErr = p.Err
			}
		} else if p.Replicas > proposed {
			proposed = p.Replicas
		}
		d.Metrics[i] = p
	}
	if invalidCount == len(cfg.Metrics) {
		d.Steps = append(d.Steps, Step{Rule: RuleUnreadable, From: cur, To: cur, Why: "no metric could be read: " + errText(firstErr)})
		return d, nil
	}
	d.Proposed, d.Desired = proposed, proposed
	if invalidCount > 0 && proposed < cur {
		d.step(RuleUnreadable, cur, "scale-in blocked while a metric cannot be read: %s", errText(firstErr))
		return d, nil
	}

	if cfg.Forecast.Lead > 0 {
		forecast(cfg, hist, obs, &d)
	}
	d.Recommendation = d.Desired

	if cfg.Behavior == nil {
		stabilizeLegacy(cfg, hist, &d)
	} else {
		stabilize(cfg, hist, &d)
	}
	gates(cfg, hist, &d)
	if cfg.Behavior == nil {
		limitLegacy(cfg, &d)
	} else {
		limitRate(cfg, hist, &d)
	}
	if cfg.Migration.BytesPerInstance > 0 {
		limitMigration(cfg, hist, &d)
	}
	// Guard the bounds whatever happened above.
	if d.Desired > cfg.MaxReplicas {
		d.step(RuleAboveMax, cfg.MaxReplicas, "above max %d", cfg.MaxReplicas)
	}
	if d.Desired < cfg.MinReplicas {
		d.step(RuleBelowMin, cfg.MinReplicas, "below min %d", cfg.MinReplicas)
	}
	return d, nil
}

func errText(err error) string {
	return message(err)
}

// recommendations returns the history's recommendations, or the initial
// one Kubernetes records (the current count, now) when there is none.
func recommendations(hist *History, d *Decision) []Recommendation {
	if len(hist.Recommendations) == 0 {
		return []Recommendation{{At: d.At, Replicas: d.Current}}
	}
	return hist.Recommendations
}

// stabilizeLegacy is the behaviour-less path: the highest recommendation
// of the scale-in window.
func stabilizeLegacy(cfg *Config, hist *History, d *Decision) {
	cutoff := d.At.Add(-span(cfg.DownscaleStabilization))
	highest := d.Desired
	for _, r := range recommendations(hist, d) {
		if !r.At.Before(cutoff) && r.Replicas > highest {
			highest = r.Replicas
		}
	}
	if highest != d.Desired {
		d.step(RuleStabilizeDown, highest, "highest recommendation of the last %s", span(cfg.DownscaleStabilization))
	}
}

// stabilize clamps the recommendation between the lowest one of the
// scale-up window and the highest one of the scale-down window.
func stabilize(cfg *Config, hist *History, d *Decision) {
	upWin, downWin := cfg.Behavior.ScaleUp.StabilizationWindow, cfg.Behavior.ScaleDown.StabilizationWindow
	upCut, downCut := d.At.Add(-upWin), d.At.Add(-downWin)
	up, down := d.Desired, d.Desired
	for _, r := range recommendations(hist, d) {
		if r.At.After(upCut) {
			up = min(up, r.Replicas)
		}
		if r.At.After(downCut) {
			down = max(down, r.Replicas)
		}
	}
	x := max(d.Current, up)
	x = min(x, down)
	if x == d.Desired {
		return
	}
	if d.Desired >= d.Current {
		d.step(RuleStabilizeUp, x, "lowest recommendation of the last %s", upWin)
	} else {
		d.step(RuleStabilizeDown, x, "highest recommendation of the last %s", downWin)
	}
}

// gates holds a scale-in the sustained-low rule or the idle-before-zero
// rule does not allow yet.
func gates(cfg *Config, hist *History, d *Decision) {
	if d.Desired < d.Current && cfg.SustainedLow.Window > 0 {
		for i := range cfg.Metrics {
			m := &cfg.Metrics[i]
			if m.LowWater <= 0 {
				continue
			}
			p := &d.Metrics[i]
			low := func(pt Point) bool { return pt.OK && pt.Value < m.LowWater }
			if !heldFor(hist.Points[m.Name], d.At, cfg.SustainedLow.Window, low, low(Point{Value: p.Value, OK: p.Err == nil})) {
				d.step(RuleSustainedLow, d.Current, "%s has not stayed below %g for %s", m.Name, m.LowWater, cfg.SustainedLow.Window)
				return
			}
		}
	}
	if d.Desired == 0 && d.Current > 0 && cfg.ScaleToZero {
		for i := range cfg.Metrics {
			m := &cfg.Metrics[i]
			if m.Kind != KindApp {
				continue
			}
			p := &d.Metrics[i]
			idle := func(pt Point) bool { return pt.OK && pt.Load == 0 }
			if !heldFor(hist.Points[m.Name], d.At, span(cfg.IdleBeforeZero), idle, idle(Point{Load: p.Load, OK: p.Err == nil})) {
				d.step(RuleIdleBeforeZero, 1, "%s has not read 0 for %s", m.Name, span(cfg.IdleBeforeZero))
				return
			}
		}
	}
}

// heldFor reports whether pred held now and for every reading of the last
// window, and for the last reading at or before the window's start.
func heldFor(pts []Point, now time.Time, window time.Duration, pred func(Point) bool, nowHolds bool) bool {
	if !nowHolds {
		return false
	}
	if window <= 0 {
		return true
	}
	cut := now.Add(-window)
	for i := len(pts) - 1; i >= 0; i-- {
		if !pts[i].At.After(cut) {
			return pred(pts[i])
		}
		if !pred(pts[i]) {
			return false
		}
	}
	return false
}

// limitLegacy is Kubernetes' behaviour-less cap: at most max(2×current, 4),
// within min and max.
func limitLegacy(cfg *Config, d *Decision) {
	upLimit := clampCount(max(2*float64(d.Current), 4))
	switch {
	case d.Desired < cfg.MinReplicas:
		d.step(RuleBelowMin, cfg.MinReplicas, "below min %d", cfg.MinReplicas)
	case d.Desired > cfg.MaxReplicas && cfg.MaxReplicas <= upLimit:
		d.step(RuleAboveMax, cfg.MaxReplicas, "above max %d", cfg.MaxReplicas)
	case d.Desired > upLimit:
		d.step(RuleScaleUpLimit, upLimit, "at most max(2×%d, 4) per decision", d.Current)
	}
}

func clampCount(x float64) int {
	switch {
	case math.IsNaN(x) || x < math.MinInt32:
		return math.MinInt32
	case x > maxReplicasLimit:
		return maxReplicasLimit
	}
	return int(x)
}

// changed sums the scale-out and scale-in of the events inside
// (now-period, now].
func changed(events []ScaleEvent, now time.Time, period time.Duration) (added, removed int) {
	cut := now.Add(-period)
	for _, e := range events {
		if !e.At.After(cut) {
			continue
		}
		if e.Change > 0 {
			added += e.Change
		} else {
			removed -= e.Change
		}
	}
	return added, removed
}

// limitRate applies the autoscaling/v2 policies and min/max.
func limitRate(cfg *Config, hist *History, d *Decision) {
	cur := d.Current
	switch {
	case d.Desired > cur:
		rules := &cfg.Behavior.ScaleUp
		limit := cur
		if rules.Select != SelectDisabled {
			limit = math.MinInt
			if rules.Select == SelectMin {
				limit = math.MaxInt
			}
			for _, p := range rules.Policies {
				added, removed := changed(hist.Events, d.At, p.Period)
				start := float64(cur - added + removed)
				var proposed int
				if p.Type == PolicyInstances {
					proposed = clampCount(start + float64(p.Value))
				} else {
					proposed = clampCount(math.Ceil(start * (1 + float64(p.Value)/100)))
				}
				if rules.Select == SelectMin {
					limit = min(limit, proposed)
				} else {
					limit = max(limit, proposed)
				}
			}
		}
		limit = max(limit, cur)
		if cfg.MaxReplicas > limit {
			if d.Desired > limit {
				why := "scale-up policies allow no more this period"
				if rules.Select == SelectDisabled {
					why = "scale-up is disabled"
				}
				d.step(RuleScaleUpPolicy, limit, "%s", why)
			}
		} else if d.Desired > cfg.MaxReplicas {
			d.step(RuleAboveMax, cfg.MaxReplicas, "above max %d", cfg.MaxReplicas)
		}
	case d.Desired < cur:
		rules := &cfg.Behavior.ScaleDown
		limit := cur
		if rules.Select != SelectDisabled {
			limit = math.MaxInt
			if rules.Select == SelectMin {
				limit = math.MinInt
			}
			for _, p := range rules.Policies {
				added, removed := changed(hist.Events, d.At, p.Period)
				start := float64(cur - added + removed)
				var proposed int
				if p.Type == PolicyInstances {
					proposed = clampCount(start - float64(p.Value))
				} else {
					proposed = clampCount(math.Trunc(start * (1 - float64(p.Value)/100)))
				}
				if rules.Select == SelectMin {
					limit = max(limit, proposed)
				} else {
					limit = min(limit, proposed)
				}
			}
		}
		limit = min(limit, cur)
		if cfg.MinReplicas < limit {
			if d.Desired < limit {
				why := "scale-down policies allow no more this period"
				if rules.Select == SelectDisabled {
					why = "scale-down is disabled"
				}
				d.step(RuleScaleDownPolicy, limit, "%s", why)
			}
		} else if d.Desired < cfg.MinReplicas {
			d.step(RuleBelowMin, cfg.MinReplicas, "below min %d", cfg.MinReplicas)
		}
	}
}

// limitMigration caps the step by the migration bandwidth budget.
func limitMigration(cfg *Config, hist *History, d *Decision) {
	m := &cfg.Migration
	budget := m.perPeriod()
	added, removed := changed(hist.Events, d.At, m.Period)
	switch {
	case d.Desired < d.Current:
		allowed := max(budget-removed, 0)
		if d.Current-d.Desired > allowed {
			d.step(RuleMigration, d.Current-allowed, "%d instance(s) per %s fit the migration budget, %d already moved", budget, m.Period, removed)
		}
	case d.Desired > d.Current && m.ScaleOut:
		allowed := max(budget-added, 0)
		if d.Desired-d.Current > allowed {
			d.step(RuleMigration, d.Current+allowed, "%d instance(s) per %s fit the migration budget, %d already moved", budget, m.Period, added)
		}
	}
}

// errNoForecast says the history does not cover what a forecast needs.
var errNoForecast = errors.New("autoscale: not enough history to forecast")

// forecast raises the proposal to what the predicted load needs Lead
// ahead, never lowering it.
func forecast(cfg *Config, hist *History, obs *Observation, d *Decision) {
	best, name := d.Desired, ""
	for i := range cfg.Metrics {
		m := &cfg.Metrics[i]
		p := &d.Metrics[i]
		if p.Err != nil {
			continue
		}
		load, err := predict(&cfg.Forecast, hist.Points[m.Name], obs.Now, p.Load)
		if err != nil {
			continue
		}
		p.Forecast = load
		target := m.targetValue()
		ready := float64(obs.Current)
		if m.Kind == KindApp && m.Target == TargetValue {
			ready = float64(max(p.Ready, 1))
		}
		need := load / target
		if m.Kind == KindApp && m.Target == TargetValue {
			need *= ready
		}
		r := ceilReplicas(need)
		if r > obs.Current && need <= ready*(1+cfg.Tolerance.Up) {
			// Within the scale-out tolerance: hold, do not scale out.
			r = obs.Current
		}
		p.ForecastReplicas = r
		if r > best {
			best, name = r, m.Name
		}
	}
	if best > d.Desired {
		d.step(RuleForecast, best, "%s forecast %s ahead needs more", name, cfg.Forecast.Lead)
	}
}
