package predict

import (
	"fmt"
	"math"
	"slices"
	"time"
)

// LeakConfig tunes leak detection. A zero field takes its default.
type LeakConfig struct {
	// WarmUp is dropped from the start of a series: a process filling its
	// caches after a start is not leaking. Default 1 h.
	WarmUp time.Duration
	// Bucket is the span whose minimum is taken as the level, longer than
	// a GC cycle so the sawtooth's floor is what is followed. Default 30 min.
	Bucket time.Duration
	// Season is the period of daily load. With two seasons of data the
	// trend is measured season over season, which cancels the cycle.
	// Default 24 h.
	Season time.Duration
	// MinTrend is the share of increases among all compared pairs a trend
	// needs (0.5 is chance). Default 0.8.
	MinTrend float64
	// MinGrowth is the growth over the analysed span, relative to the
	// level, below which a trend is not a leak. Default 0.02.
	MinGrowth float64
}

func (c LeakConfig) withDefaults() (LeakConfig, error) {
	if c.WarmUp < 0 || c.Bucket < 0 || c.Season < 0 || c.MinTrend < 0 || c.MinTrend > 1 || c.MinGrowth < 0 {
		return c, newError(ErrInvalid, "LeakConfig %+v has a negative value or MinTrend outside 0..1", c)
	}
	if c.WarmUp == 0 {
		c.WarmUp = time.Hour
	}
	if c.Bucket == 0 {
		c.Bucket = 30 * time.Minute
	}
	if c.Season == 0 {
		c.Season = 24 * time.Hour
	}
	if c.MinTrend == 0 {
		c.MinTrend = 0.8
	}
	if c.MinGrowth == 0 {
		c.MinGrowth = 0.02
	}
	return c, nil
}

// Leak is the verdict on one series: memory, threads, file descriptors —
// anything that should stay level.
type Leak struct {
	Leaking bool
	// PerHour is the growth of the level per hour.
	PerHour float64
	// Trend is the share of increases among the compared pairs.
	Trend float64
	// Level is the latest level (bucket minimum).
	Level float64
	// Exhaustion is when the level reaches the limit at this rate, zero
	// when not leaking or no limit was given.
	Exhaustion time.Duration
	Reason     string
}

type point struct {
	t float64 // hours since the first sample
	v float64
}

// DetectLeak looks for a steady rise of a series' level: the minimum of
// each bucket (the floor of the GC sawtooth) after the warm-up, compared
// season over season when the series spans two seasons (which cancels the
// daily cycle), else by the Theil–Sen slope over the floors — which cannot
// tell a leak from the rising half of a daily cycle, so verdicts on less
// than two seasons hold for series without one. limit (0 for none) gives
// the time to exhaustion.
func DetectLeak(samples []Sample, limit float64, cfg LeakConfig) (Leak, error) {
	cfg, err := cfg.withDefaults()
	if err != nil {
		return Leak{}, err
	}
	if err := checkOrder(samples); err != nil {
		return Leak{}, err
	}
	floors := bucketMin(samples, cfg.WarmUp, cfg.Bucket)
	if len(floors) < 6 {
		return Leak{}, newError(ErrInvalid, "%d buckets of %v after a %v warm-up, need 6", len(floors), cfg.Bucket, cfg.WarmUp)
	}
	var slope, trend float64
	var how string
	span := floors[len(floors)-1].t - floors[0].t
	season := cfg.Season.Hours()
	if span >= 2*season {
		slope, trend = seasonalSlope(floors, season, cfg.Bucket.Hours())
		how = "season over season"
	} else {
		slope, trend = theilSen(floors)
		how = "Theil–Sen over bucket minima"
	}
	vals := make([]float64, len(floors))
	for i, p := range floors {
		vals[i] = p.v
	}
	level := median(vals)
	l := Leak{PerHour: slope, Trend: trend, Level: floors[len(floors)-1].v}
	growth := slope * span
	l.Leaking = slope > 0 && trend >= cfg.MinTrend && growth >= cfg.MinGrowth*math.Max(math.Abs(level), 1e-9)
	l.Reason = fmt.Sprintf("level %g, %+.4g per hour (%s), %.0f%% of pairs rising over %.1f h: growth %.3g against %.3g needed", l.Level, slope, how, 100*trend, span, growth, cfg.MinGrowth*math.Abs(level))
	if l.Leaking && limit > 0 {
		if limit <= l.Level {
			l.Exhaustion = 0
			l.Reason += "; already at the limit"
		} else {
			l.Exhaustion = time.Duration((limit - l.Level) / slope * float64(time.Hour))
			l.Reason += fmt.Sprintf("; reaches %g in %v", limit, l.Exhaustion.Round(time.Minute))
		}
	}
	return l, nil
}

func checkOrder(samples []Sample) error {
	for i := 1; i < len(samples); i++ {
		if !samples[i].T.After(samples[i-1].T) {
			return newError(ErrInvalid, "sample %d at %s not after the one before", i, samples[i].T.Format(time.RFC3339))
		}
		if math.IsNaN(samples[i].V) || math.IsInf(samples[i].V, 0) {
			return newError(ErrInvalid, "sample %d is %v", i, samples[i].V)
		}
	}
	return nil
}

// bucketMin returns the minimum of each bucket after the warm-up.
func bucketMin(samples []Sample, warmUp, bucket time.Duration) []point {
	if len(samples) == 0 {
		return nil
	}
	t0 := samples[0].T
	start := t0.Add(warmUp)
	var out []point
	cur := int64(-1)
	for _, s := range samples {
		if s.T.Before(start) {
			continue
		}
		b := int64(s.T.Sub(start) / bucket)
		if b != cur {
			mid := start.Add(time.Duration(b)*bucket + bucket/2)
			out = append(out, point{t: mid.Sub(t0).Hours(), v: s.V})
			cur = b
			continue
		}
		out[len(out)-1].v = math.Min(out[len(out)-1].v, s.V)
	}
	return out
}

// theilSen returns the median pairwise slope and the share of rising
// pairs among the pairs that changed.
func theilSen(ps []point) (slope, trend float64) {
	if len(ps) > 600 {
		ps = thin(ps, 600)
	}
	slopes := make([]float64, 0, len(ps)*(len(ps)-1)/2)
	up, changed := 0, 0
	for i := range ps {
		for j := i + 1; j < len(ps); j++ {
			d := ps[j].v - ps[i].v
			slopes = append(slopes, d/(ps[j].t-ps[i].t))
			if d != 0 {
				changed++
				if d > 0 {
					up++
				}
			}
		}
	}
	if changed > 0 {
		trend = float64(up) / float64(changed)
	}
	return median(slopes), trend
}

// seasonalSlope compares each bucket with the same bucket one season
// later: the median difference per hour, and the share that rose.
func seasonalSlope(ps []point, season, bucket float64) (slope, trend float64) {
	lag := int(math.Round(season / bucket))
	byIdx := map[int]float64{}
	t0 := ps[0].t
	for _, p := range ps {
		byIdx[int(math.Round((p.t-t0)/bucket))] = p.v
	}
	var diffs []float64
	up, changed := 0, 0
	for i, v := range byIdx {
		w, ok := byIdx[i+lag]
		if !ok {
			continue
		}
		d := w - v
		diffs = append(diffs, d/season)
		if d != 0 {
			changed++
			if d > 0 {
				up++
			}
		}
	}
	if changed > 0 {
		trend = float64(up) / float64(changed)
	}
	return median(diffs), trend
}

func thin(ps []point, n int) []point {
	out := make([]point, n)
	for i := range out {
		out[i] = ps[i*len(ps)/n]
	}
	return out
}

func median(v []float64) float64 {
	if len(v) == 0 {
		return 0
	}
	s := slices.Clone(v)
	slices.Sort(s)
	if len(s)%2 == 1 {
		return s[len(s)/2]
	}
	return (s[len(s)/2-1] + s[len(s)/2]) / 2
}
