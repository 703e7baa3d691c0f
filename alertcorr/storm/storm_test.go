package storm_test

import (
	"context"
	"testing"
	"time"

	"github.com/shoalkit/shoal/alertcorr"
	"github.com/shoalkit/shoal/alertcorr/storm"
	"github.com/shoalkit/shoal/internal/errs"
)

// run feeds a storm to an engine and returns the incidents after the
// correlation window.
func run(t testing.TB, s *storm.Storm) []alertcorr.Incident {
	tp := alertcorr.NewTopology()
	if err := tp.Load(context.Background(), s); err != nil {
		t.Fatal(err)
	}
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	start := now
	e, err := alertcorr.New(alertcorr.Config{Topology: tp, Now: func() time.Time { return now }})
	if err != nil {
		t.Fatal(err)
	}
	defer e.Close()
	for _, a := range s.Alerts {
		now = start.Add(a.After)
		if err := e.Ingest(a.Alert); err != nil {
			t.Fatal(err)
		}
	}
	now = now.Add(time.Minute)
	if err := e.Advance(context.Background(), now); err != nil {
		t.Fatal(err)
	}
	return e.Incidents()
}

func TestGeneratedStormsScore(t *testing.T) {
	tests := []struct {
		name string
		cfg  storm.Config
	}{
		{"mixed", storm.Config{Seed: 1, Hosts: 2000, ContainersPerHost: 50, Apps: 1000, AppFaults: 3, HostFaults: 10, SwitchFaults: 2, Noise: 40, Missing: 0.05, Jitter: 20 * time.Second}},
		{"hosts only", storm.Config{Seed: 2, Hosts: 1000, ContainersPerHost: 30, HostFaults: 30, Noise: 10}},
		{"apps and noise", storm.Config{Seed: 3, Hosts: 1000, ContainersPerHost: 40, Apps: 400, AppFaults: 5, Noise: 100, Missing: 0.1, Jitter: 25 * time.Second}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, err := storm.Generate(tt.cfg)
			if err != nil {
				t.Fatal(err)
			}
			sc := s.Score(run(t, s))
			t.Logf("%+v", sc)
			if sc.Compression < 0.99 && sc.Alerts > 5000 {
				t.Errorf("compression %.4f, want ≥ 0.99", sc.Compression)
			}
			if sc.Top1 < 0.95 {
				t.Errorf("top-1 root accuracy %.3f, want ≥ 0.95", sc.Top1)
			}
			if sc.F1 < 0.95 {
				t.Errorf("pairwise F1 %.3f, want ≥ 0.95", sc.F1)
			}
			if sc.Unassigned != 0 {
				t.Errorf("%d alerts in no incident", sc.Unassigned)
			}
		})
	}
}

func TestGenerateIsDeterministic(t *testing.T) {
	cfg := storm.Config{Seed: 9, Hosts: 200, ContainersPerHost: 10, AppFaults: 1, HostFaults: 2, Noise: 5, Missing: 0.1}
	a, err := storm.Generate(cfg)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := storm.Generate(cfg)
	if len(a.Alerts) != len(b.Alerts) || len(a.Topology) != len(b.Topology) {
		t.Fatalf("two storms of one config differ: %d/%d alerts", len(a.Alerts), len(b.Alerts))
	}
	for i := range a.Alerts {
		if a.Alerts[i].Alert.Fingerprint() != b.Alerts[i].Alert.Fingerprint() {
			t.Fatalf("alert %d differs", i)
		}
	}
}

func TestScore(t *testing.T) {
	s := &storm.Storm{
		Faults: []storm.Fault{{ID: "f1", Root: alertcorr.Entity{Kind: alertcorr.KindHost, ID: "h1"}}, {ID: "f2", Root: alertcorr.Entity{Kind: alertcorr.KindApp, ID: "a"}}},
		Truth:  map[alertcorr.Fingerprint]string{1: "f1", 2: "f1", 3: "f2", 4: "f2"},
	}
	// A perfect answer.
	perfect := []alertcorr.Incident{
		{ID: "i1", Root: alertcorr.Entity{Kind: alertcorr.KindHost, ID: "h1"}, Members: []alertcorr.Fingerprint{1, 2}},
		{ID: "i2", Root: alertcorr.Entity{Kind: alertcorr.KindApp, ID: "a"}, Members: []alertcorr.Fingerprint{3, 4}},
	}
	if sc := s.Score(perfect); sc.F1 != 1 || sc.Top1 != 1 || sc.Compression != 0.5 || sc.Merges != 0 || sc.Splits != 0 {
		t.Fatalf("perfect answer scored %+v", sc)
	}
	// Everything merged under a wrong root: recall 1, precision 2/6.
	merged := []alertcorr.Incident{{ID: "i", Root: alertcorr.Entity{Kind: alertcorr.KindHost, ID: "h1"}, Members: []alertcorr.Fingerprint{1, 2, 3, 4}}}
	sc := s.Score(merged)
	if sc.Recall != 1 || sc.Precision != 2.0/6 || sc.Top1 != 0.5 || sc.Merges != 1 {
		t.Fatalf("merged answer scored %+v", sc)
	}
	// Everything split: precision 1 (no pairs predicted), recall 0.
	split := []alertcorr.Incident{{ID: "a", Members: []alertcorr.Fingerprint{1}}, {ID: "b", Members: []alertcorr.Fingerprint{2}}, {ID: "c", Members: []alertcorr.Fingerprint{3}}, {ID: "d", Members: []alertcorr.Fingerprint{4}}}
	if sc := s.Score(split); sc.Recall != 0 || sc.Splits != 2 || sc.F1 != 0 {
		t.Fatalf("split answer scored %+v", sc)
	}
}

func TestConfigErrors(t *testing.T) {
	for _, cfg := range []storm.Config{{Hosts: -1}, {Missing: 1}, {Hosts: 10, HostFaults: 20}} {
		_, err := storm.Generate(cfg)
		if err := errs.CheckShape(err, "storm", storm.ErrInvalid); err != nil {
			t.Errorf("%+v: %v", cfg, err)
		}
	}
}
