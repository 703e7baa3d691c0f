package platform

import (
	"context"
	"net/http"
	"time"

	"github.com/shoalkit/shoal/alertcorr"
	"github.com/shoalkit/shoal/examples/internal/daemon"
	"github.com/shoalkit/shoal/examples/internal/fleettopo"
)

// startAlerts runs alertcorr as alertd does with -etcd-endpoints: its
// topology follows the platform's etcd (nodes' places, instances' apps),
// and it serves Alertmanager's API on 127.0.0.1 (AlertsURL), so
// Prometheus, or the scenario, sends alerts to it unchanged.
func (p *Platform) startAlerts(ctx, rctx context.Context) error {
	topo := alertcorr.NewTopology()
	src := fleettopo.New(p.Etcd, p.log.With("part", "fleettopo"))
	src.Debounce = 100 * time.Millisecond
	e, err := alertcorr.Open(ctx, alertcorr.Config{
		Topology: topo, Tick: 500 * time.Millisecond, Correlation: alertcorr.Correlation{Window: p.cfg.AlertWindow},
		Logger: p.log.With("part", "alertcorr"),
	})
	if err != nil {
		return err
	}
	l, err := daemon.ListenLocal(ctx)
	if err != nil {
		_ = e.Close() //nolint:contextcheck // Close has no ctx: it saves on the way out
		return err
	}
	srv := &http.Server{Handler: e.Handler(), ReadHeaderTimeout: 10 * time.Second}
	actx, cancel := context.WithCancel(rctx)
	done := make(chan struct{}, 3)
	go func() { _ = src.Run(actx, topo); done <- struct{}{} }()
	go func() { _ = e.Run(actx); done <- struct{}{} }()
	go func() { _ = srv.Serve(l); done <- struct{}{} }()
	p.AlertsURL, p.Alerts, p.AlertTopology = "http://"+l.Addr().String(), e, topo
	p.closers = append(p.closers, func() { //nolint:contextcheck // clean-up runs after the platform's ctx ended
		cancel()
		_ = srv.Close()
		for range 3 {
			<-done
		}
		_ = e.Close()
	})
	return nil
}
