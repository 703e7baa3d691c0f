// Command agent is Shoal's node agent: it registers its node in etcd under a
// lease, follows the node's desired instances there, runs them as
// containers (this binary is also each container's init), and writes back
// their status and events. Killing it stops no container; a new agent adopts
// them.
//
//	agent -name n1 -etcd-endpoints http://127.0.0.1:2379 -rack r1 -state /var/lib/shoal
//
// State on the node: STATE/images (the image store), STATE/volumes (data
// volumes, kept after an instance is deleted), STATE/instances (each
// instance's /etc/hosts and resolv.conf), /run/shoal/containers
// (libcontainer's state: gone after a reboot, like the containers), and
// /var/log/shoal (container logs). With -volume-group VG, data volumes are
// logical volumes of VG instead of files; -volume-root DIR (repeatable)
// allows instances to bind host directories under DIR. Build with
// -tags seccomp (cgo, libseccomp-dev) for the containers' default seccomp
// profile; without it they run unfiltered and the node's label
// shoal.seccomp says "unavailable". With -procview DIR (procviewd hold's
// mount) and -procview-socket, instances see their own memory, CPUs and
// uptime in /proc; -sysinfo-socket PATH adds sysinfo(2) (BusyBox free and
// uptime), answered through seccomp user notification, and the node's label
// shoal.sysinfo says "seccomp", or "unavailable" where the build, libseccomp
// or the kernel cannot. With -procview-socket, procviewd hold also keeps
// the containers' seccomp listeners: their sysinfo waits while the agent
// restarts and the new agent answers it (without it, sysinfo fails with
// ENOSYS in containers the agent did not start itself).
package main

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
	"go.uber.org/zap"

	"github.com/shoalkit/shoal/cgroupx/procview"
	"github.com/shoalkit/shoal/examples/internal/agent"
	"github.com/shoalkit/shoal/examples/internal/container"
	"github.com/shoalkit/shoal/examples/internal/daemon"
	"github.com/shoalkit/shoal/examples/internal/fleetinspect"
	"github.com/shoalkit/shoal/examples/internal/state"
	"github.com/shoalkit/shoal/imagefs"
	"github.com/shoalkit/shoal/inspect"
	"github.com/shoalkit/shoal/metrics"
)

func main() {
	container.Init() // returns unless this process is a container's init
	daemon.Main("agent", run)
}

func run(ctx context.Context, args []string, _, stderr io.Writer) error {
	fs := daemon.NewFlagSet("agent", "agent runs this node's desired instances from etcd.", stderr)
	var cfg agent.Config
	var endpoints, stateDir, runDir, logDir, cgroupParent string
	var insecure, verbose bool
	var listen string
	fs.StringVar(&cfg.Node.Name, "name", "", "node name (required; a DNS label)")
	fs.StringVar(&cfg.Node.Zone, "zone", "", "zone label")
	fs.StringVar(&cfg.Node.Room, "room", "", "room label")
	fs.StringVar(&cfg.Node.Rack, "rack", "", "rack label")
	fs.StringVar(&cfg.Node.Switch, "switch", "", "switch label")
	fs.Float64Var(&cfg.Node.Capacity.CPUs, "cpus", 0, "CPUs offered to instances")
	fs.Int64Var(&cfg.Node.Capacity.MemoryBytes, "memory", 0, "memory offered to instances, bytes")
	fs.StringVar(&endpoints, "etcd-endpoints", "http://127.0.0.1:2379", "etcd client URLs, comma separated")
	fs.StringVar(&stateDir, "state", "/var/lib/shoal", "image store and data volumes")
	fs.StringVar(&runDir, "run", "/run/shoal/containers", "container state (on a tmpfs)")
	fs.StringVar(&logDir, "logs", "/var/log/shoal", "container logs")
	fs.StringVar(&cgroupParent, "cgroup-parent", "shoal", "cgroup under which containers are made")
	fs.Func("volume-root", "a node directory instances may bind host paths from (repeatable; none by default)", func(v string) error {
		cfg.VolumeRoots = append(cfg.VolumeRoots, v)
		return nil
	})
	fs.StringVar(&cfg.VolumeGroup, "volume-group", "", "LVM volume group for data volumes (empty: loop-mounted files under -state)")
	fs.BoolVar(&insecure, "insecure-registry", false, "plain HTTP to registries (loopback pilots)")
	fs.DurationVar(&cfg.LeaseTTL, "lease-ttl", 10*time.Second, "how long the node stays registered after the agent stops answering")
	fs.DurationVar(&cfg.Resync, "resync", 10*time.Second, "reconcile at least this often")
	fs.DurationVar(&cfg.StopGrace, "stop-grace", 10*time.Second, "SIGTERM to SIGKILL")
	fs.IntVar(&cfg.Parallel, "parallel", 8, "instances created or removed at once")
	fs.StringVar(&listen, "listen", "127.0.0.1:7070", "address of the agent's API (metrics, blobs, logs)")
	var procSocket, sysinfoSocket, gossip, gossipHTTP, fixKeyFile string
	fs.StringVar(&gossip, "gossip", "", "join the fleet's inspection gossip at this host:port (serf); empty: no inspection")
	fs.StringVar(&gossipHTTP, "gossip-http", "127.0.0.1:0", "where inspection details and fixes are served (with -gossip)")
	fs.StringVar(&fixKeyFile, "inspect-fix-key", "", "file holding the key inspection fix requests are signed with (with -gossip; none: fixes refused)")
	fs.StringVar(&cfg.ProcView, "procview", "", "where procviewd hold mounted the live /proc; its files are bind-mounted into instances")
	fs.StringVar(&procSocket, "procview-socket", "", "procviewd hold's socket: the agent serves the live /proc through it (survives the agent's restarts)")
	fs.StringVar(&sysinfoSocket, "sysinfo-socket", "", "unix socket on which the agent takes its containers' seccomp listeners and answers their sysinfo(2) with the container's memory and uptime (with -procview; empty: sysinfo shows the host's; the node's label shoal.sysinfo says which)")
	fs.BoolVar(&verbose, "v", false, "debug logging")
	if err := daemon.Parse(fs, args); err != nil {
		return err
	}
	if gossip != "" {
		_, port, err := net.SplitHostPort(gossip)
		if pn, perr := strconv.Atoi(port); err != nil || perr != nil || pn < 1 || pn > 65535 {
			return daemon.UsageError(stderr, "agent: -gossip %q, want host:port", gossip)
		}
	}
	if sysinfoSocket != "" && cfg.ProcView == "" {
		return daemon.UsageError(stderr, "agent: -sysinfo-socket needs -procview (sysinfo is answered for instances with the live /proc)")
	}
	cfg.Sysinfo, cfg.SysinfoSocket = sysinfoSocket != "", sysinfoSocket
	if !state.ValidName(cfg.Node.Name) {
		return daemon.UsageError(stderr, "agent: -name %q is not a DNS label", cfg.Node.Name)
	}
	log := daemon.Logger(stderr, verbose)
	cfg.Logger = log
	cfg.Node.Version = "shoal-agent/dev"
	cli, err := clientv3.New(clientv3.Config{
		Endpoints: strings.Split(endpoints, ","), DialTimeout: 5 * time.Second, Logger: zap.NewNop(),
	})
	if err != nil {
		return fmt.Errorf("etcd %s: %w", endpoints, err)
	}
	defer cli.Close()
	cfg.Etcd = cli
	if cfg.Runtime, err = container.New(container.Config{Root: runDir, LogDir: logDir, CgroupParent: cgroupParent}); err != nil {
		return err
	}
	if cfg.Store, err = imagefs.OpenStore(ctx, imagefs.DefaultStoreConfig(filepath.Join(stateDir, "images"))); err != nil {
		return err
	}
	cfg.VolumeDir = filepath.Join(stateDir, "volumes")
	cfg.StateDir = filepath.Join(stateDir, "instances")
	cfg.Remote = imagefs.DefaultRemoteConfig()
	cfg.Remote.Insecure = insecure
	if cfg.Metrics, err = metrics.New(ctx, metrics.Config{Logger: log}); err != nil {
		return err
	}
	defer cfg.Metrics.Close()
	var lc net.ListenConfig
	l, err := lc.Listen(ctx, "tcp", listen)
	if err != nil {
		return err
	}
	cfg.Node.Addr = l.Addr().String()
	if procSocket != "" || cfg.Sysinfo {
		// One server for the view and sysinfo, so both show the same loads.
		// With the holder's socket, the holder also keeps the containers'
		// seccomp listeners, so their sysinfo survives this agent's restarts.
		view, err := procview.New(ctx, procview.Config{
			Parents: []string{"/" + cgroupParent}, StateFile: filepath.Join(runDir, "procview-load.json"),
			HolderSocket: procSocket, Logger: log,
		})
		if err != nil {
			return err
		}
		cfg.ProcViewServer = view
	}
	a, err := agent.New(cfg)
	if err != nil {
		return err
	}
	h, err := a.Handler()
	if err != nil {
		return err
	}
	srv := &http.Server{Handler: h, ReadHeaderTimeout: 10 * time.Second}
	log.Info("agent starting", "node", cfg.Node.Name, "etcd", endpoints, "api", "http://"+cfg.Node.Addr, "runtime", cfg.Runtime.String())
	parts := []daemon.Runner{a, daemon.HTTPServer(srv, l)}
	if procSocket != "" {
		view := cfg.ProcViewServer
		parts = append(parts, daemon.RunnerFunc(func(ctx context.Context) error {
			conn, err := procview.Dial(ctx, procSocket)
			if err != nil {
				return fmt.Errorf("procview holder %s: %w", procSocket, err)
			}
			defer conn.Close()
			return view.Serve(ctx, conn)
		}))
	}
	if gossip != "" {
		host, port, _ := net.SplitHostPort(gossip)
		pn, _ := strconv.Atoi(port)
		icfg := fleetinspect.AgentConfig{
			Gossip: inspect.NodeConfig{BindAddr: host, BindPort: pn}, HTTPAddr: gossipHTTP, Logger: log.With("part", "inspect"),
		}
		if fixKeyFile != "" {
			key, err := os.ReadFile(fixKeyFile)
			if err != nil {
				return err
			}
			icfg.Agent.FixKey = bytes.TrimSpace(key)
		}
		tags := map[string]string{"zone": cfg.Node.Zone, "room": cfg.Node.Room, "rack": cfg.Node.Rack, "switch": cfg.Node.Switch}
		parts = append(parts, daemon.RunnerFunc(func(ctx context.Context) error {
			return fleetinspect.Run(ctx, cli, cfg.Node.Name, tags, icfg)
		}))
	}
	return daemon.RunAll(ctx, parts...)
}
