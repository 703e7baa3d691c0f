package inspectsim

import (
	"slices"
	"time"
)

// Median returns the median simulated round time (without stage two) of
// p over the given number of seeds.
func Median(p Params, seeds int) time.Duration {
	ds := make([]time.Duration, 0, seeds)
	for s := range seeds {
		ds = append(ds, Run(p, uint64(s)+1).Round) //nolint:gosec // small non-negative seed
	}
	slices.Sort(ds)
	return ds[len(ds)/2]
}

// Calibrate fits Latency and ReplyCost of base to measured median round
// times of real clusters (members → median), by grid search minimising the
// largest relative error, and returns the fitted parameters with each
// size's relative error (simulated/measured − 1).
func Calibrate(base Params, measured map[int]time.Duration, seeds int) (Params, map[int]float64) {
	best, bestErr := base, -1.0
	var bestBy map[int]float64
	for _, lat := range []time.Duration{
		500 * time.Microsecond, time.Millisecond, 2 * time.Millisecond, 5 * time.Millisecond,
		10 * time.Millisecond, 20 * time.Millisecond, 40 * time.Millisecond, 80 * time.Millisecond,
	} {
		for _, cost := range []time.Duration{
			20 * time.Microsecond, 100 * time.Microsecond, 500 * time.Microsecond,
			time.Millisecond, 2 * time.Millisecond, 5 * time.Millisecond,
		} {
			p := base
			p.Latency, p.ReplyCost = lat, cost
			worst, by := 0.0, map[int]float64{}
			for n, real := range measured {
				p.Nodes = n
				e := float64(Median(p, seeds))/float64(real) - 1
				by[n] = e
				worst = max(worst, abs(e))
			}
			if bestErr < 0 || worst < bestErr {
				best, bestErr, bestBy = p, worst, by
			}
		}
	}
	return best, bestBy
}

func abs(x float64) float64 {
	if x < 0 {
		return -x
	}
	return x
}

// Loopback returns the parameters calibrated on 2026-12-03 against real
// rounds of this repository's tests (BenchmarkRound in package inspect:
// 50 and 100 members on one 2-core VM, load ≈ 15–25, Local profile with
// RetransmitMult 3 and ProbeTimeout 1 s), whose medians were 406 ms and
// 593 ms: one-way latency 20 ms and 2 ms of inspector time per reply or
// ack. Both absorb the contention of a hundred members sharing two cores
// with the inspector, so they are pessimistic for an inspector on a
// machine of its own.
func Loopback() Params {
	p := LocalProfile()
	p.RetransmitMult, p.ProbeTimeout = 3, time.Second
	p.Latency, p.ReplyCost = 20*time.Millisecond, 2*time.Millisecond
	return p
}

// measuredLoopback are the real medians Loopback was fitted to.
func measuredLoopback() map[int]time.Duration {
	return map[int]time.Duration{50: 406 * time.Millisecond, 100: 593 * time.Millisecond}
}
