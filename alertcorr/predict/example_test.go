package predict_test

import (
	"fmt"
	"math"
	"time"

	"github.com/shoalkit/shoal/alertcorr/predict"
)

// A heap with a GC sawtooth that rises 2 MB an hour under a 2,000 MB limit.
func ExampleDetectLeak() {
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	var s []predict.Sample
	for i := range 3 * 24 * 60 {
		m := float64(i)
		s = append(s, predict.Sample{T: t0.Add(time.Duration(i) * time.Minute), V: 1000 + 2*m/60 + 100*math.Mod(m, 5)/5})
	}
	l, _ := predict.DetectLeak(s, 2000, predict.LeakConfig{})
	fmt.Println(l.Leaking, math.Round(l.PerHour), l.Exhaustion.Round(time.Hour))
	// Output: true 2 429h0m0s
}

// Two critical metrics for three samples and a CPU spike of two.
func ExampleScorer_Score() {
	sc, _ := predict.NewScorer(predict.HealthConfig{Checks: []predict.Check{
		{Metric: "cpu", Threshold: 0.9, Severity: predict.Warning},
		{Metric: "mem_free", Threshold: 0.05, Below: true, Severity: predict.Critical},
	}})
	at := func(vs ...float64) []predict.Sample {
		out := make([]predict.Sample, len(vs))
		for i, v := range vs {
			out[i] = predict.Sample{T: time.Unix(int64(60*i), 0), V: v}
		}
		return out
	}
	h := sc.Score(map[string][]predict.Sample{"cpu": at(0.2, 0.99, 0.99), "mem_free": at(0.01, 0.02, 0.01)})
	fmt.Println(h.Score)
	for _, f := range h.Findings {
		fmt.Println(f.Reason)
	}
	// Output:
	// 60
	// cpu > 0.9 for 2 samples, fewer than 3: a spike, ignored
	// mem_free < 0.05 for the last 3 samples (critical, −40)
}
