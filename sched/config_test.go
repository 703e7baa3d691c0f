package sched

import (
	"errors"
	"slices"
	"strings"
	"testing"
)

// Issue 10: the zero Config built a scheduler without filters, which put
// five replicas of 4 CPU / 8 GiB on a 1 CPU / 1 GiB node. A zero field
// means its default, so the zero Config is DefaultConfig.
func TestZeroConfigIsTheDefault(t *testing.T) {
	small := Node{Name: "small", Capacity: Resources{MilliCPU: 1000, Memory: 1 << 30}}
	inv := newTestInventory(t, small)
	s, err := New(inv, Config{}, nil)
	if err != nil {
		t.Fatal(err)
	}
	want := DefaultConfig()
	want.Parallelism = s.cfg.Parallelism
	if s.cfg.Parallelism < 1 || !slices.Equal(s.cfg.Filters, want.Filters) || !slices.Equal(s.cfg.Scores, want.Scores) ||
		s.cfg.MinFeasibleNodesToFind != want.MinFeasibleNodesToFind || s.cfg.Mode != Exact {
		t.Fatalf("zero Config became %+v, want %+v", s.cfg, want)
	}
	res, err := s.Place(Request{App: "web", Count: 5, Resources: Resources{MilliCPU: 4000, Memory: 8 << 30}})
	if !errors.Is(err, ErrUnschedulable) || len(res.Placements) != 0 || res.Unplaced != 5 {
		t.Fatalf("Place on a too small node = %+v, %v; want all 5 unplaced", res, err)
	}
	if v := verdict(res.WhyNot, PluginResourceFit); v.Rejected != 1 {
		t.Fatalf("why-not %v: ResourceFit did not reject the node", res.WhyNot)
	}

	// No filter at all is an explicit choice, and places anywhere.
	s, err = New(inv, Config{NoFilters: true}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if len(s.filters) != 0 || len(s.scorers) != len(DefaultScores()) {
		t.Fatalf("NoFilters: %d filters, %d scores", len(s.filters), len(s.scorers))
	}
	res, err = s.Place(Request{App: "web", Count: 2, Resources: Resources{MilliCPU: 4000}})
	if err != nil || len(res.Placements) != 2 {
		t.Fatalf("NoFilters Place = %+v, %v", res, err)
	}
	s, err = New(inv, Config{NoScores: true}, nil)
	if err != nil || len(s.scorers) != 0 || len(s.filters) != len(DefaultFilters()) {
		t.Fatalf("NoScores: %v, %d scores", err, len(s.scorers))
	}
}

func TestConfigContradictions(t *testing.T) {
	inv := NewInventory()
	for _, tt := range []struct {
		cfg  Config
		want string
	}{
		{Config{NoFilters: true, Filters: []string{PluginResourceFit}}, "config.NoFilters"},
		{Config{NoScores: true, Scores: []ScoreWeight{{PluginLeastAllocated, 1}}}, "config.NoScores"},
		{Config{Parallelism: -1}, "config.Parallelism"},
	} {
		if _, err := New(inv, tt.cfg, nil); !errors.Is(err, ErrInvalid) || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("New(%+v) = %v, want ErrInvalid naming %s", tt.cfg, err, tt.want)
		}
	}
}

// The scheduler keeps its own copy of the config's lists.
func TestConfigListsCopied(t *testing.T) {
	cfg := DefaultConfig()
	s := mustScheduler(t, NewInventory(), cfg)
	cfg.Filters[0] = "Changed"
	if s.cfg.Filters[0] == "Changed" {
		t.Fatal("the scheduler shares the caller's Filters slice")
	}
}
