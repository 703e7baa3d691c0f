package autoscale

import (
	"fmt"
	"testing"
	"time"
)

// benchObservation is 1,000 instances, each with a CPU and a connections
// sample, a few of them unready, warming up or missing a sample.
func benchObservation(n int) Observation {
	obs := Observation{Now: t0, Current: n, App: map[string]float64{"tps": 90000}}
	obs.Instances = make([]Instance, n)
	for i := range obs.Instances {
		in := Instance{Name: fmt.Sprintf("app-%04d", i), Ready: i%97 != 0, Started: t0.Add(-time.Hour), SampledAt: t0}
		if i%101 == 0 {
			in.Started = t0.Add(-time.Minute)
		}
		in.Samples = []Sample{
			{Metric: "cpu", Value: 0.3 + float64(i%40)/100, Request: 1, Missing: i%89 == 0},
			{Metric: "conn", Value: float64(400 + i%300)},
		}
		obs.Instances[i] = in
	}
	return obs
}

func benchHistory() *History {
	h := &History{}
	for i := range 20 {
		at := t0.Add(-time.Duration(20-i) * 15 * time.Second)
		h.Recommendations = append(h.Recommendations, Recommendation{At: at, Replicas: 1000 + i%3})
	}
	h.Events = []ScaleEvent{{At: t0.Add(-10 * time.Second), Change: 2}}
	return h
}

// BenchmarkRecommend1000 is one decision over 1,000 instances' CPU
// samples (the Kubernetes default metric).
func BenchmarkRecommend1000(b *testing.B) {
	cfg := DefaultConfig()
	cfg.MaxReplicas = 5000
	cfg.Metrics = []MetricSpec{CPUUtilization(60)}
	obs, h := benchObservation(1000), benchHistory()
	b.ReportAllocs()
	for b.Loop() {
		if _, err := Recommend(&cfg, h, &obs); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkRecommend1000ThreeMetrics adds connections per instance and
// app TPS, as a JD.com-style web app scales.
func BenchmarkRecommend1000ThreeMetrics(b *testing.B) {
	cfg := DefaultConfig()
	cfg.MaxReplicas = 5000
	cfg.Metrics = []MetricSpec{CPUUtilization(60), InstanceAverage("conn", 500), AppAverage("tps", 100)}
	obs, h := benchObservation(1000), benchHistory()
	b.ReportAllocs()
	for b.Loop() {
		if _, err := Recommend(&cfg, h, &obs); err != nil {
			b.Fatal(err)
		}
	}
}
