package predict

import (
	"math"
	"math/rand/v2"
	"testing"
	"time"
)

var t0 = time.Date(2026, 3, 1, 0, 0, 0, 0, time.UTC)

// memorySeries is a JVM-like heap at 1-minute resolution over days: a
// warm-up, a GC sawtooth, a daily cycle (when days ≥ 2: under two
// seasons a cycle cannot be told from a trend, see DetectLeak), noise, and
// a leak of leakPerDay (a share of the base level) or none; step adds a
// one-off rise (a cache resized) that is not a leak.
func memorySeries(r *rand.Rand, days float64, leakPerDay float64, step bool) []Sample {
	base := 200 + r.Float64()*1800
	warm := time.Duration(20+r.IntN(30)) * time.Minute
	gcPeriod := 2 + r.Float64()*6
	amp := (0.1 + 0.3*r.Float64()) * base
	cycle := 0.25 * r.Float64() * base
	if days < 2 {
		cycle = 0
	}
	phase := r.Float64() * 2 * math.Pi
	stepAt, stepBy := days*24*60*(0.2+0.6*r.Float64()), 0.0
	if step {
		stepBy = 0.08 * base
	}
	n := int(days * 24 * 60)
	out := make([]Sample, n)
	for i := range n {
		m := float64(i)
		level := base + cycle*math.Sin(2*math.Pi*m/1440+phase) + leakPerDay*base*m/1440
		if m >= stepAt {
			level += stepBy
		}
		if w := warm.Minutes(); m < w {
			level *= 0.5 + 0.5*m/w
		}
		saw := amp * math.Mod(m, gcPeriod) / gcPeriod
		out[i] = Sample{T: t0.Add(time.Duration(i) * time.Minute), V: level + saw + r.NormFloat64()*0.01*base}
	}
	return out
}

// threadSeries counts threads: a pool that follows load, noise, and a
// leak of perHour threads or none.
func threadSeries(r *rand.Rand, days, perHour float64) []Sample {
	base := 50 + r.Float64()*450
	cycle := 0.2 * r.Float64() * base
	n := int(days * 24 * 60)
	out := make([]Sample, n)
	for i := range n {
		m := float64(i)
		v := base + cycle*math.Sin(2*math.Pi*m/1440) + perHour*m/60 + r.NormFloat64()*2
		out[i] = Sample{T: t0.Add(time.Duration(i) * time.Minute), V: math.Round(v)}
	}
	return out
}

type confusion struct{ tp, fp, fn, tn int }

func (c *confusion) add(predicted, truth bool) {
	switch {
	case predicted && truth:
		c.tp++
	case predicted:
		c.fp++
	case truth:
		c.fn++
	default:
		c.tn++
	}
}

func (c confusion) precision() float64 { return float64(c.tp) / math.Max(float64(c.tp+c.fp), 1) }
func (c confusion) recall() float64    { return float64(c.tp) / math.Max(float64(c.tp+c.fn), 1) }

func check(t *testing.T, what string, c confusion) {
	t.Helper()
	t.Logf("%s: precision %.3f recall %.3f (%+v)", what, c.precision(), c.recall(), c)
	if c.precision() < 0.9 || c.recall() < 0.9 {
		t.Errorf("%s: precision %.3f, recall %.3f; want both ≥ 0.90", what, c.precision(), c.recall())
	}
}

func TestMemoryLeakPrecisionRecall(t *testing.T) {
	for _, days := range []float64{0.75, 3} {
		r := rand.New(rand.NewPCG(1, uint64(days*100)))
		var c confusion
		for i := range 200 {
			leak := i%2 == 0
			rate := 0.0
			if leak {
				rate = 0.05 + 0.15*r.Float64()
			}
			s := memorySeries(r, days, rate, !leak && i%4 == 1)
			got, err := DetectLeak(s, 0, LeakConfig{})
			if err != nil {
				t.Fatal(err)
			}
			c.add(got.Leaking, leak)
		}
		check(t, "memory leak over "+time.Duration(days*24*float64(time.Hour)).String(), c)
	}
}

func TestThreadLeakPrecisionRecall(t *testing.T) {
	r := rand.New(rand.NewPCG(2, 2))
	var c confusion
	for i := range 200 {
		leak := i%2 == 0
		per := 0.0
		if leak {
			per = 0.5 + 2*r.Float64()
		}
		got, err := DetectLeak(threadSeries(r, 2.5, per), 0, LeakConfig{})
		if err != nil {
			t.Fatal(err)
		}
		c.add(got.Leaking, leak)
	}
	check(t, "thread leak", c)
}

// A clean leak's time to exhaustion is close to the truth.
func TestLeakTimeToExhaustion(t *testing.T) {
	var s []Sample
	for i := range 3 * 24 * 60 {
		m := float64(i)
		s = append(s, Sample{T: t0.Add(time.Duration(i) * time.Minute), V: 1000 + 2*m/60 + 100*math.Mod(m, 5)/5})
	}
	l, err := DetectLeak(s, 2000, LeakConfig{})
	if err != nil {
		t.Fatal(err)
	}
	// Level at the end ≈ 1000 + 2×72 = 1144; (2000−1144)/2 per hour ≈ 428 h.
	if !l.Leaking || math.Abs(l.PerHour-2) > 0.1 || math.Abs(l.Exhaustion.Hours()-428) > 15 {
		t.Fatalf("leak %+v, want 2/h and about 428 h to exhaustion", l)
	}
	t.Log(l.Reason)
}

// trafficSeries is requests per second over days with a daily cycle; the
// last minutes hold an anomaly of factor (1 for none), and spike adds a
// one- or two-sample spike at the end.
func trafficSeries(r *rand.Rand, days float64, lastMin int, factor float64, spike bool) []Sample {
	base := 100 + r.Float64()*5000
	cycle := (0.3 + 0.3*r.Float64()) * base
	n := int(days * 24 * 60)
	out := make([]Sample, n)
	for i := range n {
		m := float64(i)
		v := base + cycle*math.Sin(2*math.Pi*m/1440) + r.NormFloat64()*0.04*base
		if i >= n-lastMin {
			v *= factor
		}
		if spike && i >= n-1-r.IntN(2) {
			v *= 3
		}
		out[i] = Sample{T: t0.Add(time.Duration(i) * time.Minute), V: math.Max(v, 0)}
	}
	return out
}

func TestTrafficAnomalyPrecisionRecall(t *testing.T) {
	r := rand.New(rand.NewPCG(3, 3))
	var c confusion
	for i := range 200 {
		anomalous := i%2 == 0
		factor, last := 1.0, 0
		if anomalous {
			last = 5 + r.IntN(10)
			if r.IntN(2) == 0 {
				factor = 2 + 2*r.Float64()
			} else {
				factor = 0.1 + 0.3*r.Float64()
			}
		}
		got, err := DetectTrafficAnomaly(trafficSeries(r, 3, last, factor, !anomalous && i%4 == 1), AnomalyConfig{})
		if err != nil {
			t.Fatal(err)
		}
		c.add(got.Anomalous, anomalous)
	}
	check(t, "traffic anomaly", c)
}

func TestHealthScore(t *testing.T) {
	sc, err := NewScorer(HealthConfig{Checks: []Check{
		{Metric: "cpu", Threshold: 0.9, Severity: Warning},
		{Metric: "mem_free", Threshold: 0.05, Below: true, Severity: Critical},
		{Metric: "fds", Threshold: 1000, Severity: Info},
		{Metric: "disk", Threshold: 0.95, Severity: Critical},
	}})
	if err != nil {
		t.Fatal(err)
	}
	ser := func(vs ...float64) []Sample {
		out := make([]Sample, len(vs))
		for i, v := range vs {
			out[i] = Sample{T: t0.Add(time.Duration(i) * time.Minute), V: v}
		}
		return out
	}
	tests := []struct {
		name   string
		series map[string][]Sample
		score  float64
	}{
		{"all normal", map[string][]Sample{"cpu": ser(0.5, 0.6), "mem_free": ser(0.5), "fds": ser(10)}, 100},
		{"a two-sample spike is ignored", map[string][]Sample{"cpu": ser(0.5, 0.95, 0.97)}, 100},
		{"three samples count", map[string][]Sample{"cpu": ser(0.5, 0.95, 0.97, 0.99)}, 85},
		{"an old episode is over", map[string][]Sample{"cpu": ser(0.95, 0.97, 0.99, 0.5)}, 100},
		{"more and worse lower it more", map[string][]Sample{"cpu": ser(1, 1, 1), "mem_free": ser(0.01, 0.01, 0.01), "fds": ser(2000, 2000, 2000)}, 40},
		{"floored at zero", map[string][]Sample{"cpu": ser(1, 1, 1), "mem_free": ser(0, 0, 0), "disk": ser(1, 1, 1), "fds": ser(2000, 2000, 2000)}, 0},
	}
	for _, tt := range tests {
		h := sc.Score(tt.series)
		if h.Score != tt.score {
			t.Errorf("%s: score %v, want %v; findings %+v", tt.name, h.Score, tt.score, h.Findings)
		}
	}
	h := sc.Score(map[string][]Sample{"cpu": ser(0.5, 0.95, 0.97)})
	if len(h.Findings) != 1 || h.Findings[0].Points != 0 || h.Findings[0].Reason == "" {
		t.Fatalf("an ignored spike is not explained: %+v", h.Findings)
	}
}
