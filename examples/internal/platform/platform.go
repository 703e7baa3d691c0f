// Package platform starts a whole Shoal platform in one process: embedded
// etcd, a registry, the controller and its API, and N node agents — real
// ones (containers, cgroups, each node's own OVS bridge trunked to a shared
// top-of-rack bridge so one VLAN spans the nodes) when run as root, or
// simulated nodes speaking the same etcd contract otherwise. The pilot runs
// it; the end-to-end tests run the same pieces.
//
//	p, err := platform.Start(ctx, platform.Config{Dir: dir, Agents: 3, Real: true})
//	if err != nil { ... }
//	defer p.Close()
//	fmt.Println(p.API, p.TokenFile)
package platform

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
	"go.uber.org/zap"

	"github.com/google/go-containerregistry/pkg/registry"

	"github.com/shoalkit/shoal/alertcorr"
	"github.com/shoalkit/shoal/cgroupx/procview"
	"github.com/shoalkit/shoal/examples/internal/controller"
	"github.com/shoalkit/shoal/examples/internal/daemon"
	"github.com/shoalkit/shoal/examples/internal/dashboard"
	"github.com/shoalkit/shoal/examples/internal/embedetcd"
	"github.com/shoalkit/shoal/examples/internal/simnode"
	"github.com/shoalkit/shoal/examples/internal/state"
	"github.com/shoalkit/shoal/imagefs"
)

// Config says what to start.
type Config struct {
	// Dir holds everything the platform writes; required. Close removes
	// what it started but leaves Dir's data (etcd, logs) for a look after.
	Dir string
	// Agents is the number of nodes; zero means 3. Node i is "nI" in rack
	// "rI" behind switch "sI", all in zone "z1".
	Agents int
	// Real runs real agents with real containers and OVS (needs root);
	// otherwise the nodes are simulated.
	Real bool
	// API is the controller's address; empty means 127.0.0.1 on a free
	// port.
	API string
	// Registry is an image registry's "host:port"; empty starts one in
	// this process on 127.0.0.1.
	Registry string
	// NodeCapacity is what each node offers; zero means 4 CPUs and 4 GiB.
	NodeCapacity state.Capacity
	// NodeGrace is how long a lost node's instances wait before they are
	// placed elsewhere; zero means 10 s.
	NodeGrace time.Duration
	// AutoscaleInterval is how often the controller decides for autoscaled
	// apps; zero means 15 s.
	AutoscaleInterval time.Duration
	// AlertWindow is how long an alert waits for the rest of its storm
	// before it is correlated; zero means alertcorr's default, 30 s.
	AlertWindow time.Duration
	// InspectInterval is the time between inspection rounds; zero means
	// 30 s (a new spec starts a round at once).
	InspectInterval time.Duration
	// Logger receives the platform's logs; nil discards them.
	Logger *slog.Logger
}

// Platform is a running platform.
type Platform struct {
	// API is the controller's base URL; TokenFile holds its bearer token.
	API       string
	TokenFile string
	Token     string
	// Registry is the image registry's "host:port".
	Registry string
	// Etcd is a client of the platform's store.
	Etcd *clientv3.Client
	// Controller is the running controller.
	Controller *controller.Controller
	// Nodes are the nodes' names, in order.
	Nodes []string
	// Switch is the OVS of real nodes; nil when simulated.
	Switch *Switch
	// Simulated is true when the nodes are simulated.
	Simulated bool
	// AlertsURL is alertcorr's Alertmanager-compatible API (alerts in,
	// incidents out), its topology following the platform; Alerts is the
	// engine.
	// PrometheusURL is Debian's prometheus scraping the real agents and
	// sending its alerts to AlertsURL; empty when not installed or when
	// the nodes are simulated.
	PrometheusURL string
	AlertsURL     string
	Alerts        *alertcorr.Engine
	AlertTopology *alertcorr.Topology

	cfg     Config
	simLoad simLoad
	log     *slog.Logger
	etcd    *embedetcd.Server
	agents  map[string]*agentNode
	fleet   *simnode.Fleet
	cancel  context.CancelFunc
	closers []func()
	racks   []string
	// procView is where the live /proc is mounted for the real agents;
	// closeProcView unmounts it once their containers are gone.
	procView      string
	procViewSrv   *procview.Server // answers the containers' sysinfo(2) too
	closeProcView func()
	// fixKey signs inspection fixes; inspectStop ends a node's inspection
	// agent (KillNode).
	fixKey      []byte
	inspectStop map[string]context.CancelFunc
	// stopController stops the running controller and its API server.
	stopController func()
	rctx           context.Context //nolint:containedctx // the platform's lifetime, for a restarted controller
	once           sync.Once
}

// DashboardURL is the dashboard's address with the token in its fragment
// (never sent to the server): open it in a browser.
func (p *Platform) DashboardURL() string {
	return p.API + dashboard.Prefix + "#token=" + p.Token
}

// Client returns an API client.
func (p *Platform) Client() *controller.Client {
	return &controller.Client{URL: p.API, Token: p.Token}
}

// Start starts the platform and returns once the controller leads and
// every node has registered.
func Start(ctx context.Context, cfg Config) (p *Platform, err error) {
	if cfg.Dir == "" {
		return nil, errors.New("platform: Config.Dir is empty")
	}
	if cfg.Agents == 0 {
		cfg.Agents = 3
	}
	if cfg.Agents < 1 || cfg.Agents > 64 {
		return nil, fmt.Errorf("platform: Config.Agents %d outside 1..64", cfg.Agents)
	}
	if cfg.NodeCapacity == (state.Capacity{}) {
		cfg.NodeCapacity = state.Capacity{CPUs: 4, MemoryBytes: 4 << 30}
	}
	if cfg.NodeGrace == 0 {
		cfg.NodeGrace = 10 * time.Second
	}
	if cfg.InspectInterval == 0 {
		cfg.InspectInterval = 30 * time.Second
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	rctx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	p = &Platform{cfg: cfg, log: cfg.Logger, cancel: cancel, rctx: rctx, agents: map[string]*agentNode{}, Simulated: !cfg.Real, stopController: func() {}}
	defer func() { //nolint:contextcheck // clean-up runs even when ctx has ended
		if err != nil {
			p.Close()
		}
	}()
	if err := os.MkdirAll(cfg.Dir, 0o700); err != nil {
		return p, err
	}
	if p.etcd, err = embedetcd.Start(ctx, embedetcd.Config{Dir: filepath.Join(cfg.Dir, "etcd"), Logger: cfg.Logger.With("part", "etcd")}); err != nil {
		return p, err
	}
	if p.Etcd, err = clientv3.New(clientv3.Config{Endpoints: p.etcd.Endpoints(), DialTimeout: 5 * time.Second, Logger: zap.NewNop()}); err != nil {
		return p, err
	}
	if p.Registry = cfg.Registry; p.Registry == "" {
		if p.Registry, err = p.startRegistry(ctx); err != nil {
			return p, err
		}
	}
	if err := p.startAlerts(ctx, rctx); err != nil {
		return p, err
	}
	if err := p.startController(ctx, rctx); err != nil {
		return p, err
	}
	nodes := simnode.Racks(cfg.Agents, 1, cfg.NodeCapacity)
	for _, n := range nodes {
		p.Nodes, p.racks = append(p.Nodes, n.Name), append(p.racks, n.Rack)
	}
	if cfg.Real {
		if err := p.startAgents(ctx, rctx, nodes); err != nil {
			return p, err
		}
	} else if p.fleet, err = simnode.Start(ctx, simnode.Config{Etcd: p.Etcd, Nodes: nodes, LeaseTTL: 3 * time.Second}); err != nil {
		return p, err
	}
	if err := p.startInspection(rctx); err != nil {
		return p, err
	}
	if cfg.Real {
		var addrs []string
		for _, n := range p.Nodes {
			addrs = append(addrs, p.agents[n].addr)
		}
		if err := p.startPrometheus(ctx, addrs); err != nil {
			return p, err
		}
	}
	return p, p.waitReady(ctx)
}

// startRegistry serves an OCI registry (go-containerregistry's, blobs on
// disk) on 127.0.0.1.
func (p *Platform) startRegistry(ctx context.Context) (string, error) {
	dir := filepath.Join(p.cfg.Dir, "registry")
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return "", err
	}
	l, err := daemon.ListenLocal(ctx)
	if err != nil {
		return "", err
	}
	srv := &http.Server{
		Handler:           registry.New(registry.WithBlobHandler(registry.NewDiskBlobHandler(dir)), registry.Logger(slogLogger(p.log))),
		ReadHeaderTimeout: 10 * time.Second,
	}
	go func() { _ = srv.Serve(l) }()
	p.closers = append(p.closers, func() { _ = srv.Close() })
	return l.Addr().String(), nil
}

func (p *Platform) startController(ctx, rctx context.Context) error {
	addr := p.cfg.API
	if p.API != "" {
		addr = strings.TrimPrefix(p.API, "http://") // a restart keeps the address
	}
	var l net.Listener
	var err error
	if addr == "" {
		l, err = daemon.ListenLocal(ctx)
	} else {
		var lc net.ListenConfig
		l, err = lc.Listen(ctx, "tcp", addr)
	}
	if err != nil {
		return err
	}
	remote := imagefs.DefaultRemoteConfig()
	remote.Insecure = true
	c, err := controller.New(controller.Config{
		Etcd: p.Etcd, Name: "controller", Advertise: l.Addr().String(), NodeGrace: p.cfg.NodeGrace, SessionTTL: 3 * time.Second,
		MaxTxnOps: embedetcd.DefaultMaxTxnOps, Logger: p.log.With("part", "controller"),
		AutoscaleInterval: p.cfg.AutoscaleInterval, Metrics: p.metricsSource(), AlertsURL: p.AlertsURL,
		CheckImage: func(ctx context.Context, ref string) error {
			_, err := imagefs.Pull(ctx, ref, remote)
			return err
		},
	})
	if err != nil {
		_ = l.Close()
		return err
	}
	if p.Token, err = c.EnsureToken(ctx); err != nil {
		_ = l.Close()
		return err
	}
	p.TokenFile = filepath.Join(p.cfg.Dir, "token")
	if err := os.WriteFile(p.TokenFile, []byte(p.Token+"\n"), 0o600); err != nil {
		_ = l.Close()
		return err
	}
	p.Controller, p.API = c, "http://"+l.Addr().String()
	mux := http.NewServeMux()
	mux.Handle(dashboard.Prefix, dashboard.Handler())
	mux.Handle("/", c.Handler())
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
	cctx, cancel := context.WithCancel(rctx)
	done := make(chan struct{}, 2)
	go func() { _ = srv.Serve(l); done <- struct{}{} }()
	go func() {
		if err := c.Run(cctx); err != nil {
			p.log.Error("controller stopped", "err", err)
		}
		done <- struct{}{}
	}()
	p.stopController = func() {
		cancel()
		_ = srv.Close()
		<-done
		<-done
	}
	return nil
}

// RestartController stops the controller as a restart would and starts a
// new one on the same address and state; it returns once the new one
// leads.
func (p *Platform) RestartController(ctx context.Context) error {
	p.stopController()
	if err := p.startController(ctx, p.rctx); err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	for !p.Controller.Leading() {
		select {
		case <-ctx.Done():
			return fmt.Errorf("platform: the restarted controller does not lead: %w", ctx.Err())
		case <-time.After(20 * time.Millisecond):
		}
	}
	return nil
}

// waitReady waits for the controller to lead and every node to report.
func (p *Platform) waitReady(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, 60*time.Second)
	defer cancel()
	for {
		ready := p.Controller.Leading()
		if ready {
			resp, err := p.Etcd.Get(ctx, state.NodesPrefix(), clientv3.WithPrefix(), clientv3.WithCountOnly())
			ready = err == nil && int(resp.Count) == len(p.Nodes)
		}
		if ready {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("platform: not ready after 60 s: %w", ctx.Err())
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// PartitionNode cuts a node off from etcd only, as a broken path between it
// and the control plane would: its lease runs out, but it keeps running
// and keeps answering its peers over gossip, so the controller leaves its
// instances where they are.
func (p *Platform) PartitionNode(ctx context.Context, name string) error {
	if p.fleet != nil {
		return p.fleet.Kill(ctx, name)
	}
	a := p.agents[name]
	if a == nil {
		return fmt.Errorf("platform: no node %q", name)
	}
	a.stop()
	return nil
}

// KillNode stops a node as if its machine died: a real agent stops without
// touching its containers, a simulated one stops reporting; either way its
// lease runs out and the controller moves its instances after NodeGrace.
func (p *Platform) KillNode(ctx context.Context, name string) error {
	if stop := p.inspectStop[name]; stop != nil {
		stop()
	}
	if p.fleet != nil {
		return p.fleet.Kill(ctx, name)
	}
	a := p.agents[name]
	if a == nil {
		return fmt.Errorf("platform: no node %q", name)
	}
	a.stop()
	return nil
}

// Close stops everything it started: agents and their containers,
// addresses, mounts and cgroups, the switch, the controller, the
// registry and etcd.
func (p *Platform) Close() {
	p.once.Do(func() {
		for _, a := range p.agents {
			a.close()
		}
		if p.closeProcView != nil {
			p.closeProcView()
		}
		if p.fleet != nil {
			_ = p.fleet.Close()
		}
		p.stopController()
		p.cancel()
		for i := len(p.closers) - 1; i >= 0; i-- {
			p.closers[i]()
		}
		if p.Switch != nil {
			p.Switch.Close()
		}
		if p.Etcd != nil {
			_ = p.Etcd.Close()
		}
		if p.etcd != nil {
			p.etcd.Close()
		}
	})
}

// metricsSource is what the autoscale loop reads: the agents' /metrics on
// real nodes; on simulated ones, which run nothing, the load SetLoad gives.
func (p *Platform) metricsSource() controller.MetricsSource {
	if p.cfg.Real {
		return nil // the controller's default: the agents' /metrics
	}
	return &p.simLoad
}

// SetLoad sets the CPU (in cores) every instance of app is reported to use
// on simulated nodes; it does nothing on real ones, whose containers are
// measured.
func (p *Platform) SetLoad(app string, cores float64) {
	p.simLoad.mu.Lock()
	defer p.simLoad.mu.Unlock()
	if p.simLoad.cores == nil {
		p.simLoad.cores = map[string]float64{}
	}
	p.simLoad.cores[app] = cores
}

// simLoad is the simulated nodes' MetricsSource.
type simLoad struct {
	mu    sync.Mutex
	cores map[string]float64
}

var _ controller.MetricsSource = (*simLoad)(nil)

// Read implements controller.MetricsSource.
func (s *simLoad) Read(_ context.Context, _ map[string]*state.App, ins []controller.InstanceView, _ map[string]*state.Node) map[string]controller.InstanceMetrics {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := map[string]controller.InstanceMetrics{}
	for _, v := range ins {
		out[v.Desired.ID] = controller.InstanceMetrics{CPUCores: s.cores[v.Desired.App], MemoryBytes: float64(v.Desired.Resources.MemoryBytes) / 2, At: time.Now()}
	}
	return out
}

// VolumeDir is where an instance's data volume is mounted on a real node.
func (p *Platform) VolumeDir(node, id string) string {
	return filepath.Join(p.cfg.Dir, "nodes", node, "volumes", id, "data")
}
