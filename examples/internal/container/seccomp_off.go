//go:build !linux || !cgo || !seccomp

package container

// seccompAvailable: built without the seccomp tag, containers run
// without a syscall filter.
const seccompAvailable = false
