package sched_test

import (
	"fmt"
	"runtime"
	"slices"
	"testing"
	"time"

	"github.com/shoalkit/shoal/sched"
	"github.com/shoalkit/shoal/sched/schedtest"
)

// The benchmarks model the fleet of the performance targets: 10,000 nodes
// in 50 racks behind 10 switches (2 zones, 2 network zones), each a
// 32-core, 128 GiB machine. Run them with GOMAXPROCS=2, as the targets
// assume; placement itself is single-threaded under the inventory lock.
//
// Each placement benchmark keeps the fleet in a steady state: it releases
// its oldest allocation once a ring of them is full, so the fleet neither
// fills up nor empties, and it reports p99-ns (the 99th percentile of the
// per-placement latency, release included) beside ns/op.

const (
	benchNodes    = 10000
	benchRacks    = 50
	benchSwitches = 10
)

func benchFleet(b *testing.B, cfg sched.Config) (*sched.Inventory, *sched.Scheduler) {
	b.Helper()
	if runtime.GOMAXPROCS(0) != 2 {
		b.Logf("GOMAXPROCS=%d; the targets assume GOMAXPROCS=2", runtime.GOMAXPROCS(0))
	}
	inv, err := schedtest.Inventory(schedtest.Fleet(schedtest.FleetConfig{
		Nodes: benchNodes, Racks: benchRacks, Switches: benchSwitches, Seed: 1,
	}))
	if err != nil {
		b.Fatal(err)
	}
	s, err := sched.New(inv, cfg, nil)
	if err != nil {
		b.Fatal(err)
	}
	return inv, s
}

// latencies collects per-op durations in a fixed ring, so recording does
// not allocate, and reports their 99th percentile. It also reports
// cpu-ns/op, the CPU time the whole process used per op (all threads, GC
// included): on a machine shared with other jobs ns/op and p99 grow with
// their load, cpu-ns/op much less.
type latencies struct {
	d    []time.Duration
	n    int
	cpu0 time.Duration
}

func newLatencies() *latencies {
	l := &latencies{d: make([]time.Duration, 1<<16)}
	l.cpu0, _ = processCPU()
	return l
}

func (l *latencies) add(d time.Duration) {
	l.d[l.n%len(l.d)] = d
	l.n++
}

func (l *latencies) report(b *testing.B) {
	l.reportP99(b)
	b.ReportMetric(float64(l.n)/b.Elapsed().Seconds(), "placements/s")
}

func (l *latencies) reportP99(b *testing.B) {
	n := min(l.n, len(l.d))
	if n == 0 {
		return
	}
	if cpu, ok := processCPU(); ok {
		b.ReportMetric(float64(cpu-l.cpu0)/float64(l.n), "cpu-ns/op")
	}
	s := slices.Clone(l.d[:n])
	slices.Sort(s)
	b.ReportMetric(float64(s[(n*99)/100]), "p99-ns")
}

// steady places one replica per op for apps chosen round-robin, releasing
// the oldest allocation of an app once it has keep instances.
func steady(b *testing.B, s *sched.Scheduler, inv *sched.Inventory, apps, keep int, mk func(app string) sched.Request) {
	b.Helper()
	names := make([]string, apps)
	reqs := make([]sched.Request, apps)
	rings := make([][]sched.AllocationID, apps)
	for i := range names {
		names[i] = fmt.Sprintf("app%03d", i)
		reqs[i] = mk(names[i])
		rings[i] = make([]sched.AllocationID, 0, keep)
	}
	lat := newLatencies()
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		a := i % apps
		i++
		t0 := time.Now()
		if len(rings[a]) == keep {
			if err := inv.Release(rings[a][0]); err != nil {
				b.Fatal(err)
			}
			rings[a] = append(rings[a][:0], rings[a][1:]...)
		}
		res, err := s.Place(reqs[a])
		if err != nil {
			b.Fatal(err)
		}
		rings[a] = append(rings[a], res.Placements[0].Allocation)
		lat.add(time.Since(t0))
	}
	lat.report(b)
}

func basicRequest(app string) sched.Request {
	return sched.Request{App: app, Count: 1, Resources: sched.Resources{MilliCPU: 500, Memory: 1 << 30, Disk: 10 << 30}}
}

// BenchmarkPlaceExact: every node filtered and scored for every placement
// (kube-scheduler CI minimum at 5,000 nodes: about 680-810 pods/s).
func BenchmarkPlaceExact(b *testing.B) {
	inv, s := benchFleet(b, sched.DefaultConfig())
	steady(b, s, inv, 100, 200, basicRequest)
}

// BenchmarkPlaceExactOneGoroutine: exact mode with Config.Parallelism 1,
// the cost of the node loop on one core.
func BenchmarkPlaceExactOneGoroutine(b *testing.B) {
	cfg := sched.DefaultConfig()
	cfg.Parallelism = 1
	inv, s := benchFleet(b, cfg)
	steady(b, s, inv, 100, 200, basicRequest)
}

// BenchmarkPlaceExactCold: every placement asks for a different amount
// of cpu, so the cached candidates and scores are rebuilt every time: the
// cost of a full sweep of the 10,000 nodes.
func BenchmarkPlaceExactCold(b *testing.B) {
	inv, s := benchFleet(b, sched.DefaultConfig())
	n := 0
	steady(b, s, inv, 100, 200, func(app string) sched.Request {
		r := basicRequest(app)
		r.Resources.MilliCPU += int64(n) // one shape per app: 100 shapes in turn
		n++
		return r
	})
}

// BenchmarkPlaceSampled: the rotating window (adaptive percentage: 5% of
// 10,000 nodes, 500 feasible nodes scored per placement).
func BenchmarkPlaceSampled(b *testing.B) {
	cfg := sched.DefaultConfig()
	cfg.Mode = sched.Sampled
	inv, s := benchFleet(b, cfg)
	steady(b, s, inv, 100, 200, basicRequest)
}

// BenchmarkPlaceRackAntiAffinity: at most one instance of an app per rack,
// exact mode (kube-scheduler CI minimum with required hostname
// anti-affinity at 5,000 nodes: about 60 pods/s).
func BenchmarkPlaceRackAntiAffinity(b *testing.B) {
	inv, s := benchFleet(b, sched.DefaultConfig())
	steady(b, s, inv, 200, 20, func(app string) sched.Request {
		r := basicRequest(app)
		r.AntiAffinity = []sched.AntiAffinity{{Key: sched.KeyRack, Max: 1}}
		return r
	})
}

// BenchmarkPlaceNodeAntiAffinity: at most one instance of an app per node
// (kube's required hostname anti-affinity).
func BenchmarkPlaceNodeAntiAffinity(b *testing.B) {
	inv, s := benchFleet(b, sched.DefaultConfig())
	steady(b, s, inv, 100, 200, func(app string) sched.Request {
		r := basicRequest(app)
		r.AntiAffinity = []sched.AntiAffinity{{Key: sched.KeyNode, Max: 1}}
		return r
	})
}

// BenchmarkPlaceHardSpread: hard spread over racks (max skew 1) and
// switches, exact mode (kube-scheduler CI minimum with hard zone spread at
// 5,000 nodes: about 460 pods/s).
func BenchmarkPlaceHardSpread(b *testing.B) {
	inv, s := benchFleet(b, sched.DefaultConfig())
	steady(b, s, inv, 100, 200, func(app string) sched.Request {
		r := basicRequest(app)
		r.Spread = []sched.SpreadRule{{Key: sched.KeyRack, MaxSkew: 1}, {Key: sched.KeySwitch, MaxSkew: 1}}
		return r
	})
}

// BenchmarkPlaceScoped: zone, network zone, image and a soft spread: every
// built-in plugin takes part.
func BenchmarkPlaceScoped(b *testing.B) {
	inv, s := benchFleet(b, sched.DefaultConfig())
	steady(b, s, inv, 100, 200, func(app string) sched.Request {
		r := basicRequest(app)
		r.Zones = []string{"zone-a"}
		r.NetZone = "net0"
		r.VLAN = 100
		r.Image = "app:v1"
		r.Spread = []sched.SpreadRule{{Key: sched.KeyRack, MaxSkew: 1}, {Key: sched.KeySwitch, MaxSkew: 1, Soft: true}}
		return r
	})
}

// BenchmarkPlaceBatch1000 places 1,000 replicas in one call, exact mode,
// spread over racks; the release between calls is not timed.
func BenchmarkPlaceBatch1000(b *testing.B) {
	inv, s := benchFleet(b, sched.DefaultConfig())
	req := basicRequest("batch")
	req.Count = 1000
	req.Spread = []sched.SpreadRule{{Key: sched.KeyRack, MaxSkew: 1}}
	lat := newLatencies()
	b.ReportAllocs()
	for b.Loop() {
		t0 := time.Now()
		res, err := s.Place(req)
		if err != nil {
			b.Fatal(err)
		}
		lat.add(time.Since(t0))
		b.StopTimer()
		for _, p := range res.Placements {
			if err := inv.Release(p.Allocation); err != nil {
				b.Fatal(err)
			}
		}
		b.StartTimer()
	}
	lat.reportP99(b)
}

// BenchmarkPlaceMaxCount is the longest Place holds the inventory's lock:
// MaxCount replicas that need no resources (so every one fits), spread
// over racks, in one call; the release between calls is not timed.
func BenchmarkPlaceMaxCount(b *testing.B) {
	inv, s := benchFleet(b, sched.DefaultConfig())
	req := sched.Request{App: "max", Count: sched.MaxCount, Spread: []sched.SpreadRule{{Key: sched.KeyRack, MaxSkew: 1}}}
	lat := newLatencies()
	b.ReportAllocs()
	for b.Loop() {
		t0 := time.Now()
		res, err := s.Place(req)
		if err != nil {
			b.Fatal(err)
		}
		lat.add(time.Since(t0))
		b.StopTimer()
		for _, p := range res.Placements {
			if err := inv.Release(p.Allocation); err != nil {
				b.Fatal(err)
			}
		}
		b.StartTimer()
	}
	lat.reportP99(b)
}

// BenchmarkInventoryUpdate: one op is one update, alternately an
// allocation and its release, on a 10,000-node inventory.
func BenchmarkInventoryUpdate(b *testing.B) {
	inv, _ := benchFleet(b, sched.DefaultConfig())
	names := inv.Names()
	a := sched.Allocation{App: "upd", Resources: sched.Resources{MilliCPU: 100, Memory: 1 << 20}, VLAN: 100}
	var id sched.AllocationID
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		if i%2 == 0 {
			var err error
			if id, err = inv.Allocate(names[(i/2)%len(names)], a); err != nil {
				b.Fatal(err)
			}
		} else if err := inv.Release(id); err != nil {
			b.Fatal(err)
		}
		i++
	}
}

// BenchmarkInventoryCordon: one op cordons or uncordons a node.
func BenchmarkInventoryCordon(b *testing.B) {
	inv, _ := benchFleet(b, sched.DefaultConfig())
	names := inv.Names()
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		n := names[(i/2)%len(names)]
		var err error
		if i%2 == 0 {
			err = inv.Cordon(n)
		} else {
			err = inv.Uncordon(n)
		}
		if err != nil {
			b.Fatal(err)
		}
		i++
	}
}

// BenchmarkInventoryAddRemoveNode: one op adds a node (rack, switch,
// zone, a VLAN, an image) or removes it again, on a 10,000-node
// inventory.
func BenchmarkInventoryAddRemoveNode(b *testing.B) {
	inv, _ := benchFleet(b, sched.DefaultConfig())
	n := schedtest.Fleet(schedtest.FleetConfig{Nodes: 1, Seed: 9})[0]
	n.Name = "extra"
	n.Images = map[string]int64{"app:v1": 400 << 20}
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		var err error
		if i%2 == 0 {
			err = inv.AddNode(n)
		} else {
			_, err = inv.RemoveNode(n.Name)
		}
		if err != nil {
			b.Fatal(err)
		}
		i++
	}
}
