package predict

import (
	"fmt"
	"slices"
)

// Severity weighs an abnormal metric in a health score.
type Severity int

// Severities and what each takes off a score of 100.
const (
	Info     Severity = 1 // 5 points
	Warning  Severity = 2 // 15 points
	Critical Severity = 3 // 40 points
)

// Points is what a metric of this severity takes off the score.
func (s Severity) Points() float64 {
	switch s {
	case Info:
		return 5
	case Warning:
		return 15
	case Critical:
		return 40
	}
	return 0
}

// String names the severity.
func (s Severity) String() string {
	switch s {
	case Info:
		return "info"
	case Warning:
		return "warning"
	case Critical:
		return "critical"
	}
	return fmt.Sprintf("severity(%d)", int(s))
}

// Check says when a metric is abnormal: above Threshold, or below it when
// Below is set.
type Check struct {
	Metric    string
	Threshold float64
	Below     bool
	Severity  Severity
}

// HealthConfig configures a Scorer. MinRun is how many consecutive
// samples, up to the latest, must be abnormal for a metric to count:
// shorter spikes are ignored. Default 3.
type HealthConfig struct {
	Checks []Check
	MinRun int
}

// Scorer scores an entity's health from its metrics.
type Scorer struct {
	checks []Check
	minRun int
}

// NewScorer validates the checks.
func NewScorer(cfg HealthConfig) (*Scorer, error) {
	if cfg.MinRun < 0 {
		return nil, newError(ErrInvalid, "HealthConfig.MinRun %d is negative", cfg.MinRun)
	}
	if cfg.MinRun == 0 {
		cfg.MinRun = 3
	}
	for i, c := range cfg.Checks {
		if c.Metric == "" {
			return nil, newError(ErrInvalid, "check %d has no metric", i)
		}
		if c.Severity.Points() == 0 {
			return nil, newError(ErrInvalid, "check %s has severity %d, not info, warning or critical", c.Metric, int(c.Severity))
		}
	}
	return &Scorer{checks: slices.Clone(cfg.Checks), minRun: cfg.MinRun}, nil
}

// Finding is one metric's part in a score.
type Finding struct {
	Metric   string
	Severity Severity
	// Value is the latest sample; Run how many samples up to it were
	// abnormal in a row.
	Value float64
	Run   int
	// Points is what it took off the score (0 for an ignored spike).
	Points float64
	Reason string
}

// Health is a score from 0 (everything critical) to 100 (nothing
// abnormal), with the findings that explain it.
type Health struct {
	Score    float64
	Findings []Finding // abnormal metrics, counted or ignored, in check order
}

// Score computes the health from series by metric name. A metric without
// samples is not scored.
func (s *Scorer) Score(series map[string][]Sample) Health {
	h := Health{Score: 100}
	for _, c := range s.checks {
		samples := series[c.Metric]
		if len(samples) == 0 {
			continue
		}
		run := 0
		for i := len(samples) - 1; i >= 0; i-- {
			v := samples[i].V
			if (c.Below && v < c.Threshold) || (!c.Below && v > c.Threshold) {
				run++
				continue
			}
			break
		}
		if run == 0 {
			continue
		}
		op := ">"
		if c.Below {
			op = "<"
		}
		f := Finding{Metric: c.Metric, Severity: c.Severity, Value: samples[len(samples)-1].V, Run: run}
		if run < s.minRun {
			f.Reason = fmt.Sprintf("%s %s %g for %d samples, fewer than %d: a spike, ignored", c.Metric, op, c.Threshold, run, s.minRun)
		} else {
			f.Points = c.Severity.Points()
			f.Reason = fmt.Sprintf("%s %s %g for the last %d samples (%s, −%g)", c.Metric, op, c.Threshold, run, c.Severity, f.Points)
			h.Score -= f.Points
		}
		h.Findings = append(h.Findings, f)
	}
	h.Score = max(h.Score, 0)
	return h
}
