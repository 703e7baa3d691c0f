package predicttest

import (
	"testing"
	"time"

	"github.com/shoalkit/shoal/alertcorr/predict"
)

// Source checks src with a query that selects data between start and end:
// at least one series, samples strictly in time order, inside the range,
// at no finer resolution than step; and an empty range is refused.
func Source(t *testing.T, src predict.Source, query string, start, end time.Time, step time.Duration) {
	t.Helper()
	series, err := src.Range(t.Context(), query, start, end, step)
	if err != nil {
		t.Fatalf("Range: %v", err)
	}
	if len(series) == 0 {
		t.Fatalf("Range(%q) returned no series", query)
	}
	for _, s := range series {
		for i, p := range s.Samples {
			if p.T.Before(start) || p.T.After(end) {
				t.Errorf("series %v sample %d at %v outside %v..%v", s.Labels, i, p.T, start, end)
			}
			if i > 0 && p.T.Sub(s.Samples[i-1].T) < step {
				t.Errorf("series %v samples %d and %d closer than the step %v", s.Labels, i-1, i, step)
			}
		}
	}
	if _, err := src.Range(t.Context(), query, end, start, step); err == nil {
		t.Error("Range with end before start returned no error")
	}
}
