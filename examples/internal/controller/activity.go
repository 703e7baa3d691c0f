package controller

import (
	"cmp"
	"context"
	"encoding/json"
	"io"
	"math"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/shoalkit/shoal/examples/internal/state"
)

// activity is what the controller last measured of every instance (one
// pass of Config.Metrics over all apps every ActivityInterval, on every
// controller) and each app's recent history. The autoscale loop, usage
// accounting, the ranking and the history all read it, so the agents are
// scraped once per pass whatever reads the numbers.
type activity struct {
	mu   sync.RWMutex
	at   time.Time                  // when the last pass ended; zero before the first
	byID map[string]InstanceMetrics // the last pass's readings, by instance
	// rps is each app's requests per second over the last two passes,
	// present only when every instance of the app had a rate.
	rps map[string]float64
	// requests is the last counter reading per instance (for rps).
	requests map[string]cpuReading
	history  map[string]*samples
	keep     int // samples kept per app
}

// samples is a ring of an app's history.
type samples struct {
	buf  []AppSample
	next int
}

func (s *samples) add(v AppSample, keep int) {
	if len(s.buf) < keep {
		s.buf = append(s.buf, v)
		return
	}
	s.buf[s.next] = v
	s.next = (s.next + 1) % keep
}

// ordered returns the samples oldest first.
func (s *samples) ordered() []AppSample {
	return append(slices.Clone(s.buf[s.next:]), s.buf[:s.next]...)
}

// AppSample is one pass's measurement of an app.
type AppSample struct {
	At       time.Time `json:"at"`
	Replicas int       `json:"replicas"`
	Ready    int       `json:"ready"`
	// CPUCores and MemoryBytes are summed over the instances read.
	CPUCores    float64 `json:"cpu_cores"`
	MemoryBytes float64 `json:"memory_bytes"`
	// RequestsPerSecond is the app's TPS counter's rate; nil when it has
	// none or an instance gave no rate.
	RequestsPerSecond *float64 `json:"requests_per_second"`
}

// AppHistory is an app's samples over the last ActivityWindow.
type AppHistory struct {
	App             string      `json:"app"`
	IntervalSeconds float64     `json:"interval_seconds"`
	Samples         []AppSample `json:"samples"`
}

// maxHistory bounds the samples kept per app, whatever the window and
// interval.
const maxHistory = 2000

func newActivity(cfg Config) *activity {
	keep := int(cfg.ActivityWindow / cfg.ActivityInterval)
	return &activity{
		byID: map[string]InstanceMetrics{}, rps: map[string]float64{}, requests: map[string]cpuReading{},
		history: map[string]*samples{}, keep: min(max(keep, 1), maxHistory),
	}
}

// measure reads every app's instances once and records the pass.
func (c *Controller) measure(ctx context.Context) {
	apps := c.Apps()
	c.cache.mu.RLock()
	nodes := make(map[string]*state.Node, len(c.cache.nodes))
	for k, v := range c.cache.nodes {
		nodes[k] = v
	}
	c.cache.mu.RUnlock()
	type appRead struct {
		app AppView
		ins []InstanceView
	}
	reads := make([]appRead, 0, len(apps))
	byName := make(map[string]*state.App, len(apps))
	var all []InstanceView
	for i := range apps {
		ins := c.Instances(apps[i].Spec.Name, "")
		reads = append(reads, appRead{apps[i], ins})
		byName[apps[i].Spec.Name] = &apps[i].App
		all = append(all, ins...)
	}
	read := c.cfg.Metrics.Read(ctx, byName, all, nodes)
	if ctx.Err() != nil {
		return
	}
	now := c.cfg.Now()
	ac := c.activity
	ac.mu.Lock()
	defer ac.mu.Unlock()
	byID := make(map[string]InstanceMetrics, len(ac.byID))
	requests := make(map[string]cpuReading, len(ac.requests))
	rps := map[string]float64{}
	seen := map[string]bool{}
	for _, r := range reads {
		name := r.app.Spec.Name
		seen[name] = true
		s := AppSample{At: now, Replicas: r.app.Spec.Replicas, Ready: r.app.Ready}
		rate, rateOK := 0.0, r.app.Spec.Autoscale != nil && r.app.Spec.Autoscale.TPSMetric != ""
		for _, v := range r.ins {
			id := v.Desired.ID
			m, ok := read[id]
			if !ok {
				rateOK = false
				continue
			}
			byID[id] = m
			if !math.IsNaN(m.CPUCores) {
				s.CPUCores += m.CPUCores
			}
			s.MemoryBytes += m.MemoryBytes
			if math.IsNaN(m.Requests) {
				rateOK = false
				continue
			}
			prev, had := ac.requests[id]
			requests[id] = cpuReading{seconds: m.Requests, at: m.At}
			if had && m.Requests >= prev.seconds && m.At.After(prev.at) {
				rate += (m.Requests - prev.seconds) / m.At.Sub(prev.at).Seconds()
			} else {
				rateOK = false // the first reading, or a reset: no rate yet
			}
		}
		if rateOK && len(r.ins) > 0 {
			rps[name] = rate
			s.RequestsPerSecond = &rate
		}
		h := ac.history[name]
		if h == nil {
			h = &samples{}
			ac.history[name] = h
		}
		h.add(s, ac.keep)
	}
	for name := range ac.history {
		if !seen[name] {
			delete(ac.history, name)
		}
	}
	ac.byID, ac.requests, ac.rps, ac.at = byID, requests, rps, now
}

// activityLoop measures every ActivityInterval until ctx ends.
func (c *Controller) activityLoop(ctx context.Context) {
	tick := time.NewTicker(c.cfg.ActivityInterval)
	defer tick.Stop()
	for {
		c.measure(ctx)
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
	}
}

// readings returns the last pass's readings of ins and the app's request
// rate (ok false when it has none).
func (c *Controller) readings(app string, ins []InstanceView) (map[string]InstanceMetrics, float64, bool) {
	ac := c.activity
	ac.mu.RLock()
	defer ac.mu.RUnlock()
	out := make(map[string]InstanceMetrics, len(ins))
	for _, v := range ins {
		if m, ok := ac.byID[v.Desired.ID]; ok {
			out[v.Desired.ID] = m
		}
	}
	rps, ok := ac.rps[app]
	return out, rps, ok
}

// History returns an app's samples over the last ActivityWindow, oldest
// first.
func (c *Controller) History(app string) (AppHistory, error) {
	if _, err := c.App(app); err != nil {
		return AppHistory{}, err
	}
	ac := c.activity
	ac.mu.RLock()
	defer ac.mu.RUnlock()
	out := AppHistory{App: app, IntervalSeconds: c.cfg.ActivityInterval.Seconds(), Samples: []AppSample{}}
	if h := ac.history[app]; h != nil {
		out.Samples = h.ordered()
	}
	return out, nil
}

// RankBy names what a ranking orders by.
type RankBy string

// The orders of a ranking.
const (
	ByCPU    RankBy = "cpu"
	ByMemory RankBy = "memory"
)

// RankRow is one instance, app or node in a ranking.
type RankRow struct {
	Name string `json:"name"`
	// App and Node are an instance's; Team is an app's.
	App  string `json:"app,omitempty"`
	Node string `json:"node,omitempty"`
	Team string `json:"team,omitempty"`
	// Instances counts an app's or a node's instances measured.
	Instances   int     `json:"instances,omitempty"`
	CPUCores    float64 `json:"cpu_cores"`
	MemoryBytes float64 `json:"memory_bytes"`
	// CPULimitCores and MemoryLimitBytes are an instance's or an app's
	// limits summed, a node's capacity; zero when there is none.
	CPULimitCores    float64 `json:"cpu_limit_cores"`
	MemoryLimitBytes float64 `json:"memory_limit_bytes"`
	// Simulated marks a simulated node, or an instance on one.
	Simulated bool `json:"simulated,omitempty"`
}

// Ranked is the busiest and the idlest of one kind.
type Ranked struct {
	Busiest []RankRow `json:"busiest"`
	Idlest  []RankRow `json:"idlest"`
}

// Ranking is the busiest/idlest report over the last measurement.
type Ranking struct {
	At        time.Time `json:"at"`
	By        RankBy    `json:"by"`
	Instances Ranked    `json:"instances"`
	Apps      Ranked    `json:"apps"`
	Nodes     Ranked    `json:"nodes"`
}

// maxRank bounds a ranking's rows per list.
const maxRank = 100

// Ranking returns the n busiest and n idlest instances, apps and nodes by
// CPU or memory, over the last measurement. An instance whose CPU gave no
// rate yet is left out of a CPU ranking.
func (c *Controller) Ranking(by RankBy, n int) (Ranking, error) {
	switch {
	case by != ByCPU && by != ByMemory:
		return Ranking{}, &fieldError{field: "by", err: newError(ErrInvalid, "by %.20q: want cpu or memory", by)}
	case n < 1 || n > maxRank:
		return Ranking{}, &fieldError{field: "n", err: newError(ErrInvalid, "n %d: want 1 to %d", n, maxRank)}
	}
	c.cache.mu.RLock()
	ac := c.activity
	ac.mu.RLock()
	if ac.at.IsZero() {
		ac.mu.RUnlock()
		c.cache.mu.RUnlock()
		return Ranking{}, newError(ErrUnavailable, "nothing measured yet")
	}
	var ins []RankRow
	apps, nodes := map[string]*RankRow{}, map[string]*RankRow{}
	for id, m := range ac.byID {
		d := c.cache.desired[id]
		if d == nil || (by == ByCPU && math.IsNaN(m.CPUCores)) {
			continue
		}
		cpu := m.CPUCores
		if math.IsNaN(cpu) {
			cpu = 0
		}
		nd := c.cache.nodes[d.Node]
		sim := nd != nil && nd.Version == state.SimulatedVersion
		ins = append(ins, RankRow{
			Name: id, App: d.App, Node: d.Node, CPUCores: cpu, MemoryBytes: m.MemoryBytes,
			CPULimitCores: d.Resources.CPUs, MemoryLimitBytes: float64(d.Resources.MemoryBytes), Simulated: sim,
		})
		a := apps[d.App]
		if a == nil {
			a = &RankRow{Name: d.App}
			if sp := c.cache.apps[d.App]; sp != nil {
				a.Team = sp.Spec.Team
			}
			apps[d.App] = a
		}
		a.Instances++
		a.CPUCores += cpu
		a.MemoryBytes += m.MemoryBytes
		a.CPULimitCores += d.Resources.CPUs
		a.MemoryLimitBytes += float64(d.Resources.MemoryBytes)
		nr := nodes[d.Node]
		if nr == nil {
			nr = &RankRow{Name: d.Node, Simulated: sim}
			if nd != nil {
				nr.CPULimitCores, nr.MemoryLimitBytes = nd.Capacity.CPUs, float64(nd.Capacity.MemoryBytes)
			}
			nodes[d.Node] = nr
		}
		nr.Instances++
		nr.CPUCores += cpu
		nr.MemoryBytes += m.MemoryBytes
	}
	at := ac.at
	ac.mu.RUnlock()
	c.cache.mu.RUnlock()
	return Ranking{At: at, By: by, Instances: rank(ins, by, n), Apps: rank(values(apps), by, n), Nodes: rank(values(nodes), by, n)}, nil
}

func values(m map[string]*RankRow) []RankRow {
	out := make([]RankRow, 0, len(m))
	for _, r := range m {
		out = append(out, *r)
	}
	return out
}

// rank sorts rows busiest first (ties by name) and returns the first and
// the last n, the idlest first.
func rank(rows []RankRow, by RankBy, n int) Ranked {
	metric := func(r RankRow) float64 {
		if by == ByMemory {
			return r.MemoryBytes
		}
		return r.CPUCores
	}
	slices.SortFunc(rows, func(a, b RankRow) int {
		if c := cmp.Compare(metric(b), metric(a)); c != 0 {
			return c
		}
		return cmp.Compare(a.Name, b.Name)
	})
	k := min(n, len(rows))
	idle := slices.Clone(rows[len(rows)-k:])
	slices.Reverse(idle)
	return Ranked{Busiest: slices.Clone(rows[:k]), Idlest: idle}
}

// maxIncidentsBytes bounds alertcorr's answer passed on by GET /v1/incidents.
const maxIncidentsBytes = 8 << 20

func (c *Controller) activityRoutes(h func(string, func(http.ResponseWriter, *http.Request) error)) {
	h("GET /v1/apps/{name}/history", func(w http.ResponseWriter, r *http.Request) error {
		hist, err := c.History(r.PathValue("name"))
		if err != nil {
			return err
		}
		return writeJSON(w, http.StatusOK, hist)
	})
	h("GET /v1/ranking", func(w http.ResponseWriter, r *http.Request) error {
		q := r.URL.Query()
		by, n := RankBy(cmp.Or(q.Get("by"), string(ByCPU))), 10
		if s := q.Get("n"); s != "" {
			v, err := strconv.Atoi(s)
			if err != nil {
				return &fieldError{field: "n", err: newError(ErrInvalid, "n=%.20q, want a number", s)}
			}
			n = v
		}
		rk, err := c.Ranking(by, n)
		if err != nil {
			return err
		}
		return writeJSON(w, http.StatusOK, rk)
	})
	h("GET /v1/incidents", func(w http.ResponseWriter, r *http.Request) error {
		body, err := c.Incidents(r.Context())
		if err != nil {
			return err
		}
		w.Header().Set("Content-Type", "application/json")
		_, err = w.Write(body)
		return err
	})
}

// Incidents returns alertcorr's open and resolved incidents, as its
// GET /api/v2/incidents gives them ({"open": [...], "resolved": [...]}),
// from Config.AlertsURL.
func (c *Controller) Incidents(ctx context.Context) ([]byte, error) {
	if c.cfg.AlertsURL == "" {
		return nil, newError(ErrUnavailable, "no alert correlation configured (Config.AlertsURL)")
	}
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, strings.TrimSuffix(c.cfg.AlertsURL, "/")+"/api/v2/incidents", nil)
	if err != nil {
		return nil, wrapError(ErrInvalid, err, "Config.AlertsURL")
	}
	resp, err := c.cfg.AgentClient.Do(req)
	if err != nil {
		return nil, wrapError(ErrUnavailable, err, "alertcorr")
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, newError(ErrUnavailable, "alertcorr answered %s", resp.Status)
	}
	body, err := io.ReadAll(io.LimitReader(resp.Body, maxIncidentsBytes+1))
	switch {
	case err != nil:
		return nil, wrapError(ErrUnavailable, err, "alertcorr")
	case len(body) > maxIncidentsBytes:
		return nil, newError(ErrUnavailable, "alertcorr's incidents over %d bytes", maxIncidentsBytes)
	}
	var shape struct {
		Open     []json.RawMessage `json:"open"`
		Resolved []json.RawMessage `json:"resolved"`
	}
	if err := json.Unmarshal(body, &shape); err != nil {
		return nil, wrapError(ErrUnavailable, err, "alertcorr's incidents")
	}
	return body, nil
}
