package graphite_test

import (
	"context"
	"math"
	"testing"
	"time"

	"github.com/shoalkit/shoal/internal/testenv"
	"github.com/shoalkit/shoal/metrics"
	"github.com/shoalkit/shoal/metrics/graphite"
)

// TestCarbonRoundTrip samples a real cgroup three times, sends the
// snapshots to a real carbon-cache as paths and as tagged series, and
// reads every value back from the whisper files.
func TestCarbonRoundTrip(t *testing.T) {
	carbon := testenv.StartCarbon(t)
	cg := testenv.NewCgroup(t)
	cg.Start(t, "sh", "-c", "while :; do :; done")
	c, err := metrics.New(context.Background(), metrics.Config{})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if err := c.Add(metrics.Target{ID: "web-1", App: "web", Cgroup: "/" + cg.Name}); err != nil {
		t.Fatal(err)
	}
	for _, tagged := range []bool{false, true} {
		w, err := graphite.New(graphite.Config{Addr: carbon.Addr, Node: "n1", Tagged: tagged, FlushInterval: 50 * time.Millisecond})
		if err != nil {
			t.Fatal(err)
		}
		runWriter(t, w)
		start := time.Now().Add(-time.Minute)
		var snaps []*metrics.Snapshot
		for range 3 {
			s, err := c.Sample(context.Background())
			if err != nil || len(s.Containers) != 1 {
				t.Fatalf("sample: %v %+v", err, s)
			}
			w.Observe(s)
			snaps = append(snaps, s)
			time.Sleep(1100 * time.Millisecond) // one point a second is carbon's resolution here
		}
		usage := "shoal.n1.containers.web.web-1.cpu.usage_seconds"
		threads := "shoal.n1.node.threads"
		if tagged {
			usage = "container.cpu.usage_seconds;app=web;id=web-1;node=n1"
			threads = "node.threads;node=n1"
		}
		check := func(name string, value func(*metrics.Snapshot) float64) {
			t.Helper()
			pts := carbon.Fetch(t, name, start, len(snaps), 20*time.Second)
			if len(pts) != len(snaps) {
				t.Fatalf("%s: %d points read back, want %d: %v", name, len(pts), len(snaps), pts)
			}
			for i, s := range snaps {
				// whisper-fetch prints six decimals.
				if !pts[i].Time.Equal(s.Time.Truncate(time.Second)) || math.Abs(pts[i].Value-value(s)) > 5e-7 {
					t.Errorf("%s point %d: %v = %v, sent %v = %v", name, i, pts[i].Time, pts[i].Value, s.Time.Truncate(time.Second), value(s))
				}
			}
		}
		check(usage, func(s *metrics.Snapshot) float64 { return s.Containers[0].CPU.Usage.Seconds() })
		check(threads, func(s *metrics.Snapshot) float64 { return float64(s.Node.Threads) })
		if st := w.Stats(); st.Dropped != 0 || st.Sent == 0 {
			t.Errorf("tagged %v: stats %+v", tagged, st)
		}
	}
}
