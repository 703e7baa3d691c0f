package autoscale

import (
	"errors"
	"reflect"
	"strings"
	"testing"
	"time"
)

// A zero Config is refused for what has no default, naming the field;
// every other zero field is its documented default.
func TestZeroConfig(t *testing.T) {
	if _, err := New(Config{}); !errors.Is(err, ErrInvalid) || !strings.HasPrefix(err.Error(), "autoscale: MaxReplicas: required") {
		t.Fatalf("New(Config{}) = %v, want ErrInvalid naming MaxReplicas", err)
	}
	// DefaultConfig sets no MaxReplicas either: forgetting it is refused,
	// never an unasked-for cap of 10.
	d := DefaultConfig()
	d.Metrics = []MetricSpec{CPUUtilization(60)}
	if _, err := New(d); !errors.Is(err, ErrInvalid) || !strings.Contains(err.Error(), "MaxReplicas") {
		t.Fatalf("New(DefaultConfig() without MaxReplicas) = %v, want ErrInvalid naming MaxReplicas", err)
	}
	if _, err := New(Config{MaxReplicas: 5}); !errors.Is(err, ErrInvalid) || !strings.HasPrefix(err.Error(), "autoscale: Metrics: none configured") {
		t.Fatalf("New without metrics = %v, want ErrInvalid naming Metrics", err)
	}
	m := []MetricSpec{CPUUtilization(60)}
	a, err := New(Config{MaxReplicas: 5, Metrics: m})
	if err != nil {
		t.Fatal(err)
	}
	want := DefaultConfig()
	want.MaxReplicas, want.Metrics = 5, m
	if got := a.Config(); !reflect.DeepEqual(got, want) {
		t.Fatalf("zero fields were not their defaults:\n got %+v\nwant %+v", got, want)
	}
	// The defaults are what doc and Kubernetes say.
	if want.MinReplicas != 1 || *want.Tolerance != (Tolerances{Up: 0.1, Down: 0.1}) || !reflect.DeepEqual(want.Behavior, DefaultBehavior()) ||
		want.DownscaleStabilization != 300*time.Second || want.StartupPeriod != 5*time.Minute ||
		want.InitialReadinessDelay != 30*time.Second || want.SampleWindow != 30*time.Second || want.IdleBeforeZero != 5*time.Minute ||
		want.ScaleToZero || want.LegacyBehavior || want.SustainedLow != (SustainedLow{}) || want.Migration != (Migration{}) || want.Forecast != (Forecast{}) {
		t.Fatalf("DefaultConfig = %+v", want)
	}
	// Recommend on a Config with zero fields decides as on its defaults.
	obs := Observation{Now: t0, Current: 3, Instances: []Instance{
		{Name: "a", Ready: true, Samples: []Sample{{Metric: "cpu", Value: 0.9, Request: 1}}},
		{Name: "b", Ready: true, Samples: []Sample{{Metric: "cpu", Value: 0.9, Request: 1}}},
		{Name: "c", Ready: true, Samples: []Sample{{Metric: "cpu", Value: 0.9, Request: 1}}},
	}}
	zero := Config{MaxReplicas: 5, Metrics: m}
	d1, err1 := Recommend(&zero, nil, &obs)
	d2, err2 := Recommend(&want, nil, &obs)
	if err1 != nil || err2 != nil || !reflect.DeepEqual(d1, d2) || d1.Desired != 5 {
		t.Fatalf("zero-field decision %+v (%v) differs from the default one %+v (%v)", d1, err1, d2, err2)
	}
	// Negative durations mean none; explicit zero tolerance is kept.
	c := Config{MaxReplicas: 5, Metrics: m, StartupPeriod: -1, Tolerance: &Tolerances{}}.withDefaults()
	if span(c.StartupPeriod) != 0 || c.Tolerance.Up != 0 {
		t.Fatalf("withDefaults = %+v", c)
	}
}
