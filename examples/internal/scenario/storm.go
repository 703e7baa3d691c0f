package scenario

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"time"

	"github.com/shoalkit/shoal/alertcorr"
	"github.com/shoalkit/shoal/examples/internal/state"
)

// storm: a bug in web makes its containers spin against their CPU quota.
// With Prometheus (real nodes and Debian's prometheus installed) its rules
// raise the alerts from the agents' metrics; otherwise the story sends, as
// Prometheus would, what a bug like it raises — web's containers throttled,
// their hosts loaded, the other containers on those hosts slow. Either way
// alertcorr, its topology following the platform, must make one incident
// holding every alert of web's containers, rooted at the app. The bug stays
// for the ranking step, which ends it.
func (s *story) storm(ctx context.Context) (string, error) {
	all, err := s.instances(ctx, "")
	if err != nil {
		return "", err
	}
	// The topology follows etcd: wait until it holds every container.
	if err := waitFor(ctx, 30*time.Second, func() (bool, error) {
		for _, v := range all {
			if c, ok := s.p.AlertTopology.Get(alertcorr.KindContainer, v.ID); !ok || c.Parent != v.Node {
				return false, nil
			}
		}
		return true, nil
	}); err != nil {
		return "", fmt.Errorf("alertcorr's topology does not hold the fleet's containers: %w", err)
	}
	web := map[string]bool{}
	var webIns []state.Instance
	for _, v := range all {
		if v.App == "web" {
			web[v.ID] = true
			webIns = append(webIns, v)
		}
	}
	s.load("web", "bug", webIns, true)
	start := time.Now()
	source := "raised by Prometheus's rules from the agents' metrics"
	if s.p.PrometheusURL == "" {
		source = "sent by the story as Prometheus would (no Prometheus: " + s.noPrometheus() + ")"
		if err := s.postAlerts(ctx, stormAlerts(all)); err != nil {
			return "", err
		}
	}
	// Done when one open incident, rooted at web, holds every firing
	// alert of web's containers, and there is at least one per container.
	var inc alertcorr.Incident
	var in, out int
	if err := waitFor(ctx, 2*time.Minute, func() (bool, error) {
		alerts, incs := s.p.Alerts.Alerts(), s.p.Alerts.Incidents()
		now := time.Now()
		member := map[alertcorr.Fingerprint]string{}
		for _, i := range incs {
			for _, fp := range i.Members {
				member[fp] = i.ID
			}
		}
		in, out = 0, len(incs)
		seen := map[string]bool{}
		holder := ""
		for i := range alerts {
			a := &alerts[i]
			if a.ResolvedAt(now) || a.StartsAt.Before(start.Add(-time.Minute)) {
				continue
			}
			in++
			c := a.Labels["container"]
			if !web[c] {
				continue
			}
			id := member[a.Fingerprint()]
			if id == "" || (holder != "" && id != holder) {
				return false, nil
			}
			holder, seen[c] = id, true
		}
		for _, i := range incs {
			if i.ID == holder {
				inc = i
			}
		}
		return len(seen) == len(web) && inc.Root.Kind == alertcorr.KindApp && inc.Root.ID == "web", nil
	}); err != nil {
		return "", fmt.Errorf("no incident rooted at app web holding every alert of its %d containers (%s; last seen %+v): %w", len(web), source, inc, err)
	}
	s.figure("alerts in → incidents out", fmt.Sprintf("%d → %d", in, out))
	return fmt.Sprintf("%d alerts firing → %d open incident(s); every alert of web's containers in one of %d members rooted at app web (rule %s) %v after the bug began; %s",
		in, out, len(inc.Members), inc.Rule, time.Since(start).Round(100*time.Millisecond), source), nil
}

// stormAlerts is what a bug in web raises on the platform, as Prometheus
// would send it.
func stormAlerts(all []state.Instance) []map[string]any {
	hosts := map[string]bool{}
	for _, v := range all {
		if v.App == "web" {
			hosts[v.Node] = true
		}
	}
	var alerts []map[string]any
	add := func(labels map[string]string) {
		alerts = append(alerts, map[string]any{"labels": labels, "startsAt": time.Now().UTC().Format(time.RFC3339Nano)})
	}
	for _, v := range all {
		switch {
		case v.App == "web":
			add(map[string]string{"alertname": "ContainerCPUThrottled", "container": v.ID, "severity": "warning"})
		case hosts[v.Node]:
			add(map[string]string{"alertname": "LatencyHigh", "container": v.ID, "severity": "warning"})
		}
	}
	for h := range hosts {
		add(map[string]string{"alertname": "HostLoadHigh", "host": h, "severity": "warning"})
	}
	return alerts
}

func (s *story) noPrometheus() string {
	if s.p.Simulated {
		return "simulated nodes run nothing to scrape"
	}
	return "Debian's prometheus is not installed"
}

// postAlerts sends alerts to alertcorr's Alertmanager API.
func (s *story) postAlerts(ctx context.Context, alerts []map[string]any) error {
	b, _ := json.Marshal(alerts)
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, s.p.AlertsURL+"/api/v2/alerts", bytes.NewReader(b))
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("POST /api/v2/alerts: %s", resp.Status)
	}
	return nil
}
