package sched_test

import (
	"testing"

	"github.com/shoalkit/shoal/sched"
	"github.com/shoalkit/shoal/sched/schedtest"
)

// TestBuiltinPluginsConform runs the schedtest conformance suite over
// every built-in plugin, as a filter and as a score as it is one.
func TestBuiltinPluginsConform(t *testing.T) {
	reg := sched.NewRegistry()
	tested := 0
	for _, name := range reg.Names() {
		f, _ := reg.Factory(name)
		p, err := f()
		if err != nil {
			t.Fatal(err)
		}
		if _, ok := p.(sched.FilterPlugin); ok {
			tested++
			t.Run(name+"/filter", func(t *testing.T) {
				if err := schedtest.ValidateFilter(f, schedtest.Options{Seed: 1}); err != nil {
					t.Fatal(err)
				}
			})
		}
		if _, ok := p.(sched.ScorePlugin); ok {
			tested++
			t.Run(name+"/score", func(t *testing.T) {
				if err := schedtest.ValidateScore(f, schedtest.Options{Seed: 2}); err != nil {
					t.Fatal(err)
				}
			})
		}
	}
	if tested != 13 { // 7 filters, 6 scores (TaintToleration is both)
		t.Fatalf("%d plugins tested", tested)
	}
}
