package testenv

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// serfCacheDir is where Debian's serf package is unpacked, once per host:
// installing it would start a system daemon, so tests never do.
func serfCacheDir() string {
	dir, err := os.UserCacheDir()
	if err != nil {
		dir = os.TempDir()
	}
	return filepath.Join(dir, "shoal-testenv", "serf")
}

func serfBinaryPath() string { return filepath.Join(serfCacheDir(), "root", "usr", "bin", "serf") }

// checkSerf is the Serf component's probe: the binary is unpacked
// already, or apt knows a serf package to download.
func checkSerf() error {
	if _, err := os.Stat(serfBinaryPath()); err == nil {
		return nil
	}
	out, err := exec.Command("apt-cache", "show", "serf").CombinedOutput() //nolint:noctx // a quick local query
	if err != nil || !strings.Contains(string(out), "Package: serf") {
		return errors.New("apt knows no serf package (run apt-get update)")
	}
	return nil
}

// SerfBinary returns the path of Debian's serf agent, fetched with
// apt-get download and unpacked with dpkg -x into a per-host cache on
// first use (never installed: the package starts a daemon).
func SerfBinary(t testing.TB) string {
	t.Helper()
	Require(t, Serf)
	dir := serfCacheDir()
	if err := os.MkdirAll(filepath.Dir(dir), 0o755); err != nil {
		t.Fatalf("testenv: serf cache: %v", err)
	}
	// A lock file, not a mutex: test processes of several packages may
	// unpack at once.
	lock, err := os.OpenFile(dir+".lock", os.O_CREATE|os.O_RDWR, 0o600)
	if err != nil {
		t.Fatalf("testenv: serf cache: %v", err)
	}
	defer lock.Close()
	if err := unix.Flock(int(lock.Fd()), unix.LOCK_EX); err != nil {
		t.Fatalf("testenv: serf cache lock: %v", err)
	}
	bin := serfBinaryPath()
	if _, err := os.Stat(bin); err == nil {
		return bin
	}
	tmp, err := os.MkdirTemp(filepath.Dir(dir), "serf-unpack-")
	if err != nil {
		t.Fatalf("testenv: serf cache: %v", err)
	}
	defer os.RemoveAll(tmp)
	dl := exec.Command(path(t, "apt-get"), "download", "serf") //nolint:noctx // bounded by apt's own timeouts
	dl.Dir = tmp
	if out, err := dl.CombinedOutput(); err != nil {
		t.Fatalf("testenv: apt-get download serf: %v\n%s", err, out)
	}
	debs, _ := filepath.Glob(filepath.Join(tmp, "serf_*.deb"))
	if len(debs) != 1 {
		t.Fatalf("testenv: apt-get download serf left %v", debs)
	}
	run(t, path(t, "dpkg"), "-x", debs[0], filepath.Join(tmp, "root"))
	_ = os.RemoveAll(dir)
	if err := os.Rename(tmp, dir); err != nil {
		t.Fatalf("testenv: serf cache: %v", err)
	}
	return bin
}

// SerfOptions configures a Debian serf agent.
type SerfOptions struct {
	// Encrypt is the base64 gossip key (empty: no encryption).
	Encrypt string
	// Profile is lan, local or wan (default local).
	Profile string
	// Tags are set with -tag.
	Tags map[string]string
	// Handlers are -event-handler values, e.g. "query:NAME=/path/script".
	Handlers []string
}

// SerfAgent is Debian's serf agent running as a test's peer on 127.0.0.1,
// stopped by pid in t.Cleanup.
type SerfAgent struct {
	*Process
	Name string
	Bind string // gossip address, 127.0.0.1:port
	RPC  string // RPC address for the serf CLI
	bin  string
}

// StartSerf starts Debian's serf agent named name on 127.0.0.1 and waits
// until its RPC answers.
func StartSerf(t testing.TB, name string, o SerfOptions) *SerfAgent {
	t.Helper()
	bin := SerfBinary(t)
	if o.Profile == "" {
		o.Profile = "local"
	}
	a := &SerfAgent{
		Name: name, bin: bin,
		Bind: "127.0.0.1:" + strconv.Itoa(FreePort(t)), RPC: "127.0.0.1:" + strconv.Itoa(FreePort(t)),
	}
	args := []string{
		"agent", "-node=" + name, "-bind=" + a.Bind, "-rpc-addr=" + a.RPC,
		"-profile=" + o.Profile, "-protocol=5", "-log-level=debug",
	}
	if o.Encrypt != "" {
		args = append(args, "-encrypt="+o.Encrypt)
	}
	for k, v := range o.Tags {
		args = append(args, "-tag", k+"="+v)
	}
	for _, h := range o.Handlers {
		args = append(args, "-event-handler="+h)
	}
	a.Process = StartProcess(t, bin, args...)
	deadline := time.Now().Add(15 * time.Second)
	for {
		if _, err := a.Try("members"); err == nil {
			return a
		}
		if time.Now().After(deadline) {
			t.Fatalf("testenv: serf agent %s: RPC %s not up\n%s", name, a.RPC, a.Output())
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// Try runs `serf CMD -rpc-addr=... ARGS...` against the agent.
func (a *SerfAgent) Try(cmd string, args ...string) (string, error) {
	full := append([]string{cmd, "-rpc-addr=" + a.RPC}, args...)
	out, err := exec.Command(a.bin, full...).CombinedOutput() //nolint:noctx // the CLI exits on its own
	if err != nil {
		return string(out), fmt.Errorf("testenv: serf %s: %w: %s", cmd, err, out)
	}
	return string(out), nil
}

// Run is Try failing the test on error.
func (a *SerfAgent) Run(t testing.TB, cmd string, args ...string) string {
	t.Helper()
	out, err := a.Try(cmd, args...)
	if err != nil {
		t.Fatal(err)
	}
	return out
}
