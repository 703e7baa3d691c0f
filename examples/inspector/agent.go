package main

import (
	"bytes"
	"context"
	"flag"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/shoalkit/shoal/examples/internal/daemon"
	"github.com/shoalkit/shoal/examples/internal/fleetinspect"
	"github.com/shoalkit/shoal/inspect"
)

func agentCommand(fs *flag.FlagSet) daemon.Action {
	var nf nodeFlags
	nf.register(fs, hostname(), "127.0.0.1:7946", "")
	var zone, role, rack, httpAddr, fixKeyFile, root string
	fs.StringVar(&zone, "zone", "", "zone tag")
	fs.StringVar(&role, "role", "", "role tag")
	fs.StringVar(&rack, "rack", "", "rack tag")
	fs.StringVar(&httpAddr, "http", "", "address HOST:PORT serving stage two and fixes (empty: none)")
	fs.StringVar(&fixKeyFile, "fix-key-file", "", "file holding the secret fix requests are signed with (empty: fixes refused)")
	fs.StringVar(&root, "root", "", "read /proc, /sys and /etc under this directory (a fixture tree)")
	reload := fs.Duration("reload", 2*time.Second, "how often the spec file is checked for a change")
	return func(ctx context.Context, args []string, _, stderr io.Writer) error {
		if len(args) > 0 {
			return daemon.UsageError(stderr, "inspector agent: unexpected arguments %q", args)
		}
		m, err := nf.load(stderr)
		if err != nil {
			return err
		}
		acfg := inspect.AgentConfig{Name: nf.name, Host: inspect.Host{Root: root}, Tags: map[string]string{}}
		for k, v := range map[string]string{"zone": zone, "role": role, "rack": rack} {
			if v != "" {
				acfg.Tags[k] = v
			}
		}
		if fixKeyFile != "" {
			if acfg.FixKey, err = readSecret(stderr, fixKeyFile); err != nil {
				return err
			}
		}
		log := daemon.Logger(stderr, nf.verbose)
		acfg.Logger, m.cfg.Logger = log, log
		cli, err := nf.etcdClient()
		if err != nil {
			return daemon.UsageError(stderr, "inspector: -etcd-endpoints: %v", err)
		}
		if cli != nil {
			defer cli.Close()
			log.Info("inspector agent starting; spec and members from etcd", "node", nf.name, "etcd", nf.etcd)
			return fleetinspect.Run(ctx, cli, nf.name, acfg.Tags, fleetinspect.AgentConfig{
				Gossip: m.cfg, HTTPAddr: httpAddr, Agent: acfg, Logger: log,
			})
		}
		agent, err := inspect.NewAgent(acfg)
		if err != nil {
			return err
		}
		if err := agent.SetSpec(m.spec); err != nil {
			return err
		}
		var parts []daemon.Runner
		var l net.Listener
		if httpAddr != "" {
			var lc net.ListenConfig
			if l, err = lc.Listen(ctx, "tcp", httpAddr); err != nil {
				return err
			}
			m.cfg.DetailsAddr = l.Addr().String()
			srv := &http.Server{Handler: agent.Handler(), ReadHeaderTimeout: 10 * time.Second}
			parts = append(parts, daemon.HTTPServer(srv, l))
		}
		node, err := inspect.NewNode(m.cfg, agent)
		if err != nil {
			if l != nil {
				_ = l.Close()
			}
			return err
		}
		defer node.Close()
		log.Info("inspector agent starting", "node", nf.name, "gossip", node.Addr(), "spec", m.spec.String(), "http", m.cfg.DetailsAddr)
		parts = append(parts, node, joiner(node, nf.joinAddrs(), log), specWatcher(nf.spec, m.specBytes, *reload, node, log))
		return daemon.RunAll(ctx, parts...)
	}
}

// joiner joins the cluster through addrs, trying again every second until
// one answers, as serf's -retry-join.
func joiner(node *inspect.Node, addrs []string, log *slog.Logger) daemon.Runner {
	return daemon.RunnerFunc(func(ctx context.Context) error {
		for len(addrs) > 0 {
			n, err := node.Join(ctx, addrs...)
			if err == nil {
				log.Info("joined", "reached", n)
				return nil
			}
			log.Warn("join failed; retrying", "err", err)
			if !waitOrDone(ctx, time.Second) {
				return nil
			}
		}
		return nil
	})
}

// specWatcher reloads the spec file on SIGHUP and when its content changes;
// a spec that does not parse is logged and the held one kept.
func specWatcher(path string, held []byte, every time.Duration, node *inspect.Node, log *slog.Logger) daemon.Runner {
	return daemon.RunnerFunc(func(ctx context.Context) error {
		hup := make(chan os.Signal, 1)
		signal.Notify(hup, syscall.SIGHUP)
		defer signal.Stop(hup)
		tick := time.NewTicker(every)
		defer tick.Stop()
		for {
			forced := false
			select {
			case <-ctx.Done():
				return nil
			case <-hup:
				forced = true
			case <-tick.C:
			}
			b, err := os.ReadFile(path)
			if err != nil || (!forced && bytes.Equal(b, held)) {
				if err != nil {
					log.Warn("spec file unreadable; keeping the held spec", "err", err)
				}
				continue
			}
			held = b
			spec, err := inspect.ParseSpec(b)
			if err == nil {
				err = node.SetSpec(spec)
			}
			if err != nil {
				log.Error("spec refused; keeping the held one", "held", node.Agent().Spec().String(), "err", err)
				continue
			}
			log.Info("spec loaded", "spec", spec.String())
		}
	})
}
