// Package embedetcd runs a single-node etcd inside the process: the
// platform's default store, and what the daemons' tests start.
//
//	srv, err := embedetcd.Start(ctx, embedetcd.Config{Dir: "/var/lib/shoal/etcd"})
//	if err != nil { ... }
//	defer srv.Close()
//	cli, err := clientv3.New(clientv3.Config{Endpoints: srv.Endpoints()})
//
// It listens on 127.0.0.1 only. Close clients before the server: etcd waits
// for open client streams to end (about 7 s) before it stops.
package embedetcd

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/url"
	"slices"
	"sync"
	"time"

	"go.etcd.io/etcd/server/v3/embed"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"

	"github.com/shoalkit/shoal/examples/internal/daemon"
)

// Config says where the store lives and where it listens.
type Config struct {
	// Dir holds the data; required. The same Dir keeps the data across
	// restarts.
	Dir string
	// ClientAddr is the client address, "127.0.0.1:PORT"; empty picks a
	// free port.
	ClientAddr string
	// PeerAddr is the peer address; empty picks a free port.
	PeerAddr string
	// Logger receives etcd's warnings and errors; nil discards them (etcd
	// logs errors on every normal close).
	Logger *slog.Logger
	// ReadyTimeout bounds the start; zero means 30 s.
	ReadyTimeout time.Duration
	// MaxTxnOps is the most operations one transaction may hold; zero
	// means DefaultMaxTxnOps (etcd's own default is 128).
	MaxTxnOps int
}

// DefaultMaxTxnOps is the embedded store's transaction limit: large enough
// that the controller writes a deploy of a few hundred instances, their
// addresses and events in one transaction.
const DefaultMaxTxnOps = 1024

// Server is a running embedded etcd.
type Server struct {
	etcd      *embed.Etcd
	endpoints []string
	closeOnce sync.Once
}

// Start starts etcd and returns once it serves clients.
func Start(ctx context.Context, cfg Config) (*Server, error) {
	if cfg.Dir == "" {
		return nil, errors.New("embedetcd: Config.Dir is empty")
	}
	if cfg.ReadyTimeout == 0 {
		cfg.ReadyTimeout = 30 * time.Second
	}
	var err error
	if cfg.ClientAddr == "" {
		if cfg.ClientAddr, err = daemon.FreeLocalAddr(ctx); err != nil {
			return nil, err
		}
	}
	if cfg.PeerAddr == "" {
		if cfg.PeerAddr, err = daemon.FreeLocalAddr(ctx); err != nil {
			return nil, err
		}
	}
	for _, a := range []string{cfg.ClientAddr, cfg.PeerAddr} {
		host, _, err := net.SplitHostPort(a)
		if err != nil || !net.ParseIP(host).IsLoopback() {
			return nil, fmt.Errorf("embedetcd: address %q: want 127.0.0.1:PORT (the embedded store serves this machine only)", a)
		}
	}
	ec := embed.NewConfig()
	ec.Name = "shoal"
	if cfg.MaxTxnOps <= 0 {
		cfg.MaxTxnOps = DefaultMaxTxnOps
	}
	ec.MaxTxnOps = uint(cfg.MaxTxnOps)
	ec.Dir = cfg.Dir
	client := url.URL{Scheme: "http", Host: cfg.ClientAddr}
	peer := url.URL{Scheme: "http", Host: cfg.PeerAddr}
	ec.ListenClientUrls, ec.AdvertiseClientUrls = []url.URL{client}, []url.URL{client}
	ec.ListenPeerUrls, ec.AdvertisePeerUrls = []url.URL{peer}, []url.URL{peer}
	ec.InitialCluster = ec.InitialClusterFromName(ec.Name)
	ec.ZapLoggerBuilder = embed.NewZapLoggerBuilder(zapLogger(cfg.Logger))
	e, err := embed.StartEtcd(ec)
	if err != nil {
		return nil, fmt.Errorf("embedetcd: start in %s: %w", cfg.Dir, err)
	}
	s := &Server{etcd: e, endpoints: []string{client.String()}}
	timer := time.NewTimer(cfg.ReadyTimeout)
	defer timer.Stop()
	select {
	case <-e.Server.ReadyNotify():
		return s, nil
	case err := <-e.Err():
		s.Close()
		return nil, fmt.Errorf("embedetcd: %w", err)
	case <-timer.C:
		s.Close()
		return nil, fmt.Errorf("embedetcd: not ready after %v", cfg.ReadyTimeout)
	case <-ctx.Done():
		s.Close()
		return nil, ctx.Err()
	}
}

// Endpoints are the client URLs.
func (s *Server) Endpoints() []string { return s.endpoints }

// Err reports a fatal server error.
func (s *Server) Err() <-chan error { return s.etcd.Err() }

// Close stops the server; calling it again does nothing (embed's own Close
// panics the second time).
func (s *Server) Close() {
	s.closeOnce.Do(s.etcd.Close)
}

// zapLogger sends etcd's warnings and errors to l.
func zapLogger(l *slog.Logger) *zap.Logger {
	if l == nil {
		return zap.NewNop()
	}
	return zap.New(&slogCore{log: l})
}

// slogCore is a zapcore.Core that forwards warnings and worse to slog.
type slogCore struct {
	log    *slog.Logger
	fields []zapcore.Field
}

// Enabled passes warnings and worse.
func (c *slogCore) Enabled(l zapcore.Level) bool { return l >= zapcore.WarnLevel }

// With returns a core that adds fields to every entry.
func (c *slogCore) With(fields []zapcore.Field) zapcore.Core {
	return &slogCore{log: c.log, fields: append(slices.Clip(c.fields), fields...)}
}

// Check adds this core to entries it passes.
func (c *slogCore) Check(e zapcore.Entry, ce *zapcore.CheckedEntry) *zapcore.CheckedEntry {
	if c.Enabled(e.Level) {
		return ce.AddCore(e, c)
	}
	return ce
}

// Write logs one entry through slog.
func (c *slogCore) Write(e zapcore.Entry, fields []zapcore.Field) error {
	enc := zapcore.NewMapObjectEncoder()
	for _, f := range append(slices.Clip(c.fields), fields...) {
		f.AddTo(enc)
	}
	attrs := make([]any, 0, 2*len(enc.Fields)+2)
	attrs = append(attrs, "component", "etcd")
	for k, v := range enc.Fields {
		attrs = append(attrs, k, v)
	}
	level := slog.LevelWarn
	if e.Level >= zapcore.ErrorLevel {
		level = slog.LevelError
	}
	c.log.Log(context.Background(), level, e.Message, attrs...)
	return nil
}

// Sync does nothing: slog handlers write at once.
func (c *slogCore) Sync() error { return nil }
