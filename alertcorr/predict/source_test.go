package predict

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/shoalkit/shoal/internal/errs"
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
