//go:build linux && cgo && seccomp

package container

// seccompAvailable: libcontainer's seccomp is built in (libseccomp).
const seccompAvailable = true
