package controller_test

import (
	"context"
	"fmt"
	"net/http"
	"sync"
	"testing"
	"time"

	"github.com/shoalkit/shoal/examples/internal/controller"
	"github.com/shoalkit/shoal/examples/internal/simnode"
	"github.com/shoalkit/shoal/examples/internal/state"
)

// loadSource is a MetricsSource whose CPU per instance the test sets.
type loadSource struct {
	mu    sync.Mutex
	cores float64
}

func (l *loadSource) set(c float64) { l.mu.Lock(); l.cores = c; l.mu.Unlock() }

func (l *loadSource) Read(_ context.Context, _ map[string]*state.App, ins []controller.InstanceView, _ map[string]*state.Node) map[string]controller.InstanceMetrics {
	l.mu.Lock()
	defer l.mu.Unlock()
	out := map[string]controller.InstanceMetrics{}
	for _, v := range ins {
		out[v.Desired.ID] = controller.InstanceMetrics{CPUCores: l.cores, At: time.Now()}
	}
	return out
}

var _ controller.MetricsSource = (*loadSource)(nil)

func autoscaledApp(approve bool) state.AppSpec {
	s := webApp(2)
	s.Name = "cache"
	s.Resources.CPUs = 1
	s.Autoscale = &state.AutoscaleSpec{
		Min: 2, Max: 8, CPUPercent: 50, Approve: approve,
		SustainedLow: state.Duration(time.Second), ScaleInWindow: state.Duration(time.Second),
	}
	return s
}

func (h *harness) replicas(k *ctrl, app string) int {
	var a controller.AppView
	h.must(k, "GET", "/v1/apps/"+app, "", nil, &a)
	return a.Spec.Replicas
}

func TestAutoscale(t *testing.T) {
	load := &loadSource{cores: 1} // 200 % of each instance's 1 CPU
	h := newHarness(t, simnode.Racks(3, 2, capacity), nil)
	k := h.startWith("c1", func(cfg *controller.Config) {
		cfg.Metrics, cfg.AutoscaleInterval = load, 100*time.Millisecond
	})
	h.leader()
	h.must(k, "PUT", "/v1/networks/10", "", pool10, nil)
	h.must(k, "POST", "/v1/apps?wait=20s", "", autoscaledApp(false), nil)

	h.eventually("scale out to the maximum under load", func() (bool, string) {
		n := h.replicas(k, "cache")
		return n == 8 && len(h.appInstances("cache")) == 8, fmt.Sprint(n)
	})
	var evs []state.Event
	h.must(k, "GET", "/v1/events?app=cache", "", nil, &evs)
	found := false
	for _, ev := range evs {
		found = found || (ev.Kind == "AutoScaled" && ev.RequestID != "" && ev.Message != "")
	}
	if !found {
		t.Errorf("no AutoScaled event with its reason and request id: %+v", evs)
	}

	load.set(0.1) // 10 %: below the sustained-low water (25 %)
	h.eventually("scale in to the minimum once the load stayed low", func() (bool, string) {
		n := h.replicas(k, "cache")
		return n == 2 && len(h.appInstances("cache")) == 2, fmt.Sprint(n)
	})
}

func TestAutoscaleApproval(t *testing.T) {
	load := &loadSource{cores: 1}
	h := newHarness(t, simnode.Racks(3, 2, capacity), nil)
	k := h.startWith("c1", func(cfg *controller.Config) {
		cfg.Metrics, cfg.AutoscaleInterval = load, 100*time.Millisecond
	})
	h.leader()
	h.must(k, "PUT", "/v1/networks/10", "", pool10, nil)
	h.must(k, "POST", "/v1/apps?wait=20s", "", autoscaledApp(true), nil)

	var p controller.Proposal
	h.eventually("a proposal", func() (bool, string) {
		st, _ := h.call(k, "GET", "/v1/apps/cache/proposal", "", nil, &p)
		return st == http.StatusOK, fmt.Sprint(st)
	})
	if p.Current != 2 || p.Desired != 4 || p.Reason == "" {
		t.Errorf("proposal %+v, want 2 → 4 with a reason", p)
	}
	time.Sleep(300 * time.Millisecond)
	if n := h.replicas(k, "cache"); n != 2 {
		t.Fatalf("an unapproved proposal was applied: %d replicas", n)
	}
	var ch controller.Change
	h.must(k, "POST", "/v1/apps/cache/proposal/approve", "req-approve", nil, &ch)
	if n := h.replicas(k, "cache"); n != 4 || len(ch.Created) != 2 {
		t.Errorf("after approval: %d replicas, %d created", n, len(ch.Created))
	}
	if kinds := h.eventKinds(k, "req-approve"); len(kinds) == 0 || kinds[0] != "ScaleApproved" {
		t.Errorf("approval events: %v", kinds)
	}
}

func TestShowback(t *testing.T) {
	load := &loadSource{cores: 0.25}
	h := newHarness(t, simnode.Racks(3, 1, capacity), nil)
	k := h.startWith("c1", func(cfg *controller.Config) {
		cfg.Metrics, cfg.AccountInterval = load, 100*time.Millisecond
	})
	h.leader()
	h.must(k, "PUT", "/v1/networks/10", "", pool10, nil)
	spec := webApp(3) // 1 CPU and 256 MiB each
	h.must(k, "POST", "/v1/apps?wait=20s", "", spec, nil)
	start := time.Now()
	time.Sleep(2 * time.Second)
	var sb []controller.TeamShowback
	h.must(k, "GET", "/v1/usage", "", nil, &sb)
	hours := time.Since(start).Hours()
	if len(sb) != 1 || sb[0].Team != "shop" || len(sb[0].Apps) != 1 {
		t.Fatalf("showback %+v", sb)
	}
	u := sb[0].Total
	// 3 instances × 1 core; the first pass only starts the clock.
	if u.AllocCoreHours < 3*hours*0.6 || u.AllocCoreHours > 3*hours*1.05 {
		t.Errorf("allocated %.6f core-hours over %.6f h, want ≈ %.6f", u.AllocCoreHours, hours, 3*hours)
	}
	if r := u.UsedCoreHours / u.AllocCoreHours; r < 0.2 || r > 0.3 {
		t.Errorf("used/allocated cores %.3f, want 0.25", r)
	}
	if r := u.AllocGiBHours / u.AllocCoreHours; r < 0.24 || r > 0.26 {
		t.Errorf("allocated GiB-hours per core-hour %.3f, want 0.25 (256 MiB per core)", r)
	}
}
