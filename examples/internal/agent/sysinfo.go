package agent

import (
	"context"
	"net"
	"os"
	"path/filepath"
	"time"

	"github.com/shoalkit/shoal/examples/internal/container"
	"github.com/shoalkit/shoal/internal/errs"
)

// SysinfoLabel is the node label saying how sysinfo(2) is answered inside
// the node's containers that have the live /proc: "seccomp" (the agent's
// procview server answers it with the container's numbers, through seccomp
// user notification), "unavailable" (Config.Sysinfo asked for it but the
// build, libseccomp or the kernel cannot notify: sysinfo shows the host's
// numbers) or "off" (not asked for).
const SysinfoLabel = "shoal.sysinfo"

// The values of SysinfoLabel.
const (
	sysinfoSeccomp     = "seccomp"
	sysinfoUnavailable = "unavailable"
	sysinfoOff         = "off"
)

// maxSocketPath is the longest unix socket path (sun_path less its NUL).
const maxSocketPath = 107

func validSocketPath(p string) bool {
	return filepath.IsAbs(p) && filepath.Clean(p) == p && len(p) <= maxSocketPath
}

// sysinfoMode is what the agent does with sysinfo, and why it cannot when
// it was asked to.
func sysinfoMode(cfg Config) (string, error) {
	if !cfg.Sysinfo {
		return sysinfoOff, nil
	}
	if err := container.SeccompNotifySupported(); err != nil {
		return sysinfoUnavailable, err
	}
	return sysinfoSeccomp, nil
}

// listenSysinfo opens Config.SysinfoSocket (0600, in a 0700 directory made
// when missing). A socket left by a dead agent is replaced; one that
// answers belongs to a running agent and is refused.
func (a *Agent) listenSysinfo(ctx context.Context) (*net.UnixListener, error) {
	path := a.cfg.SysinfoSocket
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return nil, errs.Wrap("agent", ErrInvalid, err, "Config.SysinfoSocket %q", path)
	}
	if fi, err := os.Lstat(path); err == nil {
		if fi.Mode().Type() != os.ModeSocket {
			return nil, errs.New("agent", ErrInvalid, "Config.SysinfoSocket %q exists and is not a socket", path)
		}
		dctx, cancel := context.WithTimeout(ctx, time.Second)
		var d net.Dialer
		c, derr := d.DialContext(dctx, "unix", path)
		cancel()
		if derr == nil {
			_ = c.Close()
			return nil, errs.New("agent", ErrInvalid, "Config.SysinfoSocket %q is served by another process", path)
		}
		if err := os.Remove(path); err != nil {
			return nil, errs.Wrap("agent", ErrInvalid, err, "Config.SysinfoSocket %q: remove the stale socket", path)
		}
	}
	ln, err := net.ListenUnix("unix", &net.UnixAddr{Name: path, Net: "unix"})
	if err != nil {
		return nil, errs.Wrap("agent", ErrInvalid, err, "Config.SysinfoSocket %q", path)
	}
	if err := os.Chmod(path, 0o600); err != nil {
		_ = ln.Close()
		return nil, errs.Wrap("agent", ErrInvalid, err, "Config.SysinfoSocket %q", path)
	}
	return ln, nil
}

// keepsListeners reports whether the containers' seccomp listeners
// outlive this agent: ProcViewServer gives each to a procview holder
// (procview.Config.HolderSocket), from which the next agent's server takes
// them back.
func (a *Agent) keepsListeners() bool {
	return a.cfg.ProcViewServer != nil && a.cfg.ProcViewServer.KeepsListeners()
}

// keptListeners is the set of containers whose seccomp listeners the
// procview holder keeps (their sysinfo survived the earlier agent); empty
// when no holder keeps listeners or it cannot be asked.
func (a *Agent) keptListeners(ctx context.Context) map[string]bool {
	kept := map[string]bool{}
	if a.sysinfo != sysinfoSeccomp || !a.keepsListeners() {
		return kept
	}
	kctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	ids, err := a.cfg.ProcViewServer.KeptListenerIDs(kctx)
	if err != nil {
		a.log.Warn("the procview holder could not say which seccomp listeners it keeps", "err", err)
		return kept
	}
	for _, id := range ids {
		kept[id] = true
	}
	return kept
}
