package controller_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"github.com/shoalkit/shoal/alertcorr"
	"github.com/shoalkit/shoal/examples/internal/controller"
	"github.com/shoalkit/shoal/examples/internal/simnode"
	"github.com/shoalkit/shoal/examples/internal/state"
)

// appLoad is a MetricsSource giving each app's instances a CPU and a
// working set the test sets, and counting its calls.
type appLoad struct {
	mu    sync.Mutex
	cores map[string]float64
	mem   map[string]float64
	calls int
}

func (l *appLoad) Read(_ context.Context, _ map[string]*state.App, ins []controller.InstanceView, _ map[string]*state.Node) map[string]controller.InstanceMetrics {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.calls++
	out := map[string]controller.InstanceMetrics{}
	for _, v := range ins {
		out[v.Desired.ID] = controller.InstanceMetrics{CPUCores: l.cores[v.Desired.App], MemoryBytes: l.mem[v.Desired.App], At: time.Now()}
	}
	return out
}

// TestRankingAndHistory: the busiest and idlest instances, apps and nodes
// by CPU and by memory, and an app's history, from one pass of the
// measurements every ActivityInterval.
func TestRankingAndHistory(t *testing.T) {
	load := &appLoad{cores: map[string]float64{"web": 0.75, "api": 0.05}, mem: map[string]float64{"web": 10 << 20, "api": 100 << 20}}
	h := newHarness(t, simnode.Racks(3, 2, capacity), nil)
	k := h.startWith("c1", func(cfg *controller.Config) {
		cfg.Metrics, cfg.ActivityInterval = load, 100*time.Millisecond
	})
	h.leader()
	h.must(k, "PUT", "/v1/networks/10", "", pool10, nil)
	h.must(k, "POST", "/v1/apps?wait=20s", "", webApp(3), nil)
	api := webApp(2)
	api.Name, api.Team = "api", "core"
	h.must(k, "POST", "/v1/apps?wait=20s", "", api, nil)

	var rk controller.Ranking
	h.eventually("both apps ranked", func() (bool, string) {
		st, _ := h.call(k, "GET", "/v1/ranking?n=2", "", nil, &rk)
		return st == http.StatusOK && len(rk.Apps.Busiest) == 2, fmt.Sprintf("%d %+v", st, rk.Apps)
	})
	if rk.By != controller.ByCPU || len(rk.Instances.Busiest) != 2 || len(rk.Instances.Idlest) != 2 {
		t.Fatalf("ranking %+v: want 2 busiest and 2 idlest instances by cpu", rk)
	}
	for _, r := range rk.Instances.Busiest {
		if r.App != "web" || r.CPUCores != 0.75 || r.CPULimitCores != 1 || r.MemoryLimitBytes != 256<<20 || r.Node == "" {
			t.Errorf("busiest instance %+v: want one of web's at 0.75 of its 1 core", r)
		}
	}
	for _, r := range rk.Instances.Idlest {
		if r.App != "api" || r.CPUCores != 0.05 {
			t.Errorf("idlest instance %+v: want one of api's", r)
		}
	}
	if a := rk.Apps.Busiest[0]; a.Name != "web" || a.Team != "shop" || a.Instances != 3 || a.CPUCores != 2.25 || a.CPULimitCores != 3 {
		t.Errorf("busiest app %+v: want web, shop, 3 instances at 2.25 of 3 cores", a)
	}
	if a := rk.Apps.Idlest[0]; a.Name != "api" || a.Team != "core" {
		t.Errorf("idlest app %+v: want api", a)
	}
	total := 0
	for _, n := range rk.Nodes.Busiest {
		if n.CPULimitCores != capacity.CPUs || !n.Simulated {
			t.Errorf("node %+v: want its capacity %v and simulated", n, capacity.CPUs)
		}
		total += n.Instances
	}
	if total == 0 {
		t.Errorf("nodes %+v hold no instance", rk.Nodes)
	}

	h.must(k, "GET", "/v1/ranking?by=memory&n=1", "", nil, &rk)
	if rk.By != controller.ByMemory || rk.Apps.Busiest[0].Name != "api" || rk.Apps.Busiest[0].MemoryBytes != 200<<20 || rk.Apps.Idlest[0].Name != "web" {
		t.Errorf("by memory %+v: want api (2 × 100 MiB) busiest, web idlest", rk.Apps)
	}

	h.must(k, "POST", "/v1/apps/web/scale?wait=20s", "", map[string]int{"replicas": 4}, nil)
	var hist controller.AppHistory
	h.eventually("web's history shows 4 replicas", func() (bool, string) {
		h.must(k, "GET", "/v1/apps/web/history", "", nil, &hist)
		n := len(hist.Samples)
		return n > 0 && hist.Samples[n-1].Replicas == 4 && hist.Samples[n-1].CPUCores == 3, fmt.Sprintf("%+v", hist.Samples[max(n-1, 0):])
	})
	if hist.App != "web" || hist.IntervalSeconds != 0.1 || hist.Samples[0].Replicas != 3 || hist.Samples[0].RequestsPerSecond != nil {
		t.Errorf("history %+v: want web every 0.1 s, from 3 replicas, no TPS", hist)
	}
	for i := 1; i < len(hist.Samples); i++ {
		if !hist.Samples[i].At.After(hist.Samples[i-1].At) {
			t.Fatalf("samples %d and %d out of order", i-1, i)
		}
	}
	load.mu.Lock()
	calls := load.calls
	load.mu.Unlock()
	if calls == 0 {
		t.Error("Metrics never read")
	}
}

func TestRankingBadInput(t *testing.T) {
	h := newHarness(t, simnode.Racks(1, 1, capacity), nil)
	k := h.startWith("c1", func(cfg *controller.Config) {
		cfg.Metrics, cfg.ActivityInterval = &appLoad{}, 100*time.Millisecond
	})
	h.leader()
	for _, tt := range []struct{ path, code, field string }{
		{"/v1/ranking?by=disk", controller.CodeInvalid, "by"},
		{"/v1/ranking?n=0", controller.CodeInvalid, "n"},
		{"/v1/ranking?n=101", controller.CodeInvalid, "n"},
		{"/v1/ranking?n=9999999999999999999999", controller.CodeInvalid, "n"},
		{"/v1/apps/nope/history", controller.CodeNotFound, ""},
		{"/v1/incidents", controller.CodeUnavailable, ""},
	} {
		st, p := h.call(k, "GET", tt.path, "", nil, nil)
		if st < 400 || p.Code != tt.code || p.Field != tt.field || p.Detail == "" {
			t.Errorf("GET %s: %d %+v, want %s on field %q", tt.path, st, p, tt.code, tt.field)
		}
	}
}

// TestIncidents passes on a real alertcorr engine's incidents.
func TestIncidents(t *testing.T) {
	tp := alertcorr.NewTopology()
	_ = tp.Upsert(alertcorr.Entity{Kind: alertcorr.KindHost, ID: "h1"})
	for _, c := range []string{"c1", "c2"} {
		_ = tp.Upsert(alertcorr.Entity{Kind: alertcorr.KindContainer, ID: c, Parent: "h1"})
	}
	now := time.Now()
	var mu sync.Mutex
	e, err := alertcorr.New(alertcorr.Config{Topology: tp, Now: func() time.Time { mu.Lock(); defer mu.Unlock(); return now }})
	if err != nil {
		t.Fatal(err)
	}
	defer e.Close()
	_ = e.Ingest(
		alertcorr.Alert{Labels: alertcorr.Labels{"alertname": "HostDown", "host": "h1"}},
		alertcorr.Alert{Labels: alertcorr.Labels{"alertname": "ContainerDown", "container": "c1"}},
		alertcorr.Alert{Labels: alertcorr.Labels{"alertname": "ContainerDown", "container": "c2"}},
	)
	mu.Lock()
	now = now.Add(time.Minute)
	mu.Unlock()
	if err := e.Advance(t.Context(), now.Add(time.Minute)); err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(e.Handler())
	defer srv.Close()

	h := newHarness(t, simnode.Racks(1, 1, capacity), nil)
	k := h.startWith("c1", func(cfg *controller.Config) { cfg.AlertsURL = srv.URL })
	h.leader()
	var got struct {
		Open     []alertcorr.Incident `json:"open"`
		Resolved []alertcorr.Incident `json:"resolved"`
	}
	h.must(k, "GET", "/v1/incidents", "", nil, &got)
	if len(got.Open) != 1 || got.Open[0].Root.ID != "h1" || len(got.Open[0].Members) != 3 || len(got.Open[0].Evidence) == 0 {
		b, _ := json.Marshal(got)
		t.Errorf("incidents %s: want one rooted at host h1 with 3 members and evidence", b)
	}
}
