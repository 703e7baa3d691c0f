package agent

import (
	"context"
	"errors"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"strings"

	"github.com/shoalkit/shoal/cgroupx/procview"
	"github.com/shoalkit/shoal/examples/internal/container"
	"github.com/shoalkit/shoal/examples/internal/state"
	"github.com/shoalkit/shoal/netvlan"
)

// Network wires fat instances onto their VLAN; nil in Config refuses fat
// instances with a Failed status.
type Network interface {
	// Attach gives the container whose network namespace is netns its
	// address on its VLAN, all-or-nothing, and returns its hostname.
	Attach(ctx context.Context, id, netns string, n state.Network) (hostname string, err error)
	// Detach removes the container's ports; detaching what is not there
	// does nothing.
	Detach(ctx context.Context, id string) error
	// Reconcile makes the switch carry exactly these ports, fixing a
	// drifted tag in place and adding back what a restart of the switch
	// lost; it returns how many ports it changed.
	Reconcile(ctx context.Context, want []Port) (changed int, err error)
}

// Port is a fat instance's place on the switch, for Reconcile.
type Port struct {
	ID, Netns string
	Network   state.Network
}

// SwitchNetwork is Network over a netvlan Switch: the container's port on
// the switch's bridge, tagged with its VLAN, rate-limited, named by the
// switch's hostname rule.
type SwitchNetwork struct {
	Switch *netvlan.Switch
}

var _ Network = SwitchNetwork{}

// Attach implements Network.
func (n SwitchNetwork) Attach(ctx context.Context, id, netns string, net state.Network) (string, error) {
	p, err := n.Switch.Attach(ctx, attachment(id, netns, net))
	if err != nil {
		return "", err
	}
	return p.Hostname, nil
}

// Detach implements Network.
func (n SwitchNetwork) Detach(ctx context.Context, id string) error {
	return n.Switch.Detach(ctx, id)
}

// Reconcile implements Network.
func (n SwitchNetwork) Reconcile(ctx context.Context, want []Port) (int, error) {
	as := make([]netvlan.Attachment, len(want))
	for i, p := range want {
		as[i] = attachment(p.ID, p.Netns, p.Network)
	}
	rep, err := n.Switch.Reconcile(ctx, as)
	if err != nil {
		return 0, err
	}
	changed := len(rep.Added) + len(rep.Removed) + len(rep.Retagged) + len(rep.Orphaned)
	if len(rep.Failed) > 0 {
		return changed, fmt.Errorf("agent: %d ports could not be made: %w", len(rep.Failed), rep.Failed[0].Err)
	}
	return changed, nil
}

func attachment(id, netns string, net state.Network) netvlan.Attachment {
	return netvlan.Attachment{
		ContainerID: id, Netns: netns, VLAN: net.VLAN, Addr: net.IP, Gateway: net.Gateway,
		Rate: netvlan.RateLimit{Egress: net.EgressBps, Ingress: net.IngressBps},
	}
}

// netnsName is the named network namespace of a fat instance; it outlives
// the container's restarts, so its port and address stay.
func netnsName(id string) string { return "shoal-" + id }

func netnsPath(id string) string { return filepath.Join("/run/netns", netnsName(id)) }

// addNetns makes the instance's named network namespace; one left by a
// crash is reused.
func addNetns(ctx context.Context, id string) (string, error) {
	if _, err := os.Stat(netnsPath(id)); err == nil {
		return netnsPath(id), nil
	}
	if err := ip(ctx, "netns", "add", netnsName(id)); err != nil {
		return "", fail("NetworkFailed", "network", err)
	}
	if err := ip(ctx, "-n", netnsName(id), "link", "set", "lo", "up"); err != nil {
		_ = delNetns(context.WithoutCancel(ctx), id)
		return "", fail("NetworkFailed", "network", err)
	}
	return netnsPath(id), nil
}

// delNetns removes the instance's namespace; a missing one is fine.
func delNetns(ctx context.Context, id string) error {
	if _, err := os.Stat(netnsPath(id)); errors.Is(err, os.ErrNotExist) {
		return nil
	}
	return ip(ctx, "netns", "delete", netnsName(id))
}

func ip(ctx context.Context, args ...string) error { return run(ctx, "ip", args...) }

// files writes the instance's /etc/hosts and /etc/resolv.conf into its own
// directory under StateDir and returns them as read-only bind mounts. They
// are never written into the rootfs, where a hostile image's symlink
// (etc/hosts -> /etc/shadow) would lead a write on the host astray.
func (a *Agent) files(want state.Instance, hostname string) ([]container.Mount, error) {
	dir := filepath.Join(a.cfg.StateDir, want.ID)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fail("FilesFailed", "", err)
	}
	hosts := "127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\n"
	if want.Network != nil {
		hosts += want.Network.IP.Addr().String() + "\t" + hostname + "\n"
	}
	resolv := a.cfg.ResolvConf
	if resolv == "" {
		b, err := os.ReadFile("/etc/resolv.conf")
		if err != nil {
			return nil, fail("FilesFailed", "", err)
		}
		resolv = string(b)
	}
	var mounts []container.Mount
	for name, content := range map[string]string{"hosts": hosts, "resolv.conf": resolv, "hostname": hostname + "\n"} {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(content), 0o644); err != nil { //nolint:gosec // read by the container's users
			return nil, fail("FilesFailed", "", err)
		}
		mounts = append(mounts, container.Mount{Source: p, Destination: "/etc/" + name, ReadOnly: true})
	}
	return mounts, nil
}

// procView returns the bind mounts of the node's live /proc for an
// instance: none when the spec turns it off or the view is not mounted
// (a container would not start with a missing source).
func (a *Agent) procView(want state.Instance) []container.Mount {
	if a.cfg.ProcView == "" || want.NoProcView {
		return nil
	}
	if ok, err := procview.Mounted(a.cfg.ProcView); !ok || err != nil {
		return nil
	}
	var out []container.Mount
	for _, m := range procview.BindMounts(a.cfg.ProcView) {
		out = append(out, container.Mount{Source: m.Source, Destination: m.Destination, ReadOnly: true})
	}
	return out
}

// ompNumThreads is the environment variable coreutils nproc (and OpenMP)
// takes the number of CPUs from before sched_getaffinity(2).
const ompNumThreads = "OMP_NUM_THREADS"

// cpuEnv returns env with OMP_NUM_THREADS set to the instance's CPU quota
// rounded up, for an instance with the live /proc and a quota whose image
// and spec do not set it themselves: nproc counts the CPUs a process may
// run on (the cpuset, every CPU of the node), not its quota, and reads
// this variable first, so it agrees with /proc/cpuinfo and
// /sys/devices/system/cpu/online; an OpenMP program starts as many
// threads as the quota can run. Resizing the quota in place leaves the
// variable as it was until the container restarts.
func cpuEnv(env []string, res state.Resources) []string {
	if res.CPUs <= 0 {
		return env
	}
	for _, kv := range env {
		if strings.HasPrefix(kv, ompNumThreads+"=") {
			return env
		}
	}
	return append(env, fmt.Sprintf("%s=%d", ompNumThreads, int(math.Ceil(res.CPUs))))
}
