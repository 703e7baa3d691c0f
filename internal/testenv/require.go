package testenv

import (
	_ "embed"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"testing"
)

// Component names a real component a test needs.
type Component string

// The components testenv knows.
const (
	Root        Component = "root"       // root itself: mounts, xattrs, device nodes
	OVS         Component = "ovs"        // ovsdb-server, ovs-vswitchd and their tools
	Netns       Component = "netns"      // network namespaces and veth pairs (iproute2)
	Ping        Component = "ping"       // ping, for reachability checks
	Ethtool     Component = "ethtool"    // ethtool, to inspect offloads
	Cgroups     Component = "cgroups"    // a writable cgroup hierarchy
	OCIRegistry Component = "registry"   // the docker-registry OCI registry
	Runc        Component = "runc"       // runc and a static busybox for rootfs
	Skopeo      Component = "skopeo"     // skopeo, an independent OCI image client
	Lxcfs       Component = "lxcfs"      // lxcfs, the FUSE peer cgroupx is measured against
	Procps      Component = "procps"     // Debian's procps top, free, uptime, and unshare/nsenter to give them namespaces
	Containerd  Component = "containerd" // containerd and ctr, the peer imagefs is measured against
	Umoci       Component = "umoci"      // umoci, an independent OCI image unpacker
	UML         Component = "uml"        // user-mode-linux: a Linux kernel as a process, for pure cgroup v2 (see RunGuest)
	Promtool    Component = "promtool"   // promtool, the Prometheus exposition linter
	CarbonCache Component = "carbon"     // carbon-cache and whisper-fetch (Graphite)

	PrometheusServer   Component = "prometheus"    // prometheus, scraping and evaluating alert rules
	AlertmanagerServer Component = "alertmanager"  // prometheus-alertmanager, receiving alerts
	NodeExporterServer Component = "node-exporter" // prometheus-node-exporter, a real exporter
	Iptables           Component = "iptables"      // iptables, to cut paths and drop packets inside a test's netns
	Serf               Component = "serf"          // Debian's serf agent, unpacked (not installed) as an independent peer
	EtcdServer         Component = "etcd-server"   // Debian's etcd, for a cluster of separate members (not the embedded one)
)

// IntegrationEnv is the environment variable that decides what a missing
// component does to a test: "require" fails the test, "off" skips every
// integration test, anything else skips only the tests whose components are
// missing.
const IntegrationEnv = "SHOAL_INTEGRATION"

// componentSpec is what a component needs: the Debian packages whose
// commands it runs, root, and an extra probe beyond commands on PATH.
type componentSpec struct {
	packages []string
	root     bool
	check    func() error // nil when none
}

func specOf(c Component) (componentSpec, bool) {
	switch c {
	case Root:
		return componentSpec{root: true}, true
	case OVS:
		return componentSpec{packages: []string{"openvswitch-switch", "iproute2"}, root: true, check: checkOVS}, true
	case Netns:
		return componentSpec{packages: []string{"iproute2"}, root: true}, true
	case Ping:
		return componentSpec{packages: []string{"iputils-ping"}}, true
	case Ethtool:
		return componentSpec{packages: []string{"ethtool"}}, true
	case Cgroups:
		return componentSpec{root: true, check: checkCgroups}, true
	case OCIRegistry:
		return componentSpec{packages: []string{"docker-registry"}}, true
	case Runc:
		return componentSpec{packages: []string{"runc", "busybox-static"}, root: true}, true
	case Skopeo:
		return componentSpec{packages: []string{"skopeo"}}, true
	case Umoci:
		return componentSpec{packages: []string{"umoci"}}, true
	case Containerd:
		return componentSpec{packages: []string{"containerd"}, root: true}, true
	case UML:
		return componentSpec{packages: []string{"user-mode-linux"}}, true
	case Promtool:
		return componentSpec{packages: []string{"prometheus"}}, true
	case CarbonCache:
		return componentSpec{packages: []string{"graphite-carbon", "python3-whisper"}}, true
	case PrometheusServer:
		return componentSpec{packages: []string{"prometheus"}}, true
	case AlertmanagerServer:
		return componentSpec{packages: []string{"prometheus-alertmanager"}}, true
	case NodeExporterServer:
		return componentSpec{packages: []string{"prometheus-node-exporter"}}, true
	case Iptables:
		return componentSpec{packages: []string{"iptables", "iproute2"}, root: true}, true
	case Serf:
		return componentSpec{packages: []string{"apt", "dpkg"}, check: checkSerf}, true
	case EtcdServer:
		return componentSpec{packages: []string{"etcd-server"}}, true
	case Lxcfs:
		return componentSpec{packages: []string{"lxcfs"}, root: true, check: checkFuse}, true
	case Procps:
		return componentSpec{packages: []string{"procps", "util-linux"}, root: true}, true
	}
	return componentSpec{}, false
}

//go:embed debian-packages.txt
var debianPackages string

// packageCommands parses debian-packages.txt: "package command..." a line,
// '#' comments.
func packageCommands(list string) map[string][]string {
	out := map[string][]string{}
	for line := range strings.Lines(list) {
		f := strings.Fields(line)
		if len(f) == 0 || strings.HasPrefix(f[0], "#") {
			continue
		}
		out[f[0]] = f[1:]
	}
	return out
}

// probe is what Require consults; tests replace its parts.
type probe struct {
	euid     int
	lookPath func(string) (string, error)
	packages map[string][]string
}

func hostProbe() probe {
	return probe{euid: os.Geteuid(), lookPath: exec.LookPath, packages: packageCommands(debianPackages)}
}

// missing returns why component c cannot be used on this host, or nil.
func (p probe) missing(c Component) error {
	spec, ok := specOf(c)
	if !ok {
		return fmt.Errorf("testenv: unknown component %q", c)
	}
	if spec.root && p.euid != 0 {
		return fmt.Errorf("testenv: %s needs root (running as uid %d)", c, p.euid)
	}
	for _, pkg := range spec.packages {
		cmds, ok := p.packages[pkg]
		if !ok {
			return fmt.Errorf("testenv: %s: package %s is not in debian-packages.txt", c, pkg)
		}
		for _, cmd := range cmds {
			if _, err := p.lookPath(cmd); err != nil {
				return fmt.Errorf("testenv: %s needs %s, not found in PATH (Debian package %s; `make test` as root installs it)", c, cmd, pkg)
			}
		}
	}
	if spec.check != nil {
		if err := spec.check(); err != nil {
			return fmt.Errorf("testenv: %s: %w", c, err)
		}
	}
	return nil
}

// checkFuse is lxcfs's probe: it mounts a FUSE filesystem.
func checkFuse() error {
	_, err := os.Stat("/dev/fuse")
	return err
}

// decide turns the mode and what is missing into the test's fate: "" to go
// on, or a message and whether it is fatal.
func decide(mode string, missing error) (msg string, fatal bool) {
	switch {
	case mode == "off":
		return IntegrationEnv + "=off: integration test skipped", false
	case missing == nil:
		return "", false
	case mode == "require":
		return missing.Error() + " (" + IntegrationEnv + "=require)", true
	default:
		return missing.Error() + " (set " + IntegrationEnv + "=require to fail instead of skipping)", false
	}
}

// Require skips t when root or one of the components is missing, and fails
// it instead when SHOAL_INTEGRATION=require. The message names what is
// missing and the Debian package that provides it.
func Require(t testing.TB, cs ...Component) {
	t.Helper()
	p := hostProbe()
	mode := os.Getenv(IntegrationEnv)
	for _, c := range cs {
		msg, fatal := decide(mode, p.missing(c))
		switch {
		case fatal:
			t.Fatal(msg)
		case msg != "":
			t.Skip(msg)
		}
	}
}

// path returns the absolute path of a command Require has already checked.
func path(t testing.TB, cmd string) string {
	t.Helper()
	p, err := exec.LookPath(cmd)
	if err != nil {
		t.Fatalf("testenv: %s: %v", cmd, err)
	}
	return p
}
