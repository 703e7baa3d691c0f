// Package container runs the platform's containers in-process with
// libcontainer (github.com/opencontainers/runc/libcontainer): the agent's own
// binary is each container's init (re-exec as "init"; call Init first thing
// in main), so no runc or shim binary is needed.
//
//	func main() {
//		container.Init() // returns only when this process is not a container's init
//		...
//		rt, err := container.New(container.Config{Root: "/run/shoal/containers", LogDir: "/var/log/shoal"})
//		pid, err := rt.Start(ctx, container.Spec{ID: "web-1", Rootfs: rootfs, Args: []string{"/app/run"}})
//
// Containers outlive the process that started them: their state lives under
// Root, their stdout and stderr go straight to files (no pipe through the
// agent, so a dead agent cannot stall or kill them with SIGPIPE), and Load
// and List find them again after a restart.
//
// Which cgroup writer owns a container's limits: libcontainer's (the
// github.com/opencontainers/cgroups manager, as in runc). It creates the
// container's cgroup, moves the init process into it before it runs, and
// writes the limits at start and on Resize; cgroupx only reads them. Two
// writers for one cgroup would fight over knobs and write order.
//
// Every container gets no new privileges, Docker's default capabilities
// (none for a non-root user) and, when the binary is built with the seccomp
// build tag (cgo and libseccomp-dev; the Makefile's GOTAGS), a default
// seccomp profile refusing with EPERM the syscalls that reach past the
// container (seccomp.go lists them and why). Built without the tag,
// containers run without a filter; SeccompAvailable tells which, and the
// agent reports it in its node's labels.
//
// Spec.SysinfoListener adds one rule to that profile: sysinfo(2) goes to a
// listener (seccomp user notification, SCMP_ACT_NOTIFY) that Start hands to
// the unix socket it names, as runc does with the OCI ListenerPath, so that
// the agent's procview server answers it with the container's memory and
// uptime. SeccompNotifySupported says whether the build, libseccomp and the
// kernel allow it; Start refuses it with ErrUnsupported where they do not.
//
// Logs are bounded the way logrotate's copytruncate is: when a log passes
// its size, it is copied to NAME.1 and truncated; the container keeps
// writing through its O_APPEND descriptor. Lines written between the copy
// and the truncation can be lost — the price of not holding a pipe.
package container
