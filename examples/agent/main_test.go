package main

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
	"go.uber.org/zap"

	"github.com/shoalkit/shoal/examples/internal/container"
	"github.com/shoalkit/shoal/examples/internal/embedetcd"
	"github.com/shoalkit/shoal/examples/internal/state"
	"github.com/shoalkit/shoal/imagefs"
	"github.com/shoalkit/shoal/internal/testenv"
)

// TestSIGKILLStopsNoContainer runs the agent binary itself (so the
// containers' init is the real re-exec of main), starts ten instances,
// SIGKILLs the agent, and checks that a new agent adopts all ten without
// restarting one.
func TestSIGKILLStopsNoContainer(t *testing.T) {
	testenv.Require(t, testenv.Root, testenv.Runc, testenv.Cgroups, testenv.OCIRegistry)
	ctx := t.Context()
	bin := filepath.Join(t.TempDir(), "agent")
	if out, err := exec.CommandContext(ctx, "go", "build", "-o", bin, ".").CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	etcd, err := embedetcd.Start(ctx, embedetcd.Config{Dir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	cli, err := clientv3.New(clientv3.Config{Endpoints: etcd.Endpoints(), DialTimeout: 5 * time.Second, Logger: zap.NewNop()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cli.Close(); etcd.Close() })

	reg := testenv.StartRegistry(t)
	src := t.TempDir()
	testenv.BusyboxRootfs(t, src)
	img, _, err := imagefs.Build(ctx, src, imagefs.Recipe{Role: imagefs.RoleBase})
	if err != nil {
		t.Fatal(err)
	}
	ref := reg.Addr + "/busybox:1"
	remote := imagefs.DefaultRemoteConfig()
	remote.Insecure = true
	if _, err := imagefs.Push(ctx, img, ref, remote); err != nil {
		t.Fatal(err)
	}

	stateDir, runDir, logDir := t.TempDir(), t.TempDir(), t.TempDir()
	parent := fmt.Sprintf("shoal-agent-bin-%d", time.Now().UnixNano())
	t.Cleanup(func() { removeAll(t, runDir, logDir, parent, stateDir) })
	listen := fmt.Sprintf("127.0.0.1:%d", testenv.FreePort(t))
	start := func() *testenv.Process {
		return testenv.StartProcess(t, bin, "-name", "n1", "-etcd-endpoints", etcd.Endpoints()[0],
			"-state", stateDir, "-run", runDir, "-logs", logDir, "-cgroup-parent", parent, "-insecure-registry",
			"-listen", listen, "-resync", "200ms", "-lease-ttl", "2s", "-stop-grace", "100ms")
	}
	agent := start()

	const n = 10
	for i := range n {
		in := state.Instance{
			ID: fmt.Sprintf("sleeper-%d", i), App: "sleeper", Node: "n1", Generation: 1, RequestID: "req-kill",
			Image: ref, Kind: state.Thin, Command: []string{"/bin/sleep", "1000"},
			Resources: state.Resources{MemoryBytes: 32 << 20},
		}
		val, _ := json.Marshal(in)
		if _, err := cli.Put(ctx, state.DesiredKey("n1", in.ID), string(val)); err != nil {
			t.Fatal(err)
		}
	}
	before := waitRunning(t, cli, n, nil, agent)

	// SIGKILL the agent alone (its containers lead sessions of their own).
	if err := syscall.Kill(agent.Pid, syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	<-agent.Done()
	for id, pid := range before {
		if !alive(pid) {
			t.Errorf("%s (pid %d) died with the agent", id, pid)
		}
	}

	agent = start()
	waitHealthy(t, "http://"+listen+"/healthz")
	time.Sleep(time.Second) // five resync periods: time enough to restart anything it would
	after := waitRunning(t, cli, n, before, agent)
	for id, pid := range before {
		if after[id] != pid {
			t.Errorf("%s: pid %d after the agent's restart, was %d", id, after[id], pid)
		}
	}

	// Deleting the desired state removes everything the agent made.
	if _, err := cli.Delete(ctx, state.DesiredPrefix("n1"), clientv3.WithPrefix()); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(30 * time.Second)
	for {
		resp, err := cli.Get(ctx, state.StatusPrefix("n1"), clientv3.WithPrefix(), clientv3.WithCountOnly())
		if err == nil && resp.Count == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("statuses left after deleting the desired state: %v", resp)
		}
		time.Sleep(100 * time.Millisecond)
	}
	for id, pid := range before {
		if alive(pid) {
			t.Errorf("%s (pid %d) still runs after its removal", id, pid)
		}
	}
	agent.Stop(t)
}

// alive reports whether pid runs: it exists and is not a zombie (an orphan
// waits for whoever reaps it on this host).
func alive(pid int) bool {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return false
	}
	_, rest, _ := strings.Cut(string(b), ") ")
	return rest != "" && rest[0] != 'Z'
}

// waitRunning waits until n instances report Running and returns their
// pids; with want, until their restart counts are 0 and pids are known.
func waitRunning(t *testing.T, cli *clientv3.Client, n int, want map[string]int, agent *testenv.Process) map[string]int {
	t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	for {
		resp, err := cli.Get(t.Context(), state.StatusPrefix("n1"), clientv3.WithPrefix())
		pids := map[string]int{}
		restarts := 0
		if err == nil {
			for _, kv := range resp.Kvs {
				var st state.Status
				if json.Unmarshal(kv.Value, &st) == nil && st.Phase == state.Running && st.PID > 0 {
					pids[st.ID] = st.PID
					restarts += st.Restarts
				}
			}
		}
		if len(pids) == n && (want == nil || restarts == 0) {
			return pids
		}
		select {
		case <-agent.Done():
			t.Fatalf("the agent exited: %v\n%s", agent.Err(), agent.Output())
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d of %d running (restarts %d)", len(pids), n, restarts)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

func waitHealthy(t *testing.T, url string) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		req, _ := http.NewRequestWithContext(t.Context(), http.MethodGet, url, nil)
		resp, err := http.DefaultClient.Do(req)
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s not healthy: %v", url, err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// removeAll deletes whatever a failed test left: containers, rootfs
// mounts, cgroups.
func removeAll(t *testing.T, runDir, logDir, parent, stateDir string) {
	rt, err := container.New(container.Config{Root: runDir, LogDir: logDir, CgroupParent: parent})
	if err == nil {
		ins, _ := rt.List()
		for _, in := range ins {
			_ = rt.Delete(context.Background(), in.ID, 0)
		}
	}
	if store, err := imagefs.OpenStore(context.Background(), imagefs.DefaultStoreConfig(filepath.Join(stateDir, "images"))); err == nil {
		for i := range 10 {
			_ = store.Release(context.Background(), fmt.Sprintf("sleeper-%d", i))
		}
	}
	dirs, _ := filepath.Glob("/sys/fs/cgroup/*/" + parent)
	for _, d := range dirs {
		if err := os.Remove(d); err != nil {
			t.Logf("cgroup %s: %v", d, err)
		}
	}
}
