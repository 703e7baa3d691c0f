package fleetinspect

import (
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"slices"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
	"golang.org/x/sync/errgroup"

	"github.com/shoalkit/shoal/inspect"
)

// InspectorConfig configures the inspector side. A zero field means its
// default.
type InspectorConfig struct {
	// Name is the inspector's serf member name (default "inspector"). It
	// is left out of reports and other inspectors prune it once it has
	// gone.
	Name string
	// Gossip is the inspector's serf member; the keyring must be the
	// agents'. Zero: inspect's defaults (0.0.0.0, LAN profile), except the
	// port: a zero BindPort is any free port (inspect.AnyPort), since the
	// inspector joins the agents and usually shares a host with one of
	// them, which holds 7946.
	Gossip inspect.NodeConfig
	// Round configures the rounds (timeouts, retries, relays, and
	// GroupSize: collectors for a large fleet, whose agents must then
	// serve HTTP).
	Round inspect.InspectorConfig
	// Interval is the time between rounds (default 1 min); a new spec
	// starts one at once (within Round.NewSpecInterval of the last one).
	Interval time.Duration
	// FixKey signs fix requests; it must be the agents' fix key. Empty:
	// fix orders are answered with an error.
	FixKey []byte
	// LeaseTTL and Rejoin are as in AgentConfig (defaults 10 s and 2 s).
	LeaseTTL, Rejoin time.Duration
	// Logger receives the inspector's log (nil: discarded).
	Logger *slog.Logger
}

func (c InspectorConfig) withDefaults() InspectorConfig {
	if c.Name == "" {
		c.Name = "inspector"
	}
	if c.Interval <= 0 {
		c.Interval = time.Minute
	}
	if c.LeaseTTL < time.Second {
		c.LeaseTTL = 10 * time.Second
	}
	if c.Rejoin <= 0 {
		c.Rejoin = 2 * time.Second
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	if c.Round.Logger == nil {
		c.Round.Logger = c.Logger
	}
	if c.Gossip.BindPort == 0 {
		c.Gossip.BindPort = inspect.AnyPort
	}
	if c.Gossip.Logger == nil {
		c.Gossip.Logger = c.Logger
	}
	return c
}

// Inspector runs rounds against the spec in etcd and stores each report.
type Inspector struct {
	cli *clientv3.Client
	cfg InspectorConfig
}

// NewInspector returns the inspector side; Run starts it.
func NewInspector(cli *clientv3.Client, cfg InspectorConfig) (*Inspector, error) {
	if cli == nil {
		return nil, newError(ErrInvalid, "nil etcd client")
	}
	return &Inspector{cli: cli, cfg: cfg.withDefaults()}, nil
}

// Run joins the gossip cluster and runs a round on every spec change and
// every Interval, storing each report (ReportKey); it carries out fix
// orders (FixKey) and stores their results (FixResultKey), then runs a
// round that confirms them. It returns when ctx ends (nil) or the serf
// member fails to start.
func (i *Inspector) Run(ctx context.Context) error {
	agent, err := inspect.NewAgent(inspect.AgentConfig{Name: i.cfg.Name, Logger: i.cfg.Logger})
	if err != nil {
		return wrapError(ErrInvalid, err, "inspector")
	}
	node, err := inspect.NewNode(i.cfg.Gossip, agent)
	if err != nil {
		return wrapError(ErrUnavailable, err, "inspector member %s", i.cfg.Name)
	}
	defer node.Close()
	in, err := inspect.NewInspector(node, i.cfg.Round)
	if err != nil {
		return wrapError(ErrUnavailable, err, "inspector %s", i.cfg.Name)
	}
	specs := make(chan *inspect.Spec, 1)
	orders := make(chan FixOrder, 1)
	g, gctx := errgroup.WithContext(ctx)
	g.Go(func() error { return node.Run(gctx) })
	g.Go(func() error {
		return gossip{cli: i.cli, node: node, ttl: i.cfg.LeaseTTL, interval: i.cfg.Rejoin, log: i.cfg.Logger}.run(gctx)
	})
	g.Go(func() error {
		return watchSpec(gctx, i.cli, i.cfg.Logger, func(s *inspect.Spec) error { latest(specs, s); return nil })
	})
	g.Go(func() error { return i.watchOrders(gctx, orders) })
	g.Go(func() error { return i.loop(gctx, in, specs, orders) })
	return g.Wait()
}

// latest replaces what ch holds with v.
func latest[T any](ch chan T, v T) {
	for {
		select {
		case ch <- v:
			return
		default:
			select {
			case <-ch:
			default:
			}
		}
	}
}

// loop runs the rounds and fix orders, one at a time.
func (i *Inspector) loop(ctx context.Context, in *inspect.Inspector, specs <-chan *inspect.Spec, orders <-chan FixOrder) error {
	var spec *inspect.Spec
	var last *inspect.Report
	tick := time.NewTicker(i.cfg.Interval)
	defer tick.Stop()
	retry := time.NewTimer(time.Hour)
	retry.Stop()
	for {
		due := false
		select {
		case <-ctx.Done():
			return nil
		case s := <-specs:
			spec, due = s, true
		case <-tick.C:
			due = true
		case <-retry.C:
			due = true
		case o := <-orders:
			res := i.fix(ctx, in, spec, last, o)
			if err := i.put(ctx, FixResultKey, res); err != nil {
				i.cfg.Logger.Error("fleetinspect: store fix result", "order", o.ID, "err", err)
			}
			due = res.Error == "" // the next round confirms
		}
		if !due || spec == nil {
			continue
		}
		rep, err := in.Round(ctx, spec)
		if errors.Is(err, inspect.ErrRateLimited) {
			retry.Reset(time.Second) // a new spec right after another: try again shortly
			continue
		}
		if err != nil {
			i.cfg.Logger.Error("fleetinspect: round", "err", err)
			continue
		}
		if err := in.Details(ctx, rep); err != nil {
			i.cfg.Logger.Warn("fleetinspect: details", "err", err)
		}
		last = rep
		if err := StoreReport(ctx, i.cli, rep); err != nil {
			i.cfg.Logger.Error("fleetinspect: store report", "err", err)
		}
	}
}

// fix carries out one order on the last report.
func (i *Inspector) fix(ctx context.Context, in *inspect.Inspector, spec *inspect.Spec, last *inspect.Report, o FixOrder) FixResult {
	res := FixResult{ID: o.ID}
	defer func() { res.Done = time.Now() }()
	switch {
	case len(i.cfg.FixKey) == 0:
		res.Error = "the inspector has no fix key"
	case spec == nil || last == nil || last.Spec != o.Spec || spec.Version != o.Spec:
		res.Error = "no report on spec version " + jsonNumber(o.Spec) + " yet"
	}
	if res.Error != "" {
		return res
	}
	rep := *last
	if len(o.Nodes) > 0 {
		rep.Members = slices.DeleteFunc(slices.Clone(last.Members), func(m inspect.MemberReport) bool {
			return !slices.Contains(o.Nodes, m.Name)
		})
	}
	out, err := in.Remediate(ctx, &rep, spec, inspect.RemediateOptions{Key: i.cfg.FixKey, DryRun: o.DryRun, Checks: o.Checks, MaxNodes: o.MaxNodes})
	if err != nil {
		res.Error = err.Error()
	}
	res.Remediations = out
	i.cfg.Logger.Info("fleetinspect: fix order", "order", o.ID, "nodes", len(out), "dry_run", o.DryRun, "err", res.Error)
	return res
}

func jsonNumber(v uint64) string { b, _ := json.Marshal(v); return string(b) }

// put stores v as JSON at key.
func (i *Inspector) put(ctx context.Context, key string, v any) error {
	b, err := json.Marshal(v)
	if err != nil {
		return wrapError(ErrInvalid, err, "encode %s", key)
	}
	if len(b) > MaxReportBytes {
		return newError(ErrInvalid, "%s of %d bytes, more than %d", key, len(b), MaxReportBytes)
	}
	if _, err := i.cli.Put(ctx, key, string(b)); err != nil {
		return wrapError(ErrUnavailable, err, "put %s", key)
	}
	return nil
}

// watchOrders sends every new fix order to orders: the stored one at
// start unless its result is stored, then each one put.
func (i *Inspector) watchOrders(ctx context.Context, orders chan<- FixOrder) error {
	use := func(b []byte) {
		var o FixOrder
		err := decodeJSON(b, maxFixOrderBytes, &o)
		if err == nil {
			err = o.Validate()
		}
		if err != nil {
			i.cfg.Logger.Error("fleetinspect: fix order refused", "err", err)
			return
		}
		select {
		case orders <- o:
		case <-ctx.Done():
		}
	}
	for ctx.Err() == nil {
		resp, err := i.cli.Get(ctx, FixKey)
		if err != nil {
			sleep(ctx, time.Second)
			continue
		}
		if len(resp.Kvs) > 0 {
			if done, err := GetFixResult(ctx, i.cli); err != nil || !sameOrder(resp.Kvs[0].Value, done.ID) {
				use(resp.Kvs[0].Value)
			}
		}
		wctx, cancel := context.WithCancel(clientv3.WithRequireLeader(ctx))
		for w := range i.cli.Watch(wctx, FixKey, clientv3.WithRev(resp.Header.Revision+1)) {
			if w.Err() != nil {
				break
			}
			for _, ev := range w.Events {
				if ev.Type == clientv3.EventTypePut {
					use(ev.Kv.Value)
				}
			}
		}
		cancel()
		sleep(ctx, 100*time.Millisecond)
	}
	return nil
}

// sameOrder reports whether the stored order b has the given id.
func sameOrder(b []byte, id string) bool {
	var o FixOrder
	return decodeJSON(b, maxFixOrderBytes, &o) == nil && o.ID == id
}
