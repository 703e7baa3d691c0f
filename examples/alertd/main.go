// Command alertd is alertcorr as a daemon: it takes alerts as Alertmanager
// does (Prometheus sends to it unchanged), turns a storm into incidents with
// their root over a topology, and sends the incidents to webhooks and/or an
// existing Alertmanager.
//
//	alertd -config alertmanager.yml -topology topo.json \
//		-snapshot /var/lib/shoal/alertd.json -alertmanager http://127.0.0.1:9093
//
// In the platform, the topology and the snapshot live in etcd:
//
//	alertd -config alertmanager.yml -etcd-endpoints http://127.0.0.1:2379
//
// HTTP (alertcorr's Engine.Handler): POST /api/v2/alerts, GET
// /api/v2/alerts (Alertmanager's form: amtool reads it), POST
// /api/v2/webhook (an Alertmanager webhook payload), GET /api/v2/incidents,
// GET/POST /api/v2/silences, DELETE /api/v2/silence/{id}, /-/healthy.
//
// -config is an Alertmanager configuration file, unchanged: its route tree,
// inhibit rules, global.resolve_timeout and the receivers' webhook_configs
// are used; what alertd does not act on (email, Slack, templates, time
// intervals, ...) is logged as unsupported at start.
//
// -settings is JSON of alertcorr.Config's data fields (Route, InhibitRules,
// WithoutResolved, ResolveTimeout, Retention, MaxAlerts, ClockSkew, Tick,
// Correlation), with Go's field names, durations in nanoseconds and
// matchers as {"Name", "Type" (0 =, 1 !=, 2 =~, 3 !~), "Value"}; with
// -config, its Route and InhibitRules must be left out.
//
// -topology is a JSON array of entities, each parent (and a host's switch,
// a container's app) before the entities that name it:
//
//	[{"kind":"host","id":"h1"},{"kind":"app","id":"shop"},
//	 {"kind":"container","id":"c1","parent":"h1","app":"shop"}]
//
// It is read again on SIGHUP and when the file changes; a file that does not
// load leaves the topology as it was. With -etcd-endpoints the topology is
// the platform's instead (nodes and instance statuses, followed by a
// watch: see fleettopo) and the snapshot is kept in etcd under
// /shoal/v1/alertd/. Without either alertd routes alerts as Alertmanager
// would, without correlating them.
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
	"go.uber.org/zap"

	"github.com/shoalkit/shoal/alertcorr"
	"github.com/shoalkit/shoal/examples/internal/daemon"
	"github.com/shoalkit/shoal/examples/internal/fleettopo"
)

func main() { daemon.Main("alertd", run) }

func run(ctx context.Context, args []string, _, stderr io.Writer) error {
	fs := daemon.NewFlagSet("alertd", "alertd turns alert storms into incidents with their root (Alertmanager API in, webhooks or Alertmanager out).", stderr)
	var listen, configPath, settingsPath, topoPath, externalURL, etcdEndpoints string
	var webhooks, alertmanagers receiverFlag
	var poll time.Duration
	var verbose bool
	cfg := alertcorr.Config{}
	fs.StringVar(&listen, "listen", "127.0.0.1:9095", "address of the Alertmanager-compatible API")
	fs.StringVar(&configPath, "config", "", "Alertmanager configuration file (alertmanager.yml): route, inhibit_rules, receivers' webhook_configs")
	fs.StringVar(&settingsPath, "settings", "", "JSON of alertcorr.Config's data fields: correlation, tick, retention (default: alertcorr's defaults)")
	fs.StringVar(&cfg.SnapshotPath, "snapshot", "", "file that keeps silences, the notification log, alerts and incidents across restarts (default: none)")
	fs.StringVar(&topoPath, "topology", "", "JSON array of entities to correlate over (default: no correlation)")
	fs.DurationVar(&poll, "topology-poll", 5*time.Second, "how often to check the topology file for changes (0: only on SIGHUP)")
	fs.StringVar(&etcdEndpoints, "etcd-endpoints", "", "comma-separated etcd URLs: topology from the platform's state, snapshot kept in etcd")
	fs.Var(&webhooks, "webhook", "`[RECEIVER=]URL` to post Alertmanager webhook payloads to; only RECEIVER's notifications when named (repeatable)")
	fs.Var(&alertmanagers, "alertmanager", "`[RECEIVER=]URL` of an Alertmanager to forward incidents to as alerts (repeatable)")
	fs.StringVar(&externalURL, "external-url", "", "externalURL put in webhook payloads")
	fs.BoolVar(&verbose, "v", false, "debug logging")
	if err := daemon.Parse(fs, args); err != nil {
		return err
	}
	if etcdEndpoints != "" && (topoPath != "" || cfg.SnapshotPath != "") {
		return daemon.UsageError(stderr, "alertd: -etcd-endpoints takes the topology and the snapshot from etcd; leave out -topology and -snapshot")
	}
	if settingsPath != "" {
		if err := loadSettings(settingsPath, &cfg); err != nil {
			return daemon.UsageError(stderr, "alertd: -settings %v", err)
		}
	}
	log := daemon.Logger(stderr, verbose)
	cfg.Logger = log
	var amConfig *alertcorr.AlertmanagerConfig
	if configPath != "" {
		if cfg.Route != nil || cfg.InhibitRules != nil {
			return daemon.UsageError(stderr, "alertd: -settings has Route or InhibitRules; with -config they come from the Alertmanager file")
		}
		var err error
		if amConfig, err = loadAlertmanagerConfig(configPath, &cfg); err != nil {
			return daemon.UsageError(stderr, "alertd: -config %v", err)
		}
		if len(amConfig.Unsupported) > 0 {
			log.Warn("alertd: -config settings not acted on", "unsupported", amConfig.Unsupported)
		}
	}
	client := &http.Client{Timeout: 30 * time.Second}
	fan, targets, err := notifiers(amConfig, webhooks, alertmanagers, client, externalURL, log)
	if err != nil {
		return err
	}
	cfg.Notifier = fan
	if targets == 0 {
		log.Warn("alertd: no webhook receiver, -webhook or -alertmanager; incidents are only listed at /api/v2/incidents")
	}
	parts := []daemon.Runner{fan}
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
	if etcdEndpoints != "" {
		cli, err := clientv3.New(clientv3.Config{Endpoints: strings.Split(etcdEndpoints, ","), DialTimeout: 10 * time.Second, Logger: zap.NewNop(), Context: ctx})
		if err != nil {
			return daemon.UsageError(stderr, "alertd: -etcd-endpoints %v", err)
		}
		defer cli.Close()
		src := fleettopo.New(cli, log)
		cfg.Topology = alertcorr.NewTopology()
		if _, err := cfg.Topology.Sync(ctx, src); err != nil {
			return fmt.Errorf("alertd: topology from etcd: %w", err)
		}
		cfg.Snapshot, cfg.MaxSnapshotBytes = &etcdSnapshot{cli: cli}, maxEtcdSnapshot
		parts = append(parts, daemon.RunnerFunc(func(ctx context.Context) error { return src.Run(ctx, cfg.Topology) }))
	}
	e, err := alertcorr.Open(ctx, cfg)
	if errors.Is(err, alertcorr.ErrInvalid) {
		return daemon.UsageError(stderr, "alertd: %v", err)
	} else if err != nil {
		return err
	}
	// Run closes the engine when ctx ends; this is for the paths that
	// return before it runs. Close saves under a deadline of its own.
	defer e.Close() //nolint:contextcheck // ctx may have ended; the last save needs its own
	var lc net.ListenConfig
	l, err := lc.Listen(ctx, "tcp", listen)
	if err != nil {
		return err
	}
	srv := &http.Server{Handler: e.Handler(), ReadHeaderTimeout: 10 * time.Second}
	log.Info("alertd starting", "api", "http://"+l.Addr().String(), "config", configPath, "topology", topoPath, "etcd", etcdEndpoints,
		"snapshot", cfg.SnapshotPath, "notify-targets", targets)
	return daemon.RunAll(ctx, append(parts, e, daemon.HTTPServer(srv, l))...)
}
