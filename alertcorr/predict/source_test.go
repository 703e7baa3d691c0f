package predict

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/shoalkit/shoal/internal/errs"
	"github.com/shoalkit/shoal/internal/testenv"
)

const matrix = `{"status":"success","data":{"resultType":"matrix","result":[
 {"metric":{"__name__":"mem","host":"h1"},"values":[[1767225600,"100"],[1767225660.5,"101.5"]]}]}}`

func TestDecodeQueryRange(t *testing.T) {
	s, err := DecodeQueryRange(strings.NewReader(matrix))
	if err != nil {
		t.Fatal(err)
	}
	if len(s) != 1 || s[0].Labels["host"] != "h1" || len(s[0].Samples) != 2 || s[0].Samples[1].V != 101.5 || s[0].Samples[1].T.UnixMilli() != 1767225660500 {
		t.Fatalf("decoded %+v", s)
	}
	bad := []string{
		`{`,
		`{"status":"error","error":"bad query"}`,
		`{"status":"success","data":{"resultType":"vector","result":[]}}`,
		`{"status":"success","data":{"resultType":"matrix","result":[{"metric":{},"values":[[1,"x"]]}]}}`,
		`{"status":"success","data":{"resultType":"matrix","result":[{"metric":{},"values":[["t","1"]]}]}}`,
		`{"status":"success","data":{"resultType":"matrix","result":[{"metric":{},"values":[[1e300,"1"]]}]}}`,
	}
	for _, b := range bad {
		_, err := DecodeQueryRange(strings.NewReader(b))
		if err := errs.CheckShape(err, "predict", ErrInvalid, ErrUnavailable); err != nil {
			t.Errorf("%s: %v", b, err)
		}
	}
}

func FuzzDecodeQueryRange(f *testing.F) {
	f.Add(matrix)
	f.Fuzz(func(t *testing.T, s string) {
		series, err := DecodeQueryRange(strings.NewReader(s))
		if err != nil {
			return
		}
		for _, ser := range series {
			_, _ = DetectLeak(ser.Samples, 0, LeakConfig{})
			_, _ = DetectTrafficAnomaly(ser.Samples, AnomalyConfig{})
		}
	})
}

func TestErrorShape(t *testing.T) {
	_, e1 := NewScorer(HealthConfig{MinRun: -1})
	_, e2 := NewScorer(HealthConfig{Checks: []Check{{Metric: "x"}}})
	_, e3 := DetectLeak([]Sample{{T: t0}, {T: t0}}, 0, LeakConfig{})
	_, e4 := DetectLeak([]Sample{{T: t0}}, 0, LeakConfig{MinTrend: 2})
	_, e5 := DetectTrafficAnomaly([]Sample{{T: t0, V: 1}, {T: t0.Add(time.Minute), V: 1}, {T: t0.Add(2 * time.Minute), V: 1}}, AnomalyConfig{})
	_, e6 := (&PrometheusSource{URL: "http://127.0.0.1:1"}).Range(context.Background(), "up", t0, t0, time.Second)
	for i, err := range []error{e1, e2, e3, e4, e5, e6} {
		if err := errs.CheckShape(err, "predict", ErrInvalid, ErrUnavailable); err != nil {
			t.Errorf("%d: %v", i, err)
		}
	}
}

// The adapter reads series from a real Prometheus that scraped a real
// exporter.
func TestPrometheusSource(t *testing.T) {
	testenv.Require(t, testenv.PrometheusServer, testenv.NodeExporterServer)
	ne := testenv.StartNodeExporter(t)
	ne.WriteTextfile(t, "mem", "app_memory_bytes{app=\"shop\"} 1024\n")
	prom := testenv.StartPrometheus(t, testenv.PrometheusConfig{Targets: []string{ne.Addr}, TargetLabels: map[string]string{"host": "h1"}})
	src := &PrometheusSource{URL: prom.URL}
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
			return
		}
		time.Sleep(500 * time.Millisecond)
	}
	t.Fatal("Prometheus had no 3 samples of app_memory_bytes within 60 s")
}
