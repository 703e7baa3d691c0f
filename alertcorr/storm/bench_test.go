package storm_test

import (
	"context"
	"fmt"
	"runtime"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/shoalkit/shoal/alertcorr"
	"github.com/shoalkit/shoal/alertcorr/storm"
)

// bigStorm is the scale: 10,000 hosts, 1,000,000 containers,
// 5,000 apps, with app, host and switch faults, noise, 5 % missing.
func bigStorm(b *testing.B) (*storm.Storm, *alertcorr.Topology) {
	b.Helper()
	s, err := storm.Generate(storm.Config{
		Seed: 42, Hosts: 10_000, ContainersPerHost: 100, Apps: 5_000,
		AppFaults: 5, HostFaults: 50, SwitchFaults: 5, Noise: 2_000, Missing: 0.05, Jitter: 20 * time.Second,
	})
	if err != nil {
		b.Fatal(err)
	}
	tp := alertcorr.NewTopology()
	if err := tp.Load(context.Background(), s); err != nil {
		b.Fatal(err)
	}
	return s, tp
}

// BenchmarkIngest measures ingesting first-time alerts of a storm, one
// call per alert, into an engine with the 1M-entity topology loaded. It
// reports alerts/s, the 99th percentile per alert and the heap in use
// with the topology and one storm's alerts held.
func BenchmarkIngest(b *testing.B) {
	s, tp := bigStorm(b)
	alerts := make([]alertcorr.Alert, len(s.Alerts))
	for i, a := range s.Alerts {
		alerts[i] = a.Alert
	}
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	newEngine := func() *alertcorr.Engine {
		e, err := alertcorr.New(alertcorr.Config{Topology: tp, Now: func() time.Time { return now }})
		if err != nil {
			b.Fatal(err)
		}
		return e
	}
	e := newEngine()
	lat := make([]time.Duration, 0, 1<<20)
	i := 0
	cpu0, _ := processCPU()
	var setupCPU time.Duration
	for b.Loop() {
		if i == len(alerts) {
			c0, _ := processCPU()
			b.StopTimer()
			_ = e.Close()
			e, i = newEngine(), 0
			c1, _ := processCPU()
			setupCPU += c1 - c0
			b.StartTimer()
		}
		t0 := time.Now()
		if err := e.Ingest(alerts[i]); err != nil {
			b.Fatal(err)
		}
		if len(lat) < cap(lat) {
			lat = append(lat, time.Since(t0))
		}
		i++
	}
	b.StopTimer()
	reportRates(b, cpu0, setupCPU)
	slices.Sort(lat)
	b.ReportMetric(float64(lat[len(lat)*99/100].Nanoseconds()), "p99-ns")
	// Fill the engine with the whole storm and measure the heap.
	for ; i < len(alerts); i++ {
		_ = e.Ingest(alerts[i])
	}
	runtime.GC()
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	b.ReportMetric(float64(m.HeapInuse)/(1<<20), "heap-MiB")
	b.ReportMetric(float64(len(alerts)), "storm-alerts")
	runtime.KeepAlive(tp)
	_ = e.Close()
}

// BenchmarkIngestRepeat measures alerts sent again unchanged, as
// Prometheus re-sends every firing alert each evaluation.
func BenchmarkIngestRepeat(b *testing.B) {
	s, tp := bigStorm(b)
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	e, err := alertcorr.New(alertcorr.Config{Topology: tp, Now: func() time.Time { return now }})
	if err != nil {
		b.Fatal(err)
	}
	defer e.Close()
	for _, a := range s.Alerts {
		_ = e.Ingest(a.Alert)
	}
	i := 0
	cpu0, _ := processCPU()
	for b.Loop() {
		if err := e.Ingest(s.Alerts[i%len(s.Alerts)].Alert); err != nil {
			b.Fatal(err)
		}
		i++
	}
	reportRates(b, cpu0, 0)
}

// reportRates reports what an alert costs: CPU per alert (all threads, GC
// included) and the rate one core sustains at that cost, beside the wall
// clock rate, which on a shared machine says more about the neighbours.
func reportRates(b *testing.B, cpu0, excluded time.Duration) {
	if cpu, ok := processCPU(); ok {
		perAlert := float64(cpu-cpu0-excluded) / float64(b.N)
		b.ReportMetric(perAlert, "cpu-ns/op")
		b.ReportMetric(1e9/perAlert, "alerts/cpu-s")
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "alerts/s-wall")
}

// BenchmarkIngestParallel measures first-time alerts sent by GOMAXPROCS
// senders at once into one engine with the 1M-entity topology: the cost
// of the lock they share shows as CPU per alert above Ingest's and as a
// wall rate below GOMAXPROCS times Ingest's.
func BenchmarkIngestParallel(b *testing.B) {
	s, tp := bigStorm(b)
	alerts := make([]alertcorr.Alert, len(s.Alerts))
	for i, a := range s.Alerts {
		alerts[i] = a.Alert
	}
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	// Enough engines that no sender runs out of new alerts: each round of
	// len(alerts) ingests goes to a fresh one.
	var mu sync.Mutex
	var e *alertcorr.Engine
	var next atomic.Int64
	newEngine := func() *alertcorr.Engine {
		en, err := alertcorr.New(alertcorr.Config{Topology: tp, Now: func() time.Time { return now }})
		if err != nil {
			b.Fatal(err)
		}
		return en
	}
	e = newEngine()
	b.ResetTimer() // the storm and its topology are not what is measured
	cpu0, _ := processCPU()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			i := next.Add(1) - 1
			k := int(i % int64(len(alerts)))
			mu.Lock()
			if k == 0 && i > 0 {
				e = newEngine()
			}
			en := e
			mu.Unlock()
			if err := en.Ingest(alerts[k]); err != nil {
				b.Error(err)
				return
			}
		}
	})
	b.StopTimer()
	reportRates(b, cpu0, 0)
	runtime.KeepAlive(tp)
}

// BenchmarkCorrelate measures one correlation of a whole storm over the
// 1M-entity topology, and reports the scores it reached.
func BenchmarkCorrelate(b *testing.B) {
	s, tp := bigStorm(b)
	start := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	var sc storm.Score
	for b.Loop() {
		b.StopTimer()
		now := start
		e, err := alertcorr.New(alertcorr.Config{Topology: tp, Now: func() time.Time { return now }})
		if err != nil {
			b.Fatal(err)
		}
		for _, a := range s.Alerts {
			_ = e.Ingest(a.Alert)
		}
		now = start.Add(time.Minute)
		b.StartTimer()
		if err := e.Advance(context.Background(), now); err != nil {
			b.Fatal(err)
		}
		b.StopTimer()
		sc = s.Score(e.Incidents())
		_ = e.Close()
		b.StartTimer()
	}
	b.ReportMetric(float64(sc.Alerts), "alerts")
	b.ReportMetric(sc.Compression*100, "compression-%")
	b.ReportMetric(sc.Top1*100, "top1-%")
	b.ReportMetric(sc.F1, "F1")
}

// BenchmarkCorrelateWave measures a correlation round after a small wave
// arrives while the big storm is open: one host fails (its own alert and
// ten of its containers'), on a host the storm left alone. Each round has
// to place 11 new alerts among 46,581 held ones; a full recompute solves
// them all again, an incremental one only the region they can reach.
func BenchmarkCorrelateWave(b *testing.B) {
	s, tp := bigStorm(b)
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	e, err := alertcorr.New(alertcorr.Config{Topology: tp, Now: func() time.Time { return now }, ResolveTimeout: 1000 * time.Hour})
	if err != nil {
		b.Fatal(err)
	}
	defer e.Close()
	for _, a := range s.Alerts {
		_ = e.Ingest(a.Alert)
	}
	now = now.Add(time.Minute)
	if err := e.Advance(context.Background(), now); err != nil {
		b.Fatal(err)
	}
	busy := map[string]bool{}
	for _, a := range s.Alerts {
		for _, k := range []string{"host", "container"} {
			if v := a.Alert.Labels[k]; v != "" {
				busy[strings.SplitN(v, "-", 2)[0]] = true
			}
		}
	}
	host := 0
	var cpu time.Duration
	for b.Loop() {
		b.StopTimer()
		for busy[fmt.Sprintf("h%d", host)] {
			host++
		}
		h := fmt.Sprintf("h%d", host)
		host++
		wave := []alertcorr.Alert{{Labels: alertcorr.Labels{"alertname": "HostDiskFailing", "host": h}}}
		for c := range 10 {
			wave = append(wave, alertcorr.Alert{Labels: alertcorr.Labels{"alertname": "ContainerDown", "container": fmt.Sprintf("%s-c%d", h, c)}})
		}
		if err := e.Ingest(wave...); err != nil {
			b.Fatal(err)
		}
		now = now.Add(time.Minute)
		c0, _ := processCPU()
		b.StartTimer()
		if err := e.Advance(context.Background(), now); err != nil {
			b.Fatal(err)
		}
		b.StopTimer()
		c1, _ := processCPU()
		cpu += c1 - c0
		b.StartTimer()
	}
	b.ReportMetric(float64(cpu.Nanoseconds())/float64(b.N), "cpu-ns/op")
	b.ReportMetric(float64(len(e.Incidents())), "open-incidents")
}
