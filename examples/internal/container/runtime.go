package container

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/opencontainers/runc/libcontainer"
	"golang.org/x/sys/unix"

	"github.com/shoalkit/shoal/examples/internal/state"
	"github.com/shoalkit/shoal/internal/errs"
)

// Error kinds.
var (
	ErrInvalid  = errors.New("container: invalid")
	ErrNotFound = errors.New("container: not found")
	ErrExist    = errors.New("container: exists")
	ErrRuntime  = errors.New("container: runtime failed")
	// ErrUnsupported: the machine or the build lacks what was asked for
	// (seccomp user notification for Spec.SysinfoListener).
	ErrUnsupported = errors.New("container: unsupported")
)

func newError(kind error, format string, args ...any) error {
	return errs.New("container", kind, format, args...)
}

func wrapError(kind, cause error, format string, args ...any) error {
	return errs.Wrap("container", kind, cause, format, args...)
}

// Config says where containers keep their state and logs.
type Config struct {
	// Root holds libcontainer's state, one directory per container; it
	// should be on a tmpfs (/run) so that a reboot forgets containers
	// that no longer run. Required.
	Root string
	// LogDir holds each container's ID.log; required.
	LogDir string
	// CgroupParent is the cgroup under which containers are made; zero
	// means "shoal".
	CgroupParent string
	// LogMaxBytes is the size at which a log is rotated to ID.log.1; zero
	// means 10 MiB.
	LogMaxBytes int64
}

// Mount is a bind mount into a container.
type Mount struct {
	Source, Destination string
	ReadOnly            bool
}

// Spec is what a container runs.
type Spec struct {
	// ID names the container (a DNS label).
	ID string
	// Rootfs is the prepared root file system (imagefs's overlay).
	Rootfs string
	// Args is the command; Env its environment (KEY=VALUE).
	Args, Env []string
	// UID and GID run the command as a user other than root.
	UID, GID uint32
	// Hostname of the container's UTS namespace.
	Hostname string
	// WritableRoot leaves / writable; by default it is read-only.
	WritableRoot bool
	// Netns is the path of a network namespace to join; empty shares
	// the host's network (a thin instance).
	Netns string
	// Mounts are bind mounts (the data volume, /etc/hosts, /etc/resolv.conf).
	Mounts []Mount
	// Resources are the cgroup limits.
	Resources state.Resources
	// Labels are kept with the container's state and returned by Get and
	// List: what its owner needs to adopt it after a restart.
	Labels map[string]string
	// SysinfoListener, when set, is the unix socket that answers the
	// container's sysinfo(2): its seccomp filter (the default profile, or
	// one allowing everything when the binary has none) sends sysinfo to
	// SCMP_ACT_NOTIFY, and Start hands each listener to this socket with
	// the container's state, as runc does with
	// specs.LinuxSeccomp.ListenerPath (procview.Server.AcceptSeccomp
	// answers there). Something must accept on it before Start, and keep
	// answering: while nobody holds a container's listener its sysinfo
	// fails with ENOSYS (a procview holder can hold it across restarts of
	// the answering process: procview.Config.HolderSocket). Start refuses it with ErrUnsupported where
	// SeccompNotifySupported fails, and with ErrInvalid when it is not a
	// clean absolute path that fits a socket address.
	SysinfoListener string
}

// Runtime starts, finds and stops containers.
type Runtime struct {
	cfg Config

	mu       sync.Mutex
	children map[string]*child // started by this Runtime, which reaps them
}

// child is a container's init started by this Runtime. One goroutine per
// child waits for it (reaping it, so it never lingers as a zombie) and
// closes done; every Wait reads the code from there.
type child struct {
	done chan struct{}
	code int // valid once done is closed
}

// reap waits for p once and records its exit code.
func (c *child) reap(p *libcontainer.Process) {
	ps, _ := p.Wait()
	c.code = -1
	if ps != nil {
		c.code = ps.ExitCode()
		if ws, ok := ps.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
			c.code = 128 + int(ws.Signal())
		}
	}
	close(c.done)
}

// New returns a Runtime over cfg.Root, creating it (0700) if needed.
func New(cfg Config) (*Runtime, error) {
	switch {
	case cfg.Root == "":
		return nil, newError(ErrInvalid, "Config.Root is empty")
	case cfg.LogDir == "":
		return nil, newError(ErrInvalid, "Config.LogDir is empty")
	case cfg.LogMaxBytes < 0:
		return nil, newError(ErrInvalid, "Config.LogMaxBytes %d is negative", cfg.LogMaxBytes)
	}
	if cfg.CgroupParent == "" {
		cfg.CgroupParent = "shoal"
	}
	if cfg.LogMaxBytes == 0 {
		cfg.LogMaxBytes = 10 << 20
	}
	for _, d := range []string{cfg.Root, cfg.LogDir} {
		if err := os.MkdirAll(d, 0o700); err != nil {
			return nil, wrapError(ErrRuntime, err, "state directory")
		}
	}
	return &Runtime{cfg: cfg, children: map[string]*child{}}, nil
}

// CgroupPath is the container's cgroup, relative to the hierarchy roots.
func (r *Runtime) CgroupPath(id string) string { return "/" + r.cfg.CgroupParent + "/" + id }

// LogPath is where a container's stdout and stderr go.
func (r *Runtime) LogPath(id string) string { return filepath.Join(r.cfg.LogDir, id+".log") }

// Start creates the container and starts its command; it returns the
// command's pid on the host. On failure nothing is left: no state, no
// cgroup. A goroutine of the Runtime waits for the command and reaps it
// when it exits; it ends then.
func (r *Runtime) Start(ctx context.Context, s Spec) (int, error) {
	if err := ctx.Err(); err != nil {
		return 0, err
	}
	if !state.ValidName(s.ID) {
		return 0, newError(ErrInvalid, "id %q is not a name", s.ID)
	}
	if len(s.Args) == 0 {
		return 0, newError(ErrInvalid, "container %s: no command", s.ID)
	}
	if fi, err := os.Stat(s.Rootfs); err != nil || !fi.IsDir() {
		return 0, newError(ErrInvalid, "container %s: rootfs %q is not a directory", s.ID, s.Rootfs)
	}
	if err := checkSysinfoListener(&s); err != nil {
		return 0, err
	}
	c, err := libcontainer.Create(r.cfg.Root, s.ID, r.libcontainerConfig(&s))
	if errors.Is(err, libcontainer.ErrExist) {
		return 0, newError(ErrExist, "%s already exists", s.ID)
	}
	if err != nil {
		return 0, wrapError(ErrRuntime, err, "create %s", s.ID)
	}
	log, err := os.OpenFile(r.LogPath(s.ID), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		_ = c.Destroy()
		return 0, wrapError(ErrRuntime, err, "container %s: log", s.ID)
	}
	defer log.Close() // the container holds its own descriptor
	env := s.Env
	if !hasPath(env) {
		env = append([]string{"PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"}, env...)
	}
	p := &libcontainer.Process{
		Args: s.Args, Env: env, UID: int(s.UID), GID: int(s.GID), Cwd: "/",
		Stdout: log, Stderr: log, Init: true,
	}
	if err := c.Run(p); err != nil {
		_ = c.Destroy()
		return 0, wrapError(ErrRuntime, err, "start %s", s.ID)
	}
	pid, err := p.Pid()
	if err != nil {
		_ = p.Signal(unix.SIGKILL)
		_, _ = p.Wait()
		_ = c.Destroy()
		return 0, wrapError(ErrRuntime, err, "container %s: pid", s.ID)
	}
	ch := &child{done: make(chan struct{})}
	go ch.reap(p)
	r.mu.Lock()
	r.children[s.ID] = ch
	r.mu.Unlock()
	return pid, nil
}

func hasPath(env []string) bool {
	for _, e := range env {
		if len(e) >= 5 && e[:5] == "PATH=" {
			return true
		}
	}
	return false
}

// Info is what the runtime knows of a container.
type Info struct {
	ID string
	// PID is the init process on the host, 0 when it does not run.
	PID     int
	Running bool
	// Created is when libcontainer created it.
	Created time.Time
	// Rootfs is the root file system it runs on.
	Rootfs string
	// Labels are the Spec's.
	Labels map[string]string
	// SysinfoListener is the Spec's: where the container's seccomp
	// listener was handed when it started. Only a process holding the
	// listener can answer it: a Runtime in another process (an agent
	// started again) finds its sysinfo failing with ENOSYS until it is
	// started anew, unless a procview holder kept the listener
	// (procview.Config.HolderSocket) and hands it to the new agent.
	SysinfoListener string
}

// Get returns a container's Info; ErrNotFound if there is none.
func (r *Runtime) Get(id string) (Info, error) {
	c, err := r.load(id)
	if err != nil {
		return Info{}, err
	}
	return info(c)
}

func info(c *libcontainer.Container) (Info, error) {
	st, err := c.State()
	if err != nil {
		return Info{}, wrapError(ErrRuntime, err, "state of %s", c.ID())
	}
	status, err := c.Status()
	if err != nil {
		return Info{}, wrapError(ErrRuntime, err, "status of %s", c.ID())
	}
	cfg := c.Config()
	in := Info{ID: c.ID(), Created: st.Created, Running: status == libcontainer.Running || status == libcontainer.Paused, Rootfs: cfg.Rootfs, Labels: map[string]string{}}
	for _, l := range cfg.Labels {
		if k, v, ok := strings.Cut(l, "="); ok {
			in.Labels[k] = v
		}
	}
	if in.Running {
		in.PID = st.InitProcessPid
	}
	if cfg.Seccomp != nil {
		in.SysinfoListener = cfg.Seccomp.ListenerPath
	}
	return in, nil
}

func (r *Runtime) load(id string) (*libcontainer.Container, error) {
	if !state.ValidName(id) {
		return nil, newError(ErrInvalid, "id %q is not a name", id)
	}
	c, err := libcontainer.Load(r.cfg.Root, id)
	if errors.Is(err, libcontainer.ErrNotExist) {
		return nil, newError(ErrNotFound, "container %s", id)
	}
	if err != nil {
		return nil, wrapError(ErrRuntime, err, "load %s", id)
	}
	return c, nil
}

// List returns every container under Root, running or not: what a new
// agent adopts.
func (r *Runtime) List() ([]Info, error) {
	entries, err := os.ReadDir(r.cfg.Root)
	if err != nil {
		return nil, wrapError(ErrRuntime, err, "list")
	}
	var out []Info
	for _, e := range entries {
		if !e.IsDir() || !state.ValidName(e.Name()) {
			continue
		}
		in, err := r.Get(e.Name())
		if errors.Is(err, ErrNotFound) {
			continue // removed meanwhile
		}
		if err != nil {
			return nil, err
		}
		out = append(out, in)
	}
	return out, nil
}

// Wait returns when the container's init has exited, with its exit code
// (128+N for signal N), or -1 when it was started by an earlier process
// (only the parent learns the code). Any number of callers may wait.
func (r *Runtime) Wait(ctx context.Context, id string) (int, error) {
	r.mu.Lock()
	ch := r.children[id]
	r.mu.Unlock()
	if ch != nil {
		select {
		case <-ch.done:
			return ch.code, nil
		case <-ctx.Done():
			return 0, ctx.Err()
		}
	}
	in, err := r.Get(id)
	if err != nil {
		return 0, err
	}
	if !in.Running {
		return -1, nil
	}
	return -1, waitPID(ctx, in.PID)
}

// waitPID waits for a process that is not our child to exit, through a
// pidfd (no polling of /proc, no pid reuse race).
func waitPID(ctx context.Context, pid int) error {
	fd, err := unix.PidfdOpen(pid, 0)
	if errors.Is(err, unix.ESRCH) {
		return nil
	}
	if err != nil {
		return wrapError(ErrRuntime, err, "pidfd of %d", pid)
	}
	defer unix.Close(fd)
	for {
		n, err := unix.Poll([]unix.PollFd{{Fd: int32(fd), Events: unix.POLLIN}}, 200) //nolint:gosec // fds fit in int32
		if err != nil && !errors.Is(err, unix.EINTR) {
			return wrapError(ErrRuntime, err, "poll pidfd of %d", pid)
		}
		if n > 0 {
			return nil
		}
		if ctx.Err() != nil {
			return ctx.Err()
		}
	}
}

// Stop sends SIGTERM to the container's init, waits up to grace for it to
// exit, then sends SIGKILL. A stopped container is left for Delete or a new
// Start after Delete. Stopping a container that does not run does nothing.
func (r *Runtime) Stop(ctx context.Context, id string, grace time.Duration) error {
	c, err := r.load(id)
	if err != nil {
		return err
	}
	in, err := info(c)
	if err != nil || !in.Running {
		return err
	}
	if err := c.Signal(unix.SIGTERM); err != nil && !errors.Is(err, libcontainer.ErrNotRunning) {
		return wrapError(ErrRuntime, err, "SIGTERM %s", id)
	}
	tctx, cancel := context.WithTimeout(ctx, grace)
	_, err = r.Wait(tctx, id)
	cancel()
	if err == nil {
		return nil
	}
	if ctx.Err() != nil {
		return ctx.Err()
	}
	if err := c.Signal(unix.SIGKILL); err != nil && !errors.Is(err, libcontainer.ErrNotRunning) {
		return wrapError(ErrRuntime, err, "SIGKILL %s", id)
	}
	kctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	if _, err := r.Wait(kctx, id); err != nil {
		return wrapError(ErrRuntime, err, "%s did not exit after SIGKILL", id)
	}
	return nil
}

// Delete stops the container (grace as in Stop) and removes its state and
// cgroup; its log stays. Deleting a container that is not there does
// nothing.
func (r *Runtime) Delete(ctx context.Context, id string, grace time.Duration) error {
	if err := r.Stop(ctx, id, grace); errors.Is(err, ErrNotFound) {
		return nil
	} else if err != nil {
		return err
	}
	c, err := r.load(id)
	if errors.Is(err, ErrNotFound) {
		return nil
	}
	if err != nil {
		return err
	}
	if err := c.Destroy(); err != nil {
		return wrapError(ErrRuntime, err, "destroy %s", id)
	}
	r.mu.Lock()
	delete(r.children, id)
	r.mu.Unlock()
	return nil
}

// Resize changes a running container's limits in place.
func (r *Runtime) Resize(id string, res state.Resources) error {
	c, err := r.load(id)
	if err != nil {
		return err
	}
	cfg := c.Config()
	cfg.Cgroups.Resources = resources(res, cfg.Cgroups.Devices)
	if err := c.Set(cfg); err != nil {
		return wrapError(ErrRuntime, err, "resize %s", id)
	}
	return nil
}

// Pause freezes the container's processes (the cgroup freezer), so that
// what they write holds still while it is read; Resume thaws them.
func (r *Runtime) Pause(id string) error {
	c, err := r.load(id)
	if err != nil {
		return err
	}
	if err := c.Pause(); err != nil {
		return wrapError(ErrRuntime, err, "pause %s", id)
	}
	return nil
}

// Resume thaws a paused container.
func (r *Runtime) Resume(id string) error {
	c, err := r.load(id)
	if err != nil {
		return err
	}
	if err := c.Resume(); err != nil {
		return wrapError(ErrRuntime, err, "resume %s", id)
	}
	return nil
}

// RotateLog copies the container's log to ID.log.1 and truncates it when it
// has passed Config.LogMaxBytes; it reports whether it rotated.
func (r *Runtime) RotateLog(id string) (bool, error) {
	path := r.LogPath(id)
	fi, err := os.Stat(path)
	if errors.Is(err, fs.ErrNotExist) {
		return false, nil
	}
	if err != nil || fi.Size() < r.cfg.LogMaxBytes {
		return false, err
	}
	if err := copyFile(path, path+".1"); err != nil {
		return false, wrapError(ErrRuntime, err, "rotate log of %s", id)
	}
	if err := os.Truncate(path, 0); err != nil {
		return false, wrapError(ErrRuntime, err, "truncate log of %s", id)
	}
	return true, nil
}

func copyFile(src, dst string) error {
	data, err := os.Open(src)
	if err != nil {
		return err
	}
	defer data.Close()
	tmp := dst + ".tmp"
	out, err := os.OpenFile(tmp, os.O_CREATE|os.O_WRONLY|os.O_TRUNC, 0o600)
	if err != nil {
		return err
	}
	if _, err := out.ReadFrom(data); err != nil {
		out.Close()
		return err
	}
	if err := out.Close(); err != nil {
		return err
	}
	return os.Rename(tmp, dst)
}

// String describes the runtime for logs.
func (r *Runtime) String() string {
	return fmt.Sprintf("libcontainer at %s (cgroups under %s)", r.cfg.Root, r.cfg.CgroupParent)
}
