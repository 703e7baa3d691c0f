package container

import (
	"github.com/opencontainers/runc/libcontainer/configs"
	"golang.org/x/sys/unix"
)

// SeccompAvailable reports whether containers get the default seccomp
// profile: the binary was built with the seccomp build tag (and cgo, over
// libseccomp). Without it containers run without a syscall filter; the
// agent says so in its node's labels and its log.
func SeccompAvailable() bool { return seccompAvailable }

// deniedSyscalls are refused with EPERM in every container. The intent is
// Docker's default profile's: what is not namespaced and reaches the whole
// host (the kernel keyring, modules, the clock, swap, reboot, accounting),
// what inspects or rewrites other processes (ptrace, process_vm_*,
// kcmp), what makes new mounts or namespaces (mount, unshare, setns and the
// new mount API: a container without CAP_SYS_ADMIN can otherwise still
// make a user namespace and mount inside it), and old or risky kernel
// surfaces (bpf, perf_event_open, userfaultfd, io_uring, vm86, uselib).
// Docker allows everything it lists and refuses the rest; this list
// refuses what it names and allows the rest, so a syscall newer than the
// list is allowed — the list is short enough to review, and libseccomp
// skips names the running kernel's architecture lacks.
var deniedSyscalls = []string{
	// Accounting, quotas, keyring: not namespaced.
	"acct", "quotactl", "quotactl_fd", "add_key", "keyctl", "request_key",
	// Kernel modules and kexec.
	"create_module", "delete_module", "finit_module", "init_module", "get_kernel_syms", "query_module",
	"kexec_file_load", "kexec_load",
	// Time: not namespaced.
	"clock_adjtime", "clock_settime", "settimeofday", "stime", "adjtimex",
	// The host as a whole.
	"reboot", "swapon", "swapoff", "syslog", "vhangup", "nfsservctl", "sysfs", "_sysctl", "ustat", "uselib",
	"lookup_dcookie",
	// Mounts and namespaces.
	"mount", "umount", "umount2", "pivot_root", "unshare", "setns",
	"fsopen", "fsconfig", "fsmount", "fspick", "move_mount", "open_tree", "mount_setattr",
	// Other processes and file handles outside the container's view.
	"ptrace", "process_vm_readv", "process_vm_writev", "kcmp", "pidfd_getfd",
	"name_to_handle_at", "open_by_handle_at",
	// Kernel surfaces with a long history of exploits.
	"bpf", "perf_event_open", "userfaultfd", "io_uring_setup", "io_uring_enter", "io_uring_register",
	"fanotify_init", "personality", "iopl", "ioperm", "vm86", "vm86old",
	// NUMA placement belongs to the node, not to a container.
	"get_mempolicy", "set_mempolicy", "mbind", "move_pages",
}

// namespaceFlags are the clone flags that make a namespace: clone with any
// of them is refused as unshare is.
var namespaceFlags = []uint64{
	unix.CLONE_NEWNS, unix.CLONE_NEWUTS, unix.CLONE_NEWIPC, unix.CLONE_NEWUSER,
	unix.CLONE_NEWPID, unix.CLONE_NEWNET, unix.CLONE_NEWCGROUP,
}

// seccompProfile is the filter every container gets, nil when seccomp is
// not built in (libcontainer refuses a profile it cannot load).
func seccompProfile() *configs.Seccomp {
	if !seccompAvailable {
		return nil
	}
	// Native architecture only: libseccomp kills a call made through another
	// (a 32-bit syscall on amd64), so the list cannot be sidestepped that way.
	p := &configs.Seccomp{DefaultAction: configs.Allow}
	for _, name := range deniedSyscalls {
		p.Syscalls = append(p.Syscalls, &configs.Syscall{Name: name, Action: configs.Errno})
	}
	// clone's flags are its first argument (on amd64 and arm64): one rule
	// per flag, since a rule matches (arg & mask) == value and the rules
	// of a syscall are alternatives.
	for _, f := range namespaceFlags {
		p.Syscalls = append(p.Syscalls, &configs.Syscall{
			Name: "clone", Action: configs.Errno,
			Args: []*configs.Arg{{Index: 0, Value: f, ValueTwo: f, Op: configs.MaskEqualTo}},
		})
	}
	// clone3 passes its flags in memory a filter cannot read: ENOSYS makes
	// libc fall back to clone, whose flags it can (Docker does the same).
	enosys := uint(unix.ENOSYS)
	p.Syscalls = append(p.Syscalls, &configs.Syscall{Name: "clone3", Action: configs.Errno, ErrnoRet: &enosys})
	return p
}
