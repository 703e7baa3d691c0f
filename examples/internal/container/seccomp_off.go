//go:build !linux || !cgo || !seccomp

package container

// seccompAvailable: built without the seccomp tag, containers run
// without a syscall filter.
const seccompAvailable = false

// libseccompNotify: without libseccomp no filter is loaded at all.
func libseccompNotify() error {
	return newError(ErrUnsupported, "seccomp user notification: built without the seccomp tag (cgo, libseccomp-dev)")
}
