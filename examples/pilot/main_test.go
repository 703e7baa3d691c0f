package main

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/shoalkit/shoal/examples/internal/container"
	"github.com/shoalkit/shoal/examples/internal/controller"
	"github.com/shoalkit/shoal/examples/internal/daemon"
	"github.com/shoalkit/shoal/examples/internal/state"
	"github.com/shoalkit/shoal/internal/testenv"
)

// TestMain is also the containers' init: the pilot's agents start their
// containers by running this binary again with "init".
func TestMain(m *testing.M) {
	container.Init()
	os.Exit(m.Run())
}

// pilot is a pilot run in this process, as `pilot` on a terminal.
type pilot struct {
	dir    string
	api    string
	token  string
	out    *lineWriter
	cancel context.CancelFunc
	done   chan error
	upIn   time.Duration
}

// startPilot runs the pilot with args (besides -dir and -api) until it
// says it is up, within bound.
func startPilot(t testing.TB, bound time.Duration, args ...string) *pilot {
	t.Helper()
	api, err := daemon.FreeLocalAddr(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	p := &pilot{dir: filepath.Join(t.TempDir(), "pilot"), api: api, out: newLineWriter(), done: make(chan error, 1)}
	ctx, cancel := context.WithCancel(context.Background())
	p.cancel = cancel
	started := time.Now()
	go func() {
		p.done <- run(ctx, append([]string{"-dir", p.dir, "-api", api}, args...), p.out, io.Discard)
	}()
	t.Cleanup(func() { p.stop(t, time.Minute) })
	up := regexp.MustCompile(`^Shoal pilot is up in (\S+):`)
	for {
		select {
		case line := <-p.out.lines:
			if m := up.FindStringSubmatch(line); m != nil {
				p.upIn = time.Since(started)
				tok, err := os.ReadFile(filepath.Join(p.dir, "token"))
				if err != nil {
					t.Fatalf("the pilot is up but its token file: %v", err)
				}
				p.token = strings.TrimSpace(string(tok))
				return p
			}
		case err := <-p.done:
			t.Fatalf("the pilot stopped before it was up: %v\n%s", err, p.out)
		case <-time.After(time.Until(started.Add(bound))):
			t.Fatalf("the pilot is not up after %v:\n%s", bound, p.out)
		}
	}
}

// stop is Ctrl-C: the pilot must end within bound.
func (p *pilot) stop(t testing.TB, bound time.Duration) {
	t.Helper()
	if p.cancel == nil {
		return
	}
	p.cancel()
	p.cancel = nil
	select {
	case err := <-p.done:
		if err != nil {
			t.Errorf("pilot: %v", err)
		}
	case <-time.After(bound):
		t.Fatalf("the pilot did not stop within %v of Ctrl-C", bound)
	}
}

// TestPilotLeavesNothingBehind runs the real pilot as `make pilot` does,
// deploys its hello app through the API, notes what the running pilot
// holds on the host — processes (its servers and its containers'),
// network namespaces (its containers' and its OVS switch's, which holds
// the bridges), mounts and cgroups — stops it as Ctrl-C does, and checks
// that none of it is left. Only what is the pilot's is counted, so tests
// running beside it do not disturb the check.
func TestPilotLeavesNothingBehind(t *testing.T) {
	testenv.Require(t, testenv.Root, testenv.Runc, testenv.Cgroups, testenv.OVS, testenv.Netns, testenv.OCIRegistry)
	p := startPilot(t, 2*time.Minute)
	t.Logf("up in %v", p.upIn)
	if !strings.Contains(p.out.String(), "real: containers, cgroups, VLANs on OVS") {
		t.Fatalf("as root the pilot's nodes must be real:\n%s", p.out)
	}
	app, err := os.ReadFile(filepath.Join(p.dir, "hello.json"))
	if err != nil {
		t.Fatal(err)
	}
	var spec state.AppSpec
	if err := json.Unmarshal(app, &spec); err != nil {
		t.Fatal(err)
	}
	cl := &controller.Client{URL: "http://" + p.api, Token: p.token}
	var d controller.Deployed
	if _, err := cl.Do(t.Context(), http.MethodPost, "/v1/apps?wait=90s", "", spec, &d); err != nil {
		t.Fatalf("deploy hello: %v", err)
	}
	if !d.Running || len(d.Created) != spec.Replicas {
		t.Fatalf("hello: %d of %d created, running %v", len(d.Created), spec.Replicas, d.Running)
	}
	var ids []string
	for _, in := range d.Created {
		ids = append(ids, in.ID)
	}
	held := pilotHolds(t, p.dir, ids)
	t.Logf("the running pilot holds %d processes, %d network namespaces, %d mounts, %d cgroups",
		len(held.procs), len(held.netns), len(held.mounts), len(held.cgroups))
	// Three containers and the servers; a netns per container and the
	// switch's; a volume per container and the live /proc; a cgroup
	// parent per node in each hierarchy.
	if len(held.procs) < len(ids)+3 || len(held.netns) < len(ids)+1 || len(held.mounts) < 1 || len(held.cgroups) < 3 {
		t.Fatalf("the running pilot seems to hold too little for the check to mean anything: %+v", held)
	}
	p.stop(t, time.Minute)
	for _, c := range []struct {
		what string
		left []string
	}{
		{"processes", existing(held.procs, func(pid string) bool { _, err := os.Stat("/proc/" + pid); return err == nil })},
		{"network namespaces", existing(held.netns, func(n string) bool { _, err := os.Stat("/run/netns/" + n); return err == nil })},
		{"mounts", existing(held.mounts, func(m string) bool { return slices.Contains(mountPoints(t), m) })},
		{"cgroups", existing(held.cgroups, func(d string) bool { _, err := os.Stat(d); return err == nil })},
	} {
		if len(c.left) > 0 {
			t.Errorf("the pilot left %s behind: %q", c.what, c.left)
		}
	}
}

// TestPilotSimulated: with -simulate the control plane runs over
// simulated nodes, says so, and stops.
func TestPilotSimulated(t *testing.T) {
	p := startPilot(t, time.Minute, "-simulate", "-agents", "5")
	if !strings.Contains(p.out.String(), "5 nodes (SIMULATED: nothing runs)") {
		t.Errorf("the pilot does not say its nodes are simulated:\n%s", p.out)
	}
	cl := &controller.Client{URL: "http://" + p.api, Token: p.token}
	var nodes []controller.NodeView
	if _, err := cl.Do(t.Context(), http.MethodGet, "/v1/nodes", "", nil, &nodes); err != nil {
		t.Fatal(err)
	}
	if len(nodes) != 5 {
		t.Errorf("%d nodes registered, want 5", len(nodes))
	}
	p.stop(t, 30*time.Second)
}

// TestPilotNotRoot: without root the pilot says plainly that its nodes
// are simulated and runs the control plane over them. As root the test
// runs itself again as nobody.
func TestPilotNotRoot(t *testing.T) {
	if os.Geteuid() != 0 {
		p := startPilot(t, time.Minute)
		if out := p.out.String(); !strings.HasPrefix(out, "not root: ") || !strings.Contains(out, "(SIMULATED: nothing runs)") {
			t.Errorf("without root the pilot must say its nodes are simulated:\n%s", out)
		}
		p.stop(t, 30*time.Second)
		return
	}
	// nobody must be able to run this binary: a copy in a directory
	// anyone may enter.
	dir, err := os.MkdirTemp("", "pilot-notroot-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = os.RemoveAll(dir) })
	self, err := os.ReadFile("/proc/self/exe")
	if err != nil {
		t.Fatal(err)
	}
	bin := filepath.Join(dir, "pilot.test")
	if err := os.WriteFile(bin, self, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	home := filepath.Join(dir, "home")
	if err := os.Mkdir(home, 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.Chown(home, 65534, 65534); err != nil {
		t.Fatal(err)
	}
	cmd := exec.CommandContext(t.Context(), bin, "-test.run=^TestPilotNotRoot$", "-test.v")
	cmd.Dir = home
	cmd.Env = []string{"PATH=" + os.Getenv("PATH"), "TMPDIR=" + home, "HOME=" + home}
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: 65534, Gid: 65534}}
	out, err := cmd.CombinedOutput()
	if err != nil || !strings.Contains(string(out), "--- PASS: TestPilotNotRoot") {
		t.Fatalf("as nobody: %v\n%s", err, out)
	}
}

// BenchmarkPilotUp is the time from start to "Shoal pilot is up" (API
// answering, every agent registered), real nodes as root.
func BenchmarkPilotUp(b *testing.B) {
	testenv.Require(b, testenv.Root, testenv.Runc, testenv.Cgroups, testenv.OVS, testenv.Netns, testenv.OCIRegistry)
	var total time.Duration
	for b.Loop() {
		p := startPilot(b, 2*time.Minute)
		total += p.upIn
		p.stop(b, time.Minute)
	}
	b.ReportMetric(total.Seconds()/float64(b.N), "s/up")
	b.ReportMetric(0, "ns/op")
}

// holdings is what a running pilot holds on the host.
type holdings struct {
	procs, netns, mounts, cgroups []string
}

// pilotHolds finds what the pilot running in dir with the instances ids
// holds: the processes started with dir in their command line (its
// servers) or in its containers' cgroups; the namespaces of its
// containers (shoal-ID) and of its switch (the one its ovs-vswitchd runs
// in); mounts under dir; the cgroup parents holding its containers.
func pilotHolds(t *testing.T, dir string, ids []string) holdings {
	t.Helper()
	var h holdings
	var switchNet uint64
	pids, _ := filepath.Glob("/proc/[0-9]*")
	for _, d := range pids {
		cmd, err := os.ReadFile(filepath.Join(d, "cmdline"))
		if err != nil || !strings.Contains(string(cmd), dir) {
			continue
		}
		h.procs = append(h.procs, filepath.Base(d))
		if strings.HasPrefix(string(cmd), "ovs-vswitchd") {
			switchNet = inode(filepath.Join(d, "ns", "net"))
		}
	}
	names, _ := os.ReadDir("/run/netns")
	for _, n := range names {
		if (switchNet != 0 && inode(filepath.Join("/run/netns", n.Name())) == switchNet) ||
			slices.ContainsFunc(ids, func(id string) bool { return n.Name() == "shoal-"+id }) {
			h.netns = append(h.netns, n.Name())
		}
	}
	for _, m := range mountPoints(t) {
		if strings.HasPrefix(m, dir+"/") {
			h.mounts = append(h.mounts, m)
		}
	}
	parents, _ := filepath.Glob("/sys/fs/cgroup/*/shoal-pilot-*")
	more, _ := filepath.Glob("/sys/fs/cgroup/shoal-pilot-*")
	for _, parent := range append(parents, more...) {
		kids, _ := os.ReadDir(parent)
		for _, k := range kids {
			if !slices.ContainsFunc(ids, func(id string) bool { return strings.Contains(k.Name(), id) }) {
				continue
			}
			h.cgroups = append(h.cgroups, parent)
			procs, _ := os.ReadFile(filepath.Join(parent, k.Name(), "cgroup.procs"))
			h.procs = append(h.procs, strings.Fields(string(procs))...)
			break
		}
	}
	slices.Sort(h.procs)
	h.procs = slices.Compact(h.procs)
	return h
}

// inode is the inode number of the file at path, 0 when unknown.
func inode(path string) uint64 {
	fi, err := os.Stat(path)
	if err != nil {
		return 0
	}
	if st, ok := fi.Sys().(*syscall.Stat_t); ok {
		return st.Ino
	}
	return 0
}

// mountPoints are the host's mount points, as this thread sees them:
// /proc/thread-self, not /proc/self, whose main thread libcontainer can
// leave in a container's mount namespace (a thread that setns()es, locked,
// and ends is wedged when it is the main thread), as cgroupx.NewHost does.
func mountPoints(t *testing.T) []string {
	t.Helper()
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	mi, err := os.ReadFile("/proc/thread-self/mountinfo")
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for l := range strings.Lines(string(mi)) {
		if f := strings.Fields(l); len(f) > 4 {
			out = append(out, f[4])
		}
	}
	return out
}

// existing is what of held still exists.
func existing(held []string, exists func(string) bool) []string {
	var out []string
	for _, x := range held {
		if exists(x) {
			out = append(out, x)
		}
	}
	return out
}

// lineWriter keeps what the pilot prints and passes each line on (the
// pilot writes whole lines).
type lineWriter struct {
	mu    sync.Mutex
	buf   strings.Builder
	lines chan string
}

func newLineWriter() *lineWriter { return &lineWriter{lines: make(chan string, 1024)} }

func (w *lineWriter) Write(b []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.buf.Write(b)
	for l := range strings.Lines(string(b)) {
		select {
		case w.lines <- strings.TrimSuffix(l, "\n"):
		default: // nobody waits for lines any more
		}
	}
	return len(b), nil
}

func (w *lineWriter) String() string {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.buf.String()
}
