package predict

import (
	"fmt"
	"math"
	"time"
)

// AnomalyConfig tunes traffic anomaly detection. A zero field takes its
// default.
type AnomalyConfig struct {
	// Season is the period of normal traffic. Default 24 h.
	Season time.Duration
	// Tolerance is how far from the same time in earlier seasons a sample
	// may be before it counts as abnormal. Default 30 min either side.
	Tolerance time.Duration
	// Z is how many robust standard deviations away a sample must be.
	// Default 5.
	Z float64
	// MinRun is how many of the latest samples must be abnormal the same
	// way; fewer is a spike. Default 3.
	MinRun int
	// MinShift is the smallest relative change that counts, however quiet
	// the history. Default 0.2.
	MinShift float64
}

func (c AnomalyConfig) withDefaults() (AnomalyConfig, error) {
	if c.Season < 0 || c.Tolerance < 0 || c.Z < 0 || c.MinRun < 0 || c.MinShift < 0 {
		return c, newError(ErrInvalid, "AnomalyConfig %+v has a negative value", c)
	}
	if c.Season == 0 {
		c.Season = 24 * time.Hour
	}
	if c.Tolerance == 0 {
		c.Tolerance = 30 * time.Minute
	}
	if c.Z == 0 {
		c.Z = 5
	}
	if c.MinRun == 0 {
		c.MinRun = 3
	}
	if c.MinShift == 0 {
		c.MinShift = 0.2
	}
	return c, nil
}

// Anomaly is the verdict on the latest samples of a traffic series.
type Anomaly struct {
	Anomalous bool
	// Expected is what the same time in earlier seasons had (median);
	// Value the latest sample; Z its robust z-score.
	Expected, Value, Z float64
	Reason             string
}

// DetectTrafficAnomaly compares the latest samples with the same time of
// day in the earlier seasons of the series (which must hold at least one
// whole season before them).
func DetectTrafficAnomaly(samples []Sample, cfg AnomalyConfig) (Anomaly, error) {
	cfg, err := cfg.withDefaults()
	if err != nil {
		return Anomaly{}, err
	}
	if err := checkOrder(samples); err != nil {
		return Anomaly{}, err
	}
	if len(samples) < cfg.MinRun || samples[len(samples)-1].T.Sub(samples[0].T) < cfg.Season {
		return Anomaly{}, newError(ErrInvalid, "series of %d samples spans less than a season (%v)", len(samples), cfg.Season)
	}
	var a Anomaly
	dir := 0
	for k := range cfg.MinRun {
		s := samples[len(samples)-1-k]
		med, mad := baseline(samples, s.T, cfg)
		sigma := math.Max(1.4826*mad, 1e-9)
		z := (s.V - med) / sigma
		shift := math.Abs(s.V-med) / math.Max(math.Abs(med), 1e-9)
		d := 0
		if math.Abs(z) >= cfg.Z && shift >= cfg.MinShift {
			d = 1
			if z < 0 {
				d = -1
			}
		}
		if k == 0 {
			a.Expected, a.Value, a.Z = med, s.V, z
			dir = d
		}
		if d == 0 || d != dir {
			a.Reason = fmt.Sprintf("latest %g against %g expected (z %.1f); not %d abnormal samples in a row", a.Value, a.Expected, a.Z, cfg.MinRun)
			return a, nil
		}
	}
	a.Anomalous = true
	word := "above"
	if dir < 0 {
		word = "below"
	}
	a.Reason = fmt.Sprintf("the last %d samples are %s the same time of earlier seasons: %g against %g expected (z %.1f)", cfg.MinRun, word, a.Value, a.Expected, a.Z)
	return a, nil
}

// baseline returns the median and MAD of the samples within Tolerance of
// t minus whole seasons.
func baseline(samples []Sample, t time.Time, cfg AnomalyConfig) (med, mad float64) {
	var vals []float64
	for back := cfg.Season; ; back += cfg.Season {
		at := t.Add(-back)
		if at.Before(samples[0].T.Add(-cfg.Tolerance)) {
			break
		}
		for _, s := range samples {
			if d := s.T.Sub(at); d >= -cfg.Tolerance && d <= cfg.Tolerance {
				vals = append(vals, s.V)
			}
		}
	}
	med = median(vals)
	dev := make([]float64, len(vals))
	for i, v := range vals {
		dev[i] = math.Abs(v - med)
	}
	return med, median(dev)
}
