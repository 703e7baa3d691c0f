package fleetinspect

import (
	"context"
	"errors"
	"log/slog"
	"maps"
	"net"
	"net/http"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
	"golang.org/x/sync/errgroup"

	"github.com/shoalkit/shoal/inspect"
)

// AgentConfig configures the agent side. A zero field means its default.
type AgentConfig struct {
	// Gossip is the serf member (bind address, keyring, profile); its
	// DetailsAddr is set from HTTPAddr. Zero: inspect's defaults
	// (0.0.0.0:7946, the LAN profile, no encryption).
	Gossip inspect.NodeConfig
	// HTTPAddr is where stage two and fixes are served, "host:port" (port
	// 0: any free one). Empty: none, so no details and no fixes.
	HTTPAddr string
	// Agent configures the checks (host root, timeouts, fix key); its
	// Name and Tags are Run's arguments.
	Agent inspect.AgentConfig
	// LeaseTTL is the lease of the gossip address in etcd (default 10 s).
	LeaseTTL time.Duration
	// Rejoin is how often a member alone in its cluster looks in etcd for
	// others to join (default 2 s).
	Rejoin time.Duration
	// Logger receives the agent side's log (nil: discarded).
	Logger *slog.Logger
}

func (c AgentConfig) withDefaults() AgentConfig {
	if c.LeaseTTL < time.Second {
		c.LeaseTTL = 10 * time.Second
	}
	if c.Rejoin <= 0 {
		c.Rejoin = 2 * time.Second
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	return c
}

// Run is the agent side of inspection on node nodeName with tags (zone,
// role, rack): a serf member answering inspections against the spec it
// follows in etcd (SpecKey, watched; a spec that does not validate is
// logged and the held one kept), stage two and fixes over HTTP, the
// member's gossip address registered in etcd and the cluster joined
// through the others'. It returns when ctx ends (nil) or a part fails;
// the member leaves the cluster on the way out.
func Run(ctx context.Context, cli *clientv3.Client, nodeName string, tags map[string]string, cfg AgentConfig) error {
	if cli == nil {
		return newError(ErrInvalid, "nil etcd client")
	}
	cfg = cfg.withDefaults()
	acfg := cfg.Agent
	acfg.Name, acfg.Tags = nodeName, maps.Clone(tags)
	if acfg.Logger == nil {
		acfg.Logger = cfg.Logger
	}
	agent, err := inspect.NewAgent(acfg)
	if err != nil {
		return wrapError(ErrInvalid, err, "agent %s", nodeName)
	}
	ncfg := cfg.Gossip
	if ncfg.Logger == nil {
		ncfg.Logger = cfg.Logger
	}
	var srv *http.Server
	var l net.Listener
	if cfg.HTTPAddr != "" {
		var lc net.ListenConfig
		if l, err = lc.Listen(ctx, "tcp", cfg.HTTPAddr); err != nil {
			return wrapError(ErrUnavailable, err, "listen %s", cfg.HTTPAddr)
		}
		ncfg.DetailsAddr = l.Addr().String()
		srv = &http.Server{Handler: agent.Handler(), ReadHeaderTimeout: 10 * time.Second}
	}
	node, err := inspect.NewNode(ncfg, agent)
	if err != nil {
		if l != nil {
			_ = l.Close()
		}
		return wrapError(ErrUnavailable, err, "gossip member %s", nodeName)
	}
	defer node.Close()
	cfg.Logger.Info("fleetinspect: agent", "node", nodeName, "gossip", node.Addr(), "http", ncfg.DetailsAddr)

	g, gctx := errgroup.WithContext(ctx)
	g.Go(func() error { return node.Run(gctx) })
	if srv != nil {
		g.Go(func() error { return serve(gctx, srv, l) })
	}
	g.Go(func() error {
		return gossip{cli: cli, node: node, ttl: cfg.LeaseTTL, interval: cfg.Rejoin, log: cfg.Logger}.run(gctx)
	})
	g.Go(func() error {
		return watchSpec(gctx, cli, cfg.Logger, func(s *inspect.Spec) error { return node.SetSpec(s) })
	})
	return g.Wait()
}

// serve serves srv on l until ctx ends.
func serve(ctx context.Context, srv *http.Server, l net.Listener) error {
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(l) }()
	select {
	case err := <-errc:
		return wrapError(ErrUnavailable, err, "serve %s", l.Addr())
	case <-ctx.Done():
	}
	sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
	defer cancel()
	if err := srv.Shutdown(sctx); err != nil {
		_ = srv.Close()
	}
	if err := <-errc; err != nil && !errors.Is(err, http.ErrServerClosed) {
		return wrapError(ErrUnavailable, err, "serve %s", l.Addr())
	}
	return nil
}

// watchSpec reads the spec and calls apply with it and with every new
// one, until ctx ends; etcd errors are retried every second. A spec that
// does not decode or that apply refuses is logged and skipped; a deleted
// spec leaves the held one in force.
func watchSpec(ctx context.Context, cli *clientv3.Client, log *slog.Logger, apply func(*inspect.Spec) error) error {
	use := func(b []byte) {
		s, err := decodeSpec(b)
		if err == nil {
			err = apply(s)
		}
		if err != nil {
			log.Error("fleetinspect: spec refused; keeping the held one", "err", err)
			return
		}
		log.Info("fleetinspect: spec", "spec", s.String())
	}
	for ctx.Err() == nil {
		resp, err := cli.Get(ctx, SpecKey)
		if err != nil {
			log.Warn("fleetinspect: read spec", "err", err)
			sleep(ctx, time.Second)
			continue
		}
		if len(resp.Kvs) > 0 {
			use(resp.Kvs[0].Value)
		}
		wctx, cancel := context.WithCancel(clientv3.WithRequireLeader(ctx))
		for w := range cli.Watch(wctx, SpecKey, clientv3.WithRev(resp.Header.Revision+1)) {
			if w.Err() != nil {
				log.Warn("fleetinspect: spec watch", "err", w.Err())
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
