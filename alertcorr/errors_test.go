package alertcorr

import (
	"context"
	"testing"

	"github.com/shoalkit/shoal/internal/errs"
)

func TestErrorShape(t *testing.T) {
	kinds := []error{ErrInvalid, ErrNotFound, ErrConflict, ErrUnavailable, ErrClosed}
	topo := NewTopology()
	_, routeErr := New(Config{Route: &Route{}})
	_, cfgErr := New(Config{ResolveTimeout: -1})
	_, corrErr := New(Config{Correlation: Correlation{AppFraction: 2}})
	_, inhErr := New(Config{InhibitRules: []InhibitRule{{}}})
	_, matchErr := ParseMatcher(`a=~"("`)
	e, _ := New(Config{})
	_ = e.Close()
	tests := []struct {
		name string
		err  error
	}{
		{"route without receiver", routeErr},
		{"negative duration", cfgErr},
		{"fraction out of range", corrErr},
		{"empty inhibit rule", inhErr},
		{"bad regexp", matchErr},
		{"bad label", Labels{"1x": "y"}.Validate()},
		{"unknown parent", topo.Upsert(Entity{Kind: KindHost, ID: "h", Parent: "nope"})},
		{"remove unknown", topo.Remove(KindHost, "x")},
		{"closed", e.Ingest(Alert{Labels: Labels{"a": "b"}})},
		{"silence not found", e.ExpireSilence(context.Background(), "x")},
	}
	for _, tt := range tests {
		if err := errs.CheckShape(tt.err, "alertcorr", kinds...); err != nil {
			t.Errorf("%s: %v", tt.name, err)
		}
	}
}

// A zero Config is the documented defaults: one route to "default" with
// Alertmanager's timings, a 5 min resolve timeout, no correlation.
func TestZeroConfig(t *testing.T) {
	e, err := New(Config{})
	if err != nil {
		t.Fatal(err)
	}
	defer e.Close()
	d := DefaultConfig()
	if e.route.opts.Receiver != "default" || e.route.opts.GroupWait != DefaultGroupWait || e.route.opts.GroupInterval != DefaultGroupInterval || e.route.opts.RepeatInterval != DefaultRepeatInterval {
		t.Fatalf("zero config route %+v", e.route.opts)
	}
	if e.cfg.ResolveTimeout != d.ResolveTimeout || e.cfg.Retention != d.Retention || e.cfg.MaxAlerts != d.MaxAlerts || e.cfg.Tick != d.Tick || e.cfg.Correlation.Window != d.Correlation.Window {
		t.Fatalf("zero config %+v, want defaults", e.cfg)
	}
}
