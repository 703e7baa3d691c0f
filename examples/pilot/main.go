// Command pilot runs a whole Shoal platform on this machine in one
// process: embedded etcd, an image registry, the controller and its API,
// and three node agents. As root every node is real — containers in their
// own cgroups, each node's OVS bridge trunked to a shared top-of-rack
// bridge so one VLAN spans them; otherwise the nodes are simulated (they
// speak the same etcd contract and run nothing), and say so.
//
//	make pilot                      # from the repository root: set-up, then this
//	pilot -agents 3 -api 127.0.0.1:7000
//	pilot -scenario                 # the scripted story, checked, with a summary
//
// It prints the API address, the token file and a first shoalctl command,
// and on Ctrl-C stops everything it started, leaving nothing behind.
package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/netip"
	"os"
	"path/filepath"
	"time"

	"github.com/shoalkit/shoal/examples/internal/container"
	"github.com/shoalkit/shoal/examples/internal/daemon"
	"github.com/shoalkit/shoal/examples/internal/platform"
	"github.com/shoalkit/shoal/examples/internal/scenario"
	"github.com/shoalkit/shoal/examples/internal/state"
)

func main() {
	container.Init() // returns unless this process is a container's init
	daemon.Main("pilot", run)
}

func run(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := daemon.NewFlagSet("pilot", "pilot runs a whole Shoal platform on this machine.", stderr)
	var cfg platform.Config
	var simulate, verbose, story bool
	fs.IntVar(&cfg.Agents, "agents", 3, "number of nodes (each its own rack and switch)")
	fs.StringVar(&cfg.Dir, "dir", filepath.Join(os.TempDir(), "shoal-pilot"), "where the platform keeps its state")
	fs.StringVar(&cfg.API, "api", "127.0.0.1:7000", "the controller's API address")
	fs.BoolVar(&simulate, "simulate", false, "simulate the nodes even as root")
	fs.BoolVar(&verbose, "v", false, "log everything the platform does")
	fs.BoolVar(&story, "scenario", false, "play the scripted story that shows every piece and checks itself, then stop (exit 1 if a step did not hold)")
	if err := daemon.Parse(fs, args); err != nil {
		return err
	}
	if cfg.Agents < 1 || cfg.Agents > 64 {
		return daemon.UsageError(stderr, "pilot: -agents %d outside 1..64", cfg.Agents)
	}
	log := daemon.Logger(stderr, verbose)
	if !verbose {
		log = daemon.Logger(io.Discard, false)
	}
	cfg.Logger = log
	cfg.Real = !simulate && os.Geteuid() == 0
	if !cfg.Real && !simulate {
		fmt.Fprintln(stdout, "not root: containers, cgroups and OVS need root, so the nodes are SIMULATED (they run nothing; `shoalctl nodes` shows them as simulated). Run as root for the real thing.")
	}
	if err := os.RemoveAll(cfg.Dir); err != nil {
		return err
	}
	if story {
		cfg.AutoscaleInterval, cfg.InspectInterval, cfg.NodeGrace, cfg.AlertWindow = 2*time.Second, 5*time.Second, 5*time.Second, 3*time.Second
	}
	start := time.Now()
	p, err := platform.Start(ctx, cfg)
	if err != nil {
		return err
	}
	defer p.Close() //nolint:contextcheck // clean-up must run after ctx ended (Ctrl-C)
	if story {
		res := scenario.Run(ctx, p, stdout)
		if !res.OK() {
			return errors.New("pilot: the scenario did not hold")
		}
		return nil
	}
	img, err := p.BuildImage(ctx, "busybox:1", nil)
	if err != nil {
		return err
	}
	cl := p.Client()
	pool := state.NetworkPool{VLAN: 10, Subnet: netip.MustParsePrefix("10.10.0.0/24"), Gateway: netip.MustParseAddr("10.10.0.1")}
	if _, err := cl.Do(ctx, "PUT", "/v1/networks/10", "pilot-setup", pool, nil); err != nil {
		return err
	}
	app := state.AppSpec{
		Name: "hello", Team: "pilot", Image: img, Replicas: 3,
		Command:   []string{"/bin/sh", "-c", "while true; do echo hello from $(hostname); sleep 5; done"},
		Resources: state.Resources{CPUs: 0.2, MemoryBytes: 64 << 20},
		Network:   &state.AppNetwork{VLAN: 10, Port: 80},
		Placement: state.PlacementSpec{Spread: []state.SpreadSpec{{Key: "rack", MaxSkew: 1}}},
	}
	appFile := filepath.Join(cfg.Dir, "hello.json")
	b, _ := json.MarshalIndent(app, "", "  ")
	if err := os.WriteFile(appFile, b, 0o600); err != nil {
		return err
	}
	prom := p.PrometheusURL + " (scraping the agents every 2 s, its alerts to the alerts API)"
	if p.PrometheusURL == "" {
		prom = "not running (simulated nodes, or Debian's prometheus not installed)"
	}
	kind := "real: containers, cgroups, VLANs on OVS"
	if p.Simulated {
		kind = "SIMULATED: nothing runs"
	}
	fmt.Fprintf(stdout, `Shoal pilot is up in %v: %d nodes (%s)
  dashboard   %s
  API         %s
  token file  %s
  alerts      %s/api/v2/alerts (Alertmanager's API; incidents at /api/v2/incidents)
  prometheus  %s
  registry    %s (image %s)
  network     VLAN 10, %v, trunked across every node

Try (shoalctl is examples/shoalctl: cd examples && go build ./shoalctl):
  export SHOAL_SERVER=%s SHOAL_TOKEN_FILE=%s
  shoalctl nodes
  shoalctl deploy -f %s -wait 60s
  shoalctl instances
  shoalctl events -app hello
  shoalctl logs -f <instance>

Ctrl-C stops everything.
`, time.Since(start).Round(time.Millisecond), len(p.Nodes), kind, p.DashboardURL(), p.API, p.TokenFile, p.AlertsURL, prom, p.Registry, img, pool.Subnet, p.API, p.TokenFile, appFile)
	<-ctx.Done()
	fmt.Fprintln(stdout, "stopping: removing containers, ports, mounts and cgroups")
	return nil
}
