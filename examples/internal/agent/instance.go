package agent

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/shoalkit/shoal/examples/internal/container"
	"github.com/shoalkit/shoal/examples/internal/state"
	"github.com/shoalkit/shoal/imagefs"
	"github.com/shoalkit/shoal/metrics"
)

// specLabel is the container label holding the Instance it was made from,
// which is how a new agent knows what it adopts.
const specLabel = "shoal.instance"

// hostnameLabel holds the container's hostname, which a fat instance got
// from the switch when it was attached.
const hostnameLabel = "shoal.hostname"

// instance is one instance the agent manages.
type instance struct {
	spec    state.Instance // the generation acted on
	status  state.Status   // what the agent reports
	written state.Status   // what it last wrote to etcd
	running bool
	rootfs  string
	netns   string // a fat instance's network namespace, "" for thin
	// hostname is the container's name: from the IP rule for a fat
	// instance, the id for a thin one.
	hostname string
	// backoff is the delay before the next restart; nextStart when it ends.
	backoff   time.Duration
	nextStart time.Time
}

// failure is why an instance cannot be made: a stable reason and the spec
// field it is about.
type failure struct {
	reason, field string
	err           error
}

func (f *failure) Error() string { return f.err.Error() }
func (f *failure) Unwrap() error { return f.err }

func fail(reason, field string, err error) error {
	return &failure{reason: reason, field: field, err: err}
}

// adopt takes over the containers an earlier agent started.
func (a *Agent) adopt(ctx context.Context) error {
	infos, err := a.cfg.Runtime.List()
	if err != nil {
		return err
	}
	kept := a.keptListeners(ctx)
	for _, in := range infos {
		raw, ok := in.Labels[specLabel]
		if !ok {
			continue // not the platform's
		}
		var spec state.Instance
		if err := json.Unmarshal([]byte(raw), &spec); err != nil || spec.ID != in.ID {
			a.log.Warn("container with an unreadable spec label; leaving it alone", "id", in.ID, "err", err)
			continue
		}
		inst := &instance{spec: spec, running: in.Running, rootfs: in.Rootfs, hostname: in.Labels[hostnameLabel]}
		if spec.Kind == state.Fat {
			inst.netns = netnsPath(spec.ID)
		}
		inst.status = a.newStatus(spec, state.Running)
		inst.status.PID, inst.status.StartedAt = in.PID, in.Created
		if !in.Running {
			inst.status.Phase = state.CrashLoop
		}
		a.insts[in.ID] = inst
		if in.Running {
			a.collect(spec, in.PID)
			a.spawnWaiter(ctx, in.ID, in.PID)
		}
		a.log.Info("adopted", "id", in.ID, "running", in.Running, "pid", in.PID)
		if in.Running && in.SysinfoListener != "" && !kept[in.ID] {
			// Its seccomp listener was the earlier agent's and closed with
			// it (no holder kept it: none is configured, or the container
			// started before its holder or agent kept listeners).
			a.log.Warn("adopted container's sysinfo(2) fails with ENOSYS until it restarts", "id", in.ID)
		}
	}
	a.restoreRestarts(ctx)
	return nil
}

// restoreRestarts reads back the restart counts of adopted instances; a
// failure only loses the counts.
func (a *Agent) restoreRestarts(ctx context.Context) {
	if len(a.insts) == 0 {
		return
	}
	rctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	resp, err := a.cfg.Etcd.Get(rctx, state.StatusPrefix(a.cfg.Node.Name), clientWithPrefix())
	if err != nil {
		return
	}
	for _, kv := range resp.Kvs {
		var st state.Status
		if state.Decode(kv.Value, &st) != nil {
			continue
		}
		if inst := a.insts[st.ID]; inst != nil {
			inst.status.Restarts = st.Restarts
			inst.written = st
		}
	}
}

// exit is a container's end, as a waiter saw it.
type exit struct {
	id   string
	pid  int // which start of the container ended
	code int
}

// spawnWaiter waits for the container started as pid and hands its exit to
// the loop, which alone changes instances.
func (a *Agent) spawnWaiter(ctx context.Context, id string, pid int) {
	a.waiters.Add(1)
	go func() {
		defer a.waiters.Done()
		code, err := a.cfg.Runtime.Wait(ctx, id)
		if err != nil {
			return // ctx done: the container keeps running without us
		}
		select {
		case a.exits <- exit{id: id, pid: pid, code: code}:
		case <-ctx.Done():
		}
	}()
}

// applyExit records an exit of the container's current start.
func (a *Agent) applyExit(e exit) {
	inst := a.get(e.id)
	if inst == nil || !inst.running || inst.status.PID != e.pid {
		return // an earlier start, or already removed
	}
	inst.running = false
	inst.status.PID = 0
	inst.status.Reason = "Exited"
	inst.status.Message = "exit code " + strconv.Itoa(e.code)
	if e.code < 0 {
		inst.status.Message = "exited (code unknown: started by an earlier agent)"
	}
}

// create makes a desired instance real: image, rootfs, volume, network,
// container. On failure it removes what it made.
func (a *Agent) create(ctx context.Context, want state.Instance) (*instance, error) {
	inst := &instance{spec: want, status: a.newStatus(want, state.Creating)}
	var undo []func()
	ok := false
	defer func() {
		if !ok {
			for i := len(undo) - 1; i >= 0; i-- {
				undo[i]()
			}
		}
	}()
	if want.Kind == state.Fat && a.cfg.Network == nil {
		return inst, fail("NetworkUnavailable", "network", errors.New("agent: this node runs thin instances only (no switch configured)"))
	}
	if _, err := a.binds(want); err != nil {
		return inst, err // before anything is made
	}
	cfgFile, err := a.ensureImage(ctx, want.Image)
	if err != nil {
		return inst, err
	}
	if want.Kind == state.Fat {
		netns, err := addNetns(ctx, want.ID)
		if err != nil {
			return inst, err
		}
		undo = append(undo, func() { _ = delNetns(context.WithoutCancel(ctx), want.ID) })
		hostname, err := a.cfg.Network.Attach(ctx, want.ID, netns, *want.Network)
		if err != nil {
			return inst, fail("NetworkFailed", "network", err)
		}
		undo = append(undo, func() { _ = a.cfg.Network.Detach(context.WithoutCancel(ctx), want.ID) })
		inst.netns, inst.hostname = netns, hostname
	}
	rootfs, err := a.prepare(ctx, want)
	if err != nil {
		return inst, err
	}
	undo = append(undo, func() { _ = a.cfg.Store.Release(context.WithoutCancel(ctx), want.ID) })
	inst.rootfs = rootfs
	if err := a.start(ctx, inst, cfgFile); err != nil {
		return inst, err
	}
	ok = true
	return inst, nil
}

// start runs the instance's container on its prepared rootfs.
func (a *Agent) start(ctx context.Context, inst *instance, img *imageConfig) error {
	spec, err := a.containerSpec(inst.spec, inst.rootfs, img)
	if err != nil {
		return err
	}
	if inst.hostname == "" {
		inst.hostname = inst.spec.ID
	}
	spec.Hostname, spec.Netns = inst.hostname, inst.netns
	spec.Labels[hostnameLabel] = inst.hostname
	files, err := a.files(inst.spec, inst.hostname)
	if err != nil {
		return err
	}
	spec.Mounts = append(spec.Mounts, files...)
	view := a.procView(inst.spec)
	spec.Mounts = append(spec.Mounts, view...)
	if len(view) > 0 {
		spec.Env = cpuEnv(spec.Env, inst.spec.Resources)
		if a.sysinfo == sysinfoSeccomp {
			spec.SysinfoListener = a.cfg.SysinfoSocket
		}
	}
	binds, err := a.binds(inst.spec)
	if err != nil {
		return err
	}
	spec.Mounts = append(spec.Mounts, binds...)
	if inst.spec.Volume != nil {
		m, err := a.volume(ctx, inst.spec, inst.rootfs)
		if err != nil {
			return err
		}
		spec.Mounts = append(spec.Mounts, m)
	}
	pid, err := a.cfg.Runtime.Start(ctx, spec)
	if err != nil {
		return fail("StartFailed", "", err)
	}
	inst.running = true
	// Reason and Message keep the last exit, as a restarted container's
	// status should (the kubelet's lastState).
	inst.status.Phase, inst.status.PID, inst.status.StartedAt, inst.status.Field = state.Running, pid, a.cfg.Now(), ""
	a.collect(inst.spec, pid)
	a.spawnWaiter(ctx, inst.spec.ID, pid)
	return nil
}

// ensureImage pulls the image into the store when it is not there, and
// returns its configuration.
func (a *Agent) ensureImage(ctx context.Context, ref string) (*imageConfig, error) {
	img, err := a.cfg.Store.Image(ctx, ref)
	if errors.Is(err, imagefs.ErrNotFound) {
		remote, perr := imagefs.Pull(ctx, ref, a.cfg.Remote)
		if perr != nil {
			return nil, fail("ImageNotFound", "image", perr)
		}
		if _, aerr := a.cfg.Store.Add(ctx, remote, ref); aerr != nil {
			return nil, fail("ImagePullFailed", "image", aerr)
		}
		img, err = a.cfg.Store.Image(ctx, ref)
	}
	if err != nil {
		return nil, fail("ImageNotFound", "image", err)
	}
	cf, err := img.ConfigFile()
	if err != nil {
		return nil, fail("ImageInvalid", "image", err)
	}
	return &imageConfig{Entrypoint: cf.Config.Entrypoint, Cmd: cf.Config.Cmd, Env: cf.Config.Env}, nil
}

// imageConfig is what the agent uses of an image's configuration.
type imageConfig struct {
	Entrypoint, Cmd, Env []string
}

// prepare mounts the instance's rootfs. A rootfs left prepared by a crash
// between Prepare and the container's start held nothing of the container's
// and is made again.
func (a *Agent) prepare(ctx context.Context, want state.Instance) (string, error) {
	r, err := a.cfg.Store.Prepare(ctx, want.Image, want.ID)
	if errors.Is(err, imagefs.ErrExist) {
		if rerr := a.cfg.Store.Release(ctx, want.ID); rerr != nil {
			return "", fail("RootfsFailed", "", rerr)
		}
		r, err = a.cfg.Store.Prepare(ctx, want.Image, want.ID)
	}
	if err != nil {
		return "", fail("RootfsFailed", "image", err)
	}
	return r.Path, nil
}

// containerSpec is the container an instance runs as.
func (a *Agent) containerSpec(want state.Instance, rootfs string, img *imageConfig) (container.Spec, error) {
	args := want.Command
	if len(args) == 0 {
		args = append(append([]string{}, img.Entrypoint...), img.Cmd...)
	}
	if len(args) == 0 {
		return container.Spec{}, fail("InvalidSpec", "command", errors.New("agent: neither the spec nor the image has a command"))
	}
	raw, err := json.Marshal(want)
	if err != nil {
		return container.Spec{}, err
	}
	s := container.Spec{
		ID: want.ID, Rootfs: rootfs, Args: args, Env: append(append([]string{}, img.Env...), want.Env...),
		WritableRoot: want.WritableRoot, Resources: want.Resources,
		Labels: map[string]string{specLabel: string(raw)},
	}
	if want.User != "" {
		uid, gid, _ := strings.Cut(want.User, ":")
		u, _ := strconv.ParseUint(uid, 10, 32)
		g := u
		if gid != "" {
			g, _ = strconv.ParseUint(gid, 10, 32)
		}
		s.UID, s.GID = uint32(u), uint32(g) //nolint:gosec // Validate bounds both to 32 bits
	}
	return s, nil
}

// collect adds a started container to the metrics collector, replacing
// what it knew of an earlier start.
func (a *Agent) collect(spec state.Instance, pid int) {
	if a.cfg.Metrics == nil {
		return
	}
	a.cfg.Metrics.Remove(spec.ID)
	t := metrics.Target{ID: spec.ID, App: spec.App, Image: spec.Image, Cgroup: a.cfg.Runtime.CgroupPath(spec.ID), PID: pid}
	if err := a.cfg.Metrics.Add(t); err != nil {
		a.log.Warn("collecting metrics", "id", spec.ID, "err", err)
	}
}

// remove stops and deletes an instance's container and releases its
// rootfs and network; its data volume stays.
func (a *Agent) remove(ctx context.Context, inst *instance) error {
	id := inst.spec.ID
	if a.cfg.Metrics != nil {
		a.cfg.Metrics.Remove(id)
	}
	if err := a.cfg.Runtime.Delete(ctx, id, a.cfg.StopGrace); err != nil {
		return fmt.Errorf("agent: remove %s: %w", id, err)
	}
	if inst.spec.Kind == state.Fat && a.cfg.Network != nil {
		if err := a.cfg.Network.Detach(ctx, id); err != nil {
			return fmt.Errorf("agent: remove %s: %w", id, err)
		}
		if err := delNetns(ctx, id); err != nil {
			return fmt.Errorf("agent: remove %s: %w", id, err)
		}
	}
	if err := os.RemoveAll(filepath.Join(a.cfg.StateDir, id)); err != nil {
		return fmt.Errorf("agent: remove %s: %w", id, err)
	}
	if err := a.cfg.Store.Release(ctx, id); err != nil {
		return fmt.Errorf("agent: remove %s: %w", id, err)
	}
	if err := a.unmountVolume(id); err != nil {
		return err
	}
	return nil
}

// restart starts an exited instance's container again on the same rootfs.
func (a *Agent) restart(ctx context.Context, inst *instance) error {
	if err := a.cfg.Runtime.Delete(ctx, inst.spec.ID, 0); err != nil {
		return err
	}
	img, err := a.ensureImage(ctx, inst.spec.Image)
	if err != nil {
		return err
	}
	if inst.rootfs == "" {
		if inst.rootfs, err = a.prepare(ctx, inst.spec); err != nil {
			return err
		}
	}
	return a.start(ctx, inst, img)
}
