package testenv

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// netnsDir is where iproute2 keeps named network namespaces.
const netnsDir = "/run/netns"

// Namespace is a named network namespace a test made (ip netns add). It is
// deleted in t.Cleanup together with every interface inside it.
type Namespace struct {
	Name string // the name ip netns knows it by
	Path string // the bind mount to open for setns(2): /run/netns/Name
}

// uniqueName returns prefix and eight random hex digits: short enough for
// an interface name (15 bytes) with a one-letter suffix, and unique across
// the test processes of a `go test ./...` run.
func uniqueName(prefix string) string {
	return fmt.Sprintf("%s%08x", prefix, rand.Uint32()) //nolint:gosec // a name, not a secret
}

// NewNetns creates a network namespace with a unique name and its loopback
// up, and deletes it in t.Cleanup.
func NewNetns(t testing.TB) *Namespace {
	t.Helper()
	Require(t, Netns)
	ip := path(t, "ip")
	name := uniqueName("shoal-")
	run(t, ip, "netns", "add", name)
	ns := &Namespace{Name: name, Path: filepath.Join(netnsDir, name)}
	t.Logf("testenv: started netns %s", name)
	t.Cleanup(func() {
		if out, err := exec.Command(ip, "netns", "delete", name).CombinedOutput(); err != nil { //nolint:noctx // cleanup
			t.Errorf("testenv: delete netns %s: %v: %s", name, err, out)
		}
	})
	ns.Run(t, ip, "link", "set", "lo", "up")
	return ns
}

// Command returns a command that runs inside the namespace.
func (n *Namespace) Command(name string, args ...string) *exec.Cmd {
	return commandIn(n, name, args...)
}

// commandIn returns a command that runs in ns, or in the test process's own
// namespace when ns is nil. ip netns exec execs the command, so the pid is
// the command's own.
func commandIn(ns *Namespace, name string, args ...string) *exec.Cmd {
	if ns == nil {
		return exec.Command(name, args...) //nolint:noctx // callers own the lifetime
	}
	return exec.Command("ip", append([]string{"netns", "exec", ns.Name, name}, args...)...) //nolint:noctx // callers own the lifetime
}

// Run runs a command inside the namespace and returns its combined output,
// failing the test when it fails.
func (n *Namespace) Run(t testing.TB, name string, args ...string) string {
	t.Helper()
	out, err := n.Try(name, args...)
	if err != nil {
		t.Fatalf("testenv: in netns %s: %s %s: %v\n%s", n.Name, name, strings.Join(args, " "), err, out)
	}
	return out
}

// Try runs a command inside the namespace and returns its output and error
// without failing the test: for checks that are expected to fail, such as a
// ping across VLANs.
func (n *Namespace) Try(name string, args ...string) (string, error) {
	out, err := n.Command(name, args...).CombinedOutput()
	return string(out), err
}

// Start starts a long-running command inside the namespace, stopped by pid
// in t.Cleanup.
func (n *Namespace) Start(t testing.TB, name string, args ...string) *Process {
	t.Helper()
	return startCmd(t, n.Command(name, args...))
}

// Veth is a veth pair made by a test. A and B are the two ends' names, in
// namespaces NsA and NsB (nil means the test process's own namespace).
type Veth struct {
	A, B     string
	NsA, NsB *Namespace
}

// NewVeth creates a veth pair with unique names, end A in nsA and end B in
// nsB (nil: the test process's namespace), both up, and deletes it in
// t.Cleanup unless it is already gone (deleting either end, or the
// namespace holding it, removes the pair).
func NewVeth(t testing.TB, nsA, nsB *Namespace) *Veth {
	t.Helper()
	Require(t, Netns)
	base := uniqueName("sv")
	v := &Veth{A: base + "a", B: base + "b", NsA: nsA, NsB: nsB}
	return v.create(t, v.A, v.B)
}

// NewVethNamed is NewVeth with end B renamed to nameB inside nsB (as eth0 in
// a container), which must not be the test process's namespace.
func NewVethNamed(t testing.TB, nsA, nsB *Namespace, nameB string) *Veth {
	t.Helper()
	Require(t, Netns)
	if nsB == nil {
		t.Fatal("testenv: NewVethNamed needs a namespace for the renamed end")
	}
	v := &Veth{A: uniqueName("sv") + "a", B: nameB, NsA: nsA, NsB: nsB}
	return v.create(t, v.A, nameB)
}

func (v *Veth) create(t testing.TB, a, b string) *Veth {
	t.Helper()
	ip := path(t, "ip")
	args := []string{}
	if v.NsA != nil {
		args = append(args, "-n", v.NsA.Name)
	}
	args = append(args, "link", "add", a, "type", "veth", "peer", "name", b)
	if v.NsB != nil {
		args = append(args, "netns", v.NsB.Name)
	}
	run(t, ip, args...)
	t.Logf("testenv: started veth %s/%s", a, b)
	t.Cleanup(func() {
		// Deleting end A removes the pair; when A's namespace is already
		// gone so is the pair.
		if v.NsA != nil && !exists(v.NsA.Path) {
			return
		}
		out, err := exec.Command(ip, nsArgs(v.NsA, "link", "delete", a)...).CombinedOutput() //nolint:noctx // cleanup
		if err != nil && !strings.Contains(string(out), "Cannot find device") {
			t.Errorf("testenv: delete veth %s: %v: %s", a, err, out)
		}
	})
	// No IPv6 link-local addresses: otherwise every new end sends
	// duplicate-address checks, router solicitations and MLD reports that a
	// switch floods to all its ports, and on the userspace datapath that
	// flood alone stalls ovs-vswitchd once a bridge has hundreds of ports.
	run(t, ip, nsArgs(v.NsA, "link", "set", a, "addrgenmode", "none", "up")...)
	run(t, ip, nsArgs(v.NsB, "link", "set", b, "addrgenmode", "none", "up")...)
	return v
}

// nsArgs prefixes an ip(8) command with -n NAME when ns is not the test's
// own namespace.
func nsArgs(ns *Namespace, args ...string) []string {
	if ns == nil {
		return args
	}
	return append([]string{"-n", ns.Name}, args...)
}

func exists(p string) bool {
	_, err := os.Stat(p)
	return !errors.Is(err, os.ErrNotExist)
}
