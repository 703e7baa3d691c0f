package platform

import (
	"context"
	"crypto/rand"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"time"

	"github.com/shoalkit/shoal/examples/internal/daemon"
	"github.com/shoalkit/shoal/examples/internal/fleetinspect"
	"github.com/shoalkit/shoal/inspect"
)

// HostDir is a node's inspected host: the nodes of a pilot share one
// machine, so each node's kernel parameters and files are a directory
// tree of its own (seeded from this machine's values), which its
// inspection agent reads and its fixes write.
func (p *Platform) HostDir(node string) string {
	return filepath.Join(p.cfg.Dir, "nodes", node, "host")
}

// seeded are the files a node's host tree starts with, copied from this
// machine.
var seeded = []string{
	"proc/sys/net/ipv4/ip_forward", "proc/sys/vm/swappiness", "proc/sys/kernel/pid_max",
	"proc/sys/kernel/osrelease", "etc/os-release",
}

// startInspection runs the agent side of inspection for every node (a serf
// member on 127.0.0.1 answering against its host tree) and the inspector,
// which writes each round's report into etcd.
func (p *Platform) startInspection(rctx context.Context) error {
	p.fixKey = make([]byte, 32)
	_, _ = rand.Read(p.fixKey)
	p.inspectStop = map[string]context.CancelFunc{}
	for i, name := range p.Nodes {
		root := p.HostDir(name)
		for _, f := range seeded {
			b, err := os.ReadFile(filepath.Join("/", f))
			if err != nil {
				continue
			}
			dst := filepath.Join(root, f)
			if err := os.MkdirAll(filepath.Dir(dst), 0o755); err != nil {
				return err
			}
			if err := os.WriteFile(dst, b, 0o644); err != nil {
				return err
			}
		}
		gossip, err := daemon.FreeLocalAddr(rctx)
		if err != nil {
			return err
		}
		httpAddr, err := daemon.FreeLocalAddr(rctx)
		if err != nil {
			return err
		}
		_, port, _ := net.SplitHostPort(gossip)
		gossipPort, _ := strconv.Atoi(port)
		nctx, cancel := context.WithCancel(rctx)
		p.inspectStop[name] = cancel
		tags := map[string]string{"rack": p.racks[i], "zone": "z1"}
		cfg := fleetinspect.AgentConfig{
			Gossip:   inspect.NodeConfig{BindAddr: "127.0.0.1", BindPort: gossipPort},
			HTTPAddr: httpAddr,
			Agent:    inspect.AgentConfig{Host: inspect.Host{Root: root}, FixKey: p.fixKey, FixInterval: time.Second},
			Logger:   p.log.With("part", "inspect", "node", name),
		}
		go func() {
			if err := fleetinspect.Run(nctx, p.Etcd, name, tags, cfg); err != nil && nctx.Err() == nil {
				p.log.Error("inspection agent stopped", "node", name, "err", err)
			}
		}()
	}
	gossip, err := daemon.FreeLocalAddr(rctx)
	if err != nil {
		return err
	}
	_, port, _ := net.SplitHostPort(gossip)
	gossipPort, _ := strconv.Atoi(port)
	in, err := fleetinspect.NewInspector(p.Etcd, fleetinspect.InspectorConfig{
		Name: "inspector", Gossip: inspect.NodeConfig{BindAddr: "127.0.0.1", BindPort: gossipPort}, FixKey: p.fixKey,
		Interval: p.cfg.InspectInterval, Logger: p.log.With("part", "inspector"),
	})
	if err != nil {
		return err
	}
	go func() {
		if err := in.Run(rctx); err != nil && rctx.Err() == nil {
			p.log.Error("inspector stopped", "err", err)
		}
	}()
	return nil
}
