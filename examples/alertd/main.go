// Command alertd is alertcorr as a daemon: it takes alerts as Alertmanager
// does (Prometheus sends to it unchanged), turns a storm into incidents with
// their root over a topology, and sends the incidents to webhooks and/or an
// existing Alertmanager.
//
//	alertd -topology topo.json -snapshot /var/lib/shoal/alertd.json \
//		-alertmanager http://127.0.0.1:9093 -webhook http://127.0.0.1:8080/hook
//
// HTTP (alertcorr's Engine.Handler): POST /api/v2/alerts, POST
// /api/v2/webhook (an Alertmanager webhook payload), GET /api/v2/incidents,
// GET/POST /api/v2/silences, DELETE /api/v2/silence/{id}, /-/healthy.
//
// -config is JSON of alertcorr.Config's data fields (Route, InhibitRules,
// WithoutResolved, ResolveTimeout, Retention, MaxAlerts, ClockSkew, Tick,
// Correlation), with Go's field names, durations in nanoseconds and
// matchers as {"Name", "Type" (0 =, 1 !=, 2 =~, 3 !~), "Value"}.
//
// -topology is a JSON array of entities, each parent (and a host's switch,
// a container's app) before the entities that name it:
//
//	[{"kind":"host","id":"h1"},{"kind":"app","id":"shop"},
//	 {"kind":"container","id":"c1","parent":"h1","app":"shop"}]
//
// It is read again on SIGHUP and when the file changes; a file that does not
// load leaves the topology as it was. Without -topology alertd routes alerts
// as Alertmanager would, without correlating them.
package main

import (
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/shoalkit/shoal/alertcorr"
	"github.com/shoalkit/shoal/examples/internal/daemon"
)

func main() { daemon.Main("alertd", run) }

func run(ctx context.Context, args []string, _, stderr io.Writer) error {
	fs := daemon.NewFlagSet("alertd", "alertd turns alert storms into incidents with their root (Alertmanager API in, webhooks or Alertmanager out).", stderr)
	var listen, configPath, topoPath, externalURL string
	var webhooks, alertmanagers receiverFlag
	var poll time.Duration
	var verbose bool
	cfg := alertcorr.Config{}
	fs.StringVar(&listen, "listen", "127.0.0.1:9095", "address of the Alertmanager-compatible API")
	fs.StringVar(&configPath, "config", "", "routing, inhibition and correlation settings: JSON of alertcorr.Config (default: alertcorr's defaults)")
	fs.StringVar(&cfg.SnapshotPath, "snapshot", "", "file that keeps silences, the notification log, alerts and incidents across restarts (default: none)")
	fs.StringVar(&topoPath, "topology", "", "JSON array of entities to correlate over (default: no correlation)")
	fs.DurationVar(&poll, "topology-poll", 5*time.Second, "how often to check the topology file for changes (0: only on SIGHUP)")
	fs.Var(&webhooks, "webhook", "`[RECEIVER=]URL` to post Alertmanager webhook payloads to; only RECEIVER's notifications when named (repeatable)")
	fs.Var(&alertmanagers, "alertmanager", "`[RECEIVER=]URL` of an Alertmanager to forward incidents to as alerts (repeatable)")
	fs.StringVar(&externalURL, "external-url", "", "externalURL put in webhook payloads")
	fs.BoolVar(&verbose, "v", false, "debug logging")
	if err := daemon.Parse(fs, args); err != nil {
		return err
	}
	if configPath != "" {
		if err := loadConfig(configPath, &cfg); err != nil {
			return daemon.UsageError(stderr, "alertd: -config %v", err)
		}
	}
	log := daemon.Logger(stderr, verbose)
	cfg.Logger = log
	client := &http.Client{Timeout: 30 * time.Second}
	notifier := fanout{}
	for _, r := range webhooks {
		notifier[r.name] = append(notifier[r.name], &alertcorr.Webhook{URL: r.url, Client: client, ExternalURL: externalURL})
	}
	for _, r := range alertmanagers {
		notifier[r.name] = append(notifier[r.name], &alertcorr.Alertmanager{URL: r.url, Client: client})
	}
	cfg.Notifier = notifier
	if len(notifier) == 0 {
		log.Warn("alertd: no -webhook or -alertmanager; incidents are only listed at /api/v2/incidents")
	}
	parts := []daemon.Runner{}
	// SIGHUP is caught even without a topology file, where it does
	// nothing: its default action would kill the daemon.
	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	defer signal.Stop(hup)
	if topoPath != "" {
		w := &topologyWatcher{path: topoPath, poll: poll, topo: alertcorr.NewTopology(), log: log}
		if err := w.reload(ctx, true); err != nil {
			return daemon.UsageError(stderr, "alertd: -topology %v", err)
		}
		w.hup = hup
		cfg.Topology = w.topo
		parts = append(parts, w)
	}
	e, err := alertcorr.New(cfg)
	if errors.Is(err, alertcorr.ErrInvalid) {
		return daemon.UsageError(stderr, "alertd: %v", err)
	} else if err != nil {
		return err
	}
	defer e.Close()
	var lc net.ListenConfig
	l, err := lc.Listen(ctx, "tcp", listen)
	if err != nil {
		return err
	}
	srv := &http.Server{Handler: e.Handler(), ReadHeaderTimeout: 10 * time.Second}
	log.Info("alertd starting", "api", "http://"+l.Addr().String(), "topology", topoPath, "snapshot", cfg.SnapshotPath,
		"webhooks", len(webhooks), "alertmanagers", len(alertmanagers))
	return daemon.RunAll(ctx, append(parts, e, daemon.HTTPServer(srv, l))...)
}
