package inspect

import (
	"strings"
	"testing"
	"time"
)

// TestRounds100: 100 real serf members in this process, 20 rounds, every
// member accounted for and passed in every round. Under the race
// detector, which slows every member about tenfold on this 2-core box, it
// runs 25 members and 5 rounds; the 100-member figures are in
// BenchmarkRound100 and BENCHMARKS.md.
func TestRounds100(t *testing.T) {
	n, rounds := 100, 20
	if raceDetector || testing.Short() {
		n, rounds = 25, 5
	}
	start := time.Now()
	c := startCluster(t, clusterOpts{n: n})
	t.Logf("%d members up in %v", n, time.Since(start))
	in := c.inspector(InspectorConfig{})
	var worst time.Duration
	for round := range rounds {
		rep := steadyRound(t, in, c.opts.spec)
		if len(rep.Members) != n || rep.Counts[StatusPassed] != n {
			var sb strings.Builder
			_ = rep.WriteText(&sb)
			t.Fatalf("round %d: %d members, counts %v\n%s", round, len(rep.Members), rep.Counts, sb.String())
		}
		worst = max(worst, time.Duration(rep.Took))
	}
	t.Logf("%d rounds of %d members, slowest %v", rounds, n, worst)
}
