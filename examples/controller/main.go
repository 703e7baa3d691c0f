// Command controller is Shoal's control plane: it places apps on the nodes
// the agents report, allocates their addresses, keeps them at their replica
// count, rolls out their changes and records every step, with its state in
// etcd. Several may run; one leads.
//
//	controller -data /var/lib/shoal/controller            # embedded etcd
//	controller -etcd-endpoints http://10.0.0.1:2379,...   # an etcd cluster
//
// At its first start it generates the cluster's bearer token into etcd and
// writes it to -token-file (mode 0600), where shoalctl reads it. It listens
// on 127.0.0.1 unless told otherwise, and serves TLS when given a
// certificate.
package main

import (
	"context"
	"crypto/tls"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
	"go.uber.org/zap"

	"github.com/shoalkit/shoal/examples/internal/controller"
	"github.com/shoalkit/shoal/examples/internal/daemon"
	"github.com/shoalkit/shoal/examples/internal/dashboard"
	"github.com/shoalkit/shoal/examples/internal/embedetcd"
	"github.com/shoalkit/shoal/imagefs"
)

func main() {
	daemon.Main("controller", run)
}

func run(ctx context.Context, args []string, _, stderr io.Writer) error {
	fs := daemon.NewFlagSet("controller", "controller places and keeps the platform's apps, with its state in etcd.", stderr)
	var cfg controller.Config
	var listen, endpoints, dataDir, tokenFile, etcdAddr, certFile, keyFile string
	var insecure, verbose bool
	fs.StringVar(&listen, "listen", "127.0.0.1:7000", "address of the API")
	fs.StringVar(&endpoints, "etcd-endpoints", "", "etcd client URLs, comma separated; empty runs an embedded etcd in -data")
	fs.StringVar(&etcdAddr, "etcd-listen", "127.0.0.1:2379", "client address of the embedded etcd (127.0.0.1 only)")
	fs.StringVar(&dataDir, "data", "/var/lib/shoal/controller", "embedded etcd's data and the token file")
	fs.StringVar(&tokenFile, "token-file", "", "where the cluster's bearer token is written (default DATA/token)")
	fs.StringVar(&cfg.Name, "name", "", "this controller's name in the election and the events (default the host name)")
	fs.StringVar(&certFile, "tls-cert", "", "serve TLS with this certificate (PEM)")
	fs.StringVar(&keyFile, "tls-key", "", "the certificate's key (PEM)")
	fs.DurationVar(&cfg.SessionTTL, "session-ttl", 5*time.Second, "leader lease: a silent leader is replaced after about this long")
	fs.DurationVar(&cfg.NodeGrace, "node-grace", 30*time.Second, "how long a lost node's instances wait before they are placed elsewhere")
	fs.IntVar(&cfg.MaxTxnOps, "max-txn-ops", 128, "etcd's --max-txn-ops: the largest transaction (default 1024 with the embedded etcd)")
	fs.StringVar(&cfg.AlertsURL, "alerts-url", "", "alertd's API (http://host:port): GET /v1/incidents and the dashboard show its incidents")
	fs.BoolVar(&insecure, "insecure-registry", false, "plain HTTP to registries when checking images (loopback pilots)")
	fs.BoolVar(&verbose, "v", false, "debug logging")
	if err := daemon.Parse(fs, args); err != nil {
		return err
	}
	if (certFile == "") != (keyFile == "") {
		return daemon.UsageError(stderr, "controller: -tls-cert and -tls-key go together")
	}
	if tokenFile == "" {
		tokenFile = filepath.Join(dataDir, "token")
	}
	if cfg.Name == "" {
		cfg.Name, _ = os.Hostname()
		cfg.Name = "controller/" + cfg.Name
	}
	log := daemon.Logger(stderr, verbose)
	cfg.Logger = log
	if endpoints == "" {
		srv, err := embedetcd.Start(ctx, embedetcd.Config{Dir: filepath.Join(dataDir, "etcd"), ClientAddr: etcdAddr, Logger: log.With("part", "etcd")})
		if err != nil {
			return err
		}
		defer srv.Close()
		endpoints = strings.Join(srv.Endpoints(), ",")
		if !flagSet(fs, "max-txn-ops") {
			cfg.MaxTxnOps = embedetcd.DefaultMaxTxnOps
		}
	}
	cli, err := clientv3.New(clientv3.Config{Endpoints: strings.Split(endpoints, ","), DialTimeout: 5 * time.Second, Logger: zap.NewNop()})
	if err != nil {
		return fmt.Errorf("etcd %s: %w", endpoints, err)
	}
	defer cli.Close()
	cfg.Etcd = cli
	remote := imagefs.DefaultRemoteConfig()
	remote.Insecure = insecure
	cfg.CheckImage = func(ctx context.Context, ref string) error {
		_, err := imagefs.Pull(ctx, ref, remote)
		return err
	}
	var lc net.ListenConfig
	l, err := lc.Listen(ctx, "tcp", listen)
	if err != nil {
		return err
	}
	cfg.Advertise = l.Addr().String()
	c, err := controller.New(cfg)
	if err != nil {
		return err
	}
	tok, err := c.EnsureToken(ctx)
	if err != nil {
		return err
	}
	if err := writeToken(tokenFile, tok); err != nil {
		return err
	}
	mux := http.NewServeMux()
	mux.Handle(dashboard.Prefix, dashboard.Handler())
	mux.Handle("/", c.Handler())
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
	scheme := "http"
	if certFile != "" {
		cert, err := tls.LoadX509KeyPair(certFile, keyFile)
		if err != nil {
			return fmt.Errorf("controller: %w", err)
		}
		l = tls.NewListener(l, &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12})
		scheme = "https"
	}
	log.Info("controller starting", "api", scheme+"://"+cfg.Advertise, "dashboard", scheme+"://"+cfg.Advertise+dashboard.Prefix+"#token=(the token file's)",
		"etcd", endpoints, "token_file", tokenFile)
	return daemon.RunAll(ctx, daemon.RunnerFunc(c.Run), daemon.HTTPServer(srv, l))
}

func flagSet(fs *flag.FlagSet, name string) bool {
	set := false
	fs.Visit(func(f *flag.Flag) { set = set || f.Name == name })
	return set
}

// writeToken writes the token where only its owner reads it.
func writeToken(path, tok string) error {
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return err
	}
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, []byte(tok+"\n"), 0o600); err != nil {
		return err
	}
	return os.Rename(tmp, path)
}
