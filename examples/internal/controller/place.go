package controller

import (
	"context"
	"crypto/rand"
	"encoding/json"
	"errors"
	"net/netip"
	"slices"
	"sort"

	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/shoalkit/shoal/examples/internal/state"
	"github.com/shoalkit/shoal/sched"
)

// inventory builds sched's view of the live nodes and what is placed on
// them, from the cache. It is rebuilt for every plan: at 1,000 nodes and
// 50,000 instances that costs tens of milliseconds, and a plan can never
// see an inventory that drifted from etcd. c.cache.mu is read-held.
func (c *Controller) inventory(exclude ...string) *sched.Inventory {
	inv := sched.NewInventory()
	for name, n := range c.cache.nodes {
		if slices.Contains(exclude, name) {
			continue
		}
		images := make(map[string]int64, len(n.Images))
		for _, img := range n.Images {
			images[img] = 1
		}
		err := inv.AddNode(sched.Node{
			Name: name, Zone: n.Zone, Room: n.Room, Rack: n.Rack, Switch: n.Switch, Labels: n.Labels,
			Capacity: sched.Resources{MilliCPU: int64(n.Capacity.CPUs * 1000), Memory: n.Capacity.MemoryBytes, Disk: n.Capacity.DiskBytes},
			Images:   images, Cordoned: c.cache.cordon[name] != "",
		})
		if err != nil {
			c.log.Warn("node left out of placement", "node", name, "err", err)
		}
	}
	for _, in := range c.cache.desired {
		if _, live := c.cache.nodes[in.Node]; !live {
			continue
		}
		var anti []sched.AntiAffinity
		if a := c.cache.apps[in.App]; a != nil {
			anti = antiAffinity(&a.Spec)
		}
		if _, err := inv.Allocate(in.Node, sched.Allocation{App: in.App, Resources: schedResources(in.Resources), AntiAffinity: anti}); err != nil {
			// An overcommitted node (its capacity shrank): the instance
			// still counts for spread, without resources.
			_, _ = inv.Allocate(in.Node, sched.Allocation{App: in.App, AntiAffinity: anti})
		}
	}
	return inv
}

func schedResources(r state.Resources) sched.Resources {
	return sched.Resources{MilliCPU: int64(r.CPUs * 1000), Memory: r.MemoryBytes}
}

func antiAffinity(s *state.AppSpec) []sched.AntiAffinity {
	out := make([]sched.AntiAffinity, 0, len(s.Placement.AntiAffinity))
	for _, a := range s.Placement.AntiAffinity {
		out = append(out, sched.AntiAffinity{Key: sched.TopologyKey(a.Key), Max: a.Max})
	}
	return out
}

func request(s *state.AppSpec, count int) sched.Request {
	req := sched.Request{
		App: s.Name, Count: count, Resources: schedResources(s.Resources), Image: s.Image,
		Zones: s.Placement.Zones, Level: s.Placement.Level, NetZone: s.Placement.NetZone,
		NodeSelector: s.Placement.NodeSelector, AntiAffinity: antiAffinity(s),
	}
	for _, r := range s.Placement.Spread {
		skew := r.MaxSkew
		if skew == 0 {
			skew = 1
		}
		req.Spread = append(req.Spread, sched.SpreadRule{Key: sched.TopologyKey(r.Key), MaxSkew: skew, Soft: r.Soft})
	}
	return req
}

// plan places count new instances of app a: nodes by sched, addresses from
// the VLAN's pool, fresh ids. Nothing is written. c.mu is held.
func (c *Controller) plan(a *state.App, count int, requestID string, exclude ...string) ([]state.Instance, error) {
	if count == 0 {
		return nil, nil
	}
	c.cache.mu.RLock()
	defer c.cache.mu.RUnlock()
	s, err := sched.New(c.inventory(exclude...), sched.Config{}, sched.NewRegistry())
	if err != nil {
		return nil, wrapError(ErrUnavailable, err, "scheduler")
	}
	res, err := s.Place(request(&a.Spec, count))
	switch {
	case errors.Is(err, sched.ErrUnschedulable):
		why := "no node fits"
		if res != nil && res.WhyNot != nil {
			why = res.WhyNot.String()
		}
		return nil, newError(ErrUnschedulable, "%d of %d instance(s) of %s cannot be placed: %s", count-len(res.Placements), count, a.Spec.Name, why)
	case errors.Is(err, sched.ErrInvalid):
		return nil, wrapError(ErrInvalid, err, "placement")
	case err != nil:
		return nil, wrapError(ErrUnavailable, err, "placement")
	}
	var addrs []netip.Prefix
	var gw netip.Addr
	tmpl := a.Spec.Template()
	if tmpl.Kind == state.Fat {
		if addrs, gw, err = c.freeAddrs(a.Spec.Network.VLAN, count); err != nil {
			return nil, err
		}
	}
	out := make([]state.Instance, 0, count)
	taken := map[string]bool{}
	for i, p := range res.Placements {
		in := tmpl
		in.ID = c.newID(a.Spec.Name, taken)
		in.Node, in.Generation, in.RequestID, in.AppGeneration = p.Node, 1, requestID, a.Generation
		if addrs != nil {
			n := a.Spec.Network
			in.Network = &state.Network{VLAN: n.VLAN, IP: addrs[i], Gateway: gw, EgressBps: n.EgressBps, IngressBps: n.IngressBps}
		}
		out = append(out, in)
	}
	return out, nil
}

// newID returns an unused instance id "APP-xxxxx"; c.cache.mu is read-held.
func (c *Controller) newID(app string, taken map[string]bool) string {
	const alphabet = "abcdefghijklmnopqrstuvwxyz0123456789"
	base := app
	if len(base) > state.MaxNameLen-6 {
		base = base[:state.MaxNameLen-6]
	}
	for {
		var b [5]byte
		_, _ = rand.Read(b[:])
		for i := range b {
			b[i] = alphabet[int(b[i])%len(alphabet)]
		}
		id := base + "-" + string(b[:])
		if c.cache.desired[id] == nil && !taken[id] {
			taken[id] = true
			return id
		}
	}
}

// freeAddrs takes n free addresses of vlan's pool; c.cache.mu is read-held.
func (c *Controller) freeAddrs(vlan, n int) ([]netip.Prefix, netip.Addr, error) {
	pool := c.cache.networks[vlan]
	if pool == nil {
		return nil, netip.Addr{}, &fieldError{field: "network.vlan", err: newError(ErrInvalid, "network.vlan: VLAN %d has no address pool (PUT /v1/networks/%d first)", vlan, vlan)}
	}
	used := c.cache.ips[vlan]
	// A pool too full for the request is refused before any scan: a /8
	// pool is 16M addresses, walked while the cache is read-locked.
	if left := poolSize(pool) - len(used); left < n {
		return nil, netip.Addr{}, &fieldError{field: "network.vlan", err: newError(ErrUnschedulable,
			"VLAN %d (%v) has %d address(es) left, needs %d", vlan, pool.Subnet, max(left, 0), n)}
	}
	first := pool.Subnet.Addr()
	last := lastAddr(pool.Subnet)
	a := first.Next()
	if pool.From.IsValid() {
		a = pool.From
	}
	var out []netip.Prefix
	for ; a.IsValid() && a.Less(last) && len(out) < n; a = a.Next() {
		if a == first || a == pool.Gateway || used[a] != "" {
			continue
		}
		out = append(out, netip.PrefixFrom(a, pool.Subnet.Bits()))
	}
	if len(out) < n {
		return nil, netip.Addr{}, &fieldError{field: "network.vlan", err: newError(ErrUnschedulable,
			"VLAN %d (%v) has %d address(es) left, needs %d", vlan, pool.Subnet, len(out), n)}
	}
	return out, pool.Gateway, nil
}

// lastAddr is a subnet's broadcast address.
func lastAddr(p netip.Prefix) netip.Addr {
	b := p.Masked().Addr().As4()
	host := uint32(1)<<(32-p.Bits()) - 1
	v := uint32(b[0])<<24 | uint32(b[1])<<16 | uint32(b[2])<<8 | uint32(b[3]) | host
	return netip.AddrFrom4([4]byte{byte(v >> 24), byte(v >> 16), byte(v >> 8), byte(v)})
}

// victims picks n of an app's instances to remove: those not running
// first, then from the fullest rack, so what stays keeps its spread.
// c.cache.mu is read-held.
func (c *Controller) victims(app string, n int) []*state.Instance {
	var ins []*state.Instance
	perRack := map[string]int{}
	for _, in := range c.cache.byApp[app] {
		ins = append(ins, in)
		perRack[c.rackOf(in.Node)]++
	}
	sort.Slice(ins, func(i, j int) bool { return ins[i].ID < ins[j].ID })
	var out []*state.Instance
	for ; n > 0 && len(ins) > 0; n-- {
		best := 0
		for i, in := range ins {
			if c.worseVictim(in, ins[best], perRack) {
				best = i
			}
		}
		out = append(out, ins[best])
		perRack[c.rackOf(ins[best].Node)]--
		ins = slices.Delete(ins, best, best+1)
	}
	return out
}

func (c *Controller) worseVictim(a, b *state.Instance, perRack map[string]int) bool {
	ra, rb := c.running(a), c.running(b)
	if ra != rb {
		return !ra
	}
	return perRack[c.rackOf(a.Node)] > perRack[c.rackOf(b.Node)]
}

func (c *Controller) rackOf(node string) string {
	if n := c.cache.nodes[node]; n != nil {
		return n.Rack
	}
	return ""
}

// running reports whether an instance runs its current generation;
// c.cache.mu is read-held.
func (c *Controller) running(in *state.Instance) bool { return c.cache.isRunning(in) }

// item is one unit of a write: the comparisons it needs, the operations,
// and the operations undoing them should a later batch fail.
type item struct {
	cmps []clientv3.Cmp
	ops  []clientv3.Op
	undo []clientv3.Op
}

func putJSON(key string, v any) clientv3.Op {
	b, _ := json.Marshal(v) // our own types always marshal
	return clientv3.OpPut(key, string(b))
}

func absent(key string) clientv3.Cmp {
	return clientv3.Compare(clientv3.CreateRevision(key), "=", 0)
}

// createItem writes a new instance and takes its address.
func createItem(in *state.Instance) item {
	it := item{
		cmps: []clientv3.Cmp{absent(state.DesiredKey(in.Node, in.ID))},
		ops:  []clientv3.Op{putJSON(state.DesiredKey(in.Node, in.ID), in)},
		undo: []clientv3.Op{clientv3.OpDelete(state.DesiredKey(in.Node, in.ID))},
	}
	if in.Network != nil {
		k := state.IPKey(in.Network.VLAN, in.Network.IP.Addr())
		it.cmps = append(it.cmps, absent(k))
		it.ops = append(it.ops, clientv3.OpPut(k, in.ID))
		it.undo = append(it.undo, clientv3.OpDelete(k))
	}
	return it
}

// deleteItem removes an instance and frees its address.
func deleteItem(in *state.Instance) item {
	it := item{ops: []clientv3.Op{clientv3.OpDelete(state.DesiredKey(in.Node, in.ID))}}
	if in.Network != nil {
		it.ops = append(it.ops, clientv3.OpDelete(state.IPKey(in.Network.VLAN, in.Network.IP.Addr())))
	}
	return it
}

// commit writes items in as few transactions as etcd's operation limit
// allows, each all-or-nothing and each only while this controller leads.
// When a batch fails after others succeeded, the earlier batches are
// undone, so a change is whole or absent. It returns once the cache has
// seen the last write.
func (c *Controller) commit(ctx context.Context, t *term, items []item) error {
	var done []item
	var rev int64
	for len(items) > 0 {
		n, cmps, ops := 0, 1, 0
		for n < len(items) && cmps+len(items[n].cmps) <= c.cfg.MaxTxnOps && ops+len(items[n].ops) <= c.cfg.MaxTxnOps {
			cmps += len(items[n].cmps)
			ops += len(items[n].ops)
			n++
		}
		if n == 0 {
			return newError(ErrInvalid, "one change needs more than %d etcd operations", c.cfg.MaxTxnOps)
		}
		batch := items[:n]
		items = items[n:]
		txn := c.cfg.Etcd.Txn(ctx).If(t.guard(batch)...)
		var all []clientv3.Op
		for _, it := range batch {
			all = append(all, it.ops...)
		}
		resp, err := txn.Then(all...).Commit()
		if err == nil && !resp.Succeeded {
			err = c.whyFailed(ctx, t)
		} else if err != nil {
			err = wrapError(ErrUnavailable, err, "etcd")
		}
		if err != nil {
			c.undo(ctx, t, done)
			return err
		}
		done = append(done, batch...)
		rev = resp.Header.Revision
	}
	return c.cache.waitRev(ctx, rev)
}

func (c *Controller) whyFailed(ctx context.Context, t *term) error {
	if !c.stillLeads(ctx, t) {
		return newError(ErrNotLeader, "leadership lost during the change; retry")
	}
	return newError(ErrConflict, "a name or address was taken concurrently; retry")
}

func (c *Controller) undo(ctx context.Context, t *term, done []item) {
	var ops []clientv3.Op
	for _, it := range done {
		ops = append(ops, it.undo...)
	}
	for len(ops) > 0 {
		n := min(len(ops), c.cfg.MaxTxnOps)
		if _, err := c.cfg.Etcd.Txn(ctx).If(t.guard(nil)...).Then(ops[:n]...).Commit(); err != nil {
			c.log.Error("undoing a partial change failed; the next reconcile removes what is left", "err", err)
			return
		}
		ops = ops[n:]
	}
}

// fieldError names the API field a problem is about.
type fieldError struct {
	field string
	err   error
}

func (e *fieldError) Error() string { return e.err.Error() }
func (e *fieldError) Unwrap() error { return e.err }
