package kubepeer

import (
	"context"
	"errors"
	"fmt"
	"io"
	"runtime"
	"slices"
	"strings"
	"time"

	v1 "k8s.io/api/core/v1"

	"github.com/shoalkit/shoal/internal/errs"
	"github.com/shoalkit/shoal/sched"
)

// Config sizes a comparison. A zero field takes the default noted.
type Config struct {
	// Nodes, Racks and Switches shape the fleet (10,000, 50, 10).
	Nodes, Racks, Switches int
	// Seed drives the fleet's background occupancy (1).
	Seed uint64
	// Replicas is the number of replicas per app, one request per app
	// (10; at most Racks, so that one per rack fits).
	Replicas int
	// ExactApps and SampledApps are the number of apps of each scenario in
	// exact and sampled mode (30 and 100: 300 and 1,000 pods; kube-scheduler
	// scores 10,000 nodes about 50 times a second on two cores).
	ExactApps, SampledApps int
	// Runs is the number of times each segment runs on each side, every
	// time on a new scheduler built from the same fleet (3).
	Runs int
	// SchedRepeats is the number of timed sched runs per run, medians kept:
	// sched's segments take milliseconds (5).
	SchedRepeats int
	// Modes and Scenarios select what runs (both modes, every scenario).
	Modes     []Mode
	Scenarios []Scenario
	// Timeout bounds each kube-scheduler segment (5 minutes).
	Timeout time.Duration
	// Progress, if set, receives a line per segment as it finishes.
	Progress io.Writer
}

// DefaultConfig returns the configuration of BENCHMARKS.md's figures.
func DefaultConfig() Config {
	return Config{
		Nodes: 10000, Racks: 50, Switches: 10, Seed: 1, Replicas: 10,
		ExactApps: 30, SampledApps: 100, Runs: 3, SchedRepeats: 5,
		Modes: []Mode{Exact, Sampled}, Scenarios: Scenarios(), Timeout: 5 * time.Minute,
	}
}

func (c Config) withDefaults() (Config, error) {
	d := DefaultConfig()
	for _, f := range []struct {
		v    *int
		def  int
		name string
	}{
		{&c.Nodes, d.Nodes, "Nodes"},
		{&c.Racks, d.Racks, "Racks"},
		{&c.Switches, d.Switches, "Switches"},
		{&c.Replicas, d.Replicas, "Replicas"},
		{&c.ExactApps, d.ExactApps, "ExactApps"},
		{&c.SampledApps, d.SampledApps, "SampledApps"},
		{&c.Runs, d.Runs, "Runs"},
		{&c.SchedRepeats, d.SchedRepeats, "SchedRepeats"},
	} {
		if *f.v < 0 {
			return c, newError(ErrInvalid, "config.%s: negative (%d)", f.name, *f.v)
		}
		if *f.v == 0 {
			*f.v = f.def
		}
	}
	if c.Seed == 0 {
		c.Seed = d.Seed
	}
	if c.Modes == nil {
		c.Modes = d.Modes
	}
	if c.Scenarios == nil {
		c.Scenarios = d.Scenarios
	}
	if c.Timeout == 0 {
		c.Timeout = d.Timeout
	}
	if c.Progress == nil {
		c.Progress = io.Discard
	}
	if c.Replicas > c.Racks {
		return c, newError(ErrInvalid, "config.Replicas: %d apps' replicas cannot go one per rack on %d racks", c.Replicas, c.Racks)
	}
	return c, nil
}

// Timing is one timed run of a segment.
type Timing struct {
	Wall, CPU time.Duration
}

// Side is one scheduler's figures for a segment.
type Side struct {
	// Runs holds each run's timing (sched: the median of its repeats).
	Runs []Timing
	// Evaluated and Feasible are the nodes per placement: kube-scheduler's
	// own counts (ScheduleResult), averaged; for sched, Evaluated is the
	// mode's count and Feasible 0 (its public API reports neither; see
	// EvaluatedNote).
	Evaluated, Feasible float64
	// EvaluatedNote says how Evaluated was obtained.
	EvaluatedNote string
	// Quality is the checker's verdict and the balance, from the first run.
	Quality Quality
}

// Row is one scenario in one mode: the same requests on both sides.
type Row struct {
	Scenario   string
	Mode       Mode
	Placements int
	// Inexpressible, when not nil, is why kube-scheduler could not be given
	// this scenario (wrapping ErrInexpressible); Kube is then empty.
	Inexpressible error
	Kube, Sched   Side
}

// Report is the outcome of Run.
type Report struct {
	Config     Config
	Fleet      *Fleet
	GOMAXPROCS int
	Rows       []Row
}

// Run builds the fleet and, for each mode and scenario, runs the same
// requests on kube-scheduler and on sched, Runs times each, each time on a
// new scheduler holding the fleet and its background, the two sides one
// after the other in this process. Every placement of both sides goes
// through schedtest's checker; a violation is recorded in the row's
// Quality and returned as an error wrapping ErrViolation after the run.
func Run(ctx context.Context, cfg Config) (*Report, error) {
	cfg, err := cfg.withDefaults()
	if err != nil {
		return nil, err
	}
	f, err := NewFleet(cfg.Nodes, cfg.Racks, cfg.Switches, cfg.Seed)
	if err != nil {
		return nil, err
	}
	rep := &Report{Config: cfg, Fleet: f, GOMAXPROCS: runtime.GOMAXPROCS(0)}
	var violations []string
	for _, m := range cfg.Modes {
		apps := cfg.ExactApps
		if m == Sampled {
			apps = cfg.SampledApps
		}
		for _, sc := range cfg.Scenarios {
			if err := ctx.Err(); err != nil {
				return rep, wrapError(ErrUnavailable, err, "comparison stopped before %s %s", sc.Name, m)
			}
			row, err := runRow(ctx, cfg, f, m, sc, apps)
			if err != nil {
				return rep, err
			}
			rep.Rows = append(rep.Rows, *row)
			for _, v := range []error{row.Kube.Quality.Violation, row.Sched.Quality.Violation} {
				if v != nil {
					violations = append(violations, fmt.Sprintf("%s %s: %s", sc.Name, m, strings.TrimPrefix(v.Error(), "kubepeer: ")))
				}
			}
			fmt.Fprintf(cfg.Progress, "%s\n", row.summary())
		}
	}
	if len(violations) > 0 {
		return rep, newError(ErrViolation, "%d segments broke a rule: %s", len(violations), strings.Join(violations, "; "))
	}
	return rep, nil
}

func runRow(ctx context.Context, cfg Config, f *Fleet, m Mode, sc Scenario, apps int) (*Row, error) {
	reqs := sc.Requests(apps, cfg.Replicas)
	row := &Row{Scenario: sc.Name, Mode: m, Placements: apps * cfg.Replicas}
	pods, podApp, err := podsFor(reqs)
	if errors.Is(err, ErrInexpressible) {
		row.Inexpressible = err
	} else if err != nil {
		return nil, err
	}
	for run := 0; run < cfg.Runs; run++ {
		if row.Inexpressible == nil {
			if err := kubeSegment(ctx, cfg, f, m, reqs, pods, podApp, row, run == 0); err != nil {
				return nil, within(err, "%s %s run %d: kube-scheduler", sc.Name, m, run+1)
			}
		}
		if err := schedSegment(cfg, f, m, reqs, row, run == 0); err != nil {
			return nil, within(err, "%s %s run %d: sched", sc.Name, m, run+1)
		}
	}
	row.Sched.Evaluated, row.Sched.EvaluatedNote = schedEvaluated(cfg, m)
	return row, nil
}

// podsFor translates every replica of reqs, returning the pods in stream
// order and each pod's request index.
func podsFor(reqs []sched.Request) ([]*v1.Pod, map[string]int, error) {
	var pods []*v1.Pod
	podApp := map[string]int{}
	for i := range reqs {
		for r := 0; r < reqs[i].Count; r++ {
			p, err := PodFor(&reqs[i], r)
			if err != nil {
				return nil, nil, err
			}
			pods = append(pods, p)
			podApp[p.Name] = i
		}
	}
	return pods, podApp, nil
}

func kubeSegment(ctx context.Context, cfg Config, f *Fleet, m Mode, reqs []sched.Request, pods []*v1.Pod, podApp map[string]int, row *Row, first bool) error {
	k, err := startKube(ctx, f, m)
	if err != nil {
		return err
	}
	// The pods are shared between runs; the scheduler only reads them, but
	// hand it copies so that no run sees another's state.
	fresh := make([]*v1.Pod, len(pods))
	for i, p := range pods {
		fresh[i] = p.DeepCopy()
	}
	runtime.GC()
	run, err := k.place(ctx, fresh, cfg.Timeout)
	k.stop()
	if err != nil {
		return err
	}
	row.Kube.Runs = append(row.Kube.Runs, Timing{Wall: run.wall, CPU: run.cpu})
	if !first {
		return nil
	}
	var evaluated, feasible int
	for _, d := range run.decisions {
		evaluated += d.evaluated
		feasible += d.feasible
	}
	if n := len(run.decisions); n > 0 {
		row.Kube.Evaluated, row.Kube.Feasible = float64(evaluated)/float64(n), float64(feasible)/float64(n)
	}
	row.Kube.EvaluatedNote = "measured (kube-scheduler's ScheduleResult)"
	steps, err := kubeSteps(reqs, podApp, run)
	if err != nil {
		row.Kube.Quality.Violation = err
		return nil
	}
	chk, err := f.checker()
	if err != nil {
		return err
	}
	row.Kube.Quality = judge(f, chk, steps)
	return nil
}

func schedSegment(cfg Config, f *Fleet, m Mode, reqs []sched.Request, row *Row, first bool) error {
	runs := make([]*schedRun, 0, cfg.SchedRepeats)
	for range cfg.SchedRepeats {
		run, err := runSched(f, m, reqs)
		if err != nil {
			return err
		}
		if len(runs) > 0 && !sameNodes(runs[0], run) {
			return newError(ErrViolation, "sched placed the same stream differently in two runs with the same seed")
		}
		runs = append(runs, run)
	}
	walls := make([]time.Duration, len(runs))
	cpus := make([]time.Duration, len(runs))
	for i, r := range runs {
		walls[i], cpus[i] = r.wall, r.cpu
	}
	row.Sched.Runs = append(row.Sched.Runs, Timing{Wall: median(walls), CPU: median(cpus)})
	if !first {
		return nil
	}
	chk, err := f.checker()
	if err != nil {
		return err
	}
	row.Sched.Quality = judge(f, chk, schedSteps(reqs, runs[0]))
	return nil
}

// schedEvaluated is the number of nodes a sched placement accounts for in
// mode m: every node in exact mode (the candidate cache holds the verdicts
// and scores of nodes unchanged since the last placement, and only nodes
// the inventory's change log names are evaluated again), the window's
// feasible nodes in sampled mode (kube-scheduler's formula).
func schedEvaluated(cfg Config, m Mode) (evaluated float64, note string) {
	n := cfg.Nodes
	if m == Exact {
		return float64(n), "all nodes, most from the candidate cache (sched does not report a count)"
	}
	pct := max(50-n/125, 5)
	want := n
	if n > 100 {
		want = max(n*pct/100, 100)
	}
	return float64(want), "the window's feasible nodes, by the mode's formula (sched does not report a count)"
}

func median(d []time.Duration) time.Duration {
	if len(d) == 0 {
		return 0
	}
	s := slices.Clone(d)
	slices.Sort(s)
	return s[len(s)/2]
}

// within adds where err happened, keeping its kind (ErrUnavailable for an
// error of no kind of ours).
func within(err error, format string, args ...any) error {
	kind := ErrUnavailable
	var e *errs.Error
	if errors.As(err, &e) {
		kind = e.Kind
	}
	return wrapError(kind, err, format, args...)
}
