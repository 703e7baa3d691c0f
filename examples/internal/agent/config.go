package agent

import (
	"errors"
	"log/slog"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/shoalkit/shoal/cgroupx/procview"
	"github.com/shoalkit/shoal/examples/internal/container"
	"github.com/shoalkit/shoal/examples/internal/state"
	"github.com/shoalkit/shoal/imagefs"
	"github.com/shoalkit/shoal/internal/errs"
	"github.com/shoalkit/shoal/metrics"
)

// ErrInvalid reports a configuration the agent cannot run with.
var ErrInvalid = errors.New("agent: invalid")

// Config is what the agent runs with.
type Config struct {
	// Node is this node's report; Name is required.
	Node state.Node
	// Etcd is the cluster's store; required.
	Etcd *clientv3.Client
	// Runtime runs the containers; required.
	Runtime *container.Runtime
	// Store holds images and prepares rootfs; required.
	Store *imagefs.Store
	// Remote is how images missing from Store are pulled.
	Remote imagefs.RemoteConfig
	// Network wires fat instances; nil refuses them with a Failed status.
	Network Network
	// Metrics collects the node's and the running containers' numbers,
	// served on /metrics; the agent adds and removes its containers. Nil
	// serves no container metrics.
	Metrics *metrics.Collector
	// StateDir holds each instance's /etc/hosts, /etc/resolv.conf and
	// /etc/hostname, bind-mounted read-only; required.
	StateDir string
	// ResolvConf is the resolv.conf instances get; empty copies the host's.
	ResolvConf string
	// ProcView is where the node's live /proc (package cgroupx/procview)
	// is mounted. While it is mounted there, every instance not asking
	// NoProcView gets its files bind-mounted read-only over /proc/meminfo,
	// cpuinfo, stat, uptime, loadavg, diskstats, swaps and
	// /sys/devices/system/cpu/online, so free, top and uptime inside show
	// the container's numbers; an instance with a CPU quota also gets
	// OMP_NUM_THREADS set to the quota rounded up unless its image or spec
	// sets it, which coreutils nproc reads before counting the CPUs it may
	// run on (all of the node's). Empty: none.
	ProcView string
	// Sysinfo answers sysinfo(2) inside every instance that gets the
	// live /proc (ProcView mounted, the instance not asking NoProcView)
	// with its container's memory, swap, uptime and load, as the view's
	// files do for free and top: BusyBox free and uptime, and the many
	// runtimes that size themselves from sysinfo, call it instead of
	// reading /proc. The container's seccomp filter sends sysinfo to a
	// listener (seccomp user notification) that the container runtime
	// hands to SysinfoSocket, where ProcViewServer answers. Where the
	// build, libseccomp or the kernel lack user notification
	// (container.SeccompNotifySupported) the agent runs without it, says
	// so in its log and in the node's label SysinfoLabel, and starts
	// instances as before. Needs ProcView, SysinfoSocket and
	// ProcViewServer. When ProcViewServer has a holder
	// (procview.Config.HolderSocket, as the agent command sets with
	// -procview-socket), the holder keeps a duplicate of every
	// container's listener: while no agent runs, sysinfo in a container
	// waits, and the next agent's server takes the listeners from the
	// holder and answers it (and adopted containers keep their sysinfo).
	// Without a holder (an in-process server of its own), a container's
	// listener lives only as long as the agent that started it: after
	// that agent exits or restarts, sysinfo in the container fails with
	// ENOSYS until the container is restarted.
	Sysinfo bool
	// SysinfoSocket is the unix socket path on which the agent takes the
	// containers' seccomp listeners: a clean absolute path that fits a
	// socket address; a stale socket there is replaced, its directory
	// made. Required with Sysinfo.
	SysinfoSocket string
	// ProcViewServer is the node's live /proc server, the one that
	// serves ProcView (so sysinfo's loads are the view's); with Sysinfo
	// the agent answers its containers' sysinfo through it
	// (AcceptSeccomp). Required with Sysinfo.
	ProcViewServer *procview.Server
	// VolumeDir holds instances' data volumes, one directory each, kept
	// after the instance is deleted; required.
	VolumeDir string
	// VolumeRoots are the node directories under which instances may
	// bind host paths (Instance.Binds); a path elsewhere, or leading
	// elsewhere through a symbolic link, fails the instance naming the
	// field. Empty allows no host path.
	VolumeRoots []string
	// VolumeGroup is the LVM volume group data volumes are made in, one
	// logical volume each (lvm2's commands, device-mapper in the kernel);
	// empty makes each a file in VolumeDir mounted through a loop device.
	VolumeGroup string
	// LeaseTTL is how long the node's registration outlives a silent
	// agent; zero means 10 s.
	LeaseTTL time.Duration
	// Resync is how often the agent reconciles without a change; zero
	// means 10 s.
	Resync time.Duration
	// StopGrace is how long a container has between SIGTERM and SIGKILL;
	// zero means 10 s.
	StopGrace time.Duration
	// BackoffMax caps the delay before restarting an exited container
	// (it doubles from 1 s); zero means 5 min.
	BackoffMax time.Duration
	// EventRetention is how long events live in etcd; zero means 24 h.
	EventRetention time.Duration
	// Parallel is how many instances a reconcile pass creates, restarts
	// or removes at once; zero means 8. Each instance is still acted on by
	// one goroutine at a time, and the pass ends when all are done. The
	// bound keeps a burst of 50 new instances from forking 50 container
	// inits and mounting 50 overlays at the same moment on a small node.
	Parallel int
	// Logger receives what the agent does; nil discards it.
	Logger *slog.Logger
	// Now is the clock; nil means time.Now.
	Now func() time.Time
}

func (c *Config) withDefaults() (Config, error) {
	out := *c
	switch {
	case !state.ValidName(c.Node.Name):
		return out, errs.New("agent", ErrInvalid, "Config.Node.Name %q is not a name", c.Node.Name)
	case c.Etcd == nil:
		return out, errs.New("agent", ErrInvalid, "Config.Etcd is nil")
	case c.Runtime == nil:
		return out, errs.New("agent", ErrInvalid, "Config.Runtime is nil")
	case c.Store == nil:
		return out, errs.New("agent", ErrInvalid, "Config.Store is nil")
	case c.StateDir == "":
		return out, errs.New("agent", ErrInvalid, "Config.StateDir is empty")
	case c.VolumeDir == "":
		return out, errs.New("agent", ErrInvalid, "Config.VolumeDir is empty")
	case !cleanRoots(c.VolumeRoots):
		return out, errs.New("agent", ErrInvalid, "Config.VolumeRoots %q: each must be a clean absolute path other than /", c.VolumeRoots)
	case c.Parallel < 0:
		return out, errs.New("agent", ErrInvalid, "Config.Parallel %d is negative", c.Parallel)
	case c.LeaseTTL < 0 || c.Resync < 0 || c.StopGrace < 0 || c.BackoffMax < 0 || c.EventRetention < 0:
		return out, errs.New("agent", ErrInvalid, "a negative duration in Config")
	case c.Sysinfo && c.ProcView == "":
		return out, errs.New("agent", ErrInvalid, "Config.Sysinfo needs Config.ProcView: sysinfo is answered for instances with the live /proc")
	case c.Sysinfo && c.ProcViewServer == nil:
		return out, errs.New("agent", ErrInvalid, "Config.Sysinfo needs Config.ProcViewServer")
	case c.Sysinfo && !validSocketPath(c.SysinfoSocket):
		return out, errs.New("agent", ErrInvalid, "Config.SysinfoSocket %q: want a clean absolute path of at most %d bytes", c.SysinfoSocket, maxSocketPath)
	case c.LeaseTTL > 0 && c.LeaseTTL < 2*time.Second:
		return out, errs.New("agent", ErrInvalid, "Config.LeaseTTL %v below 2 s (etcd's lease granularity)", c.LeaseTTL)
	}
	def := func(d *time.Duration, v time.Duration) {
		if *d == 0 {
			*d = v
		}
	}
	def(&out.LeaseTTL, 10*time.Second)
	def(&out.Resync, 10*time.Second)
	def(&out.StopGrace, 10*time.Second)
	def(&out.BackoffMax, 5*time.Minute)
	def(&out.EventRetention, 24*time.Hour)
	if out.Parallel == 0 {
		out.Parallel = 8
	}
	if out.Logger == nil {
		out.Logger = slog.New(slog.DiscardHandler)
	}
	if out.Now == nil {
		out.Now = time.Now
	}
	return out, nil
}
