package fleettopo

import (
	"context"
	"errors"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/shoalkit/shoal/alertcorr"
	"github.com/shoalkit/shoal/examples/internal/state"
	"github.com/shoalkit/shoal/internal/errs"
)

// ErrUnavailable reports that etcd could not be read.
var ErrUnavailable = errors.New("fleettopo: unavailable")

// maxID bounds a name taken from etcd (alertcorr's own limit is larger).
const maxID = 253

// DefaultDebounce is how long Run waits after a change for more before it
// syncs the topology: an app scaled by 100 instances is one sync.
const DefaultDebounce = 200 * time.Millisecond

// Source reads the fleet from etcd. Its methods are safe for concurrent
// use.
type Source struct {
	cli *clientv3.Client
	log *slog.Logger
	// Debounce is Run's wait after a change; zero means DefaultDebounce.
	Debounce time.Duration

	mu       sync.Mutex
	nodes    map[string]state.Node // by node name
	statuses map[string]held       // by "NODE/ID"
	skipped  int
	synced   int
}

var _ alertcorr.TopologySource = (*Source)(nil)

// New returns a Source over cli; log nil discards.
func New(cli *clientv3.Client, log *slog.Logger) *Source {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Source{cli: cli, log: log}
}

// held is a status with the etcd revision that wrote it.
type held struct {
	st  state.Status
	rev int64
}

// Stats are what the source saw.
type Stats struct {
	Nodes, Instances int
	Skipped          int // values that did not decode or name nothing valid
	Syncs            int // topology syncs Run made
}

// Stats returns the counters.
func (s *Source) Stats() Stats {
	s.mu.Lock()
	defer s.mu.Unlock()
	return Stats{Nodes: len(s.nodes), Instances: len(s.statuses), Skipped: s.skipped, Syncs: s.synced}
}

// Entities reads nodes/ and status/ from etcd at one revision and yields
// the fleet, parents first.
func (s *Source) Entities(ctx context.Context, yield func(alertcorr.Entity) error) error {
	if _, err := s.load(ctx); err != nil {
		return err
	}
	return s.yield(ctx, yield)
}

// load replaces the held state with a read of etcd and returns its
// revision.
func (s *Source) load(ctx context.Context) (int64, error) {
	resp, err := s.cli.Txn(ctx).Then(
		clientv3.OpGet(state.NodesPrefix(), clientv3.WithPrefix()),
		clientv3.OpGet(state.AllStatusPrefix(), clientv3.WithPrefix()),
	).Commit()
	if err != nil {
		return 0, errs.Wrap("fleettopo", ErrUnavailable, err, "reading %s and %s", state.NodesPrefix(), state.AllStatusPrefix())
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.nodes, s.statuses = map[string]state.Node{}, map[string]held{}
	for _, r := range resp.Responses {
		for _, kv := range r.GetResponseRange().Kvs {
			s.putLocked(string(kv.Key), kv.Value, kv.ModRevision)
		}
	}
	return resp.Header.Revision, nil
}

// putLocked records one value; the lock is held.
func (s *Source) putLocked(key string, value []byte, rev int64) {
	if name, ok := strings.CutPrefix(key, state.NodesPrefix()); ok {
		var n state.Node
		if err := state.Decode(value, &n); err != nil || !validID(name) || !validPlace(n) {
			s.skipped++
			s.log.Warn("fleettopo: node skipped", "key", key, "err", err)
			return
		}
		s.nodes[name] = n
		return
	}
	node, id, ok := state.SplitInstanceKey(key)
	var st state.Status
	if !ok || !validID(node) || !validID(id) {
		s.skipped++
		s.log.Warn("fleettopo: key names no instance", "key", key)
		return
	}
	if err := state.Decode(value, &st); err != nil || (st.App != "" && !validID(st.App)) {
		s.skipped++
		s.log.Warn("fleettopo: status skipped", "key", key, "err", err)
		return
	}
	st.Node, st.ID = node, id // the key is what the agent owns
	s.statuses[node+"/"+id] = held{st, rev}
}

func (s *Source) deleteLocked(key string) {
	if name, ok := strings.CutPrefix(key, state.NodesPrefix()); ok {
		delete(s.nodes, name)
		return
	}
	if node, id, ok := state.SplitInstanceKey(key); ok {
		delete(s.statuses, node+"/"+id)
	}
}

func validID(s string) bool {
	return s != "" && len(s) <= maxID && !strings.ContainsFunc(s, func(r rune) bool { return r < 0x20 || r == 0x7f })
}

func validPlace(n state.Node) bool {
	for _, v := range []string{n.Zone, n.Room, n.Rack, n.Switch} {
		if v != "" && !validID(v) {
			return false
		}
	}
	return true
}

// yield emits the held state as entities: datacenters, rooms, racks,
// switches, hosts, apps, containers, each sorted by id. A place named with
// two different parents keeps the first (in node order), so the topology
// is the same whatever order etcd lists the nodes in.
func (s *Source) yield(ctx context.Context, yield func(alertcorr.Entity) error) error {
	s.mu.Lock()
	var es []alertcorr.Entity
	seen := map[alertcorr.Kind]map[string]bool{}
	add := func(e alertcorr.Entity) {
		if seen[e.Kind] == nil {
			seen[e.Kind] = map[string]bool{}
		}
		if !seen[e.Kind][e.ID] {
			seen[e.Kind][e.ID] = true
			es = append(es, e)
		}
	}
	names := sortedKeys(s.nodes)
	for _, name := range names {
		n := s.nodes[name]
		if n.Zone != "" {
			add(alertcorr.Entity{Kind: alertcorr.KindDatacenter, ID: n.Zone})
		}
		if n.Room != "" {
			add(alertcorr.Entity{Kind: alertcorr.KindRoom, ID: n.Room, Parent: n.Zone})
		}
		if n.Rack != "" {
			add(alertcorr.Entity{Kind: alertcorr.KindRack, ID: n.Rack, Parent: n.Room})
		}
		if n.Switch != "" {
			add(alertcorr.Entity{Kind: alertcorr.KindSwitch, ID: n.Switch, Parent: first(n.Rack, n.Room)})
		}
	}
	for _, name := range names {
		n := s.nodes[name]
		add(alertcorr.Entity{Kind: alertcorr.KindHost, ID: name, Parent: first(n.Rack, n.Room), Switch: n.Switch})
	}
	// An instance moved to another node has a status on both until the
	// old agent removes its own: the newer one is where it is.
	newest := map[string]held{}
	for _, h := range s.statuses {
		if cur, ok := newest[h.st.ID]; !ok || h.rev > cur.rev {
			newest[h.st.ID] = h
		}
	}
	ids := sortedKeys(newest)
	for _, id := range ids {
		st := newest[id].st
		add(alertcorr.Entity{Kind: alertcorr.KindHost, ID: st.Node}) // a node whose key expired
		if st.App != "" {
			add(alertcorr.Entity{Kind: alertcorr.KindApp, ID: st.App})
		}
	}
	for _, id := range ids {
		st := newest[id].st
		add(alertcorr.Entity{Kind: alertcorr.KindContainer, ID: st.ID, Parent: st.Node, App: st.App})
	}
	s.mu.Unlock()
	slices.SortStableFunc(es, func(a, b alertcorr.Entity) int { return order(a.Kind) - order(b.Kind) })
	for _, e := range es {
		if err := ctx.Err(); err != nil {
			return errs.Wrap("fleettopo", ErrUnavailable, err, "yielding the topology")
		}
		if err := yield(e); err != nil {
			return err
		}
	}
	return nil
}

// order puts every kind after the kinds its entities may name.
func order(k alertcorr.Kind) int {
	switch k {
	case alertcorr.KindDatacenter:
		return 0
	case alertcorr.KindRoom:
		return 1
	case alertcorr.KindRack:
		return 2
	case alertcorr.KindSwitch:
		return 3
	case alertcorr.KindHost:
		return 4
	case alertcorr.KindApp:
		return 5
	}
	return 6
}

func first(a, b string) string {
	if a != "" {
		return a
	}
	return b
}

func sortedKeys[V any](m map[string]V) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	slices.Sort(out)
	return out
}

// Run keeps topo equal to the fleet: it reads etcd, syncs, then follows a
// watch of nodes/ and status/ from that revision, syncing once changes
// stop for Debounce. A broken watch (etcd restarted, history compacted)
// reads everything again. It returns when ctx ends.
func (s *Source) Run(ctx context.Context, topo *alertcorr.Topology) error {
	debounce := s.Debounce
	if debounce <= 0 {
		debounce = DefaultDebounce
	}
	for ctx.Err() == nil {
		rev, err := s.load(ctx)
		if err == nil {
			err = s.sync(ctx, topo)
		}
		if err != nil {
			s.log.Warn("fleettopo: topology not read", "err", err)
			sleepCtx(ctx, time.Second)
			continue
		}
		s.follow(ctx, topo, rev, debounce)
	}
	return nil
}

// follow applies watch events until the watch ends.
func (s *Source) follow(ctx context.Context, topo *alertcorr.Topology, rev int64, debounce time.Duration) {
	wctx, cancel := context.WithCancel(clientv3.WithRequireLeader(ctx))
	defer cancel()
	// One watch over both prefixes: they share state.Prefix.
	wch := s.cli.Watch(wctx, state.Prefix, clientv3.WithPrefix(), clientv3.WithRev(rev+1))
	timer := time.NewTimer(time.Hour)
	timer.Stop()
	defer timer.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-timer.C:
			if err := s.sync(ctx, topo); err != nil {
				s.log.Warn("fleettopo: topology not synced", "err", err)
			}
		case wr, ok := <-wch:
			if !ok || wr.Err() != nil {
				if ok {
					s.log.Warn("fleettopo: watch ended", "err", wr.Err())
				}
				return
			}
			changed := false
			s.mu.Lock()
			for _, ev := range wr.Events {
				key := string(ev.Kv.Key)
				if !strings.HasPrefix(key, state.NodesPrefix()) && !strings.HasPrefix(key, state.AllStatusPrefix()) {
					continue
				}
				changed = true
				if ev.Type == clientv3.EventTypeDelete {
					s.deleteLocked(key)
				} else {
					s.putLocked(key, ev.Kv.Value, ev.Kv.ModRevision)
				}
			}
			s.mu.Unlock()
			if changed {
				timer.Reset(debounce)
			}
		}
	}
}

// sync replaces topo with the held state.
func (s *Source) sync(ctx context.Context, topo *alertcorr.Topology) error {
	res, err := topo.Sync(ctx, heldState{s})
	if err != nil {
		return err
	}
	s.mu.Lock()
	s.synced++
	s.mu.Unlock()
	if res.Changed() {
		s.log.Info("fleettopo: topology synced", "added", res.Added, "updated", res.Updated, "removed", res.Removed, "entities", topo.Len())
	}
	return nil
}

// heldState yields what the source holds, without reading etcd.
type heldState struct{ s *Source }

// Entities yields the held state.
func (h heldState) Entities(ctx context.Context, yield func(alertcorr.Entity) error) error {
	return h.s.yield(ctx, yield)
}

func sleepCtx(ctx context.Context, d time.Duration) {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
	case <-t.C:
	}
}
