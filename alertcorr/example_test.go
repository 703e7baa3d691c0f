package alertcorr_test

import (
	"context"
	"fmt"
	"strings"
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

// A team's alertmanager.yml, unchanged: its routes and inhibit rules
// configure the engine, its webhook receivers the notifiers; what
// alertcorr does not act on is named.
func ExampleParseAlertmanagerConfig() {
	file := `
global:
  resolve_timeout: 3m
  smtp_smarthost: 'localhost:25'
route:
  receiver: mail
  group_by: [alertname]
  routes:
  - matchers: [alertname="Incident"]
    receiver: pager
inhibit_rules:
- source_matchers: [severity="critical"]
  target_matchers: [severity="warning"]
  equal: [host]
receivers:
- name: mail
  email_configs: [{to: team@example.org}]
- name: pager
  webhook_configs: [{url: 'http://127.0.0.1:5001/'}]
`
	am, err := alertcorr.ParseAlertmanagerConfig(strings.NewReader(file))
	if err != nil {
		fmt.Println(err)
		return
	}
	var cfg alertcorr.Config
	am.Apply(&cfg)
	fmt.Println("resolve timeout:", cfg.ResolveTimeout)
	fmt.Println("pager webhook:", am.Receivers[1].Webhooks[0].URL)
	fmt.Println("not acted on:", am.Unsupported)
	// Output:
	// resolve timeout: 3m0s
	// pager webhook: http://127.0.0.1:5001/
	// not acted on: [global.smtp_smarthost receivers[mail].email_configs]
}

type fleet []alertcorr.Entity

func (f fleet) Entities(_ context.Context, yield func(alertcorr.Entity) error) error {
	for _, e := range f {
		if err := yield(e); err != nil {
			return err
		}
	}
	return nil
}

// Sync replaces the whole topology with a source's, atomically, and says
// what changed.
func ExampleTopology_Sync() {
	tp := alertcorr.NewTopology()
	v1 := fleet{
		{Kind: alertcorr.KindHost, ID: "h1"},
		{Kind: alertcorr.KindHost, ID: "h2"},
		{Kind: alertcorr.KindApp, ID: "shop"},
		{Kind: alertcorr.KindContainer, ID: "c1", Parent: "h1", App: "shop"},
	}
	v2 := fleet{
		{Kind: alertcorr.KindHost, ID: "h2"},
		{Kind: alertcorr.KindApp, ID: "shop"},
		{Kind: alertcorr.KindContainer, ID: "c1", Parent: "h2", App: "shop"},
	}
	for _, src := range []fleet{v1, v2} {
		res, err := tp.Sync(context.Background(), src)
		fmt.Printf("%+v %v\n", res, err)
	}
	c1, _ := tp.Get(alertcorr.KindContainer, "c1")
	fmt.Println("c1 on", c1.Parent)
	// Output:
	// {Added:4 Updated:0 Removed:0} <nil>
	// {Added:0 Updated:1 Removed:1} <nil>
	// c1 on h2
}

// A FanOut gives each destination its own queue: the pager that hangs
// does not keep the notification from the chat webhook.
func ExampleFanOut() {
	f, err := alertcorr.NewFanOut(alertcorr.FanOutConfig{QueueSize: 100, Attempts: 3},
		alertcorr.FanOutTarget{Name: "chat", Notifier: &alertcorr.Webhook{URL: "http://127.0.0.1:5001/"}},
		alertcorr.FanOutTarget{Name: "pager", Receiver: "oncall", Notifier: &alertcorr.Webhook{URL: "http://127.0.0.1:5002/"}})
	if err != nil {
		fmt.Println(err)
		return
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go func() { _ = f.Run(ctx) }() // delivers; Notify only queues
	e, err := alertcorr.New(alertcorr.Config{Notifier: f})
	if err != nil {
		fmt.Println(err)
		return
	}
	defer e.Close()
	stats, unrouted := f.Stats()
	fmt.Println(len(stats), "targets,", unrouted, "unrouted")
	// Output: 2 targets, 0 unrouted
}
