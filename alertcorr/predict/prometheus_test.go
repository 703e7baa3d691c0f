package predict_test

import (
	"testing"
	"time"

	"github.com/shoalkit/shoal/alertcorr/predict"
	"github.com/shoalkit/shoal/alertcorr/predict/predicttest"
	"github.com/shoalkit/shoal/internal/testenv"
)

// The adapter reads series from a real Prometheus that scraped a real
// exporter.
func TestPrometheusSource(t *testing.T) {
	testenv.Require(t, testenv.PrometheusServer, testenv.NodeExporterServer)
	ne := testenv.StartNodeExporter(t)
	ne.WriteTextfile(t, "mem", "app_memory_bytes{app=\"shop\"} 1024\n")
	prom := testenv.StartPrometheus(t, testenv.PrometheusConfig{Targets: []string{ne.Addr}, TargetLabels: map[string]string{"host": "h1"}})
	src := &predict.PrometheusSource{URL: prom.URL}
	start := time.Now()
	deadline := start.Add(60 * time.Second)
	for time.Now().Before(deadline) {
		series, err := src.Range(t.Context(), `app_memory_bytes`, start.Add(-time.Minute), time.Now(), time.Second)
		if err != nil {
			t.Fatal(err)
		}
		if len(series) == 1 && len(series[0].Samples) >= 3 {
			s := series[0]
			if s.Labels["app"] != "shop" || s.Labels["host"] != "h1" || s.Samples[0].V != 1024 {
				t.Fatalf("series %+v", s)
			}
			predicttest.Source(t, src, `app_memory_bytes`, start.Add(-time.Minute), time.Now(), time.Second)
			return
		}
		time.Sleep(500 * time.Millisecond)
	}
	t.Fatal("Prometheus had no 3 samples of app_memory_bytes within 60 s")
}
