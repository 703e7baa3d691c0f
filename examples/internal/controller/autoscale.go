package controller

import (
	"context"
	"fmt"
	"io"
	"math"
	"net/http"
	"sync"
	"time"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"

	"github.com/shoalkit/shoal/autoscale"
	"github.com/shoalkit/shoal/examples/internal/state"
)

// InstanceMetrics are one instance's numbers for the autoscale loop.
type InstanceMetrics struct {
	// CPUCores is the CPU it used over the last interval, in cores.
	CPUCores float64
	// Connections is its TCP connections in use.
	Connections float64
	// MemoryBytes is its working set.
	MemoryBytes float64
	// Requests is the app's own counter named by AutoscaleSpec.TPSMetric,
	// cumulative (the loop turns it into a rate); NaN when not read.
	Requests float64
	At       time.Time
}

// MetricsSource measures instances: the controller calls Read once per
// ActivityInterval with every instance of every app (apps by name, nodes
// by name), and leaves the instances it could not read out of the map.
type MetricsSource interface {
	Read(ctx context.Context, apps map[string]*state.App, ins []InstanceView, nodes map[string]*state.Node) map[string]InstanceMetrics
}

// AgentMetrics reads CPU and connections from the agents' /metrics (the
// metrics package's cAdvisor-named series, one scrape per node) and the
// TPS counter from each instance's own endpoint at IP:MetricsPort. An
// instance whose address is not routable from the controller (a VLAN the
// controller's host is not on) has no TPS.
type AgentMetrics struct {
	Client *http.Client

	mu   sync.Mutex
	last map[string]cpuReading
}

type cpuReading struct {
	seconds float64
	at      time.Time
}

var _ MetricsSource = (*AgentMetrics)(nil)

// maxScrapeBytes bounds one /metrics answer.
const maxScrapeBytes = 32 << 20

// Read implements MetricsSource.
func (m *AgentMetrics) Read(ctx context.Context, apps map[string]*state.App, ins []InstanceView, nodes map[string]*state.Node) map[string]InstanceMetrics {
	m.mu.Lock()
	defer m.mu.Unlock()
	last := make(map[string]cpuReading, len(ins)) // only the instances still there
	byNode := map[string][]InstanceView{}
	for _, v := range ins {
		byNode[v.Desired.Node] = append(byNode[v.Desired.Node], v)
	}
	out := map[string]InstanceMetrics{}
	for node, vs := range byNode {
		n := nodes[node]
		if n == nil || n.Addr == "" {
			continue
		}
		fams, err := m.scrape(ctx, "http://"+n.Addr+"/metrics")
		if err != nil {
			for _, v := range vs { // the next good scrape still gives a rate
				if r, ok := m.last[v.Desired.ID]; ok {
					last[v.Desired.ID] = r
				}
			}
			continue
		}
		now := time.Now()
		cpu := sumBy(fams["container_cpu_usage_seconds_total"], "name", nil)
		tcp := sumBy(fams["container_network_tcp_usage"], "name", map[string]string{"tcp_state": "inuse"})
		mem := sumBy(fams["container_memory_working_set_bytes"], "name", nil)
		for _, v := range vs {
			id := v.Desired.ID
			sec, ok := cpu[id]
			if !ok {
				continue
			}
			im := InstanceMetrics{Connections: tcp[id], MemoryBytes: mem[id], Requests: math.NaN(), At: now}
			if prev, ok := m.last[id]; ok && now.After(prev.at) && sec >= prev.seconds {
				im.CPUCores = (sec - prev.seconds) / now.Sub(prev.at).Seconds()
			} else {
				im.CPUCores = math.NaN() // the first reading gives no rate
			}
			last[id] = cpuReading{seconds: sec, at: now}
			if a := autoscaleOf(apps[v.Desired.App]); a != nil && a.TPSMetric != "" && v.Desired.Network != nil {
				im.Requests = m.counter(ctx, fmt.Sprintf("http://%s:%d/metrics", v.Desired.Network.IP.Addr(), a.MetricsPort), a.TPSMetric)
			}
			out[id] = im
		}
	}
	m.last = last
	return out
}

func autoscaleOf(a *state.App) *state.AutoscaleSpec {
	if a == nil {
		return nil
	}
	return a.Spec.Autoscale
}

func (m *AgentMetrics) client() *http.Client {
	if m.Client != nil {
		return m.Client
	}
	return &http.Client{Timeout: 5 * time.Second}
}

func (m *AgentMetrics) scrape(ctx context.Context, url string) (map[string]*dto.MetricFamily, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return nil, err
	}
	req.Header.Set("Accept", "text/plain;version=0.0.4")
	resp, err := m.client().Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("%s: %s", url, resp.Status)
	}
	p := expfmt.NewTextParser(model.UTF8Validation)
	return p.TextToMetricFamilies(io.LimitReader(resp.Body, maxScrapeBytes))
}

// counter reads one counter's total (summed over its series), NaN when
// absent.
func (m *AgentMetrics) counter(ctx context.Context, url, name string) float64 {
	fams, err := m.scrape(ctx, url)
	if err != nil || fams[name] == nil {
		return math.NaN()
	}
	total := 0.0
	for _, mt := range fams[name].GetMetric() {
		total += value(mt)
	}
	return total
}

func value(m *dto.Metric) float64 {
	switch {
	case m.Counter != nil:
		return m.Counter.GetValue()
	case m.Gauge != nil:
		return m.Gauge.GetValue()
	case m.Untyped != nil:
		return m.Untyped.GetValue()
	}
	return 0
}

// sumBy sums a family's values per value of label key, over the series
// matching every label in where.
func sumBy(f *dto.MetricFamily, key string, where map[string]string) map[string]float64 {
	out := map[string]float64{}
	for _, m := range f.GetMetric() {
		labels := map[string]string{}
		for _, l := range m.GetLabel() {
			labels[l.GetName()] = l.GetValue()
		}
		ok := true
		for k, v := range where {
			ok = ok && labels[k] == v
		}
		if ok {
			out[labels[key]] += value(m)
		}
	}
	return out
}

// scaler is the autoscale state of one app on the leader.
type scaler struct {
	spec     state.AutoscaleSpec
	as       *autoscale.Autoscaler
	lastWhy  string
	proposal *Proposal
}

// proposalTTL is how long a scaling proposal waits for approval.
const proposalTTL = 10 * time.Minute

// Proposal is a scaling decision waiting for a person (AutoscaleSpec.Approve).
type Proposal struct {
	App      string    `json:"app"`
	Current  int       `json:"current"`
	Desired  int       `json:"desired"`
	Reason   string    `json:"reason"`
	Proposed time.Time `json:"proposed"`
}

// policy turns an app's AutoscaleSpec into autoscale's Config.
func policy(a *state.AutoscaleSpec) (autoscale.Config, error) {
	cfg := autoscale.DefaultConfig()
	cfg.MinReplicas, cfg.MaxReplicas = a.Min, a.Max
	if a.Min == 0 {
		cfg.MinReplicas = 1
	}
	low := func(m autoscale.MetricSpec, lw float64) autoscale.MetricSpec {
		if a.SustainedLow > 0 {
			m.LowWater = lw
		}
		return m
	}
	if a.CPUPercent > 0 {
		cfg.Metrics = append(cfg.Metrics, low(autoscale.CPUUtilization(a.CPUPercent), float64(a.CPUPercent)/2))
	}
	if a.Connections > 0 {
		cfg.Metrics = append(cfg.Metrics, low(autoscale.InstanceAverage("connections", a.Connections), a.Connections/2))
	}
	if a.TPS > 0 {
		cfg.Metrics = append(cfg.Metrics, low(autoscale.AppAverage("tps", a.TPS), a.TPS/2))
	}
	cfg.SustainedLow.Window = time.Duration(a.SustainedLow)
	if a.ScaleInWindow > 0 {
		b := autoscale.DefaultBehavior()
		b.ScaleDown.StabilizationWindow = time.Duration(a.ScaleInWindow)
		cfg.Behavior = b
	}
	if a.MigrationBps > 0 && a.MigrationBytes > 0 {
		cfg.Migration = autoscale.Migration{BytesPerInstance: a.MigrationBytes, BytesPerSecond: a.MigrationBps, Period: time.Minute}
	}
	return cfg, cfg.Validate()
}

// autoscaleLoop decides, every AutoscaleInterval, for each app with an
// autoscale spec, and applies the decision (or, with Approve, proposes
// it). It runs on the leader only; the windows start afresh on a new
// leader.
func (c *Controller) autoscaleLoop(ctx context.Context, t *term) {
	tick := time.NewTicker(c.cfg.AutoscaleInterval)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
		scaled := map[string]bool{}
		for _, a := range c.Apps() {
			if a.Spec.Autoscale != nil {
				scaled[a.Spec.Name] = true
				c.autoscaleApp(ctx, t, &a.App)
			}
		}
		// An app deleted or no longer autoscaled takes its windows and
		// proposal with it.
		c.scalersMu.Lock()
		for name := range c.scalers {
			if !scaled[name] {
				delete(c.scalers, name)
			}
		}
		c.scalersMu.Unlock()
	}
}

func (c *Controller) scalerFor(a *state.App) (*scaler, error) {
	c.scalersMu.Lock()
	defer c.scalersMu.Unlock()
	s := c.scalers[a.Spec.Name]
	if s != nil && s.spec == *a.Spec.Autoscale {
		return s, nil
	}
	cfg, err := policy(a.Spec.Autoscale)
	if err != nil {
		return nil, err
	}
	as, err := autoscale.New(cfg)
	if err != nil {
		return nil, err
	}
	s = &scaler{spec: *a.Spec.Autoscale, as: as}
	c.scalers[a.Spec.Name] = s
	return s, nil
}

func (c *Controller) autoscaleApp(ctx context.Context, t *term, a *state.App) {
	s, err := c.scalerFor(a)
	if err != nil {
		c.warn(ctx, "autoscale/"+a.Spec.Name, state.Event{Kind: "AutoscaleInvalid", App: a.Spec.Name, Message: err.Error()})
		return
	}
	ins := c.Instances(a.Spec.Name, "")
	read, tps, tpsOK := c.readings(a.Spec.Name, ins)
	obs := autoscale.Observation{Now: c.cfg.Now(), Current: a.Spec.Replicas, App: map[string]float64{}}
	for _, v := range ins {
		in := autoscale.Instance{Name: v.Desired.ID, Phase: autoscale.PhaseRunning, Ready: v.Ready}
		if st := v.Status; st != nil {
			in.Started = st.StartedAt
			if st.Phase == state.Pending || st.Phase == state.Creating {
				in.Phase = autoscale.PhasePending
			}
		}
		if m, ok := read[v.Desired.ID]; ok {
			in.SampledAt = m.At
			if a.Spec.Autoscale.CPUPercent > 0 {
				in.Samples = append(in.Samples, autoscale.Sample{Metric: "cpu", Value: m.CPUCores, Request: a.Spec.Resources.CPUs, Missing: math.IsNaN(m.CPUCores)})
			}
			if a.Spec.Autoscale.Connections > 0 {
				in.Samples = append(in.Samples, autoscale.Sample{Metric: "connections", Value: m.Connections})
			}
		}
		obs.Instances = append(obs.Instances, in)
	}
	if tpsOK && a.Spec.Autoscale.TPS > 0 {
		obs.App["tps"] = tps
	}
	d, err := s.as.Decide(obs)
	if err != nil {
		c.warn(ctx, "autoscale/"+a.Spec.Name, state.Event{Kind: "AutoscaleFailed", App: a.Spec.Name, Message: err.Error()})
		return
	}
	why := d.String()
	if d.Desired == a.Spec.Replicas {
		if s.lastWhy != d.Reason() {
			s.lastWhy = d.Reason()
			c.event(ctx, "", state.Event{Kind: "AutoscaleHeld", Priority: state.Info, App: a.Spec.Name, Reason: string(d.LimitedBy()), Message: why})
		}
		// A proposal stays until approved, replaced, made stale by another
		// change of the count, or ten minutes old: the decisions after it
		// are held by the rate its own (unapplied) step used up.
		c.scalersMu.Lock()
		if p := s.proposal; p != nil && (p.Current != a.Spec.Replicas || d.At.Sub(p.Proposed) > proposalTTL) {
			s.proposal = nil
		}
		c.scalersMu.Unlock()
		return
	}
	s.lastWhy = ""
	if a.Spec.Autoscale.Approve {
		c.scalersMu.Lock()
		changed := s.proposal == nil || s.proposal.Desired != d.Desired
		s.proposal = &Proposal{App: a.Spec.Name, Current: a.Spec.Replicas, Desired: d.Desired, Reason: why, Proposed: d.At}
		c.scalersMu.Unlock()
		if changed {
			c.event(ctx, "", state.Event{
				Kind: "ScaleProposed", Priority: state.Warning, App: a.Spec.Name,
				Message: fmt.Sprintf("%d → %d, waiting for approval: %s", a.Spec.Replicas, d.Desired, why),
			})
		}
		return
	}
	reqID := newRequestID()
	c.event(ctx, reqID, state.Event{
		Kind: "AutoScaled", Priority: state.Info, App: a.Spec.Name, Reason: string(d.LimitedBy()),
		Message: fmt.Sprintf("%d → %d: %s", a.Spec.Replicas, d.Desired, why),
	})
	if _, err := c.scaleAs(ctx, t, reqID, a.Spec.Name, d.Desired, "AutoScaled"); err != nil {
		c.warn(ctx, "autoscale/"+a.Spec.Name, state.Event{Kind: "AutoscaleFailed", App: a.Spec.Name, Message: err.Error()})
	}
}

// Proposal returns the decision waiting for approval for an app, if any.
func (c *Controller) Proposal(app string) (*Proposal, error) {
	c.scalersMu.Lock()
	defer c.scalersMu.Unlock()
	if s := c.scalers[app]; s != nil && s.proposal != nil {
		p := *s.proposal
		return &p, nil
	}
	return nil, newError(ErrNotFound, "no scaling proposal for app %q", app)
}

// Approve applies the waiting proposal of an app.
func (c *Controller) Approve(ctx context.Context, requestID, app string) (*Change, error) {
	p, err := c.Proposal(app)
	if err != nil {
		return nil, err
	}
	c.scalersMu.Lock()
	if s := c.scalers[app]; s != nil {
		s.proposal = nil
	}
	c.scalersMu.Unlock()
	c.event(ctx, requestID, state.Event{
		Kind: "ScaleApproved", Priority: state.Info, App: app,
		Message: fmt.Sprintf("%d → %d: %s", p.Current, p.Desired, p.Reason),
	})
	return c.Scale(ctx, requestID, app, p.Desired)
}
