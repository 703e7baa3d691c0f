package autoscale

import (
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
	"time"
)

// Simulation replays a load trace against a policy, for tests, docs and
// tuning. The app is modelled simply: the total load is shared evenly by
// the ready instances; each per-instance metric reads load ÷ ready
// instances (with a request of 1, so a utilisation target reads 100 × load
// ÷ ready instances percent) and each app metric reads the total load.
type Simulation struct {
	// Config is the policy under test.
	Config Config
	// Start is the time of the first decision (default 2026-01-01 UTC when
	// zero).
	Start time.Time
	// Interval is the time between decisions (default 15 s when 0).
	Interval time.Duration
	// StartupDelay is how long a new instance stays pending before it is
	// ready (default 0: ready at the next decision).
	StartupDelay time.Duration
	// Initial is the replica count at the start (default MinReplicas, at
	// least 1, when 0); at most 100,000.
	Initial int
}

// maxSimInstances bounds the instances a Simulation models, Initial and
// Config.MaxReplicas: each is an Instance in every observation.
const maxSimInstances = 100_000

// SimStep is one decision of a simulation.
type SimStep struct {
	// At is the time since the start.
	At time.Duration
	// Load is the trace value replayed.
	Load float64
	// Ready counts the instances that served the load.
	Ready int
	// Replicas is the count decided.
	Replicas int
	// Decision explains it.
	Decision Decision
}

type simInstance struct {
	started, readyAt time.Time
}

// Run replays load, one value per Interval, and returns every decision.
// It errs, wrapping [ErrInvalid], on a bad policy or a bad load value, a
// negative Initial, Interval or StartupDelay, and an Initial or
// Config.MaxReplicas above the 100,000 instances a simulation models.
func (s *Simulation) Run(load []float64) ([]SimStep, error) {
	a, err := New(s.Config)
	if err != nil {
		return nil, err
	}
	switch {
	case s.Initial < 0:
		return nil, invalid("Simulation.Initial", "negative (%d)", s.Initial)
	case s.Initial > maxSimInstances:
		return nil, invalid("Simulation.Initial", "%d exceeds the %d instances a simulation models", s.Initial, maxSimInstances)
	case a.cfg.MaxReplicas > maxSimInstances:
		return nil, invalid("Simulation.Config.MaxReplicas", "%d exceeds the %d instances a simulation models", a.cfg.MaxReplicas, maxSimInstances)
	case s.Interval < 0:
		return nil, invalid("Simulation.Interval", "negative (%s)", s.Interval)
	case s.StartupDelay < 0:
		return nil, invalid("Simulation.StartupDelay", "negative (%s)", s.StartupDelay)
	}
	start := s.Start
	if start.IsZero() {
		start = time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	}
	interval := s.Interval
	if interval == 0 {
		interval = 15 * time.Second
	}
	n := s.Initial
	if n == 0 {
		n = max(a.Config().MinReplicas, 1)
	}
	long := start.Add(-24 * time.Hour)
	insts := make([]simInstance, n)
	for i := range insts {
		insts[i] = simInstance{started: long, readyAt: long}
	}
	steps := make([]SimStep, 0, len(load))
	obs := Observation{App: map[string]float64{}}
	for i, l := range load {
		if err := checkNonNeg(fmt.Sprintf("load[%d]", i), l); err != nil {
			return steps, err
		}
		now := start.Add(time.Duration(i) * interval)
		ready := 0
		for _, in := range insts {
			if !in.readyAt.After(now) {
				ready++
			}
		}
		obs.Now, obs.Current = now, len(insts)
		obs.Instances = obs.Instances[:0]
		for j, in := range insts {
			inst := Instance{Name: fmt.Sprintf("i%d", j), Started: in.started, SampledAt: now}
			if in.readyAt.After(now) {
				inst.Phase = PhasePending
			} else {
				inst.Ready, inst.ReadyChanged = true, in.readyAt
				for _, m := range s.Config.Metrics {
					if m.Kind != KindApp {
						inst.Samples = append(inst.Samples, Sample{Metric: m.Name, Value: l / float64(ready), Request: 1})
					}
				}
			}
			obs.Instances = append(obs.Instances, inst)
		}
		for _, m := range s.Config.Metrics {
			if m.Kind == KindApp {
				obs.App[m.Name] = l
			}
		}
		d, err := a.Decide(obs)
		if err != nil {
			return steps, err
		}
		steps = append(steps, SimStep{At: now.Sub(start), Load: l, Ready: ready, Replicas: d.Desired, Decision: d})
		for len(insts) > d.Desired {
			insts = insts[:len(insts)-1]
		}
		for len(insts) < d.Desired {
			insts = append(insts, simInstance{started: now, readyAt: now.Add(max(s.StartupDelay, time.Nanosecond))})
		}
	}
	return steps, nil
}

// WriteSteps prints a simulation as a table: time, load, ready instances,
// replicas decided and the reason of every change.
func WriteSteps(w io.Writer, steps []SimStep) error {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	if _, err := fmt.Fprintln(tw, "t\tload\tready\treplicas\twhy"); err != nil {
		return err
	}
	for i := range steps {
		st := &steps[i]
		why := ""
		if st.Decision.Desired != st.Decision.Current || len(st.Decision.Steps) > 0 {
			why = st.Decision.Reason()
		}
		row := fmt.Sprintf("%s\t%g\t%d\t%d", st.At, st.Load, st.Ready, st.Replicas)
		if why != "" {
			row += "\t" + why
		}
		if _, err := fmt.Fprintln(tw, row); err != nil {
			return err
		}
	}
	return tw.Flush()
}

// Sparkline draws the replica counts of a simulation as one line of
// digits (counts above 9 print as '+').
func Sparkline(steps []SimStep) string {
	var b strings.Builder
	for i := range steps {
		r := steps[i].Replicas
		if r > 9 {
			b.WriteByte('+')
		} else {
			b.WriteByte(byte('0' + r))
		}
	}
	return b.String()
}
