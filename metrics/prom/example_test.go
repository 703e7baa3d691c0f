package prom_test

import (
	"context"
	"fmt"
	"os"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/shoalkit/shoal/cgroupx/cgroupxtest"
	"github.com/shoalkit/shoal/metrics"
	"github.com/shoalkit/shoal/metrics/prom"
)

// Register an exporter on a registry of one's own and scrape it.
func Example() {
	dir, _ := os.MkdirTemp("", "prom-example")
	defer os.RemoveAll(dir)
	tree := cgroupxtest.NewAt(dir, cgroupxtest.V2)
	tree.SetMemory("/web-1", cgroupxtest.Memory{Limit: 256 << 20, Usage: 100 << 20, InactiveFile: 30 << 20})
	tree.AddProcess("/web-1", cgroupxtest.Process{PID: 42, Comm: "web"})

	c, err := metrics.New(context.Background(), metrics.Config{Root: dir, DiskInterval: -1})
	if err != nil {
		fmt.Println(err)
		return
	}
	defer c.Close()
	_ = c.Add(metrics.Target{ID: "web-1", App: "web", Cgroup: "/web-1"})

	reg := prometheus.NewRegistry()
	if _, err := prom.Register(reg, c, prom.Config{}); err != nil {
		fmt.Println(err)
		return
	}
	mfs, err := reg.Gather()
	if err != nil {
		fmt.Println(err)
		return
	}
	for _, mf := range mfs {
		if mf.GetName() == "container_memory_working_set_bytes" || mf.GetName() == "container_processes" {
			fmt.Println(mf.GetName(), mf.GetMetric()[0].GetGauge().GetValue())
		}
	}
	// Output:
	// container_memory_working_set_bytes 7.340032e+07
	// container_processes 1
}

// Serve the snapshot of Collector.Run, written straight in the text
// format: a scrape reads no file and builds no dto.Metric.
func ExampleExporter_WriteText() {
	dir, _ := os.MkdirTemp("", "prom-example")
	defer os.RemoveAll(dir)
	tree := cgroupxtest.NewAt(dir, cgroupxtest.V2)
	tree.SetMemory("/web-1", cgroupxtest.Memory{Limit: 256 << 20, Usage: 100 << 20, InactiveFile: 30 << 20})
	tree.AddProcess("/web-1", cgroupxtest.Process{PID: 42, Comm: "web"})

	c, err := metrics.New(context.Background(), metrics.Config{Root: dir, DiskInterval: -1})
	if err != nil {
		fmt.Println(err)
		return
	}
	defer c.Close()
	_ = c.Add(metrics.Target{ID: "web-1", App: "web", Cgroup: "/web-1"})
	ctx, stop := context.WithCancel(context.Background())
	defer stop()
	go func() { _ = c.Run(ctx) }() // samples every 10 s; a scrape serves its last snapshot
	for c.Latest() == nil {
		time.Sleep(time.Millisecond)
	}

	exp, err := prom.New(c, prom.Config{}) // MaxAge 20 s by default
	if err != nil {
		fmt.Println(err)
		return
	}
	// http.Handle("/metrics", exp.Handler(otherRegistry)) serves the same.
	var out strings.Builder
	if err := exp.WriteText(context.Background(), &out); err != nil {
		fmt.Println(err)
		return
	}
	for line := range strings.Lines(out.String()) {
		if strings.HasPrefix(line, "container_memory_working_set_bytes{") || strings.HasPrefix(line, "shoal_metrics_samples_total") {
			fmt.Print(line)
		}
	}
	// Output:
	// container_memory_working_set_bytes{container_label_app="web",id="/web-1",image="",name="web-1"} 7.340032e+07
	// shoal_metrics_samples_total 1
}
