package agent_test

import (
	"encoding/json"
	"fmt"
	"testing"

	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/shoalkit/shoal/examples/internal/state"
)

// TestParallelCreateAndRemove writes twelve instances in one transaction
// to an agent creating four at a time, then deletes them in one: all run,
// then all are gone — the pass's goroutines each own one instance (run
// with -race, this is the check that they share nothing else).
func TestParallelCreateAndRemove(t *testing.T) {
	n := newNode(t)
	n.cfg.Parallel = 4
	n.startAgent()
	const count = 12
	var puts, dels []clientv3.Op
	for i := range count {
		in := state.Instance{
			ID: fmt.Sprintf("par-%d", i), App: "par", Node: "n1", Generation: 1, RequestID: "req-par", Image: n.image, Kind: state.Thin,
			Command: []string{"/bin/sleep", "1000"}, Resources: state.Resources{MemoryBytes: 64 << 20},
		}
		n.ids = append(n.ids, in.ID)
		val, _ := json.Marshal(in)
		puts = append(puts, clientv3.OpPut(state.DesiredKey("n1", in.ID), string(val)))
		dels = append(dels, clientv3.OpDelete(state.DesiredKey("n1", in.ID)))
	}
	if _, err := n.cli.Txn(t.Context()).Then(puts...).Commit(); err != nil {
		t.Fatal(err)
	}
	pids := map[int]string{}
	for i := range count {
		id := fmt.Sprintf("par-%d", i)
		st := n.waitStatus(id, "running", running)
		if other, dup := pids[st.PID]; dup {
			t.Errorf("%s and %s report the same pid %d", id, other, st.PID)
		}
		pids[st.PID] = id
	}
	if _, err := n.cli.Txn(t.Context()).Then(dels...).Commit(); err != nil {
		t.Fatal(err)
	}
	for i := range count {
		waitGone(t, n, fmt.Sprintf("par-%d", i))
	}
	for pid, id := range pids {
		if alive(pid) {
			t.Errorf("%s (pid %d) still runs after its removal", id, pid)
		}
	}
}
