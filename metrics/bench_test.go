package metrics_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"golang.org/x/sys/unix"

	"github.com/shoalkit/shoal/cgroupx"
	"github.com/shoalkit/shoal/internal/testenv"
	"github.com/shoalkit/shoal/metrics"
	"github.com/shoalkit/shoal/metrics/prom"
)

// benchContainers makes n real cgroups, each with one sleeping process in
// a network namespace of its own, and a collector over them.
func benchContainers(b *testing.B, n int, cfg metrics.Config) *metrics.Collector {
	b.Helper()
	testenv.Require(b, testenv.Cgroups, testenv.Netns)
	c, err := metrics.New(context.Background(), cfg)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { _ = c.Close() })
	for i := range n {
		cg := testenv.NewCgroup(b)
		ns := testenv.NewNetns(b)
		cg.Start(b, "ip", "netns", "exec", ns.Name, "sleep", "1000")
		if err := c.Add(metrics.Target{ID: fmt.Sprintf("c%03d", i), App: "bench", Cgroup: "/" + cg.Name}); err != nil {
			b.Fatal(err)
		}
	}
	// Wait until every container is sampled whole: processes moved into
	// their namespaces, files opened.
	for deadline := time.Now().Add(30 * time.Second); ; {
		s, err := c.Sample(context.Background())
		if err != nil {
			b.Fatal(err)
		}
		ready := len(s.Containers) == n
		for _, cs := range s.Containers {
			ready = ready && cs.Processes.Processes == 1 && len(cs.Net) == 1
		}
		if ready {
			return c
		}
		if time.Now().After(deadline) {
			b.Fatalf("containers not ready: %d sampled, errors %v", len(s.Containers), s.Errors)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// cpuTime is the CPU time this process has used, user and system: steadier
// than wall time on a shared machine.
func cpuTime() time.Duration {
	var ru unix.Rusage
	_ = unix.Getrusage(unix.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// loopSample samples c in b.Loop and reports CPU time per sample.
func loopSample(b *testing.B, sample func() error) {
	b.Helper()
	n, cpu0 := 0, cpuTime()
	for b.Loop() {
		if err := sample(); err != nil {
			b.Fatal(err)
		}
		n++
	}
	b.ReportMetric(float64(cpuTime()-cpu0)/float64(n), "cpu-ns/op")
}

// BenchmarkSampleContainer is a full sample of one container on the
// KeepOpen path: cgroup files, net/dev, sockstat, fds, pids; the node's
// files with it. Disk usage is refreshed once a minute and is measured
// apart (BenchmarkSampleContainerWithDisk).
func BenchmarkSampleContainer(b *testing.B) {
	c := benchContainers(b, 1, metrics.Config{})
	loopSample(b, func() error { _, err := c.Sample(context.Background()); return err })
}

// BenchmarkSampleContainerAllFresh is the same sample with the limits
// (LimitInterval) and open files (FDInterval) read at every sample, as
// every refresh sample does: the cost of the samples between refreshes is
// BenchmarkSampleContainer.
func BenchmarkSampleContainerAllFresh(b *testing.B) {
	c := benchContainers(b, 1, metrics.Config{LimitInterval: -1, FDInterval: time.Nanosecond})
	loopSample(b, func() error { _, err := c.Sample(context.Background()); return err })
}

// BenchmarkSampleContainerVsCgroupx pairs, in each iteration, a full
// sample of one container (and the node) with cgroupx's own KeepOpen
// Sample of the same cgroup (memory, CPUs, CPU time, a thread scan, I/O,
// PSI), and reports the ratio: on a machine whose load changes from
// minute to minute the ratio is the steady figure.
func BenchmarkSampleContainerVsCgroupx(b *testing.B) {
	c := benchContainers(b, 1, metrics.Config{})
	host, err := cgroupx.NewHost(context.Background())
	if err != nil {
		b.Fatal(err)
	}
	cg, err := host.Open(context.Background(), c.Targets()[0].Cgroup)
	if err != nil {
		b.Fatal(err)
	}
	kept := cg.KeepOpen()
	defer kept.Close()
	ctx := context.Background()
	var ours, theirs time.Duration
	for b.Loop() {
		t0 := time.Now()
		if _, err := c.Sample(ctx); err != nil {
			b.Fatal(err)
		}
		t1 := time.Now()
		if _, err := kept.Sample(ctx); err != nil {
			b.Fatal(err)
		}
		ours, theirs = ours+t1.Sub(t0), theirs+time.Since(t1)
	}
	b.ReportMetric(float64(ours)/float64(theirs), "x-cgroupx-sample")
	b.ReportMetric(float64(ours.Nanoseconds())/float64(b.N), "ours-ns/op")
}

// BenchmarkSampleContainerWithDisk refreshes disk usage at every sample
// (mount table and statfs of every mount the container sees).
func BenchmarkSampleContainerWithDisk(b *testing.B) {
	c := benchContainers(b, 1, metrics.Config{DiskInterval: time.Nanosecond})
	loopSample(b, func() error { _, err := c.Sample(context.Background()); return err })
}

// BenchmarkSampleNodeOnly is the node's share of every sample.
func BenchmarkSampleNodeOnly(b *testing.B) {
	c := benchContainers(b, 0, metrics.Config{})
	loopSample(b, func() error { _, err := c.Sample(context.Background()); return err })
}

// BenchmarkScrape100 is a Prometheus scrape of 100 containers: the sample
// and the conversion to metrics, gathered by a registry.
func BenchmarkScrape100(b *testing.B) {
	c := benchContainers(b, 100, metrics.Config{})
	reg := prometheus.NewRegistry()
	if _, err := prom.Register(reg, c, prom.Config{}); err != nil {
		b.Fatal(err)
	}
	loopSample(b, func() error { _, err := reg.Gather(); return err })
}

// BenchmarkSample100 is the sample alone of 100 containers.
func BenchmarkSample100(b *testing.B) {
	c := benchContainers(b, 100, metrics.Config{})
	loopSample(b, func() error { _, err := c.Sample(context.Background()); return err })
}

// BenchmarkScrape100Snapshot is a Prometheus scrape of 100 containers
// that serves the snapshot Collector.Run took (prom.Config.MaxAge), no
// sample: gathered by a registry (gather), or written in the text format
// by the exporter (text, what prom.Exporter.Handler serves).
func BenchmarkScrape100Snapshot(b *testing.B) {
	c := benchContainers(b, 100, metrics.Config{Interval: time.Hour})
	first := runUntilSnapshot(b, c)
	reg := prometheus.NewRegistry()
	exp, err := prom.Register(reg, c, prom.Config{MaxAge: 2 * time.Hour})
	if err != nil {
		b.Fatal(err)
	}
	b.Run("gather", func(b *testing.B) {
		loopSample(b, func() error { _, err := reg.Gather(); return err })
	})
	b.Run("text", func(b *testing.B) {
		loopSample(b, func() error { return exp.WriteText(context.Background(), io.Discard) })
	})
	// No scrape sampled: the next sample is the one after Run's.
	if s, err := c.Sample(context.Background()); err != nil || s.Totals.Samples != first.Totals.Samples+1 {
		b.Fatalf("scrapes sampled: %v %v", s.Totals, err)
	}
}

// runUntilSnapshot runs c.Run until the benchmark ends and returns its
// first snapshot.
func runUntilSnapshot(b *testing.B, c *metrics.Collector) *metrics.Snapshot {
	b.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- c.Run(ctx) }()
	b.Cleanup(func() {
		cancel()
		if err := <-done; !errors.Is(err, context.Canceled) {
			b.Errorf("run: %v", err)
		}
	})
	for deadline := time.Now().Add(30 * time.Second); ; time.Sleep(time.Millisecond) {
		if s := c.Latest(); s != nil {
			return s
		}
		if time.Now().After(deadline) {
			b.Fatal("Run took no snapshot")
		}
	}
}
