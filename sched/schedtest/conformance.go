package schedtest

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"runtime"
	"slices"
	"sync"

	"github.com/shoalkit/shoal/sched"
)

// Options shape a conformance run. Zero fields take the defaults noted.
type Options struct {
	// Nodes is the fleet (default: a random Fleet of 300 nodes in 12
	// racks behind 3 switches). With 4,096 nodes or more the plugin also
	// runs in exact mode on two goroutines at once, as on a large fleet:
	// run the suite under the race detector to check it is safe.
	Nodes []sched.Node
	// Requests are placed one after the other (default: 30 random
	// requests over the fleet's zones, levels, labels, VLANs, images,
	// spread and anti-affinity rules, for the apps "web" and "db", each
	// followed by two variants that differ in one field, so that a cache
	// key leaving out what a verdict reads is caught).
	Requests []sched.Request
	// Seed drives the default fleet and requests, and the inventory
	// changes made between requests (default 0).
	Seed uint64
}

func (o Options) withDefaults() Options {
	if len(o.Nodes) == 0 {
		o.Nodes = Fleet(FleetConfig{Nodes: 300, Racks: 12, Switches: 3, Seed: o.Seed, Random: true})
	}
	if len(o.Requests) == 0 {
		rng := rand.New(rand.NewPCG(o.Seed, 0xc0f))
		for i := range 30 {
			r := RandomRequest(rng, []string{"web", "db"}[i%2], 12)
			o.Requests = append(o.Requests, r, variant(rng, r), variant(rng, r))
		}
	}
	return o
}

// ValidateFilter is the conformance suite of a filter plugin, in the
// manner of go-containerregistry's validate: it builds plugins with
// newPlugin (as a Registry would) and checks the contract of
// sched.FilterPlugin and of every optional interface the plugin has:
//
//   - Name is not empty and the same for every plugin newPlugin builds;
//   - Filter returns nil or a status whose code is Unschedulable or
//     UnschedulableAndUnresolvable, the same verdict twice in a row, and
//     does not allocate;
//   - FilterBatch (sched.BatchFilter) agrees with Filter node by node;
//   - AppendKey (sched.NodeFilter) gives the same key twice in a row;
//   - a scheduler running the plugin as it is, through its fast paths
//     and the candidate cache, places every request exactly as one
//     running it through Filter alone (a wrapper hiding NodeFilter and
//     BatchFilter), in exact and in sampled mode, while the inventory
//     changes between requests: same nodes, same scores, same why-not.
//     A NodeFilter whose verdict depends on more than the node, or whose
//     key leaves out something the verdict reads, fails here.
//
// It returns the first violation found, or nil.
func ValidateFilter(newPlugin sched.Factory, opt Options) error {
	name, err := pluginName(newPlugin, func(p sched.Plugin) bool { _, ok := p.(sched.FilterPlugin); return ok })
	if err != nil {
		return err
	}
	cfg := sched.Config{Filters: []string{name}, Scores: sched.DefaultScores()}
	// A filter and score plugin: its score is not under test here.
	cfg.Scores = slices.DeleteFunc(cfg.Scores, func(w sched.ScoreWeight) bool { return w.Name == name })
	return validate(name, newPlugin, opt, cfg, func(p sched.Plugin, v *violations) sched.Plugin {
		return &plainFilter{inner: p.(sched.FilterPlugin), v: v}
	})
}

// ValidateScore is ValidateFilter's counterpart for a score plugin: Score
// stays within 0..sched.MaxScore, gives the same score twice in a row and
// does not allocate; ScoreBatch (sched.BatchScorer) agrees with Score;
// AppendKey (sched.NodeScorer) is stable; and schedulers running the
// plugin through its fast paths and the cache place every request as one
// calling Score alone.
func ValidateScore(newPlugin sched.Factory, opt Options) error {
	name, err := pluginName(newPlugin, func(p sched.Plugin) bool { _, ok := p.(sched.ScorePlugin); return ok })
	if err != nil {
		return err
	}
	cfg := sched.Config{Filters: sched.DefaultFilters(), Scores: []sched.ScoreWeight{{Name: name, Weight: 2}}}
	// A filter and score plugin: its filter is not under test here.
	cfg.Filters = slices.DeleteFunc(cfg.Filters, func(f string) bool { return f == name })
	return validate(name, newPlugin, opt, cfg, func(p sched.Plugin, v *violations) sched.Plugin {
		return &plainScore{inner: p.(sched.ScorePlugin), v: v}
	})
}

func pluginName(newPlugin sched.Factory, kind func(sched.Plugin) bool) (string, error) {
	if newPlugin == nil {
		return "", errors.New("nil factory")
	}
	var names [2]string
	for i := range names {
		p, err := newPlugin()
		if err != nil {
			return "", fmt.Errorf("factory: %w", err)
		}
		if p == nil {
			return "", errors.New("factory returned a nil plugin")
		}
		if !kind(p) {
			return "", fmt.Errorf("plugin %q (%T) is not of the kind under test", p.Name(), p)
		}
		names[i] = p.Name()
	}
	if names[0] == "" || names[0] != names[1] {
		return "", fmt.Errorf("plugin names %q and %q: want one non-empty name", names[0], names[1])
	}
	return names[0], nil
}

// violations collects what the wrappers see, the first one wins.
type violations struct {
	mu    sync.Mutex
	first error
	calls int
}

func (v *violations) add(format string, args ...any) {
	v.mu.Lock()
	defer v.mu.Unlock()
	if v.first == nil {
		v.first = fmt.Errorf(format, args...)
	}
}

func (v *violations) err() error {
	v.mu.Lock()
	defer v.mu.Unlock()
	return v.first
}

// count returns the number of calls so far, counting this one.
func (v *violations) count() int {
	v.mu.Lock()
	defer v.mu.Unlock()
	v.calls++
	return v.calls
}

// allocates reports whether f allocates, measured on the whole process
// and confirmed three times so that another goroutine's allocation is not
// taken for the plugin's.
func allocates(f func()) bool {
	for range 3 {
		var m0, m1 runtime.MemStats
		runtime.ReadMemStats(&m0)
		for range 8 {
			f()
		}
		runtime.ReadMemStats(&m1)
		if m1.Mallocs == m0.Mallocs {
			return false
		}
	}
	return true
}

// concurrentNodes is the engine's least number of nodes per goroutine in
// exact mode (sched's minNodesPerWorker).
const concurrentNodes = 2048

// allocEvery is how often a wrapper measures allocations (the measurement
// stops the world).
const allocEvery = 211

// validate places opt.Requests with four schedulers, on four inventories
// given the same changes between requests: plain exact and plain sampled
// (the plugin wrapped, reached through its plain methods only), fast
// exact and fast sampled (the plugin as it is). It compares their results.
func validate(name string, newPlugin sched.Factory, opt Options, cfg sched.Config, wrap func(sched.Plugin, *violations) sched.Plugin) error {
	opt = opt.withDefaults()
	v := &violations{}
	builtin := sched.NewRegistry()
	type run struct {
		label string
		inv   *sched.Inventory
		s     *sched.Scheduler
		ids   []sched.AllocationID
		got   []string
	}
	var runs []*run
	labels := []string{"through Filter/Score alone, exact", "through Filter/Score alone, sampled", "as it is, exact", "as it is, sampled"}
	pairs := [][2]int{{0, 2}, {1, 3}}
	if len(opt.Nodes) >= 2*concurrentNodes {
		labels = append(labels, "as it is, exact on two goroutines")
		pairs = append(pairs, [2]int{0, 4})
	}
	for k, label := range labels {
		var reg sched.Registry
		plain := k < 2
		factory := newPlugin
		if plain {
			factory = func() (sched.Plugin, error) {
				p, err := newPlugin()
				if err != nil {
					return nil, err
				}
				return wrap(p, v), nil
			}
		}
		if err := reg.Register(name, factory); err != nil {
			return err
		}
		for _, n := range append(slices.Clone(cfg.Filters), scoreNames(cfg.Scores)...) {
			if n == name {
				continue
			}
			if f, ok := builtin.Factory(n); ok {
				if err := reg.Register(n, f); err != nil && !errors.Is(err, sched.ErrConflict) {
					return err
				}
			}
		}
		c := cfg
		c.Parallelism, c.Seed = 1, opt.Seed
		if k == 4 {
			c.Parallelism = 2
		}
		if k%2 == 1 {
			c.Mode, c.PercentageOfNodesToScore, c.MinFeasibleNodesToFind = sched.Sampled, 10, 5
		}
		inv, err := Inventory(opt.Nodes)
		if err != nil {
			return fmt.Errorf("fleet: %w", err)
		}
		s, err := sched.New(inv, c, &reg)
		if err != nil {
			return fmt.Errorf("plugin %q: %w", name, err)
		}
		runs = append(runs, &run{label: label, inv: inv, s: s})
	}
	rng := rand.New(rand.NewPCG(opt.Seed, 0xc0f2))
	for step, req := range opt.Requests {
		op, pick, node := rng.IntN(6), rng.Int(), opt.Nodes[rng.IntN(len(opt.Nodes))].Name
		for _, r := range runs {
			change(r.inv, &r.ids, op, pick, node)
			res, err := r.s.Place(req)
			if err != nil && !errors.Is(err, sched.ErrUnschedulable) {
				return fmt.Errorf("request %d: Place %s: %w", step, r.label, err)
			}
			r.got = r.got[:0]
			for _, p := range res.Placements {
				r.got = append(r.got, fmt.Sprintf("%s (score %d)", p.Node, p.Score))
				r.ids = append(r.ids, p.Allocation)
			}
			r.got = append(r.got, fmt.Sprintf("unplaced %d, why not: %v", res.Unplaced, res.WhyNot))
		}
		if err := v.err(); err != nil {
			return fmt.Errorf("plugin %q, request %d: %w", name, step, err)
		}
		for _, pair := range pairs {
			a, b := runs[pair[0]], runs[pair[1]]
			if !slices.Equal(a.got, b.got) {
				return fmt.Errorf("plugin %q, request %d (%+v): placed %s: %q; %s: %q",
					name, step, req, a.label, a.got, b.label, b.got)
			}
		}
	}
	if v.count() == 1 {
		return fmt.Errorf("plugin %q: never called: its PreFilter or PreScore skipped every request", name)
	}
	return nil
}

func scoreNames(ws []sched.ScoreWeight) []string {
	out := make([]string, len(ws))
	for i, w := range ws {
		out[i] = w.Name
	}
	return out
}

// change applies one inventory change, the same on every run: releases,
// cordon, uncordon, VLAN addresses, images (the change log the cache
// follows).
func change(inv *sched.Inventory, ids *[]sched.AllocationID, op, pick int, node string) {
	switch op {
	case 0:
		for j := range 4 {
			if len(*ids) > 0 {
				i := (pick + j) % len(*ids)
				_ = inv.Release((*ids)[i])
				*ids = slices.Delete(*ids, i, i+1)
			}
		}
	case 1:
		_ = inv.Cordon(node)
	case 2:
		_ = inv.Uncordon(node)
	case 3:
		_ = inv.SetVLANIPs(node, 100, pick%4)
	case 4:
		_ = inv.AddImage(node, "app:v1", 400<<20)
	case 5:
		_ = inv.RemoveImage(node, "app:v1")
	}
}
