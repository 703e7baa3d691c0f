package autoscale

import (
	"fmt"
	"math"
)

// MetricProposal is what one metric proposes in one decision, and why.
type MetricProposal struct {
	// Metric is the MetricSpec.Name.
	Metric string
	// Value is the metric now: utilisation percent, average per instance,
	// or app value (for an app average target: app value ÷ Current).
	Value float64
	// Target is the target in the unit of Value.
	Target float64
	// Ratio is Value ÷ Target as the replica calculator used it.
	Ratio float64
	// Replicas is the proposal; meaningful only when Err is nil.
	Replicas int
	// Err is why the metric could not be read (wraps [ErrUnreadable]).
	Err error
	// Ready, Unready, Missing and Ignored count the instances whose samples
	// were used, left out as unready or warming up, missing, and left out
	// as failed or deleting.
	Ready, Unready, Missing, Ignored int
	// Note says how the proposal was reached.
	Note string
	// Load is the metric's total in target units (Value × counted
	// instances, or the app value): what the forecast extrapolates.
	Load float64
	// Forecast is the load predicted Lead ahead, and ForecastReplicas its
	// proposal; both 0 when there is no forecast.
	Forecast         float64
	ForecastReplicas int
}

func ceilReplicas(x float64) int {
	switch {
	case math.IsNaN(x) || x <= 0:
		return 0
	case x >= maxReplicasLimit:
		return maxReplicasLimit
	}
	return int(math.Ceil(x))
}

// perInstance holds the sums of one per-instance metric, in thousandths.
type perInstance struct {
	readyTotal, readyReq    int64
	missingReq, unreadyReq  int64
	ready, unready, missing int
	ignored                 int
	// For utilisation: the requests the samples carried, and the missing
	// and unready instances without a sample, whose request is taken as
	// the average of those (see fillRequests).
	reqSum                     int64
	reqN                       int
	missingNoReq, unreadyNoReq int
	overflow                   bool
	err                        error
}

// avgRequest is the average request of the samples that carried one.
func (g *perInstance) avgRequest() int64 {
	if g.reqN == 0 {
		return 0
	}
	return g.reqSum / int64(g.reqN)
}

// fillRequests adds the average request for each missing and unready
// instance that had no sample to say its own.
func (g *perInstance) fillRequests() {
	avg := g.avgRequest()
	g.missingReq = addSat(g.missingReq, mulSat(avg, g.missingNoReq, &g.overflow), &g.overflow)
	g.unreadyReq = addSat(g.unreadyReq, mulSat(avg, g.unreadyNoReq, &g.overflow), &g.overflow)
	g.missingNoReq, g.unreadyNoReq = 0, 0
}

func mulSat(a int64, n int, overflow *bool) int64 {
	if n != 0 && a > math.MaxInt64/int64(n) {
		*overflow = true
		return math.MaxInt64
	}
	return a * int64(n)
}

func addSat(a, b int64, overflow *bool) int64 {
	if a > math.MaxInt64-b {
		*overflow = true
		return math.MaxInt64
	}
	return a + b
}

// groupAll sorts the instances as Kubernetes' groupPods does and sums
// their samples, for every per-instance metric of cfg in one pass over the
// instances; out[i] belongs to cfg.Metrics[i] (app metrics stay zero).
func groupAll(cfg *Config, obs *Observation, out []perInstance) {
	startCut := obs.Now.Add(-span(cfg.StartupPeriod))
	for i := range obs.Instances {
		in := &obs.Instances[i]
		if in.Deleting || in.Phase == PhaseFailed {
			for j := range cfg.Metrics {
				out[j].ignored++
			}
			continue
		}
		warm, warmKnown := false, false
		for j := range cfg.Metrics {
			spec := &cfg.Metrics[j]
			if spec.Kind == KindApp {
				continue
			}
			g := &out[j]
			s, found := in.sampleAt(spec.Name, j)
			var req int64
			if spec.Target == TargetUtilization && found {
				r, ok := toMilli(s.Request)
				if !ok || r == 0 {
					if g.err == nil {
						g.err = unreadable("instance %q has no request for %s", in.Name, spec.Name)
					}
					continue
				}
				req = r
				g.reqSum = addSat(g.reqSum, r, &g.overflow)
				g.reqN++
			}
			// An instance left out of the samples is missing (or unready
			// when pending), as a pod without metrics is in Kubernetes;
			// for utilisation its request is the average one.
			if in.Phase == PhasePending {
				g.unready++
				if spec.Target == TargetUtilization && !found {
					g.unreadyNoReq++
				}
				g.unreadyReq = addSat(g.unreadyReq, req, &g.overflow)
				continue
			}
			if !found || s.Missing {
				g.missing++
				if spec.Target == TargetUtilization && !found {
					g.missingNoReq++
				}
				g.missingReq = addSat(g.missingReq, req, &g.overflow)
				continue
			}
			if spec.IgnoreUnready {
				if !warmKnown {
					warm, warmKnown = in.warmingUp(startCut, cfg), true
				}
				if warm {
					g.unready++
					g.unreadyReq = addSat(g.unreadyReq, req, &g.overflow)
					continue
				}
			}
			v, ok := toMilli(s.Value)
			if !ok {
				if g.err == nil {
					g.err = badSample(fmt.Sprintf("sample of %s from instance %q", spec.Name, in.Name), s.Value)
				}
				continue
			}
			g.ready++
			g.readyTotal = addSat(g.readyTotal, v, &g.overflow)
			g.readyReq = addSat(g.readyReq, req, &g.overflow)
		}
	}
}

// utilization is Kubernetes' integer percent: total×100/requests.
func utilization(total, req int64) int64 {
	if req <= 0 {
		return 0
	}
	if total <= math.MaxInt64/100 {
		return total * 100 / req
	}
	return int64(math.Floor(float64(total) / float64(req) * 100))
}

// proposeInstance ports the Kubernetes replica calculator for per-instance
// metrics (GetResourceReplicas and calcPlainMetricReplicas).
func proposeInstance(spec *MetricSpec, g perInstance, obs *Observation, cfg *Config) MetricProposal {
	p := MetricProposal{Metric: spec.Name, Target: spec.targetValue()}
	p.Ready, p.Unready, p.Missing, p.Ignored = g.ready, g.unready, g.missing, g.ignored
	avgReq := g.avgRequest()
	g.fillRequests()
	switch {
	case g.err != nil:
		p.Err = g.err
		return p
	case g.overflow:
		p.Err = unreadable("sum of %s samples overflows", spec.Name)
		return p
	case g.ready == 0:
		p.Err = unreadable("no sample of %s from a ready instance", spec.Name)
		return p
	}
	cur := obs.Current
	util := spec.Target == TargetUtilization
	targetMilli := int64(spec.Utilization)
	if !util {
		targetMilli, _ = toMilli(spec.Value)
	}
	// ratio of the samples alone.
	ratioOf := func(total, req int64, n int) (float64, float64) {
		if util {
			u := utilization(total, req)
			return float64(u) / float64(spec.Utilization), float64(u)
		}
		avg := total / int64(n)
		return float64(avg) / float64(targetMilli), float64(avg) / 1000
	}
	ratio, value := ratioOf(g.readyTotal, g.readyReq, g.ready)
	p.Ratio, p.Value = ratio, value
	p.Load = value * float64(g.ready)

	scaleUpWithUnready := g.unready > 0 && ratio > 1
	if !scaleUpWithUnready && g.missing == 0 {
		if cfg.Tolerance.within(ratio) {
			p.Replicas = cur
			p.Note = "within tolerance"
			return p
		}
		p.Replicas = ceilReplicas(ratio * float64(g.ready))
		p.Note = "ceil(ratio × ready instances)"
		return p
	}

	total, req, n := g.readyTotal, g.readyReq, g.ready
	var notes []string
	if g.missing > 0 {
		switch {
		case ratio < 1:
			// On a scale-in a missing sample counts as the request (or
			// the target when it is above 100 %), so it cannot pull the
			// average down.
			if util {
				if spec.Utilization > 100 {
					total = addSat(total, missingFallback(spec, obs, int64(spec.Utilization), avgReq), &g.overflow)
				} else {
					total = addSat(total, g.missingReq, &g.overflow)
				}
				req = addSat(req, g.missingReq, &g.overflow)
			} else {
				total = addSat(total, targetMilli*int64(g.missing), &g.overflow)
			}
			n += g.missing
			notes = append(notes, fmt.Sprintf("%d missing assumed at target (scale-in)", g.missing))
		case ratio > 1:
			req = addSat(req, g.missingReq, &g.overflow)
			n += g.missing
			notes = append(notes, fmt.Sprintf("%d missing assumed 0 (scale-out)", g.missing))
		}
	}
	if scaleUpWithUnready {
		req = addSat(req, g.unreadyReq, &g.overflow)
		n += g.unready
		notes = append(notes, fmt.Sprintf("%d unready assumed 0 (scale-out)", g.unready))
	}
	if g.overflow {
		p.Err = unreadable("sum of %s samples overflows", spec.Name)
		return p
	}
	newRatio, _ := ratioOf(total, req, n)
	note := joinNotes(notes)
	if cfg.Tolerance.within(newRatio) || (ratio < 1 && newRatio > 1) || (ratio > 1 && newRatio < 1) {
		p.Replicas = cur
		p.Note = note + "; then within tolerance or direction reversed"
		return p
	}
	r := ceilReplicas(newRatio * float64(n))
	if (newRatio < 1 && r > cur) || (newRatio > 1 && r < cur) {
		p.Replicas = cur
		p.Note = note + "; then count would reverse direction"
		return p
	}
	p.Replicas = r
	p.Note = note + "; ceil(ratio × counted instances)"
	return p
}

// missingFallback sums request×fallback/100 per missing instance, as
// Kubernetes rounds it per instance; an instance without a sample has the
// average request avgReq.
func missingFallback(spec *MetricSpec, obs *Observation, fallback, avgReq int64) int64 {
	var sum int64
	for i := range obs.Instances {
		in := &obs.Instances[i]
		if in.Deleting || in.Phase != PhaseRunning {
			continue
		}
		s, found := in.sample(spec.Name)
		if found && !s.Missing {
			continue
		}
		r, _ := toMilli(s.Request)
		if !found {
			r = avgReq
		}
		if r > math.MaxInt64/fallback {
			return math.MaxInt64
		}
		sum += r * fallback / 100
		if sum < 0 {
			return math.MaxInt64
		}
	}
	return sum
}

func joinNotes(notes []string) string {
	s := ""
	for i, n := range notes {
		if i > 0 {
			s += ", "
		}
		s += n
	}
	return s
}

// proposeApp ports GetObjectMetricReplicas / GetExternalMetricReplicas
// (value target) and their per-pod variants (average value target).
func proposeApp(spec *MetricSpec, obs *Observation, cfg *Config) MetricProposal {
	p := MetricProposal{Metric: spec.Name, Target: spec.Value}
	v, found := obs.App[spec.Name]
	if !found {
		p.Err = unreadable("no value for app metric %s", spec.Name)
		return p
	}
	usage, ok := toMilli(v)
	if !ok {
		p.Err = badSample("app metric "+spec.Name, v)
		return p
	}
	target, _ := toMilli(spec.Value)
	cur := obs.Current
	p.Load = float64(usage) / 1000
	if spec.Target == TargetAverageValue {
		ratio := float64(usage) / (float64(target) * float64(cur))
		p.Ratio = ratio
		if cur > 0 {
			p.Value = math.Ceil(float64(usage)/float64(cur)) / 1000
		} else {
			p.Value = p.Load
		}
		p.Replicas = cur
		p.Note = "within tolerance"
		if !cfg.Tolerance.within(ratio) {
			p.Replicas = ceilReplicas(float64(usage) / float64(target))
			p.Note = "ceil(value ÷ target per instance)"
		}
		return p
	}
	ratio := float64(usage) / float64(target)
	p.Ratio, p.Value = ratio, p.Load
	if cur == 0 {
		p.Replicas = ceilReplicas(ratio)
		p.Note = "from zero: ceil(ratio)"
		return p
	}
	ready := cur
	if obs.Instances != nil {
		ready = 0
		for i := range obs.Instances {
			if obs.Instances[i].Phase == PhaseRunning && obs.Instances[i].Ready {
				ready++
			}
		}
	}
	p.Ready = ready
	if cfg.Tolerance.within(ratio) {
		p.Replicas = cur
		p.Note = "within tolerance"
		return p
	}
	p.Replicas = ceilReplicas(ratio * float64(ready))
	p.Note = "ceil(ratio × ready instances)"
	return p
}

func propose(spec *MetricSpec, g perInstance, obs *Observation, cfg *Config) MetricProposal {
	if spec.Kind == KindApp {
		return proposeApp(spec, obs, cfg)
	}
	if obs.Current == 0 && len(obs.Instances) == 0 {
		return MetricProposal{
			Metric: spec.Name, Target: spec.targetValue(),
			Err: unreadable("no instances to sample %s (scaled to zero)", spec.Name),
		}
	}
	return proposeInstance(spec, g, obs, cfg)
}
