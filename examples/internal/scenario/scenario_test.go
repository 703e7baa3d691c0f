package scenario_test

import (
	"bytes"
	"strings"
	"testing"
	"time"

	"github.com/shoalkit/shoal/examples/internal/platform"
	"github.com/shoalkit/shoal/examples/internal/scenario"
)

// TestSimulated plays the story on simulated nodes, as the pilot does
// without root: every step holds but the one that needs containers, which
// says it was skipped and why.
func TestSimulated(t *testing.T) {
	p, err := platform.Start(t.Context(), platform.Config{
		Dir: t.TempDir(), Agents: 3, NodeGrace: 2 * time.Second, AutoscaleInterval: 500 * time.Millisecond, InspectInterval: time.Second, AlertWindow: 2 * time.Second,
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(p.Close)
	var out bytes.Buffer
	res := scenario.Run(t.Context(), p, &out)
	if !res.OK() {
		t.Fatalf("the story did not hold:\n%s", out.String())
	}
	skipped := 0
	for _, s := range res.Steps {
		if s.Skipped != "" {
			skipped++
		}
	}
	if skipped != 1 || !strings.Contains(out.String(), "summary:") || !strings.Contains(out.String(), "2 → ") {
		t.Errorf("%d skipped steps, output:\n%s", skipped, out.String())
	}
	t.Log("\n" + out.String())
}
