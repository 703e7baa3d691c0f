package alertcorr

import (
	"context"
	"encoding/json"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/shoalkit/shoal/internal/testenv"
)

const e2eRules = `groups:
- name: e2e
  interval: 1s
  rules:
  - alert: HostDiskFailing
    expr: host_disk_failing == 1
  - alert: ContainerDown
    expr: container_up == 0
`

// End to end with real peers: a real node exporter serves a host's and its
// containers' state, a real Prometheus scrapes it, evaluates alert rules and
// sends to our handler unchanged; the engine correlates and forwards the
// incident to a real Alertmanager, whose API shows it — and shows it gone
// once the host and containers recover.
func TestEndToEndPrometheusAlertmanager(t *testing.T) {
	testenv.Require(t, testenv.PrometheusServer, testenv.AlertmanagerServer, testenv.NodeExporterServer)
	am := testenv.StartAlertmanager(t, "")

	tp := testTopo(t, 1, 2)
	for _, c := range []string{"c1", "c2", "c3"} {
		addContainer(t, tp, c, "h0-0", "app-"+c)
	}
	e := mustEngine(t, Config{
		Topology:    tp,
		Correlation: Correlation{Window: 2 * time.Second},
		Route:       &Route{Receiver: "am", GroupBy: []string{"incident"}, GroupWait: time.Second, GroupInterval: time.Second, RepeatInterval: time.Hour},
		Notifier:    &Alertmanager{URL: am.URL},
		Tick:        200 * time.Millisecond,
	})
	ctx, cancel := context.WithCancel(t.Context())
	var wg sync.WaitGroup
	wg.Go(func() { _ = e.Run(ctx) })
	t.Cleanup(func() { cancel(); wg.Wait() })
	alertd := strings.TrimPrefix(serve(t, e.Handler()), "http://")

	ne := testenv.StartNodeExporter(t)
	ne.WriteTextfile(t, "state", "host_disk_failing 1\ncontainer_up{container=\"c1\"} 0\ncontainer_up{container=\"c2\"} 0\ncontainer_up{container=\"c3\"} 0\n")
	testenv.StartPrometheus(t, testenv.PrometheusConfig{
		Targets:       []string{ne.Addr},
		TargetLabels:  map[string]string{"host": "h0-0"},
		Rules:         e2eRules,
		Alertmanagers: []string{alertd},
	})

	incident := waitAM(t, am.URL, func(as []wireAlert) (wireAlert, bool) {
		for _, a := range as {
			if a.Labels["alertname"] == "Incident" && a.Annotations["members"] == "4" {
				return a, true
			}
		}
		return wireAlert{}, false
	})
	if incident.Labels["root"] != "h0-0" || incident.Labels["root_kind"] != "host" || incident.Annotations["rule"] != "host-alert" {
		t.Fatalf("Alertmanager shows incident %+v, want root host h0-0 by host-alert with 4 members", incident)
	}
	t.Logf("Alertmanager shows: %s %s", incident.Labels, incident.Annotations["summary"])
	if s := e.Stats(); s.Received < 4 || s.IncidentsOpened != 1 {
		t.Fatalf("stats %+v, want 4 alerts from Prometheus and one incident", s)
	}

	// Recovery: Prometheus resolves its alerts, the incident resolves, and
	// Alertmanager no longer lists it as active.
	ne.WriteTextfile(t, "state", "host_disk_failing 0\ncontainer_up{container=\"c1\"} 1\ncontainer_up{container=\"c2\"} 1\ncontainer_up{container=\"c3\"} 1\n")
	waitAM(t, am.URL, func(as []wireAlert) (wireAlert, bool) {
		for _, a := range as {
			if a.Labels["alertname"] == "Incident" {
				return wireAlert{}, false
			}
		}
		return wireAlert{}, true
	})
	if closed := e.ClosedIncidents(); len(closed) != 1 {
		t.Fatalf("closed incidents %d, want 1", len(closed))
	}
}

// waitAM polls Alertmanager's GET /api/v2/alerts until ok says so.
func waitAM(t *testing.T, url string, ok func([]wireAlert) (wireAlert, bool)) wireAlert {
	t.Helper()
	deadline := time.Now().Add(90 * time.Second)
	var last []wireAlert
	for time.Now().Before(deadline) {
		req, err := http.NewRequestWithContext(t.Context(), http.MethodGet, url+"/api/v2/alerts", nil)
		if err != nil {
			t.Fatal(err)
		}
		resp, err := http.DefaultClient.Do(req)
		if err == nil {
			last = nil
			_ = json.NewDecoder(resp.Body).Decode(&last)
			_ = resp.Body.Close()
			if a, done := ok(last); done {
				return a
			}
		}
		time.Sleep(250 * time.Millisecond)
	}
	t.Fatalf("Alertmanager did not show what was expected within 90 s; last: %+v", last)
	return wireAlert{}
}

// A real Alertmanager (Debian's 0.25, whose webhooks lack the fields 0.35
// added) delivers its webhook to our handler: alertcorr can also sit
// behind an Alertmanager.
func TestAlertmanagerWebhookInput(t *testing.T) {
	testenv.Require(t, testenv.AlertmanagerServer)
	e := mustEngine(t, Config{})
	alertd := serve(t, e.Handler())
	am := testenv.StartAlertmanager(t, `route:
  receiver: alertd
  group_wait: 1s
  group_interval: 1s
receivers:
- name: alertd
  webhook_configs:
  - url: `+alertd+`/api/v2/webhook
    send_resolved: true
`)
	body := `[{"labels":{"alertname":"DiskFull","host":"h7"},"annotations":{"summary":"97%"}}]`
	req, err := http.NewRequestWithContext(t.Context(), http.MethodPost, am.URL+"/api/v2/alerts", strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	_ = resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("Alertmanager refused the alert: %s", resp.Status)
	}
	deadline := time.Now().Add(60 * time.Second)
	for time.Now().Before(deadline) {
		for _, a := range e.Alerts() {
			if a.Labels["alertname"] == "DiskFull" && a.Labels["host"] == "h7" && a.Annotations["summary"] == "97%" {
				return
			}
		}
		time.Sleep(200 * time.Millisecond)
	}
	t.Fatalf("the webhook never arrived; stats %+v", e.Stats())
}
