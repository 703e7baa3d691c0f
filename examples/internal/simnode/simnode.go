// Package simnode simulates node agents: it speaks the platform's etcd
// contract (state's doc) for many nodes at once, reporting every desired
// instance Running at once, with no containers behind it. The controller's
// tests and benchmarks use it, and the pilot runs it when it cannot run
// real containers (not root), labelled "simulated" wherever it shows.
//
//	fleet, err := simnode.Start(ctx, simnode.Config{Etcd: cli, Nodes: simnode.Racks(3, 1, state.Capacity{CPUs: 8, MemoryBytes: 16 << 30})})
//	defer fleet.Close()
//	fleet.Kill("n2") // its lease is revoked: the node is lost
package simnode

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/shoalkit/shoal/examples/internal/state"
)

// Config says which nodes to simulate.
type Config struct {
	// Etcd is the platform's store; required.
	Etcd *clientv3.Client
	// Nodes are registered as agents would; their Version is set to
	// "simulated".
	Nodes []state.Node
	// LeaseTTL is the nodes' lease; zero means 10 s.
	LeaseTTL time.Duration
	// Fail, when set, decides an instance's fate: a non-empty phase
	// (state.Failed, state.CrashLoop) is reported instead of Running.
	Fail func(in *state.Instance) (state.Phase, string)
	// Now is the clock; nil means time.Now.
	Now func() time.Time
}

// Racks returns racks×perRack nodes "n1", "n2", … in racks "r1", … each
// rack its own switch "s1", …, all in zone "z1", with the given capacity.
func Racks(racks, perRack int, capacity state.Capacity) []state.Node {
	var out []state.Node
	for r := 1; r <= racks; r++ {
		for i := 1; i <= perRack; i++ {
			out = append(out, state.Node{
				Name: fmt.Sprintf("n%d", len(out)+1), Zone: "z1", Room: "room1",
				Rack: fmt.Sprintf("r%d", r), Switch: fmt.Sprintf("s%d", r), Capacity: capacity,
				Addr: "127.0.0.1:1",
			})
		}
	}
	return out
}

// Fleet is a running set of simulated nodes.
type Fleet struct {
	cfg    Config
	ctx    context.Context //nolint:containedctx // the fleet's lifetime, ended by Close
	cancel context.CancelFunc
	done   chan struct{}

	mu     sync.Mutex
	leases map[string]clientv3.LeaseID
	dead   map[string]bool
	err    error
}

// Start registers the nodes (each under its own lease) and follows their
// desired instances until Close.
func Start(ctx context.Context, cfg Config) (*Fleet, error) {
	if cfg.Etcd == nil {
		return nil, errors.New("simnode: Config.Etcd is nil")
	}
	if cfg.LeaseTTL == 0 {
		cfg.LeaseTTL = 10 * time.Second
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	rctx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	f := &Fleet{cfg: cfg, ctx: rctx, cancel: cancel, leases: map[string]clientv3.LeaseID{}, dead: map[string]bool{}, done: make(chan struct{})}
	for _, n := range cfg.Nodes {
		if err := f.register(ctx, n); err != nil {
			cancel()
			return nil, err
		}
	}
	go f.run(rctx)
	return f, nil
}

func (f *Fleet) register(ctx context.Context, n state.Node) error {
	lease, err := f.cfg.Etcd.Grant(ctx, int64(f.cfg.LeaseTTL/time.Second))
	if err != nil {
		return fmt.Errorf("simnode: %w", err)
	}
	n.Version, n.StartedAt = state.SimulatedVersion, f.cfg.Now()
	b, _ := json.Marshal(n)
	if _, err := f.cfg.Etcd.Put(ctx, state.NodeKey(n.Name), string(b), clientv3.WithLease(lease.ID)); err != nil {
		return fmt.Errorf("simnode: %w", err)
	}
	ka, err := f.cfg.Etcd.KeepAlive(f.ctx, lease.ID) //nolint:contextcheck // lives as long as the fleet
	if err != nil {
		return fmt.Errorf("simnode: %w", err)
	}
	go func() {
		for range ka {
			// Drain the keep-alive answers.
		}
	}()
	f.mu.Lock()
	f.leases[n.Name] = lease.ID
	delete(f.dead, n.Name)
	f.mu.Unlock()
	return nil
}

// Kill revokes a node's lease, as a node that died: it stops reporting.
// Killing a dead node does nothing.
func (f *Fleet) Kill(ctx context.Context, name string) error {
	f.mu.Lock()
	lease, ok := f.leases[name]
	was := f.dead[name]
	f.dead[name] = true
	f.mu.Unlock()
	if !ok {
		return fmt.Errorf("simnode: no node %q", name)
	}
	if was {
		return nil
	}
	_, err := f.cfg.Etcd.Revoke(ctx, lease)
	return err
}

// Revive registers a killed node again.
func (f *Fleet) Revive(ctx context.Context, name string) error {
	for _, n := range f.cfg.Nodes {
		if n.Name == name {
			return f.register(ctx, n)
		}
	}
	return fmt.Errorf("simnode: no node %q", name)
}

func (f *Fleet) run(ctx context.Context) {
	defer close(f.done)
	prefix := state.Prefix + "desired/"
	resp, err := f.cfg.Etcd.Get(ctx, prefix, clientv3.WithPrefix())
	if err != nil {
		f.fail(err)
		return
	}
	for _, kv := range resp.Kvs {
		f.apply(ctx, string(kv.Key), kv.Value)
	}
	for wr := range f.cfg.Etcd.Watch(ctx, prefix, clientv3.WithPrefix(), clientv3.WithRev(resp.Header.Revision+1)) {
		if err := wr.Err(); err != nil {
			f.fail(err)
			return
		}
		for _, ev := range wr.Events {
			if ev.Type == clientv3.EventTypeDelete {
				if node, id, ok := state.SplitInstanceKey(string(ev.Kv.Key)); ok && !f.isDead(node) {
					_, _ = f.cfg.Etcd.Delete(ctx, state.StatusKey(node, id))
				}
				continue
			}
			f.apply(ctx, string(ev.Kv.Key), ev.Kv.Value)
		}
	}
}

func (f *Fleet) fail(err error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.err == nil && !errors.Is(err, context.Canceled) {
		f.err = err
	}
}

func (f *Fleet) isDead(node string) bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	_, known := f.leases[node]
	return !known || f.dead[node]
}

// apply reports one desired instance as its agent would.
func (f *Fleet) apply(ctx context.Context, key string, val []byte) {
	node, id, ok := state.SplitInstanceKey(key)
	if !ok || f.isDead(node) {
		return
	}
	var in state.Instance
	st := state.Status{ID: id, Node: node, Phase: state.Running, UpdatedAt: f.cfg.Now()}
	if err := state.Decode(val, &in); err != nil {
		st.Phase, st.Reason, st.Message = state.Failed, "InvalidSpec", err.Error()
	} else {
		st.App, st.Generation, st.RequestID, st.StartedAt = in.App, in.Generation, in.RequestID, f.cfg.Now()
		if in.Network != nil {
			st.IP = in.Network.IP.Addr().String()
		}
		if f.cfg.Fail != nil {
			if phase, reason := f.cfg.Fail(&in); phase != "" {
				st.Phase, st.Reason, st.StartedAt = phase, reason, time.Time{}
			}
		}
	}
	b, _ := json.Marshal(st)
	if _, err := f.cfg.Etcd.Put(ctx, state.StatusKey(node, id), string(b)); err != nil && !strings.Contains(err.Error(), "canceled") {
		f.fail(err)
	}
}

// Close stops following and returns the first error the fleet met. The
// nodes' leases are left to expire.
func (f *Fleet) Close() error {
	f.cancel()
	<-f.done
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.err
}
