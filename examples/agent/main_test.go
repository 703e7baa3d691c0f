package main

import (
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"strings"
	"syscall"
	"testing"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/shoalkit/shoal/examples/internal/state"
	"github.com/shoalkit/shoal/internal/testenv"
)

// TestSIGKILLStopsNoContainer runs the agent binary itself (so the
// containers' init is the real re-exec of main), starts ten instances,
// SIGKILLs the agent, and checks that a new agent adopts all ten without
// restarting one.
func TestSIGKILLStopsNoContainer(t *testing.T) {
	w := newWorld(t)
	agent := w.start()
	const n = 10
	for i := range n {
		w.put(w.sleeper(fmt.Sprintf("sleeper-%d", i), "req-kill"))
	}
	before := waitRunning(t, w.cli, n, nil, agent)

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

	agent = w.start()
	waitHealthy(t, "http://"+w.listen+"/healthz")
	time.Sleep(time.Second) // five resync periods: time enough to restart anything it would
	after := waitRunning(t, w.cli, n, before, agent)
	for id, pid := range before {
		if after[id] != pid {
			t.Errorf("%s: pid %d after the agent's restart, was %d", id, after[id], pid)
		}
	}

	// Deleting the desired state removes everything the agent made.
	w.deleteAll(agent)
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
