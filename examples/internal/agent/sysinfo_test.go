package agent_test

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/shoalkit/shoal/cgroupx/procview"
	"github.com/shoalkit/shoal/examples/internal/agent"
	"github.com/shoalkit/shoal/examples/internal/container"
	"github.com/shoalkit/shoal/examples/internal/state"
	"github.com/shoalkit/shoal/imagefs"
	"github.com/shoalkit/shoal/internal/testenv"
)

// requireSeccompNotify skips t where containers cannot have sysinfo
// answered (no seccomp tag, an old libseccomp or kernel), and fails it
// instead under SHOAL_INTEGRATION=require in a build with the tag.
func requireSeccompNotify(t *testing.T) {
	t.Helper()
	if err := container.SeccompNotifySupported(); err != nil {
		if os.Getenv(testenv.IntegrationEnv) == "require" && container.SeccompAvailable() {
			t.Fatal(err)
		}
		t.Skip(err)
	}
}

// liveProc mounts a procview view for n's containers (a holder in this
// process, a server on its connection) and sets n's Config to bind it into
// instances and answer their sysinfo on a socket of the test's; with keep,
// the server has the holder keep the containers' seccomp listeners.
// Everything is stopped and unmounted at the end, after the node's
// containers.
func liveProc(t *testing.T, n *node, keep bool) {
	t.Helper()
	testenv.RequireFUSE(t)
	tmp := t.TempDir()
	mnt, holderSock := filepath.Join(tmp, "view"), filepath.Join(tmp, "holder.sock")
	if err := os.Mkdir(mnt, 0o755); err != nil {
		t.Fatal(err)
	}
	h, err := procview.NewHolder(t.Context(), procview.HolderConfig{MountPoint: mnt, Socket: holderSock})
	if err != nil {
		t.Fatal(err)
	}
	parent := filepath.Dir(n.cfg.Runtime.CgroupPath("x"))
	pcfg := procview.Config{Parents: []string{parent}}
	if keep {
		pcfg.HolderSocket = holderSock
	}
	srv, err := procview.New(t.Context(), pcfg)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	holderDone, serverDone := make(chan error, 1), make(chan error, 1)
	go func() { holderDone <- h.Run(ctx) }()
	go func() {
		conn, err := procview.Dial(ctx, holderSock)
		if err != nil {
			serverDone <- err
			return
		}
		defer conn.Close()
		serverDone <- srv.Serve(ctx, conn)
	}()
	t.Cleanup(func() {
		// The containers first: they hold bind mounts of the view.
		ins, _ := n.cfg.Runtime.List()
		for _, in := range ins {
			_ = n.cfg.Runtime.Delete(context.Background(), in.ID, 0)
		}
		cancel()
		for _, ch := range []chan error{serverDone, holderDone} {
			if err := <-ch; !errors.Is(err, context.Canceled) {
				t.Errorf("procview: %v", err)
			}
		}
		if err := h.Close(); err != nil {
			t.Error(err)
		}
	})
	n.cfg.ProcView, n.cfg.ProcViewServer = mnt, srv
	n.cfg.Sysinfo, n.cfg.SysinfoSocket = true, filepath.Join(tmp, "sysinfo.sock")
}

// toolsImage pushes an image of BusyBox with Debian's procps free and
// coreutils nproc (and their libraries) and the sysinfo probe at
// /bin/sysinfo-probe, next to n's BusyBox image; it returns its name.
func toolsImage(t *testing.T, n *node) string {
	t.Helper()
	testenv.Require(t, testenv.Procps)
	src := t.TempDir()
	testenv.BusyboxRootfs(t, src)
	testenv.CopyBinary(t, src, "free")
	testenv.CopyBinary(t, src, "nproc")
	testenv.SysinfoProbe(t, filepath.Join(src, "bin"))
	img, _, err := imagefs.Build(t.Context(), src, imagefs.Recipe{Role: imagefs.RoleBase, Entrypoint: []string{"/bin/sh"}})
	if err != nil {
		t.Fatal(err)
	}
	registry, _, _ := strings.Cut(n.image, "/")
	ref := registry + "/tools:1"
	if _, err := imagefs.Push(t.Context(), img, ref, n.cfg.Remote); err != nil {
		t.Fatal(err)
	}
	return ref
}

// sysinfoScript prints, between "==" lines: procps free, BusyBox free,
// BusyBox uptime, the processors of /proc/cpuinfo, coreutils nproc (by
// path: the image's PATH finds BusyBox's applets first) and the probe's
// sysinfo; then, once the test creates /export/go, the probe again (its
// exit code after) into /export/after.
const sysinfoScript = "/usr/bin/free; echo ==; busybox free; echo ==; busybox uptime; echo ==; grep -c ^processor /proc/cpuinfo; echo ==; /usr/bin/nproc; echo ==; sysinfo-probe; echo ==end; " +
	"while [ ! -e /export/go ]; do sleep 0.05; done; " +
	"{ sysinfo-probe; echo probe=$?; busybox uptime; } > /export/after 2>&1; exec sleep 1000"

// TestAgentSysinfo: an agent with the live /proc and Sysinfo starts two
// instances at once, 256 MiB and half a CPU, 128 MiB and two CPUs. In
// each, procps free (which reads /proc/meminfo), BusyBox free and uptime
// and a Go program (which call sysinfo(2)), /proc/cpuinfo and coreutils
// nproc show that container's memory, uptime and CPUs; a process on the
// host sees the host. The node says shoal.sysinfo=seccomp. After the agent exits, the
// containers' listeners are gone: sysinfo fails at once with ENOSYS
// (the kernel's answer when nobody holds the listener), it does not hang;
// a new agent adopting them warns that it is so.
func TestAgentSysinfo(t *testing.T) {
	n := newNode(t)
	requireSeccompNotify(t)
	liveProc(t, n, false)
	image := toolsImage(t, n)
	n.startAgent()

	inst := func(id string, mem int64, cpus float64, env []string) state.Instance {
		return state.Instance{
			ID: id, App: "si", Generation: 1, RequestID: "req-" + id, Image: image, Kind: state.Thin,
			Command: []string{"/bin/sh", "-c", sysinfoScript}, Env: env,
			Resources: state.Resources{MemoryBytes: mem, CPUs: cpus},
			Volume:    &state.Volume{SizeBytes: 16 << 20, Mount: "/export"},
		}
	}
	type want struct {
		id               string
		mem              int64
		cpus             float64
		env              []string
		processor, nproc string
	}
	// nproc takes OMP_NUM_THREADS, which the agent sets from the quota
	// unless the instance sets it (si-2).
	wants := []want{{"si-1", 256 << 20, 0.5, nil, "1", "1"}, {"si-2", 128 << 20, 2, []string{"OMP_NUM_THREADS=3"}, "2", "3"}}
	for _, w := range wants {
		n.put(inst(w.id, w.mem, w.cpus, w.env))
	}
	for _, w := range wants {
		n.waitStatus(w.id, "running", running)
	}
	if got := nodeLabel(t, n, agent.SysinfoLabel); got != "seccomp" {
		t.Errorf("label %s = %q, want seccomp", agent.SysinfoLabel, got)
	}
	for _, w := range wants {
		parts := containerOutput(t, n, w.id)
		kib := fmt.Sprint(w.mem >> 10)
		if f := strings.Fields(memLine(parts[0])); len(f) < 2 || f[1] != kib {
			t.Errorf("%s: procps free %q, want total %s KiB", w.id, memLine(parts[0]), kib)
		}
		if f := strings.Fields(memLine(parts[1])); len(f) < 4 || f[1] != kib {
			t.Errorf("%s: BusyBox free %q, want total %s KiB", w.id, memLine(parts[1]), kib)
		}
		if !strings.Contains(parts[2], " up 0 min,") {
			t.Errorf("%s: BusyBox uptime %q, want the container's minutes", w.id, parts[2])
		}
		if got := strings.TrimSpace(parts[3]); got != w.processor {
			t.Errorf("%s: /proc/cpuinfo has %s processors, want %s", w.id, got, w.processor)
		}
		if got := strings.TrimSpace(parts[4]); got != w.nproc {
			t.Errorf("%s: nproc says %s, want %s", w.id, got, w.nproc)
		}
		if want := fmt.Sprintf("sysinfo totalram=%d unit=1 uptime=", w.mem); !strings.HasPrefix(parts[5], want) {
			t.Errorf("%s: probe %q, want %s…", w.id, parts[5], want)
		}
	}

	// A process on the host: the host's memory and uptime.
	probe := testenv.SysinfoProbe(t, t.TempDir())
	out, err := exec.CommandContext(t.Context(), probe).CombinedOutput()
	if err != nil {
		t.Fatalf("probe on the host: %v\n%s", err, out)
	}
	if want := fmt.Sprintf("sysinfo totalram=%d unit=1 ", hostMemTotal(t)); !strings.HasPrefix(string(out), want) {
		t.Errorf("probe on the host: %q, want %s…", out, want)
	}

	// The agent exits: its listeners close.
	n.stop()
	n.stop = func() {}
	start := time.Now()
	for _, w := range wants {
		if err := os.WriteFile(filepath.Join(n.cfg.VolumeDir, w.id, "data", "go"), nil, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	for _, w := range wants {
		after := waitOutput(t, filepath.Join(n.cfg.VolumeDir, w.id, "data", "after"), "up ")
		t.Logf("%s without the agent, within %v:\n%s", w.id, time.Since(start).Round(time.Millisecond), after)
		if !strings.HasPrefix(after, "sysinfo error=38 function not implemented\nprobe=1\n") {
			t.Errorf("%s: sysinfo without the agent: %q, want ENOSYS", w.id, after)
		}
	}
	if _, err := os.Stat(n.cfg.SysinfoSocket); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("the agent left its socket: %v", err)
	}

	// A new agent adopts them and says their sysinfo fails.
	var logs lockedBuffer
	n.cfg.Logger = slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelWarn}))
	n.startAgent()
	deadline := time.Now().Add(10 * time.Second)
	for strings.Count(logs.String(), "sysinfo(2) fails with ENOSYS") < len(wants) {
		if time.Now().After(deadline) {
			t.Fatalf("the new agent did not warn of both containers:\n%s", logs.String())
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// TestAgentSysinfoSurvivesRestart: with a holder that keeps the seccomp
// listeners, an agent stops while its container runs; BusyBox free in the
// container waits instead of failing with ENOSYS, and once a new agent
// starts (and adopts the container, warning of nothing) it shows the
// container's memory.
func TestAgentSysinfoSurvivesRestart(t *testing.T) {
	n := newNode(t)
	requireSeccompNotify(t)
	liveProc(t, n, true)
	n.startAgent()
	const mem = 192 << 20
	n.put(state.Instance{
		ID: "keep-1", App: "si", Generation: 1, RequestID: "req-keep-1", Image: n.image, Kind: state.Thin,
		Command: []string{"/bin/sh", "-c", "busybox free; echo ==end; while [ ! -e /export/go ]; do sleep 0.05; done; " +
			"busybox free > /export/after.tmp 2>&1; echo status=$? >> /export/after.tmp; mv /export/after.tmp /export/after; exec sleep 1000"},
		Resources: state.Resources{MemoryBytes: mem},
		Volume:    &state.Volume{SizeBytes: 16 << 20, Mount: "/export"},
	})
	n.waitStatus("keep-1", "running", running)
	out := waitOutput(t, n.cfg.Runtime.LogPath("keep-1"), "==end\n")
	kib := fmt.Sprint(mem >> 10)
	if f := strings.Fields(memLine(out)); len(f) < 2 || f[1] != kib {
		t.Fatalf("BusyBox free with the agent: %q, want total %s KiB", memLine(out), kib)
	}

	n.stop()
	n.stop = func() {}
	data := filepath.Join(n.cfg.VolumeDir, "keep-1", "data")
	if err := os.WriteFile(filepath.Join(data, "go"), nil, 0o644); err != nil {
		t.Fatal(err)
	}
	time.Sleep(500 * time.Millisecond)
	if b, err := os.ReadFile(filepath.Join(data, "after")); err == nil {
		t.Fatalf("BusyBox free returned with no agent running:\n%s", b)
	}

	var logs lockedBuffer
	n.cfg.Logger = slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelWarn}))
	start := time.Now()
	n.startAgent()
	after := waitOutput(t, filepath.Join(data, "after"), "status=")
	t.Logf("after the restart, within %v:\n%s", time.Since(start).Round(time.Millisecond), after)
	if f := strings.Fields(memLine(after)); len(f) < 2 || f[1] != kib || !strings.Contains(after, "status=0") {
		t.Errorf("BusyBox free across the restart: %q, want total %s KiB", after, kib)
	}
	if strings.Contains(logs.String(), "ENOSYS") {
		t.Errorf("the new agent warned of ENOSYS:\n%s", logs.String())
	}
}

// lockedBuffer is a bytes.Buffer for a logger and a reader at once.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// nodeLabel waits for n's registration and returns one of its labels.
func nodeLabel(t *testing.T, n *node, key string) string {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		resp, err := n.cli.Get(t.Context(), state.NodeKey("n1"))
		if err == nil && len(resp.Kvs) == 1 {
			var node state.Node
			if err := json.Unmarshal(resp.Kvs[0].Value, &node); err != nil {
				t.Fatal(err)
			}
			return node.Labels[key]
		}
		if time.Now().After(deadline) {
			t.Fatalf("node not registered: %v", err)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// containerOutput waits for sysinfoScript's first part in id's log and
// returns its sections.
func containerOutput(t *testing.T, n *node, id string) []string {
	t.Helper()
	out := waitOutput(t, n.cfg.Runtime.LogPath(id), "==end\n")
	t.Logf("inside %s:\n%s", id, out)
	parts := strings.Split(strings.TrimSuffix(out, "==end\n"), "==\n")
	if len(parts) != 6 {
		t.Fatalf("%s printed:\n%s", id, out)
	}
	return parts
}

// waitOutput waits until file contains marker and returns it.
func waitOutput(t *testing.T, file, marker string) string {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for {
		b, _ := os.ReadFile(file)
		if strings.Contains(string(b), marker) {
			return string(b)
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s never had %q:\n%s", file, marker, b)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// memLine is free's "Mem:" line.
func memLine(out string) string {
	for line := range strings.Lines(out) {
		if strings.HasPrefix(line, "Mem:") {
			return strings.TrimSpace(line)
		}
	}
	return ""
}

// hostMemTotal is the host's MemTotal in bytes.
func hostMemTotal(t *testing.T) uint64 {
	t.Helper()
	f, err := os.Open("/proc/meminfo")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		var kib uint64
		if _, err := fmt.Sscanf(sc.Text(), "MemTotal: %d kB", &kib); err == nil {
			return kib << 10
		}
	}
	t.Fatal("no MemTotal in /proc/meminfo")
	return 0
}

// TestAgentSysinfoSocket: Run refuses a SysinfoSocket path that is not a
// socket, or a socket another process answers on, naming the field; a
// stale socket left by a dead agent is replaced, and removed when Run
// ends. Where user notification is unavailable the agent runs all the
// same and says so in its label.
func TestAgentSysinfoSocket(t *testing.T) {
	n := newNode(t)
	view, err := procview.New(t.Context(), procview.Config{Parents: []string{filepath.Dir(n.cfg.Runtime.CgroupPath("x"))}})
	if err != nil {
		t.Fatal(err)
	}
	sock := filepath.Join(t.TempDir(), "sysinfo.sock")
	n.cfg.ProcView, n.cfg.ProcViewServer = t.TempDir(), view // not mounted: no instance gets it
	n.cfg.Sysinfo, n.cfg.SysinfoSocket = true, sock
	if container.SeccompNotifySupported() != nil {
		n.startAgent()
		if got := nodeLabel(t, n, agent.SysinfoLabel); got != "unavailable" {
			t.Errorf("label %s = %q, want unavailable", agent.SysinfoLabel, got)
		}
		return
	}
	runErr := func() error {
		a, err := agent.New(n.cfg)
		if err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
		defer cancel()
		return a.Run(ctx)
	}
	if err := os.WriteFile(sock, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := runErr(); !errors.Is(err, agent.ErrInvalid) || !strings.Contains(err.Error(), "Config.SysinfoSocket") {
		t.Errorf("a regular file: Run = %v, want ErrInvalid naming Config.SysinfoSocket", err)
	}
	if err := os.Remove(sock); err != nil {
		t.Fatal(err)
	}
	live, err := net.ListenUnix("unix", &net.UnixAddr{Name: sock, Net: "unix"})
	if err != nil {
		t.Fatal(err)
	}
	if err := runErr(); !errors.Is(err, agent.ErrInvalid) || !strings.Contains(err.Error(), "another process") {
		t.Errorf("a live socket: Run = %v, want ErrInvalid", err)
	}
	live.SetUnlinkOnClose(false) // a dead agent's socket stays behind
	if err := live.Close(); err != nil {
		t.Fatal(err)
	}
	n.startAgent()
	if got := nodeLabel(t, n, agent.SysinfoLabel); got != "seccomp" {
		t.Errorf("label %s = %q, want seccomp", agent.SysinfoLabel, got)
	}
	n.stop()
	n.stop = func() {}
	if _, err := os.Stat(sock); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("the socket after Run: %v", err)
	}
}
