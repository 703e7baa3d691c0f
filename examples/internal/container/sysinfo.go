package container

import (
	"path/filepath"
	"unsafe"

	"github.com/opencontainers/runc/libcontainer/configs"
	"golang.org/x/sys/unix"
)

// maxSocketPath is the longest path a unix socket address holds
// (sun_path less its terminating NUL).
const maxSocketPath = 107

// SeccompNotifySupported returns nil when containers can have system
// calls answered by a listener (seccomp user notification, which
// Spec.SysinfoListener uses): the binary was built with the seccomp tag,
// libseccomp is 2.5 or later and the kernel offers SECCOMP_RET_USER_NOTIF
// (Linux 5.0; libseccomp asks for 5.7). Otherwise the error, of kind
// ErrUnsupported, says what is missing, so a caller can report the feature
// unavailable instead of failing.
func SeccompNotifySupported() error {
	if err := kernelNotify(); err != nil {
		return err
	}
	return libseccompNotify()
}

// kernelNotify asks the kernel whether it knows SECCOMP_RET_USER_NOTIF
// (seccomp(SECCOMP_GET_ACTION_AVAIL)).
func kernelNotify() error {
	action := uint32(unix.SECCOMP_RET_USER_NOTIF)
	_, _, errno := unix.Syscall(unix.SYS_SECCOMP, unix.SECCOMP_GET_ACTION_AVAIL, 0, uintptr(unsafe.Pointer(&action)))
	if errno != 0 {
		return wrapError(ErrUnsupported, errno, "kernel seccomp user notification")
	}
	return nil
}

// checkSysinfoListener validates Spec.SysinfoListener when set: an
// absolute clean path that fits a socket address, on a machine that can
// notify.
func checkSysinfoListener(s *Spec) error {
	p := s.SysinfoListener
	switch {
	case p == "":
		return nil
	case !filepath.IsAbs(p) || filepath.Clean(p) != p:
		return newError(ErrInvalid, "container %s: SysinfoListener %q is not a clean absolute path", s.ID, p)
	case len(p) > maxSocketPath:
		return newError(ErrInvalid, "container %s: SysinfoListener %q is longer than a socket address (%d bytes)", s.ID, p, maxSocketPath)
	}
	if err := SeccompNotifySupported(); err != nil {
		return wrapError(ErrUnsupported, err, "container %s: SysinfoListener %q", s.ID, p)
	}
	return nil
}

// withSysinfoNotify adds to profile p (the default one) the rule sending
// sysinfo(2) to the listener at path (SCMP_ACT_NOTIFY): runc's parent, here
// the Runtime's own process, hands each container process's listener to
// the unix socket at path, as specs.LinuxSeccomp.ListenerPath. The
// profile's default action and other rules stay.
func withSysinfoNotify(p *configs.Seccomp, path string) *configs.Seccomp {
	if p == nil {
		p = &configs.Seccomp{DefaultAction: configs.Allow}
	}
	p.Syscalls = append(p.Syscalls, &configs.Syscall{Name: "sysinfo", Action: configs.Notify})
	p.ListenerPath = path
	return p
}
