package main

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
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

// world is what a test of the agent binary runs against: the binary built
// from this package, embedded etcd, a registry holding a busybox image, and
// the agent's directories, cleaned up when the test ends.
type world struct {
	tb  testing.TB
	bin string
	cli *clientv3.Client
	// etcd is the endpoint the agent is given.
	etcd string
	// ref is the busybox image in the registry.
	ref string

	stateDir, runDir, logDir, parent, listen string
}

func newWorld(tb testing.TB) *world {
	tb.Helper()
	testenv.Require(tb, testenv.Root, testenv.Runc, testenv.Cgroups, testenv.OCIRegistry)
	ctx := tb.Context()
	w := &world{tb: tb, bin: filepath.Join(tb.TempDir(), "agent")}
	build := []string{"build", "-o", w.bin}
	if container.SeccompAvailable() {
		build = append(build, "-tags=seccomp") // as this test binary was built
	}
	if out, err := exec.CommandContext(ctx, "go", append(build, ".")...).CombinedOutput(); err != nil {
		tb.Fatalf("go build: %v\n%s", err, out)
	}
	etcd, err := embedetcd.Start(ctx, embedetcd.Config{Dir: tb.TempDir()})
	if err != nil {
		tb.Fatal(err)
	}
	w.etcd = etcd.Endpoints()[0]
	if w.cli, err = clientv3.New(clientv3.Config{Endpoints: etcd.Endpoints(), DialTimeout: 5 * time.Second, Logger: zap.NewNop()}); err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { w.cli.Close(); etcd.Close() })

	reg := testenv.StartRegistry(tb)
	src := tb.TempDir()
	testenv.BusyboxRootfs(tb, src)
	img, _, err := imagefs.Build(ctx, src, imagefs.Recipe{Role: imagefs.RoleBase})
	if err != nil {
		tb.Fatal(err)
	}
	w.ref = reg.Addr + "/busybox:1"
	remote := imagefs.DefaultRemoteConfig()
	remote.Insecure = true
	if _, err := imagefs.Push(ctx, img, w.ref, remote); err != nil {
		tb.Fatal(err)
	}
	w.stateDir, w.runDir, w.logDir = tb.TempDir(), tb.TempDir(), tb.TempDir()
	w.parent = fmt.Sprintf("shoal-agent-bin-%d", time.Now().UnixNano())
	tb.Cleanup(func() { removeAll(tb, w.runDir, w.logDir, w.parent, w.stateDir) })
	w.listen = fmt.Sprintf("127.0.0.1:%d", testenv.FreePort(tb))
	return w
}

// start runs the agent binary; extra flags come after the defaults (fast
// resync and stop) and override them.
func (w *world) start(extra ...string) *testenv.Process {
	w.tb.Helper()
	args := append([]string{
		"-name", "n1", "-etcd-endpoints", w.etcd,
		"-state", w.stateDir, "-run", w.runDir, "-logs", w.logDir, "-cgroup-parent", w.parent, "-insecure-registry",
		"-listen", w.listen, "-resync", "200ms", "-lease-ttl", "2s", "-stop-grace", "100ms",
	}, extra...)
	return testenv.StartProcess(w.tb, w.bin, args...)
}

// sleeper is a thin busybox instance that sleeps.
func (w *world) sleeper(id, requestID string) state.Instance {
	return state.Instance{
		ID: id, App: "sleeper", Node: "n1", Generation: 1, RequestID: requestID,
		Image: w.ref, Kind: state.Thin, Command: []string{"/bin/sleep", "100000"},
		Resources: state.Resources{MemoryBytes: 32 << 20},
	}
}

func (w *world) put(in state.Instance) {
	w.tb.Helper()
	val, _ := json.Marshal(in)
	if _, err := w.cli.Put(w.tb.Context(), state.DesiredKey("n1", in.ID), string(val)); err != nil {
		w.tb.Fatal(err)
	}
}

// deleteAll deletes the node's desired state and waits until the agent has
// removed every instance.
func (w *world) deleteAll(agent *testenv.Process) {
	w.tb.Helper()
	ctx := w.tb.Context()
	if _, err := w.cli.Delete(ctx, state.DesiredPrefix("n1"), clientv3.WithPrefix()); err != nil {
		w.tb.Fatal(err)
	}
	deadline := time.Now().Add(60 * time.Second)
	for {
		resp, err := w.cli.Get(ctx, state.StatusPrefix("n1"), clientv3.WithPrefix(), clientv3.WithCountOnly())
		if err == nil && resp.Count == 0 {
			return
		}
		select {
		case <-agent.Done():
			w.tb.Fatalf("the agent exited: %v\n%s", agent.Err(), agent.Output())
		default:
		}
		if time.Now().After(deadline) {
			w.tb.Fatalf("statuses left after deleting the desired state: %v", resp)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// removeAll deletes whatever a failed test left: containers, rootfs
// mounts, cgroups.
func removeAll(tb testing.TB, runDir, logDir, parent, stateDir string) {
	ctx := context.Background()
	rt, err := container.New(container.Config{Root: runDir, LogDir: logDir, CgroupParent: parent})
	if err == nil {
		ins, _ := rt.List()
		for _, in := range ins {
			_ = rt.Delete(ctx, in.ID, 0)
		}
	}
	if store, err := imagefs.OpenStore(ctx, imagefs.DefaultStoreConfig(filepath.Join(stateDir, "images"))); err == nil {
		ids, _ := store.Containers(ctx)
		for _, id := range ids {
			_ = store.Release(ctx, id)
		}
	}
	dirs, _ := filepath.Glob("/sys/fs/cgroup/*/" + parent)
	for _, d := range dirs {
		if err := os.Remove(d); err != nil {
			tb.Logf("cgroup %s: %v", d, err)
		}
	}
}
