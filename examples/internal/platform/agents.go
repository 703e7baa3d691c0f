package platform

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"log"
	"log/slog"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"golang.org/x/sys/unix"

	"github.com/shoalkit/shoal/cgroupx/procview"
	"github.com/shoalkit/shoal/examples/internal/agent"
	"github.com/shoalkit/shoal/examples/internal/container"
	"github.com/shoalkit/shoal/examples/internal/daemon"
	"github.com/shoalkit/shoal/examples/internal/state"
	"github.com/shoalkit/shoal/imagefs"
	"github.com/shoalkit/shoal/metrics"
	"github.com/shoalkit/shoal/netvlan"
)

func slogLogger(l *slog.Logger) *log.Logger { return slog.NewLogLogger(l.Handler(), slog.LevelDebug) }

// TopOfRack is the bridge every node's bridge is trunked to.
const TopOfRack = "br-tor"

// agentNode is one real node: its agent, runtime, store and switch port.
type agentNode struct {
	name    string
	dir     string
	rt      *container.Runtime
	store   *imagefs.Store
	vs      *netvlan.Switch
	metrics *metrics.Collector
	srv     *http.Server
	cgroup  string
	addr    string // the agent's API, host:port

	mu     sync.Mutex
	cancel context.CancelFunc
	done   chan struct{}
}

// startAgents starts the switch (a bridge per node trunked to the top of
// rack) and one real agent per node.
func (p *Platform) startAgents(ctx, rctx context.Context, nodes []state.Node) error {
	if os.Geteuid() != 0 {
		return fmt.Errorf("platform: real nodes need root (containers, cgroups, OVS); run as root or simulate")
	}
	var err error
	if p.Switch, err = StartSwitch(ctx, filepath.Join(p.cfg.Dir, "ovs")); err != nil {
		return err
	}
	if err := p.Switch.AddBridge(ctx, TopOfRack); err != nil {
		return err
	}
	var b [3]byte
	_, _ = rand.Read(b[:])
	run := hex.EncodeToString(b[:])
	if err := p.startProcView(ctx, rctx, nodes, run); err != nil {
		return err
	}
	for _, n := range nodes {
		a, err := p.startAgent(ctx, rctx, n, run)
		if err != nil {
			return err
		}
		p.agents[n.Name] = a
	}
	return nil
}

func (p *Platform) startAgent(ctx, rctx context.Context, n state.Node, run string) (*agentNode, error) {
	bridge := "br-" + n.Name
	if err := p.Switch.AddBridge(ctx, bridge); err != nil {
		return nil, err
	}
	if err := p.Switch.Trunk(ctx, bridge, TopOfRack); err != nil {
		return nil, err
	}
	a := &agentNode{name: n.Name, dir: filepath.Join(p.cfg.Dir, "nodes", n.Name), cgroup: "shoal-pilot-" + run + "-" + n.Name}
	log := p.log.With("node", n.Name)
	var err error
	if a.rt, err = container.New(container.Config{Root: filepath.Join(a.dir, "run"), LogDir: filepath.Join(a.dir, "logs"), CgroupParent: a.cgroup}); err != nil {
		return nil, err
	}
	if a.store, err = imagefs.OpenStore(ctx, imagefs.DefaultStoreConfig(filepath.Join(a.dir, "images"))); err != nil {
		return nil, err
	}
	if a.vs, err = netvlan.Open(ctx, netvlan.Config{Endpoint: p.Switch.Endpoint, Bridge: bridge, HostNetns: p.Switch.HostNetns, Owner: "agent-" + n.Name}); err != nil {
		return nil, err
	}
	// A sample every 2 s: the pilot's autoscale loop decides every few
	// seconds, and a scrape serves the last sample.
	if a.metrics, err = metrics.New(ctx, metrics.Config{Interval: 2 * time.Second, Logger: log}); err != nil {
		return nil, err
	}
	l, err := daemon.ListenLocal(ctx)
	if err != nil {
		return nil, err
	}
	n.Addr, n.Version = l.Addr().String(), "shoal-agent/pilot"
	a.addr = n.Addr
	remote := imagefs.DefaultRemoteConfig()
	remote.Insecure = true
	ag, err := agent.New(agent.Config{
		Node: n, Etcd: p.Etcd, Runtime: a.rt, Store: a.store, Remote: remote, Network: agent.SwitchNetwork{Switch: a.vs},
		Metrics: a.metrics, StateDir: filepath.Join(a.dir, "instances"), VolumeDir: filepath.Join(a.dir, "volumes"), ProcView: p.procView,
		// sysinfo(2) answered for the container, where the build, libseccomp
		// and the kernel allow (the node's label shoal.sysinfo says).
		Sysinfo: p.procViewSrv != nil, SysinfoSocket: filepath.Join(a.dir, "sysinfo.sock"), ProcViewServer: p.procViewSrv,
		LeaseTTL: 3 * time.Second, Resync: 2 * time.Second, StopGrace: 2 * time.Second, Logger: log,
	})
	if err != nil {
		_ = l.Close()
		return nil, err
	}
	h, err := ag.Handler()
	if err != nil {
		_ = l.Close()
		return nil, err
	}
	a.srv = &http.Server{Handler: h, ReadHeaderTimeout: 10 * time.Second}
	go func() { _ = a.srv.Serve(l) }()
	actx, cancel := context.WithCancel(rctx)
	a.cancel, a.done = cancel, make(chan struct{})
	go func() {
		defer close(a.done)
		if err := ag.Run(actx); err != nil {
			log.Error("agent stopped", "err", err)
		}
	}()
	return a, nil
}

// stop ends the agent as a crash would: its containers keep running.
func (a *agentNode) stop() {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.cancel != nil {
		a.cancel()
		<-a.done
		a.cancel = nil
		_ = a.srv.Close()
	}
}

// close stops the agent and removes everything its containers held.
func (a *agentNode) close() {
	a.stop()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if a.rt != nil {
		ins, _ := a.rt.List()
		for _, in := range ins {
			_ = a.rt.Delete(ctx, in.ID, time.Second)
			if a.vs != nil {
				_ = a.vs.Detach(ctx, in.ID)
			}
			_ = exec.CommandContext(ctx, "ip", "netns", "del", "shoal-"+in.ID).Run()
		}
	}
	if a.store != nil {
		ids, _ := a.store.Containers(ctx)
		for _, id := range ids {
			_ = a.store.Release(ctx, id)
		}
	}
	mnts, _ := filepath.Glob(filepath.Join(a.dir, "volumes", "*", "data"))
	for _, m := range mnts {
		_ = unix.Unmount(m, unix.MNT_DETACH)
	}
	if a.vs != nil {
		_ = a.vs.Close()
	}
	if a.metrics != nil {
		_ = a.metrics.Close()
	}
	dirs, _ := filepath.Glob("/sys/fs/cgroup/*/" + a.cgroup)
	more, _ := filepath.Glob("/sys/fs/cgroup/" + a.cgroup)
	for _, d := range append(dirs, more...) {
		_ = os.Remove(d)
	}
}

// BuildImage builds a busybox image (from the machine's busybox-static)
// with the given files added, pushes it to the platform's registry as
// name:tag and returns its reference.
func (p *Platform) BuildImage(ctx context.Context, name string, files map[string]string) (string, error) {
	dir, err := os.MkdirTemp(p.cfg.Dir, "image-")
	if err != nil {
		return "", err
	}
	defer os.RemoveAll(dir)
	if err := busyboxRootfs(ctx, dir); err != nil && !p.Simulated {
		return "", err
	}
	for path, body := range files {
		f := filepath.Join(dir, filepath.Clean("/"+path))
		if err := os.MkdirAll(filepath.Dir(f), 0o755); err != nil {
			return "", err
		}
		if err := os.WriteFile(f, []byte(body), 0o755); err != nil {
			return "", err
		}
	}
	img, _, err := imagefs.Build(ctx, dir, imagefs.Recipe{Role: imagefs.RoleBase, Entrypoint: []string{"/bin/sh"}})
	if err != nil {
		return "", err
	}
	ref := p.Registry + "/" + name
	remote := imagefs.DefaultRemoteConfig()
	remote.Insecure = true
	if _, err := imagefs.Push(ctx, img, ref, remote); err != nil {
		return "", err
	}
	return ref, nil
}

// busyboxRootfs lays out a minimal root: busybox and its applets, /etc's
// users, the mount points a container needs.
func busyboxRootfs(ctx context.Context, dir string) error {
	src, err := exec.LookPath("busybox")
	if err != nil {
		return fmt.Errorf("platform: busybox not found (apt-get install busybox-static): %w", err)
	}
	for _, d := range []string{"bin", "proc", "sys", "dev", "tmp", "etc", "root", "export"} {
		if err := os.MkdirAll(filepath.Join(dir, d), 0o755); err != nil {
			return err
		}
	}
	b, err := os.ReadFile(src)
	if err != nil {
		return err
	}
	if err := os.WriteFile(filepath.Join(dir, "bin", "busybox"), b, 0o755); err != nil {
		return err
	}
	out, err := exec.CommandContext(ctx, src, "--list").Output()
	if err != nil {
		return fmt.Errorf("platform: busybox --list: %w", err)
	}
	for applet := range strings.FieldsSeq(string(out)) {
		if applet != "busybox" {
			if err := os.Symlink("busybox", filepath.Join(dir, "bin", applet)); err != nil {
				return err
			}
		}
	}
	for name, body := range map[string]string{"etc/passwd": "root:x:0:0:root:/root:/bin/sh\n", "etc/group": "root:x:0:\n"} {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(body), 0o644); err != nil {
			return err
		}
	}
	return nil
}

// startProcView mounts the node's live /proc (package cgroupx/procview)
// once for all the pilot's agents — one FUSE mount answers every container
// for its own cgroup — and serves it until the platform closes.
func (p *Platform) startProcView(ctx, rctx context.Context, nodes []state.Node, run string) error {
	dir := filepath.Join(p.cfg.Dir, "procview")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	var parents []string
	for _, n := range nodes {
		parents = append(parents, "/shoal-pilot-"+run+"-"+n.Name)
	}
	srv, err := procview.New(ctx, procview.Config{Parents: parents, Logger: p.log.With("part", "procview")})
	if err != nil {
		return err
	}
	conn, err := procview.Mount(ctx, dir)
	if err != nil {
		return err
	}
	sctx, cancel := context.WithCancel(rctx)
	done := make(chan struct{})
	go func() {
		defer close(done)
		_ = srv.Serve(sctx, conn)
	}()
	p.procView, p.procViewSrv = dir, srv
	p.closeProcView = func() {
		_ = procview.Unmount(dir)
		cancel()
		<-done
		_ = conn.Close()
	}
	return nil
}
