package amdispatch

import (
	"context"
	"log/slog"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/alertmanager/config"
	"github.com/prometheus/alertmanager/dispatch"
	"github.com/prometheus/alertmanager/inhibit"
	"github.com/prometheus/alertmanager/notify"
	"github.com/prometheus/alertmanager/provider/mem"
	"github.com/prometheus/alertmanager/types"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/common/model"

	"github.com/shoalkit/shoal/alertcorr"
	"github.com/shoalkit/shoal/alertcorr/storm"
)

// bestConfig is the best an operator can write for the storm's alerts in
// Alertmanager: a host down mutes its containers, a loaded host mutes its
// containers' latency; throttled containers are grouped by app, hosts down
// by switch, everything else by alertname and host.
const bestConfig = `
route:
  receiver: r
  group_by: [alertname, host]
  group_wait: 3s
  group_interval: 1h
  routes:
  - matchers: [alertname="ContainerCPUThrottled"]
    group_by: [alertname, app]
  - matchers: [alertname="HostDown"]
    group_by: [alertname, switch]
receivers:
- name: r
inhibit_rules:
- source_matchers: [alertname="HostDown"]
  target_matchers: [alertname="ContainerDown"]
  equal: [host]
- source_matchers: [alertname="HostLoadHigh"]
  target_matchers: [alertname="ContainerLatencyHigh"]
  equal: [host]
`

// withLabels gives every alert the host, switch and app labels the
// topology knows, as relabelling in Prometheus would, so inhibit rules
// with equal labels can work.
func withLabels(s *storm.Storm) []alertcorr.Alert {
	byKind := map[alertcorr.Kind]map[string]alertcorr.Entity{}
	for _, e := range s.Topology {
		if byKind[e.Kind] == nil {
			byKind[e.Kind] = map[string]alertcorr.Entity{}
		}
		byKind[e.Kind][e.ID] = e
	}
	out := make([]alertcorr.Alert, len(s.Alerts))
	for i, a := range s.Alerts {
		l := a.Alert.Labels.Clone()
		if c, ok := byKind[alertcorr.KindContainer][l["container"]]; ok {
			l["host"], l["app"] = c.Parent, c.App
		}
		if h, ok := byKind[alertcorr.KindHost][l["host"]]; ok {
			l["switch"] = h.Switch
		}
		out[i] = alertcorr.Alert{Labels: l}
	}
	return out
}

// recorder is the notification stage: it keeps, per group, the alerts
// the inhibitor lets through.
type recorder struct {
	mu     sync.Mutex
	muter  types.Muter
	groups map[string][]*types.Alert
	labels map[string]model.LabelSet
}

func (r *recorder) Exec(ctx context.Context, _ *slog.Logger, alerts ...*types.Alert) (context.Context, []*types.Alert, error) {
	key, _ := notify.GroupKey(ctx)
	gl, _ := notify.GroupLabels(ctx)
	r.mu.Lock()
	defer r.mu.Unlock()
	var kept []*types.Alert
	for _, a := range alerts {
		if !r.muter.Mutes(a.Labels) {
			kept = append(kept, a)
		}
	}
	if len(kept) > 0 {
		r.groups[key] = kept
		r.labels[key] = gl
	}
	return ctx, kept, nil
}

// am is Alertmanager's pipeline in-process.
type am struct {
	alerts *mem.Alerts
	disp   *dispatch.Dispatcher
	inhib  *inhibit.Inhibitor
	marker *types.MemMarker
	rec    *recorder
	cancel func()
}

func startAM(t testing.TB) *am {
	cfg, err := config.Load(bestConfig)
	if err != nil {
		t.Fatal(err)
	}
	logger := slog.New(slog.DiscardHandler)
	reg := prometheus.NewRegistry()
	ctx, cancel := context.WithCancel(context.Background())
	marker := types.NewMarker(reg)
	alerts, err := mem.NewAlerts(ctx, marker, 30*time.Minute, nil, logger, reg)
	if err != nil {
		t.Fatal(err)
	}
	ih := inhibit.NewInhibitor(alerts, cfg.InhibitRules, marker, logger)
	rec := &recorder{muter: ih, groups: map[string][]*types.Alert{}, labels: map[string]model.LabelSet{}}
	d := dispatch.NewDispatcher(alerts, dispatch.NewRoute(cfg.Route, nil), rec, marker, nil, nil, logger, dispatch.NewDispatcherMetrics(false, reg))
	go ih.Run()
	go d.Run()
	a := &am{alerts: alerts, disp: d, inhib: ih, marker: marker, rec: rec, cancel: cancel}
	t.Cleanup(a.stop)
	return a
}

func (a *am) stop() {
	a.disp.Stop()
	a.inhib.Stop()
	a.cancel()
	a.alerts.Close()
}

func toAM(in alertcorr.Alert, now time.Time) *types.Alert {
	ls := model.LabelSet{}
	for k, v := range in.Labels {
		ls[model.LabelName(k)] = model.LabelValue(v)
	}
	return &types.Alert{Alert: model.Alert{Labels: ls, StartsAt: now, EndsAt: now.Add(5 * time.Minute)}, UpdatedAt: now, Timeout: true}
}
