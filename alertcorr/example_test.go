package alertcorr_test

import (
	"context"
	"fmt"
	"time"

	"github.com/shoalkit/shoal/alertcorr"
)

type printer struct{}

func (printer) Notify(_ context.Context, n *alertcorr.Notification) error {
	for _, a := range n.Alerts {
		fmt.Printf("%s %s: %s\n", n.Receiver, a.Status(n.At), a.Annotations["summary"])
	}
	return nil
}

// A host that goes down takes its containers with it: one incident, rooted
// at the host.
func Example() {
	tp := alertcorr.NewTopology()
	_ = tp.Upsert(alertcorr.Entity{Kind: alertcorr.KindHost, ID: "h1"})
	_ = tp.Upsert(alertcorr.Entity{Kind: alertcorr.KindApp, ID: "shop"})
	for _, c := range []string{"c1", "c2", "c3"} {
		_ = tp.Upsert(alertcorr.Entity{Kind: alertcorr.KindContainer, ID: c, Parent: "h1", App: "shop"})
	}
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	e, err := alertcorr.New(alertcorr.Config{
		Topology: tp,
		Notifier: printer{},
		Route:    &alertcorr.Route{Receiver: "oncall", GroupWait: time.Second},
		Now:      func() time.Time { return now },
	})
	if err != nil {
		fmt.Println(err)
		return
	}
	defer e.Close()
	_ = e.Ingest(
		alertcorr.Alert{Labels: alertcorr.Labels{"alertname": "HostDown", "host": "h1"}},
		alertcorr.Alert{Labels: alertcorr.Labels{"alertname": "ContainerDown", "container": "c1"}},
		alertcorr.Alert{Labels: alertcorr.Labels{"alertname": "ContainerDown", "container": "c2"}},
		alertcorr.Alert{Labels: alertcorr.Labels{"alertname": "ContainerDown", "container": "c3"}},
	)
	for range 2 {
		now = now.Add(30 * time.Second)
		_ = e.Advance(context.Background(), now)
	}
	// Output:
	// oncall firing: host h1 explains 4 alerts (host-alert)
}

// Without a topology the engine is Alertmanager: silences mute.
func ExampleEngine_SetSilence() {
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	e, _ := alertcorr.New(alertcorr.Config{Now: func() time.Time { return now }})
	defer e.Close()
	m, _ := alertcorr.ParseMatchers(`team="db"`)
	_, err := e.SetSilence(context.Background(), alertcorr.Silence{Matchers: m, EndsAt: now.Add(time.Hour), Comment: "migration"})
	fmt.Println(err)
	ids, _, _ := e.Muted(alertcorr.Labels{"alertname": "Slow", "team": "db"})
	fmt.Println(len(ids))
	// Output:
	// <nil>
	// 1
}
