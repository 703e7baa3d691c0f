package container

import (
	"fmt"

	"github.com/opencontainers/cgroups"
	devices "github.com/opencontainers/cgroups/devices/config"
	"github.com/opencontainers/runc/libcontainer/configs"
	"github.com/opencontainers/runc/libcontainer/specconv"
	"golang.org/x/sys/unix"

	"github.com/shoalkit/shoal/examples/internal/state"
)

// defaultCaps are Docker's default capabilities: enough for a fat
// container's daemons (bind low ports, chown, setuid) and nothing that
// reaches the host (no SYS_ADMIN, NET_ADMIN, SYS_MODULE).
var defaultCaps = []string{
	"CAP_CHOWN", "CAP_DAC_OVERRIDE", "CAP_FSETID", "CAP_FOWNER", "CAP_MKNOD",
	"CAP_NET_RAW", "CAP_SETGID", "CAP_SETUID", "CAP_SETFCAP", "CAP_SETPCAP",
	"CAP_NET_BIND_SERVICE", "CAP_SYS_CHROOT", "CAP_KILL", "CAP_AUDIT_WRITE",
}

// libcontainerConfig turns a Spec into libcontainer's configuration.
func (r *Runtime) libcontainerConfig(s *Spec) *configs.Config {
	const noexec = unix.MS_NOEXEC | unix.MS_NOSUID | unix.MS_NODEV
	caps := &configs.Capabilities{Bounding: defaultCaps, Effective: defaultCaps, Permitted: defaultCaps}
	if s.UID != 0 {
		// A non-root user gets no capabilities (ambient stays empty).
		caps = &configs.Capabilities{Bounding: defaultCaps}
	}
	ns := configs.Namespaces{
		{Type: configs.NEWNS},
		{Type: configs.NEWUTS},
		{Type: configs.NEWIPC},
		{Type: configs.NEWPID},
		{Type: configs.NEWCGROUP},
	}
	if s.Netns != "" {
		ns = append(ns, configs.Namespace{Type: configs.NEWNET, Path: s.Netns})
	}
	var rules []*devices.Rule
	for _, d := range specconv.AllowedDevices {
		rules = append(rules, &d.Rule)
	}
	mounts := []*configs.Mount{
		{Source: "proc", Destination: "/proc", Device: "proc", Flags: noexec},
		{Source: "tmpfs", Destination: "/dev", Device: "tmpfs", Flags: unix.MS_NOSUID | unix.MS_STRICTATIME, Data: "mode=755,size=65536k"},
		{Source: "devpts", Destination: "/dev/pts", Device: "devpts", Flags: unix.MS_NOSUID | unix.MS_NOEXEC, Data: "newinstance,ptmxmode=0666,mode=0620"},
		{Source: "shm", Destination: "/dev/shm", Device: "tmpfs", Flags: noexec, Data: "mode=1777,size=65536k"},
		{Source: "mqueue", Destination: "/dev/mqueue", Device: "mqueue", Flags: noexec},
		{Source: "sysfs", Destination: "/sys", Device: "sysfs", Flags: noexec | unix.MS_RDONLY},
		{Source: "tmpfs", Destination: "/run", Device: "tmpfs", Flags: unix.MS_NOSUID | unix.MS_NODEV, Data: "mode=755,size=65536k"},
	}
	if s.Netns == "" {
		// The host's network namespace: sysfs of another netns cannot be
		// mounted, so bind the host's read-only.
		mounts[5] = &configs.Mount{Source: "/sys", Destination: "/sys", Device: "bind", Flags: unix.MS_BIND | unix.MS_REC | unix.MS_RDONLY}
	}
	for _, m := range s.Mounts {
		flags := unix.MS_BIND | unix.MS_REC | unix.MS_NOSUID | unix.MS_NODEV
		if m.ReadOnly {
			flags |= unix.MS_RDONLY
		}
		mounts = append(mounts, &configs.Mount{Source: m.Source, Destination: m.Destination, Device: "bind", Flags: flags})
	}
	seccomp := seccompProfile()
	if s.SysinfoListener != "" {
		seccomp = withSysinfoNotify(seccomp, s.SysinfoListener)
	}
	labels := make([]string, 0, len(s.Labels))
	for k, v := range s.Labels {
		labels = append(labels, k+"="+v)
	}
	return &configs.Config{
		Labels:          labels,
		Rootfs:          s.Rootfs,
		Readonlyfs:      !s.WritableRoot,
		Capabilities:    caps,
		Namespaces:      ns,
		NoNewPrivileges: true,
		Seccomp:         seccomp,
		Hostname:        s.Hostname,
		Mounts:          mounts,
		Devices:         specconv.AllowedDevices,
		MaskPaths:       []string{"/proc/acpi", "/proc/kcore", "/proc/keys", "/proc/latency_stats", "/proc/timer_list", "/proc/timer_stats", "/proc/sched_debug", "/proc/scsi", "/sys/firmware"},
		ReadonlyPaths:   []string{"/proc/bus", "/proc/fs", "/proc/irq", "/proc/sys", "/proc/sysrq-trigger"},
		// An absolute path under the hierarchy roots: a relative Parent
		// would put containers below the agent's own cgroup, which moves
		// with the agent (a systemd unit, a sandbox).
		Cgroups: &cgroups.Cgroup{
			Path:      r.CgroupPath(s.ID),
			Resources: resources(s.Resources, rules),
		},
	}
}

// resources maps the platform's limits onto the cgroup manager's.
func resources(res state.Resources, rules []*devices.Rule) *cgroups.Resources {
	out := &cgroups.Resources{Devices: rules, CpusetCpus: res.CPUSet, BlkioWeight: res.IOWeight}
	if res.CPUs > 0 {
		out.CpuPeriod = 100000
		out.CpuQuota = int64(res.CPUs * 100000)
	}
	if res.CPUWeight > 0 {
		// v1 shares from the v2 weight, the inverse of the kernel's
		// conversion (weight = 1 + (shares-2)*9999/262142).
		out.CpuShares = 2 + (res.CPUWeight-1)*262142/9999
	}
	if res.MemoryBytes > 0 {
		out.Memory = res.MemoryBytes
		out.MemorySwap = res.MemoryBytes // no swap beyond the limit
	}
	if res.PIDs > 0 {
		p := res.PIDs
		out.PidsLimit = &p
	}
	for _, d := range res.Devices {
		var major, minor int64
		if _, err := fmt.Sscanf(d.Device, "%d:%d", &major, &minor); err != nil {
			continue // Validate refused it already
		}
		add := func(list *[]*cgroups.ThrottleDevice, rate uint64) {
			if rate > 0 {
				*list = append(*list, cgroups.NewThrottleDevice(major, minor, rate))
			}
		}
		add(&out.BlkioThrottleReadBpsDevice, d.ReadBps)
		add(&out.BlkioThrottleWriteBpsDevice, d.WriteBps)
		add(&out.BlkioThrottleReadIOPSDevice, d.ReadIOPS)
		add(&out.BlkioThrottleWriteIOPSDevice, d.WriteIOPS)
	}
	return out
}
