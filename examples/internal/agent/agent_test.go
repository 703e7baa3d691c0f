package agent_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
	"go.uber.org/zap"
	"golang.org/x/sys/unix"

	"github.com/shoalkit/shoal/cgroupx"
	"github.com/shoalkit/shoal/examples/internal/agent"
	"github.com/shoalkit/shoal/examples/internal/container"
	"github.com/shoalkit/shoal/examples/internal/embedetcd"
	"github.com/shoalkit/shoal/examples/internal/state"
	"github.com/shoalkit/shoal/imagefs"
	"github.com/shoalkit/shoal/internal/testenv"
	"github.com/shoalkit/shoal/metrics"
	"github.com/shoalkit/shoal/netvlan"
)

func TestMain(m *testing.M) {
	container.Init()
	os.Exit(m.Run())
}

// node is one agent's world: etcd, a registry holding busybox, a store,
// a runtime, and the agent running until stop.
type node struct {
	t       testing.TB
	etcdDir string
	etcd    *embedetcd.Server
	cli     *clientv3.Client
	image   string
	cfg     agent.Config
	agent   *agent.Agent
	stop    func()
	ids     []string // every instance put, for the clean-up
}

func newNode(t testing.TB) *node {
	t.Helper()
	testenv.Require(t, testenv.Root, testenv.Runc, testenv.Cgroups, testenv.OCIRegistry)
	n := &node{t: t, etcdDir: t.TempDir()}
	n.startEtcd("")
	t.Cleanup(func() {
		n.cli.Close()
		n.etcd.Close()
	})

	reg := testenv.StartRegistry(t)
	src := t.TempDir()
	testenv.BusyboxRootfs(t, src)
	img, _, err := imagefs.Build(t.Context(), src, imagefs.Recipe{Role: imagefs.RoleBase, Entrypoint: []string{"/bin/sh"}})
	if err != nil {
		t.Fatal(err)
	}
	n.image = reg.Addr + "/busybox:1"
	remote := imagefs.DefaultRemoteConfig()
	remote.Insecure = true
	if _, err := imagefs.Push(t.Context(), img, n.image, remote); err != nil {
		t.Fatal(err)
	}
	store, err := imagefs.OpenStore(t.Context(), imagefs.DefaultStoreConfig(t.TempDir()))
	if err != nil {
		t.Fatal(err)
	}
	rcfg := container.Config{Root: t.TempDir(), LogDir: t.TempDir(), CgroupParent: fmt.Sprintf("shoal-agent-test-%d", time.Now().UnixNano()), LogMaxBytes: 16 << 10}
	rt, err := container.New(rcfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ins, _ := rt.List()
		for _, in := range ins {
			_ = rt.Delete(context.Background(), in.ID, 0)
		}
		// Every rootfs the test's instances had, in the runtime or not.
		for _, id := range append(n.ids, "bad-1", "orphan-1") {
			if err := store.Release(context.Background(), id); err != nil {
				t.Errorf("release %s: %v", id, err)
			}
		}
		mnts, _ := filepath.Glob(filepath.Join(n.cfg.VolumeDir, "*", "data"))
		for _, m := range mnts {
			_ = unix.Unmount(m, unix.MNT_DETACH)
		}
		dirs, _ := filepath.Glob("/sys/fs/cgroup/*/" + rcfg.CgroupParent)
		for _, d := range dirs {
			_ = os.Remove(d)
		}
	})
	n.cfg = agent.Config{
		Node: state.Node{Name: "n1", Rack: "r1"}, Etcd: n.cli, Runtime: rt, Store: store, Remote: remote,
		VolumeDir: t.TempDir(), StateDir: t.TempDir(), LeaseTTL: 2 * time.Second, Resync: 200 * time.Millisecond, StopGrace: 100 * time.Millisecond,
	}
	return n
}

func (n *node) startEtcd(addr string) {
	t := n.t
	srv, err := embedetcd.Start(t.Context(), embedetcd.Config{Dir: n.etcdDir, ClientAddr: addr})
	if err != nil {
		t.Fatal(err)
	}
	n.etcd = srv
	if n.cli == nil {
		if n.cli, err = clientv3.New(clientv3.Config{Endpoints: srv.Endpoints(), DialTimeout: 5 * time.Second, Logger: zap.NewNop()}); err != nil {
			t.Fatal(err)
		}
	}
}

// startAgent runs a new agent over the same runtime, store and etcd.
func (n *node) startAgent() {
	a, err := agent.New(n.cfg)
	if err != nil {
		n.t.Fatal(err)
	}
	n.agent = a
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- a.Run(ctx) }()
	n.stop = func() {
		cancel()
		if err := <-done; err != nil {
			n.t.Errorf("agent Run = %v", err)
		}
	}
	n.t.Cleanup(func() { n.stop(); n.stop = func() {} })
}

func (n *node) put(in state.Instance) {
	n.t.Helper()
	in.Node = "n1"
	n.ids = append(n.ids, in.ID)
	val, _ := json.Marshal(in)
	if _, err := n.cli.Put(n.t.Context(), state.DesiredKey("n1", in.ID), string(val)); err != nil {
		n.t.Fatal(err)
	}
}

func (n *node) status(id string) (state.Status, bool) {
	resp, err := n.cli.Get(n.t.Context(), state.StatusKey("n1", id))
	if err != nil || len(resp.Kvs) == 0 {
		return state.Status{}, false
	}
	var st state.Status
	if err := json.Unmarshal(resp.Kvs[0].Value, &st); err != nil {
		n.t.Fatalf("status %s: %v", id, err)
	}
	return st, true
}

// waitStatus waits until id's status satisfies ok and returns it.
func (n *node) waitStatus(id string, what string, ok func(state.Status) bool) state.Status {
	n.t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for {
		st, found := n.status(id)
		if found && ok(st) {
			return st
		}
		if time.Now().After(deadline) {
			n.t.Fatalf("%s: status never became %s; last %+v", id, what, st)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func (n *node) events(requestID string) []string {
	resp, err := n.cli.Get(n.t.Context(), state.EventsPrefix(), clientv3.WithPrefix())
	if err != nil {
		n.t.Fatal(err)
	}
	var kinds []string
	for _, kv := range resp.Kvs {
		var ev state.Event
		if json.Unmarshal(kv.Value, &ev) == nil && ev.RequestID == requestID {
			kinds = append(kinds, ev.Kind)
		}
	}
	return kinds
}

func memoryLimit(t *testing.T, pid int) int64 {
	t.Helper()
	host, err := cgroupx.NewHost(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	cg, err := host.OpenPID(t.Context(), pid)
	if err != nil {
		t.Fatal(err)
	}
	l, err := cg.Limits(t.Context())
	if err != nil || l.Memory == nil {
		t.Fatalf("limits of %d: %v", pid, err)
	}
	return *l.Memory
}

func alive(pid int) bool { return syscall.Kill(pid, 0) == nil }

func running(st state.Status) bool { return st.Phase == state.Running && st.PID > 0 }

func TestAgent(t *testing.T) {
	n := newNode(t)
	col, err := metrics.New(t.Context(), metrics.Config{DiskInterval: -1})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = col.Close() })
	n.cfg.Metrics = col
	n.cfg.Logger = slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	n.startAgent()
	web := state.Instance{
		ID: "web-1", App: "web", Generation: 1, RequestID: "req-create", Image: n.image, Kind: state.Thin,
		Command:   []string{"/bin/sh", "-c", "echo hello; echo started > /export/marker; exec sleep 1000"},
		Resources: state.Resources{MemoryBytes: 64 << 20, PIDs: 32},
		Volume:    &state.Volume{SizeBytes: 16 << 20, Mount: "/export"},
	}

	t.Run("registers the node under a lease", func(t *testing.T) {
		var resp *clientv3.GetResponse
		deadline := time.Now().Add(10 * time.Second)
		for {
			var err error
			resp, err = n.cli.Get(t.Context(), state.NodeKey("n1"))
			if err == nil && len(resp.Kvs) == 1 {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("node key: %v %+v", err, resp)
			}
			time.Sleep(20 * time.Millisecond)
		}
		if resp.Kvs[0].Lease == 0 {
			t.Error("the node key has no lease")
		}
		var node state.Node
		if err := json.Unmarshal(resp.Kvs[0].Value, &node); err != nil || node.Name != "n1" || node.Rack != "r1" {
			t.Fatalf("node %+v, %v", node, err)
		}
		// Whether the containers run under the seccomp profile is said,
		// also when they do not (built without the tag).
		if got := node.Labels[agent.SysinfoLabel]; got != "off" {
			t.Errorf("label %s = %q, want off (Config.Sysinfo unset)", agent.SysinfoLabel, got)
		}
		want := map[bool]string{true: "default", false: "unavailable"}[container.SeccompAvailable()]
		if got := node.Labels[agent.SeccompLabel]; got != want {
			t.Errorf("node label %s = %q, want %q", agent.SeccompLabel, got, want)
		}
	})

	var pid int
	t.Run("runs a desired instance with its limits", func(t *testing.T) {
		n.put(web)
		st := n.waitStatus("web-1", "running", running)
		pid = st.PID
		if st.RequestID != "req-create" || st.Generation != 1 || st.App != "web" {
			t.Errorf("status %+v does not carry the request", st)
		}
		if got := memoryLimit(t, pid); got != 64<<20 {
			t.Errorf("memory limit %d, want 64 MiB", got)
		}
		marker := filepath.Join(n.cfg.VolumeDir, "web-1", "data", "marker")
		waitFile(t, marker, "started\n")
		// The volume is a file system of the size asked for.
		var fs unix.Statfs_t
		if err := unix.Statfs(filepath.Dir(marker), &fs); err != nil {
			t.Fatal(err)
		}
		if size := int64(fs.Blocks) * fs.Bsize; size > 16<<20 || size < 12<<20 { //nolint:gosec // sizes of a small file system
			t.Errorf("data volume of %d bytes, want about 16 MiB", size)
		}
		if ev := n.events("req-create"); !contains(ev, "Started") {
			t.Errorf("events of req-create = %v, want Started", ev)
		}
	})

	t.Run("serves metrics, blobs and logs behind the token", func(t *testing.T) {
		base := serve(t, n.agent)
		get := func(path, token string) (int, string) {
			t.Helper()
			req, _ := http.NewRequestWithContext(t.Context(), http.MethodGet, base+path, nil)
			if token != "" {
				req.Header.Set("Authorization", "Bearer "+token)
			}
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			b, _ := io.ReadAll(resp.Body)
			return resp.StatusCode, string(b)
		}
		if code, body := get("/healthz", ""); code != 200 || body != "ok\n" {
			t.Errorf("healthz: %d %q", code, body)
		}
		if _, err := n.cli.Put(t.Context(), state.TokenKey, "s3cret"); err != nil {
			t.Fatal(err)
		}
		for _, tok := range []string{"", "wrong"} {
			if code, _ := get("/v1/logs/web-1", tok); code != http.StatusUnauthorized {
				t.Errorf("logs with token %q: %d, want 401", tok, code)
			}
		}
		if code, body := get("/v1/logs/web-1?tail=1", "s3cret"); code != 200 || body != "hello\n" {
			t.Errorf("logs: %d %q, want the container's output", code, body)
		}
		for path, want := range map[string]int{"/v1/logs/Bad_Id": 400, "/v1/logs/web-1?tail=-1": 400, "/v1/logs/none-such": 404} {
			if code, _ := get(path, "s3cret"); code != want {
				t.Errorf("%s: %d, want %d", path, code, want)
			}
		}
		// A scrape serves the collector's last sample: the container is
		// there from the first sample after it started.
		wantID := `id="` + n.cfg.Runtime.CgroupPath("web-1") + `"`
		code, body := get("/metrics", "")
		for deadline := time.Now().Add(30 * time.Second); !strings.Contains(body, wantID) && time.Now().Before(deadline); {
			time.Sleep(200 * time.Millisecond)
			code, body = get("/metrics", "")
		}
		if code != 200 || !strings.Contains(body, "container_memory_working_set_bytes{") || !strings.Contains(body, wantID) {
			t.Errorf("metrics: %d, web-1 (%s) not in the exposition:\n%s", code, wantID, grepLines(body, "container_"))
		}
		// A peer fetches a blob of the image the node holds.
		img, err := n.cfg.Store.Image(t.Context(), n.image)
		if err != nil {
			t.Fatal(err)
		}
		layers, _ := img.Layers()
		dg, _ := layers[0].Digest()
		if code, body := get("/blobs/sha256/"+dg.Hex, ""); code != 200 || len(body) == 0 {
			t.Errorf("blob %s: %d, %d bytes", dg, code, len(body))
		}
	})

	t.Run("releases a rootfs it does not know", func(t *testing.T) {
		// What an instance deleted while the agent was down leaves.
		if _, err := n.cfg.Store.Prepare(t.Context(), n.image, "orphan-1"); err != nil {
			t.Fatal(err)
		}
		deadline := time.Now().Add(10 * time.Second)
		for {
			ids, err := n.cfg.Store.Containers(t.Context())
			if err == nil && !slices.Contains(ids, "orphan-1") {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("orphan-1 still prepared: %q %v", ids, err)
			}
			time.Sleep(20 * time.Millisecond)
		}
		if ids, _ := n.cfg.Store.Containers(t.Context()); !slices.Contains(ids, "web-1") {
			t.Errorf("web-1's rootfs went too: %q", ids)
		}
	})

	t.Run("resizes in place", func(t *testing.T) {
		resized := web
		resized.Generation, resized.RequestID = 2, "req-resize"
		resized.Resources.MemoryBytes = 128 << 20
		n.put(resized)
		st := n.waitStatus("web-1", "generation 2", func(s state.Status) bool { return s.Generation == 2 })
		if st.PID != pid || st.RequestID != "req-resize" {
			t.Errorf("resize restarted the container or lost the request: %+v (pid was %d)", st, pid)
		}
		if got := memoryLimit(t, pid); got != 128<<20 {
			t.Errorf("memory limit after resize %d, want 128 MiB", got)
		}
		web = resized
	})

	t.Run("runs as the user the spec asks, without privileges", func(t *testing.T) {
		n.put(state.Instance{
			ID: "user-1", App: "user", Generation: 1, RequestID: "req-user", Image: n.image, Kind: state.Thin,
			User: "65534:65534", Command: []string{"/bin/sh", "-c", "id -u; id -g; grep -E '^(NoNewPrivs|CapEff)' /proc/self/status; exec sleep 1000"},
		})
		n.waitStatus("user-1", "running", running)
		want := "65534\n65534\nCapEff:\t0000000000000000\nNoNewPrivs:\t1\n" // /proc/self/status order
		deadline := time.Now().Add(10 * time.Second)
		for b, _ := os.ReadFile(n.cfg.Runtime.LogPath("user-1")); string(b) != want; b, _ = os.ReadFile(n.cfg.Runtime.LogPath("user-1")) {
			if time.Now().After(deadline) {
				t.Fatalf("user-1 printed %q, want %q", b, want)
			}
			time.Sleep(20 * time.Millisecond)
		}
		if _, err := n.cli.Delete(t.Context(), state.DesiredKey("n1", "user-1")); err != nil {
			t.Fatal(err)
		}
		waitGone(t, n, "user-1")
	})

	t.Run("keeps a chatty container's log bounded", func(t *testing.T) {
		n.put(state.Instance{
			ID: "chatty-1", App: "chatty", Generation: 1, RequestID: "req-chatty", Image: n.image, Kind: state.Thin,
			Command: []string{"/bin/sh", "-c", "i=0; while [ $i -lt 4000 ]; do echo line-$i; i=$((i+1)); done; exec sleep 1000"},
		})
		n.waitStatus("chatty-1", "running", running)
		log := n.cfg.Runtime.LogPath("chatty-1")
		deadline := time.Now().Add(10 * time.Second)
		for {
			fi, err := os.Stat(log)
			_, rotErr := os.Stat(log + ".1")
			if err == nil && rotErr == nil && fi.Size() < 16<<10 {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("log %s not rotated below 16 KiB: %v %v", log, fi, rotErr)
			}
			time.Sleep(50 * time.Millisecond)
		}
		if _, err := n.cli.Delete(t.Context(), state.DesiredKey("n1", "chatty-1")); err != nil {
			t.Fatal(err)
		}
		waitGone(t, n, "chatty-1")
	})

	t.Run("a malformed value is reported and skipped", func(t *testing.T) {
		if _, err := n.cli.Put(t.Context(), state.DesiredKey("n1", "bad-1"), `{"id": "bad-1", "generation": "x"}`); err != nil {
			t.Fatal(err)
		}
		st := n.waitStatus("bad-1", "failed", func(s state.Status) bool { return s.Phase == state.Failed })
		if st.Reason != "InvalidSpec" || !strings.Contains(st.Message, "state: malformed") {
			t.Errorf("status of a malformed value: %+v", st)
		}
		if !alive(pid) {
			t.Error("web-1 stopped because of another key's bad value")
		}
		if _, err := n.cli.Delete(t.Context(), state.DesiredKey("n1", "bad-1")); err != nil {
			t.Fatal(err)
		}
	})

	t.Run("an unknown image fails naming the field and leaves nothing", func(t *testing.T) {
		n.put(state.Instance{ID: "nope-1", App: "nope", Generation: 1, RequestID: "req-nope", Image: n.image[:strings.LastIndex(n.image, "/")] + "/nope:1", Kind: state.Thin})
		st := n.waitStatus("nope-1", "failed", func(s state.Status) bool { return s.Phase == state.Failed })
		if st.Field != "image" || st.Reason != "ImageNotFound" {
			t.Errorf("status %+v, want ImageNotFound on field image", st)
		}
		if _, err := n.cfg.Runtime.Get("nope-1"); !errors.Is(err, container.ErrNotFound) {
			t.Errorf("a container was left: %v", err)
		}
		if _, err := n.cli.Delete(t.Context(), state.DesiredKey("n1", "nope-1")); err != nil {
			t.Fatal(err)
		}
	})

	t.Run("a crash loop is restarted with backoff and reported", func(t *testing.T) {
		n.put(state.Instance{ID: "crash-1", App: "crash", Generation: 1, RequestID: "req-crash", Image: n.image, Kind: state.Thin, Command: []string{"/bin/sh", "-c", "exit 7"}})
		st := n.waitStatus("crash-1", "restarted twice", func(s state.Status) bool { return s.Restarts >= 2 })
		if st.Reason != "Exited" || !strings.Contains(st.Message, "exit code 7") {
			t.Errorf("crash status %+v", st)
		}
		if ev := n.events("req-crash"); !contains(ev, "Restarted") {
			t.Errorf("events of req-crash = %v, want Restarted", ev)
		}
		if _, err := n.cli.Delete(t.Context(), state.DesiredKey("n1", "crash-1")); err != nil {
			t.Fatal(err)
		}
	})

	t.Run("a restarted agent adopts without restarting", func(t *testing.T) {
		n.stop()
		if !alive(pid) {
			t.Fatal("stopping the agent stopped the container")
		}
		n.startAgent()
		time.Sleep(time.Second) // several resync periods
		st := n.waitStatus("web-1", "running", running)
		if st.PID != pid || st.Restarts != 0 {
			t.Errorf("after the agent's restart: %+v, want pid %d and no restart", st, pid)
		}
	})

	t.Run("a container killed behind the agent's back comes back", func(t *testing.T) {
		if err := syscall.Kill(pid, syscall.SIGKILL); err != nil {
			t.Fatal(err)
		}
		st := n.waitStatus("web-1", "running again", func(s state.Status) bool { return running(s) && s.PID != pid })
		if st.Restarts != 1 {
			t.Errorf("restarts %d, want 1", st.Restarts)
		}
		pid = st.PID
	})

	t.Run("etcd stopped and started removes nothing", func(t *testing.T) {
		addr := strings.TrimPrefix(n.etcd.Endpoints()[0], "http://")
		n.etcd.Close()
		time.Sleep(1500 * time.Millisecond)
		if !alive(pid) {
			t.Fatal("the container stopped while etcd was down")
		}
		n.startEtcd(addr)
		time.Sleep(time.Second)
		st := n.waitStatus("web-1", "running", running)
		if st.PID != pid {
			t.Errorf("after etcd's restart: pid %d, want %d", st.PID, pid)
		}
	})

	t.Run("deleting the desired instance removes it and keeps its volume", func(t *testing.T) {
		if _, err := n.cli.Delete(t.Context(), state.DesiredKey("n1", "web-1")); err != nil {
			t.Fatal(err)
		}
		deadline := time.Now().Add(20 * time.Second)
		for {
			_, found := n.status("web-1")
			if !found && !alive(pid) {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("web-1 not removed: status found %v, pid alive %v", found, alive(pid))
			}
			time.Sleep(50 * time.Millisecond)
		}
		if _, err := n.cfg.Runtime.Get("web-1"); !errors.Is(err, container.ErrNotFound) {
			t.Errorf("runtime still has web-1: %v", err)
		}
		if _, err := os.Stat(filepath.Join(n.cfg.VolumeDir, "web-1", "disk.img")); err != nil {
			t.Errorf("the data volume went with the instance: %v", err)
		}
		// The same instance made again finds its data.
		again := web
		again.Generation, again.RequestID = 3, "req-again"
		again.Command = []string{"/bin/sh", "-c", "cat /export/marker; exec sleep 1000"}
		n.put(again)
		n.waitStatus("web-1", "running", running)
		deadline = time.Now().Add(10 * time.Second)
		for b, _ := os.ReadFile(n.cfg.Runtime.LogPath("web-1")); !strings.HasSuffix(string(b), "hello\nstarted\n"); b, _ = os.ReadFile(n.cfg.Runtime.LogPath("web-1")) {
			if time.Now().After(deadline) {
				t.Fatalf("the volume's data did not come back: log %q", b)
			}
			time.Sleep(20 * time.Millisecond)
		}
		if _, err := n.cli.Delete(t.Context(), state.DesiredKey("n1", "web-1")); err != nil {
			t.Fatal(err)
		}
		waitGone(t, n, "web-1")
	})
}

// serve runs a's handler on 127.0.0.1 (a port below 32768) until the test
// ends and returns its base URL.
func serve(t *testing.T, a *agent.Agent) string {
	t.Helper()
	h, err := a.Handler()
	if err != nil {
		t.Fatal(err)
	}
	addr := fmt.Sprintf("127.0.0.1:%d", testenv.FreePort(t))
	var lc net.ListenConfig
	l, err := lc.Listen(t.Context(), "tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: h, ReadHeaderTimeout: 5 * time.Second}
	go func() { _ = srv.Serve(l) }()
	t.Cleanup(func() { _ = srv.Close() })
	return "http://" + addr
}

func waitFile(t *testing.T, path, want string) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		b, _ := os.ReadFile(path)
		if string(b) == want {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s = %q, want %q", path, b, want)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

func TestAgentFatInstances(t *testing.T) {
	n := newNode(t)
	testenv.Require(t, testenv.OVS)
	sw := testenv.StartOVS(t)
	sw.AddBridge(t, "br0")
	vs, err := netvlan.Open(t.Context(), netvlan.Config{Endpoint: sw.Endpoint, Bridge: "br0", HostNetns: sw.Host.Path, Owner: "agent-test"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = vs.Close() })
	n.cfg.Network = agent.SwitchNetwork{Switch: vs}
	n.startAgent()

	fat := func(id string, vlan int, ip, script string) state.Instance {
		return state.Instance{
			ID: id, App: "fat", Generation: 1, RequestID: "req-" + id, Image: n.image, Kind: state.Fat,
			Network: &state.Network{VLAN: vlan, IP: netip.MustParsePrefix(ip)},
			Command: []string{"/bin/sh", "-c", script}, Volume: &state.Volume{SizeBytes: 16 << 20, Mount: "/export"},
		}
	}
	n.put(fat("a-1", 10, "10.88.0.5/24", "cat /etc/hosts > /export/hosts; hostname > /export/hostname; exec sleep 1000"))
	st := n.waitStatus("a-1", "running", running)
	if st.IP != "10.88.0.5" {
		t.Errorf("status IP %q", st.IP)
	}
	waitFile(t, filepath.Join(n.cfg.VolumeDir, "a-1", "data", "hostname"), "c-10-88-0-5\n")
	hosts, _ := os.ReadFile(filepath.Join(n.cfg.VolumeDir, "a-1", "data", "hosts"))
	if !strings.Contains(string(hosts), "10.88.0.5\tc-10-88-0-5") {
		t.Errorf("/etc/hosts in the container:\n%s", hosts)
	}
	if got := sw.Vsctl(t, "--format=csv", "--no-headings", "--columns=tag", "find", "Port", "external_ids:container_id=a-1"); got != "10" {
		t.Errorf("port tag %q, want 10", got)
	}

	// A port retagged behind the agent's back is put back on its VLAN.
	port := sw.Vsctl(t, "--format=csv", "--no-headings", "--columns=name", "find", "Port", "external_ids:container_id=a-1")
	sw.Vsctl(t, "set", "Port", port, "tag=30")
	deadline := time.Now().Add(20 * time.Second)
	for sw.Vsctl(t, "get", "Port", port, "tag") != "10" {
		if time.Now().After(deadline) {
			t.Fatal("the retagged port was not put back on VLAN 10")
		}
		time.Sleep(50 * time.Millisecond)
	}

	// Same VLAN reaches a-1; another VLAN does not.
	n.put(fat("b-1", 10, "10.88.0.6/24", "for i in $(seq 50); do ping -c1 -W1 10.88.0.5 >/dev/null && { echo reached > /export/out; exec sleep 1000; }; sleep 0.1; done; echo unreachable > /export/out; exec sleep 1000"))
	n.put(fat("c-1", 20, "10.88.0.7/24", "ping -c3 -W1 10.88.0.5 >/dev/null && echo reached > /export/out || echo unreachable > /export/out; exec sleep 1000"))
	waitFile(t, filepath.Join(n.cfg.VolumeDir, "b-1", "data", "out"), "reached\n")
	waitFile(t, filepath.Join(n.cfg.VolumeDir, "c-1", "data", "out"), "unreachable\n")

	// Deleting a fat instance removes its port and namespace.
	if _, err := n.cli.Delete(t.Context(), state.DesiredKey("n1", "c-1")); err != nil {
		t.Fatal(err)
	}
	deadline = time.Now().Add(20 * time.Second)
	for {
		ports := sw.Vsctl(t, "--format=csv", "--no-headings", "--columns=name", "find", "Port", "external_ids:container_id=c-1")
		_, nsErr := os.Stat("/run/netns/shoal-c-1")
		if ports == "" && errors.Is(nsErr, os.ErrNotExist) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("c-1 left port %q, netns %v", ports, nsErr)
		}
		time.Sleep(50 * time.Millisecond)
	}
	for _, id := range []string{"a-1", "b-1"} {
		if _, err := n.cli.Delete(t.Context(), state.DesiredKey("n1", id)); err != nil {
			t.Fatal(err)
		}
	}
	waitGone(t, n, "a-1")
	waitGone(t, n, "b-1")
}

// waitGone waits until id has no status, container or namespace left.
func waitGone(t *testing.T, n *node, id string) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for {
		_, found := n.status(id)
		_, rtErr := n.cfg.Runtime.Get(id)
		_, nsErr := os.Stat("/run/netns/shoal-" + id)
		if !found && errors.Is(rtErr, container.ErrNotFound) && errors.Is(nsErr, os.ErrNotExist) {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s not gone: status %v, runtime %v, netns %v", id, found, rtErr, nsErr)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// grepLines returns body's lines containing s, at most 20.
func grepLines(body, s string) string {
	var out []string
	for line := range strings.Lines(body) {
		if strings.Contains(line, s) && len(out) < 20 {
			out = append(out, line)
		}
	}
	return strings.Join(out, "")
}
