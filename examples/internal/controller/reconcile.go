package controller

import (
	"context"
	"errors"
	"fmt"
	"reflect"
	"slices"
	"sort"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/shoalkit/shoal/examples/internal/fleetinspect"
	"github.com/shoalkit/shoal/examples/internal/state"
	"github.com/shoalkit/shoal/inspect"
)

// reconcile is one pass of the leader: instances moved off lost and
// draining nodes, every app brought to its replica count, rollouts
// advanced, and on full passes (every Resync, not on every change)
// orphans removed. Each step commits on its own, so one failing app does
// not hold up the others.
func (c *Controller) reconcile(ctx context.Context, t *term, full bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if ctx.Err() != nil {
		return
	}
	c.moveOff(ctx, t)
	if full {
		c.removeOrphans(ctx, t)
	}
	c.cache.mu.RLock()
	apps := make([]*state.App, 0, len(c.cache.apps))
	for _, a := range c.cache.apps {
		apps = append(apps, a)
	}
	c.cache.mu.RUnlock()
	sort.Slice(apps, func(i, j int) bool { return apps[i].Spec.Name < apps[j].Spec.Name })
	for _, a := range apps {
		if ctx.Err() != nil {
			return
		}
		c.converge(ctx, t, a)
		c.rollout(ctx, t, a.Spec.Name)
	}
}

// warn records a failing step once until its message changes.
func (c *Controller) warn(ctx context.Context, key string, ev state.Event) {
	if c.warned[key] == ev.Message {
		return
	}
	c.warned[key] = ev.Message
	ev.Priority = state.Warning
	c.log.Warn(ev.Kind, "app", ev.App, "node", ev.Node, "msg", ev.Message)
	c.event(ctx, "", ev)
}

// moveOff places the instances of lost nodes (gone longer than NodeGrace)
// and draining nodes elsewhere and removes them there. A lost node's
// statuses go too: its agent will never write them again, and if the node
// returns its agent removes the containers nothing desires.
func (c *Controller) moveOff(ctx context.Context, t *term) {
	now := c.cfg.Now()
	c.cache.mu.RLock()
	byApp := map[string][]*state.Instance{}
	reason := map[string]string{}
	for node, since := range c.cache.lostAt {
		if _, live := c.cache.nodes[node]; !live && now.Sub(since) >= c.cfg.NodeGrace {
			reason[node] = "NodeLost"
		}
	}
	lost := make(map[string]time.Time)
	for node, r := range reason {
		if r == "NodeLost" {
			lost[node] = c.cache.lostAt[node]
		}
	}
	for node, mode := range c.cache.cordon {
		if _, live := c.cache.nodes[node]; live && mode == "drain" {
			reason[node] = "NodeDrained"
		}
	}
	for node := range reason {
		for _, in := range c.cache.byNode[node] {
			byApp[in.App] = append(byApp[in.App], in)
		}
	}
	c.cache.mu.RUnlock()
	// A node the controller lost but whose peers still hear over gossip
	// (the last inspection round, taken after it was lost, says so) is cut
	// off from etcd, not dead: its instances stay where they run.
	for node, since := range lost {
		if alive, why := c.aliveByPeers(ctx, node, since); alive {
			delete(reason, node)
			for app, ins := range byApp {
				byApp[app] = slices.DeleteFunc(ins, func(in *state.Instance) bool { return in.Node == node })
			}
			c.warn(ctx, "alive/"+node, state.Event{
				Kind: "NodeUnreachableButAlive", Node: node,
				Message: "lost by the controller but alive by its peers (" + why + "): its instances are not rescheduled",
			})
		}
	}
	c.cache.mu.Lock()
	for node := range c.cache.lostAt {
		if !c.hasDesired(node) {
			delete(c.cache.lostAt, node)
		}
	}
	c.cache.mu.Unlock()
	for name, olds := range byApp {
		if len(olds) == 0 {
			continue
		}
		sort.Slice(olds, func(i, j int) bool { return olds[i].ID < olds[j].ID })
		c.cache.mu.RLock()
		app := c.cache.apps[name]
		c.cache.mu.RUnlock()
		var items []item
		var news []state.Instance
		if app != nil {
			var err error
			if news, err = c.plan(app, len(olds), app.RequestID); err != nil {
				c.warn(ctx, "move/"+name, state.Event{Kind: "RescheduleFailed", App: name, Node: olds[0].Node, Message: err.Error()})
				continue
			}
		}
		for i, old := range olds {
			it := deleteItem(old)
			if reason[old.Node] == "NodeLost" {
				it.ops = append(it.ops, clientv3.OpDelete(state.StatusKey(old.Node, old.ID)))
			}
			if news != nil {
				nw := &news[i]
				nw.RequestID = old.RequestID
				ci := createItem(nw)
				it.cmps, it.ops = ci.cmps, append(it.ops, ci.ops...)
				c.withEvent(ctx, &it, old.RequestID, state.Event{
					Kind: "InstanceRescheduled", Priority: state.Warning, App: name,
					Instance: nw.ID, Node: nw.Node, Reason: reason[old.Node], Message: fmt.Sprintf("replaces %s from %s", old.ID, old.Node),
				})
			}
			items = append(items, it)
		}
		if err := c.commit(ctx, t, items); err != nil {
			c.warn(ctx, "move/"+name, state.Event{Kind: "RescheduleFailed", App: name, Message: err.Error()})
			continue
		}
		delete(c.warned, "move/"+name)
	}
}

// hasDesired reports whether any instance is desired on node;
// c.cache.mu is held.
func (c *Controller) hasDesired(node string) bool {
	return len(c.cache.byNode[node]) > 0
}

// removeOrphans removes instances a controller made whose app is gone
// (a delete interrupted half-way) and frees addresses nothing holds.
func (c *Controller) removeOrphans(ctx context.Context, t *term) {
	c.cache.mu.RLock()
	var items []item
	for _, in := range c.cache.desired {
		if in.AppGeneration > 0 && c.cache.apps[in.App] == nil {
			items = append(items, deleteItem(in))
		}
	}
	for vlan, ips := range c.cache.ips {
		for ip, id := range ips {
			if in := c.cache.desired[id]; in == nil || in.Network == nil || in.Network.IP.Addr() != ip {
				k := state.IPKey(vlan, ip)
				items = append(items, item{
					cmps: []clientv3.Cmp{clientv3.Compare(clientv3.Value(k), "=", id)},
					ops:  []clientv3.Op{clientv3.OpDelete(k)},
				})
			}
		}
	}
	c.cache.mu.RUnlock()
	if len(items) > 0 {
		if err := c.commit(ctx, t, items); err != nil {
			c.log.Warn("removing orphans", "err", err)
		}
	}
}

// converge brings one app to its replica count.
func (c *Controller) converge(ctx context.Context, t *term, a *state.App) {
	c.cache.mu.RLock()
	have := len(c.cache.byApp[a.Spec.Name])
	c.cache.mu.RUnlock()
	if have == a.Spec.Replicas {
		delete(c.warned, "scale/"+a.Spec.Name)
		return
	}
	app := *a
	if _, err := c.resize(ctx, t, a.RequestID, &app, a, "AppConverged"); err != nil {
		if errors.Is(err, ErrNotLeader) {
			return
		}
		c.warn(ctx, "scale/"+a.Spec.Name, state.Event{
			Kind: "ScaleFailed", App: a.Spec.Name,
			Message: fmt.Sprintf("%d of %d replica(s): %v", have, a.Spec.Replicas, err),
		})
		return
	}
	delete(c.warned, "scale/"+a.Spec.Name)
}

// rollout advances an app's rolling update by one step: instances made
// from an older generation are rewritten from the current spec, at most
// BatchSize at a time and only while no more than MaxUnavailable are not
// running. An updated instance that fails, crash-loops or does not run
// within FailAfter stops the update and rolls the app back to its
// previous spec.
func (c *Controller) rollout(ctx context.Context, t *term, name string) {
	c.cache.mu.RLock()
	a := c.cache.apps[name]
	if a == nil {
		c.cache.mu.RUnlock()
		return
	}
	batch := max(a.Spec.Update.BatchSize, 1)
	maxUnav := a.Spec.Update.MaxUnavailable
	if maxUnav == 0 {
		maxUnav = batch
	}
	failAfter := time.Duration(a.Spec.Update.FailAfter)
	if failAfter == 0 {
		failAfter = time.Minute
	}
	now := c.cfg.Now()
	var olds []*state.Instance
	unavailable, updated := 0, 0
	var failed string
	for _, in := range c.cache.byApp[name] {
		running := c.running(in)
		if !running {
			unavailable++
		}
		if in.AppGeneration == a.Generation {
			updated++
			if since, ok := c.rolledAt[in.ID]; !running && failed == "" {
				st := c.cache.status[in.ID]
				switch {
				case st != nil && st.Generation == in.Generation && (st.Phase == state.Failed || st.Phase == state.CrashLoop):
					failed = fmt.Sprintf("instance %s on %s: %s %s %s", in.ID, in.Node, st.Phase, st.Reason, st.Message)
				case ok && now.Sub(since) > failAfter:
					failed = fmt.Sprintf("instance %s on %s: not running after %v", in.ID, in.Node, failAfter)
				case !ok:
					c.rolledAt[in.ID] = now
				}
			} else if running {
				delete(c.rolledAt, in.ID)
			}
			continue
		}
		olds = append(olds, in)
	}
	c.cache.mu.RUnlock()
	switch {
	case failed != "" && a.Previous != nil:
		c.rollBack(ctx, t, a, failed)
		return
	case failed != "":
		if a.Rollout.Phase != state.RolloutRolledBack {
			c.setRollout(ctx, t, a, state.RolloutRolledBack, "stopped: "+failed)
		}
		return
	case len(olds) == 0 && unavailable == 0 && a.Rollout.Phase == state.RolloutProgress:
		c.setRollout(ctx, t, a, state.RolloutDone, fmt.Sprintf("generation %d on all %d instance(s)", a.Generation, updated))
		return
	case len(olds) == 0:
		return
	}
	c.cache.mu.RLock()
	sort.Slice(olds, func(i, j int) bool {
		ri, rj := c.running(olds[i]), c.running(olds[j])
		if ri != rj {
			return !ri
		}
		return olds[i].ID < olds[j].ID
	})
	// An instance already made the way the spec says (a roll back to what
	// it runs) only takes the new app generation, without a restart. Of
	// the others, a batch is replaced: those not running first — replacing
	// them costs nothing — then running ones while fewer than
	// MaxUnavailable are down.
	tmpl := a.Spec.Template()
	budget := maxUnav - unavailable
	var items []item
	var taken []*state.Instance
	replaced := 0
	for _, old := range olds {
		in := tmpl
		in.ID, in.Node, in.Generation, in.RequestID, in.AppGeneration = old.ID, old.Node, old.Generation, old.RequestID, a.Generation
		if old.Network != nil {
			nw := *old.Network
			if a.Spec.Network != nil {
				nw.EgressBps, nw.IngressBps = a.Spec.Network.EgressBps, a.Spec.Network.IngressBps
			}
			in.Network = &nw
		}
		cur := *old
		cur.AppGeneration = a.Generation
		if !reflect.DeepEqual(in, cur) {
			running := c.running(old)
			if replaced >= batch || (running && budget <= 0) {
				continue
			}
			if running {
				budget--
			}
			replaced++
			in.Generation, in.RequestID = old.Generation+1, a.RequestID
			taken = append(taken, old)
		}
		it := item{ops: []clientv3.Op{putJSON(state.DesiredKey(in.Node, in.ID), &in)}}
		if in.Generation != old.Generation {
			c.withEvent(ctx, &it, a.RequestID, state.Event{
				Kind: "InstanceUpdated", Priority: state.Info, App: name, Instance: in.ID, Node: in.Node,
				Message: fmt.Sprintf("to app generation %d (%s)", a.Generation, in.Image),
			})
		}
		items = append(items, it)
	}
	c.cache.mu.RUnlock()
	if len(items) == 0 {
		return
	}
	if err := c.commit(ctx, t, items); err != nil {
		c.log.Warn("rollout step", "app", name, "err", err)
		return
	}
	for _, old := range taken {
		c.rolledAt[old.ID] = now
	}
}

// rollBack makes the previous spec current again, as a new generation the
// rollout then brings every instance to.
func (c *Controller) rollBack(ctx context.Context, t *term, a *state.App, why string) {
	app := *a
	app.Spec.Replicas = a.Spec.Replicas
	prev := *a.Previous
	prev.Replicas = a.Spec.Replicas
	app.Spec, app.Previous, app.PreviousGeneration = prev, nil, 0
	app.Generation++
	app.UpdatedAt = c.cfg.Now()
	app.Rollout = state.Rollout{Phase: state.RolloutRolledBack, Message: fmt.Sprintf("generation %d failed (%s); rolled back to the spec of generation %d", a.Generation, why, a.PreviousGeneration)}
	it := item{ops: []clientv3.Op{putJSON(state.AppKey(a.Spec.Name), &app)}}
	c.withEvent(ctx, &it, a.RequestID, state.Event{Kind: "RolloutFailed", Priority: state.Error, App: a.Spec.Name, Reason: "RolledBack", Message: app.Rollout.Message})
	if err := c.commit(ctx, t, []item{it}); err != nil {
		c.log.Warn("roll back", "app", a.Spec.Name, "err", err)
	}
}

func (c *Controller) setRollout(ctx context.Context, t *term, a *state.App, phase state.RolloutPhase, msg string) {
	app := *a
	app.Rollout = state.Rollout{Phase: phase, Message: msg}
	it := item{ops: []clientv3.Op{putJSON(state.AppKey(a.Spec.Name), &app)}}
	prio := state.Info
	if phase != state.RolloutDone {
		prio = state.Warning
	}
	c.withEvent(ctx, &it, a.RequestID, state.Event{Kind: "Rollout" + string(phase), Priority: prio, App: a.Spec.Name, Message: msg})
	if err := c.commit(ctx, t, []item{it}); err != nil {
		c.log.Warn("rollout state", "app", a.Spec.Name, "err", err)
	}
}

// aliveByPeers reports whether the last inspection round, written after
// since, found node alive over gossip: passed, failed, stale, silent or
// unreachable from the inspector but vouched for by its peers.
func (c *Controller) aliveByPeers(ctx context.Context, node string, since time.Time) (bool, string) {
	rep, err := fleetinspect.GetReport(ctx, c.cfg.Etcd)
	if err != nil || rep == nil || rep.Report == nil || !rep.Started.After(since) {
		return false, ""
	}
	m, ok := rep.Member(node)
	if !ok {
		return false, ""
	}
	switch m.Status {
	case inspect.StatusDead, inspect.StatusLeft:
		return false, ""
	}
	return true, "inspection round of " + rep.Started.Format(time.RFC3339) + ": " + string(m.Status)
}
