package controller

import (
	"context"
	"encoding/json"
	"errors"
	"net/netip"
	"slices"
	"strings"
	"sync"
	"time"

	"go.etcd.io/etcd/api/v3/mvccpb"
	"go.etcd.io/etcd/api/v3/v3rpc/rpctypes"
	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/shoalkit/shoal/examples/internal/state"
)

// cache is the controller's view of everything under state.Prefix, kept by
// one watch: API reads are answered from it, and the leader plans from it.
// After a write the leader waits for the cache to reach the write's revision
// (waitRev), so what it plans next sees what it just did.
type cache struct {
	cli       *clientv3.Client
	maxEvents int
	now       func() time.Time
	onBad     func(key string, err error)

	mu       sync.RWMutex
	rev      int64
	changed  chan struct{} // closed and replaced on every applied revision
	nodes    map[string]*state.Node
	lostAt   map[string]time.Time // nodes whose key vanished (or never was) while instances are desired there
	desired  map[string]*state.Instance
	byApp    map[string]map[string]*state.Instance // app → id → desired
	byNode   map[string]map[string]*state.Instance // node → id → desired
	ready    map[string]int                        // app → instances running their generation
	status   map[string]*state.Status
	apps     map[string]*state.App
	networks map[int]*state.NetworkPool
	ips      map[int]map[netip.Addr]string
	cordon   map[string]string
	quotas   map[string]*state.Quota
	usage    map[string]*state.Usage
	token    string
	events   []eventEntry // oldest first, at most maxEvents
}

type eventEntry struct {
	key string
	ev  state.Event
}

func newCache(cli *clientv3.Client, maxEvents int, now func() time.Time, onBad func(string, error)) *cache {
	c := &cache{cli: cli, maxEvents: maxEvents, now: now, onBad: onBad, changed: make(chan struct{})}
	c.reset()
	return c
}

func (c *cache) reset() {
	c.nodes = map[string]*state.Node{}
	c.lostAt = map[string]time.Time{}
	c.desired = map[string]*state.Instance{}
	c.byApp = map[string]map[string]*state.Instance{}
	c.byNode = map[string]map[string]*state.Instance{}
	c.ready = map[string]int{}
	c.status = map[string]*state.Status{}
	c.apps = map[string]*state.App{}
	c.networks = map[int]*state.NetworkPool{}
	c.ips = map[int]map[netip.Addr]string{}
	c.cordon = map[string]string{}
	c.quotas = map[string]*state.Quota{}
	c.usage = map[string]*state.Usage{}
	c.token = ""
	c.events = nil
}

// run loads everything and follows the watch until ctx ends; a compacted
// watch reloads.
func (c *cache) run(ctx context.Context) error {
	for ctx.Err() == nil {
		rev, err := c.load(ctx)
		if err != nil {
			if ctx.Err() != nil {
				break
			}
			select {
			case <-ctx.Done():
			case <-time.After(time.Second):
			}
			continue
		}
		err = c.follow(ctx, rev)
		if ctx.Err() == nil && !errors.Is(err, rpctypes.ErrCompacted) {
			select {
			case <-ctx.Done():
			case <-time.After(time.Second):
			}
		}
	}
	return nil
}

const loadPage = 5000

// load reads every key at one revision, page by page.
func (c *cache) load(ctx context.Context) (int64, error) {
	var kvs []*mvccpb.KeyValue
	key, end := state.Prefix, clientv3.GetPrefixRangeEnd(state.Prefix)
	var rev int64
	for {
		opts := []clientv3.OpOption{clientv3.WithRange(end), clientv3.WithLimit(loadPage)}
		if rev != 0 {
			opts = append(opts, clientv3.WithRev(rev))
		}
		resp, err := c.cli.Get(ctx, key, opts...)
		if err != nil {
			return 0, err
		}
		if rev == 0 {
			rev = resp.Header.Revision
		}
		kvs = append(kvs, resp.Kvs...)
		if !resp.More || len(resp.Kvs) == 0 {
			break
		}
		key = string(resp.Kvs[len(resp.Kvs)-1].Key) + "\x00"
	}
	c.mu.Lock()
	c.reset()
	for _, kv := range kvs {
		c.put(string(kv.Key), kv.Value)
	}
	now := c.now()
	for _, in := range c.desired {
		if _, live := c.nodes[in.Node]; !live {
			if _, ok := c.lostAt[in.Node]; !ok {
				c.lostAt[in.Node] = now
			}
		}
	}
	c.advance(rev)
	c.mu.Unlock()
	return rev, nil
}

func (c *cache) follow(ctx context.Context, rev int64) error {
	wctx, cancel := context.WithCancel(clientv3.WithRequireLeader(ctx))
	defer cancel()
	for resp := range c.cli.Watch(wctx, state.Prefix, clientv3.WithPrefix(), clientv3.WithRev(rev+1)) {
		if err := resp.Err(); err != nil {
			return err
		}
		c.mu.Lock()
		for _, ev := range resp.Events {
			if ev.Type == clientv3.EventTypeDelete {
				c.del(string(ev.Kv.Key))
			} else {
				c.put(string(ev.Kv.Key), ev.Kv.Value)
			}
		}
		c.advance(resp.Header.Revision)
		c.mu.Unlock()
	}
	return ctx.Err()
}

// advance records rev and wakes the waiters; c.mu is held.
func (c *cache) advance(rev int64) {
	if rev > c.rev {
		c.rev = rev
	}
	close(c.changed)
	c.changed = make(chan struct{})
}

// waitRev returns once the cache has applied rev.
func (c *cache) waitRev(ctx context.Context, rev int64) error {
	for {
		c.mu.RLock()
		done, ch := c.rev >= rev, c.changed
		c.mu.RUnlock()
		if done {
			return nil
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-ch:
		}
	}
}

// wait returns a channel closed on the next change.
func (c *cache) wait() <-chan struct{} {
	c.mu.RLock()
	defer c.mu.RUnlock()
	return c.changed
}

func decodeInto[T any](c *cache, key string, val []byte) (*T, bool) {
	v := new(T)
	if err := state.Decode(val, v); err != nil {
		if c.onBad != nil {
			c.onBad(key, err)
		}
		return nil, false
	}
	return v, true
}

// put applies one key's value; c.mu is held.
func (c *cache) put(key string, val []byte) {
	defer c.track(key)()
	switch {
	case strings.HasPrefix(key, state.NodesPrefix()):
		name, ok := state.SplitName(key, state.NodesPrefix())
		if n, good := decodeInto[state.Node](c, key, val); ok && good && n.Name == name {
			c.nodes[name] = n
			delete(c.lostAt, name)
		}
	case strings.HasPrefix(key, state.AllStatusPrefix()):
		if _, id, ok := state.SplitInstanceKey(key); ok {
			if st, good := decodeInto[state.Status](c, key, val); good {
				c.status[id] = st
			}
		}
	case strings.HasPrefix(key, state.Prefix+"desired/"):
		if node, id, ok := state.SplitInstanceKey(key); ok {
			if in, good := decodeInto[state.Instance](c, key, val); good && in.Node == node && in.ID == id {
				c.unindex(c.desired[id])
				c.desired[id] = in
				index(c.byApp, in.App, in)
				index(c.byNode, in.Node, in)
				if _, live := c.nodes[node]; !live && c.rev > 0 {
					if _, lost := c.lostAt[node]; !lost {
						c.lostAt[node] = c.now()
					}
				}
			}
		}
	case strings.HasPrefix(key, state.AppsPrefix()):
		name, ok := state.SplitName(key, state.AppsPrefix())
		if a, good := decodeInto[state.App](c, key, val); ok && good && a.Spec.Name == name {
			c.apps[name] = a
		}
	case strings.HasPrefix(key, state.NetworksPrefix()):
		if p, good := decodeInto[state.NetworkPool](c, key, val); good && key == state.NetworkKey(p.VLAN) {
			c.networks[p.VLAN] = p
		}
	case strings.HasPrefix(key, state.IPPrefix()):
		if vlan, ip, ok := state.SplitIPKey(key); ok {
			if c.ips[vlan] == nil {
				c.ips[vlan] = map[netip.Addr]string{}
			}
			c.ips[vlan][ip] = string(val)
		}
	case strings.HasPrefix(key, state.CordonPrefix()):
		if name, ok := state.SplitName(key, state.CordonPrefix()); ok {
			c.cordon[name] = string(val)
		}
	case strings.HasPrefix(key, state.QuotasPrefix()):
		name, ok := state.SplitName(key, state.QuotasPrefix())
		if q, good := decodeInto[state.Quota](c, key, val); ok && good {
			c.quotas[name] = q
		}
	case strings.HasPrefix(key, state.UsagePrefix()):
		name, ok := state.SplitName(key, state.UsagePrefix())
		if u, good := decodeInto[state.Usage](c, key, val); ok && good {
			c.usage[name] = u
		}
	case key == state.TokenKey:
		c.token = string(val)
	case strings.HasPrefix(key, state.EventsPrefix()):
		var ev state.Event
		if len(val) <= state.MaxValueBytes && json.Unmarshal(val, &ev) == nil {
			c.addEvent(eventEntry{key: key, ev: ev})
		}
	}
}

// addEvent keeps events sorted by key (time first) and bounded; c.mu is held.
func (c *cache) addEvent(e eventEntry) {
	i := len(c.events)
	if i > 0 && c.events[i-1].key > e.key {
		i, _ = slices.BinarySearchFunc(c.events, e.key, func(x eventEntry, k string) int { return strings.Compare(x.key, k) })
	}
	c.events = slices.Insert(c.events, i, e)
	if over := len(c.events) - c.maxEvents; over > 0 {
		c.events = slices.Delete(c.events, 0, over)
	}
}

// del applies one deleted key; c.mu is held.
func (c *cache) del(key string) {
	defer c.track(key)()
	switch {
	case strings.HasPrefix(key, state.NodesPrefix()):
		name := strings.TrimPrefix(key, state.NodesPrefix())
		delete(c.nodes, name)
		if len(c.byNode[name]) > 0 {
			c.lostAt[name] = c.now()
		}
	case strings.HasPrefix(key, state.AllStatusPrefix()):
		if _, id, ok := state.SplitInstanceKey(key); ok {
			delete(c.status, id)
		}
	case strings.HasPrefix(key, state.Prefix+"desired/"):
		if node, id, ok := state.SplitInstanceKey(key); ok {
			if in := c.desired[id]; in != nil && in.Node == node {
				c.unindex(in)
				delete(c.desired, id)
			}
		}
	case strings.HasPrefix(key, state.AppsPrefix()):
		delete(c.apps, strings.TrimPrefix(key, state.AppsPrefix()))
	case strings.HasPrefix(key, state.NetworksPrefix()):
		for vlan := range c.networks {
			if state.NetworkKey(vlan) == key {
				delete(c.networks, vlan)
			}
		}
	case strings.HasPrefix(key, state.IPPrefix()):
		if vlan, ip, ok := state.SplitIPKey(key); ok {
			delete(c.ips[vlan], ip)
		}
	case strings.HasPrefix(key, state.CordonPrefix()):
		delete(c.cordon, strings.TrimPrefix(key, state.CordonPrefix()))
	case strings.HasPrefix(key, state.QuotasPrefix()):
		delete(c.quotas, strings.TrimPrefix(key, state.QuotasPrefix()))
	case strings.HasPrefix(key, state.UsagePrefix()):
		delete(c.usage, strings.TrimPrefix(key, state.UsagePrefix()))
	case key == state.TokenKey:
		c.token = ""
	}
	// Expired events stay in memory until pushed out by newer ones: the
	// cache holds the last maxEvents whatever etcd's retention.
}

func index(m map[string]map[string]*state.Instance, k string, in *state.Instance) {
	if m[k] == nil {
		m[k] = map[string]*state.Instance{}
	}
	m[k][in.ID] = in
}

// unindex removes in from the indexes; c.mu is held.
func (c *cache) unindex(in *state.Instance) {
	if in == nil {
		return
	}
	for m, k := range map[*map[string]map[string]*state.Instance]string{&c.byApp: in.App, &c.byNode: in.Node} {
		if set := (*m)[k]; set != nil {
			delete(set, in.ID)
			if len(set) == 0 {
				delete(*m, k)
			}
		}
	}
}

// isRunning reports whether an instance runs its current generation;
// c.mu is held.
func (c *cache) isRunning(in *state.Instance) bool {
	st := c.status[in.ID]
	return st != nil && st.Node == in.Node && st.Generation == in.Generation && st.Phase == state.Running
}

// track keeps the per-app ready counts current across a change of the
// desired value or status an instance key names: it takes the instance's
// readiness before the change and returns what adds it back after.
// c.mu is held.
func (c *cache) track(key string) func() {
	_, id, ok := state.SplitInstanceKey(key)
	if !ok {
		return func() {}
	}
	if in := c.desired[id]; in != nil && c.isRunning(in) {
		c.ready[in.App]--
	}
	return func() {
		if in := c.desired[id]; in != nil && c.isRunning(in) {
			c.ready[in.App]++
		}
	}
}
