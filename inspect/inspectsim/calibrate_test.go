package inspectsim

import (
	"fmt"
	"testing"
	"time"
)

// TestLoopbackCalibrated: the calibrated model is within ±20 % of the
// real medians at 50 and 100 members.
func TestLoopbackCalibrated(t *testing.T) {
	for n, real := range measuredLoopback() {
		p := Loopback()
		p.Nodes = n
		sim := Median(p, 21)
		if e := float64(sim)/float64(real) - 1; e < -0.2 || e > 0.2 {
			t.Errorf("%d members: simulated %v, real %v (%+.0f%%)", n, sim, real, 100*e)
		}
	}
}

// TestCalibrateRecoversFit: fitting to the measured medians lands within
// ±20 % at both sizes.
func TestCalibrateRecoversFit(t *testing.T) {
	base := Loopback()
	_, by := Calibrate(base, measuredLoopback(), 11)
	for n, e := range by {
		if e < -0.2 || e > 0.2 {
			t.Errorf("%d members: fitted error %+.2f", n, e)
		}
	}
}

// BenchmarkSimulated runs simulated rounds of 10,000 and 100,000 members
// with 5 % packet loss, 0.1 % members failed but not yet declared so, and
// 1 % failing checks fetched by stage two; group=0 is every member
// answering the inspector, group=400 the first attempt through collectors
// of 400 members each. The sim-* metrics are
// SIMULATED seconds; ns/op is the wall time of the simulation.
func BenchmarkSimulated(b *testing.B) {
	for _, n := range []int{10000, 100000} {
		for _, cost := range []time.Duration{2 * time.Millisecond, 100 * time.Microsecond} {
			for _, group := range []int{0, 400} {
				if n > 10000 && group > 0 {
					continue // a collector's query spreads over every member: 25 of them at 100,000 take minutes of wall time
				}
				b.Run(fmt.Sprintf("nodes=%d/reply-cost=%v/group=%d", n, cost, group), func(b *testing.B) {
					simulated(b, n, cost, group)
				})
			}
		}
	}
}

// simulated runs rounds of n members at the given reply cost and
// collection group size, and reports the last round's figures.
func simulated(b *testing.B, n int, cost time.Duration, group int) {
	p := Loopback()
	p.Nodes, p.ReplyCost, p.Loss, p.FreshFailures, p.Failing, p.GroupSize = n, cost, 0.05, 0.001, 0.01, group
	var r Result
	seed := uint64(1)
	for b.Loop() {
		r = Run(p, seed)
		seed++
	}
	b.ReportMetric(r.Round.Seconds(), "sim-round-s")
	b.ReportMetric(r.StageTwo.Seconds(), "sim-stage2-s")
	b.ReportMetric(r.Total.Seconds(), "sim-total-s")
	b.ReportMetric(float64(r.InspectorReplies)/float64(n), "inspector-handled-per-member")
	b.ReportMetric(float64(r.Accounted)/float64(n), "accounted")
	b.ReportMetric(float64(r.FalseDead), "healthy-silent")
}
