package predicttest_test

import (
	"testing"
	"time"

	"github.com/shoalkit/shoal/alertcorr/predict"
	"github.com/shoalkit/shoal/alertcorr/predict/predicttest"
)

// A Source is checked against a query it has data for.
func ExampleSource() {
	src := &predict.PrometheusSource{URL: "http://127.0.0.1:9090"}
	end := time.Now()
	// In the source's own tests:
	testSource := func(t *testing.T) {
		predicttest.Source(t, src, `up`, end.Add(-time.Hour), end, time.Minute)
	}
	_ = testSource
}
