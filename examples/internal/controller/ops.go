package controller

import (
	"context"
	"errors"
	"fmt"
	"reflect"
	"slices"

	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/shoalkit/shoal/examples/internal/state"
)

// Change is what an API call did: the app as it now stands and the
// instances it created or removed.
type Change struct {
	App     *state.App       `json:"app,omitempty"`
	Created []state.Instance `json:"created,omitempty"`
	Removed []string         `json:"removed,omitempty"`
}

// validSpec validates a spec, turning state's field errors into ours.
func validSpec(s *state.AppSpec) error {
	if err := s.Validate(); err != nil {
		var fe *state.FieldError
		if errors.As(err, &fe) {
			return &fieldError{field: fe.Field, err: wrapError(ErrInvalid, err, "app spec")}
		}
		return wrapError(ErrInvalid, err, "app spec")
	}
	return nil
}

// Deploy creates an app and places its replicas. The app and its first
// instances are written together; nothing of it remains if any part fails.
func (c *Controller) Deploy(ctx context.Context, requestID string, spec state.AppSpec) (*Change, error) {
	if err := validSpec(&spec); err != nil {
		return nil, err
	}
	if err := c.checkImage(ctx, spec.Image); err != nil {
		return nil, err
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	t, err := c.leader()
	if err != nil {
		return nil, err
	}
	c.cache.mu.RLock()
	_, dup := c.cache.apps[spec.Name]
	c.cache.mu.RUnlock()
	if dup {
		return nil, &fieldError{field: "name", err: newError(ErrConflict, "app %q exists", spec.Name)}
	}
	now := c.cfg.Now()
	app := &state.App{Spec: spec, Generation: 1, RequestID: requestID, CreatedAt: now, UpdatedAt: now, Rollout: state.Rollout{Phase: state.RolloutDone}}
	return c.resize(ctx, t, requestID, app, nil, "AppDeployed")
}

// Scale sets an app's replica count.
func (c *Controller) Scale(ctx context.Context, requestID, name string, replicas int) (*Change, error) {
	if replicas < 0 || replicas > state.MaxReplicas {
		return nil, &fieldError{field: "replicas", err: newError(ErrInvalid, "replicas: %d outside 0..%d", replicas, state.MaxReplicas)}
	}
	t, err := c.leader()
	if err != nil {
		return nil, err
	}
	return c.scaleAs(ctx, t, requestID, name, replicas, "AppScaled")
}

// scaleAs sets an app's replica count as the change kind says.
func (c *Controller) scaleAs(ctx context.Context, t *term, requestID, name string, replicas int, kind string) (*Change, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if t.ctx.Err() != nil {
		return nil, newError(ErrNotLeader, "leadership ended; retry at the leader")
	}
	_, old, err := c.appForChange(name)
	if err != nil {
		return nil, err
	}
	app := *old
	app.Spec.Replicas, app.RequestID, app.UpdatedAt = replicas, requestID, c.cfg.Now()
	return c.resize(ctx, t, requestID, &app, old, kind)
}

// Update replaces an app's spec. A change of what its instances run
// (image, command, resources, …) bumps the generation and starts a rolling
// update; a change of the count alone scales.
func (c *Controller) Update(ctx context.Context, requestID string, spec state.AppSpec) (*Change, error) {
	if err := validSpec(&spec); err != nil {
		return nil, err
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	t, old, err := c.appForChange(spec.Name)
	if err != nil {
		return nil, err
	}
	if spec.Team != old.Spec.Team || spec.Kind != old.Spec.Kind || !reflect.DeepEqual(vlanOf(&spec), vlanOf(&old.Spec)) {
		return nil, &fieldError{field: "team", err: newError(ErrInvalid, "team, kind and VLAN of an app cannot change; deploy a new app")}
	}
	if spec.Image != old.Spec.Image {
		if err := c.checkImage(ctx, spec.Image); err != nil {
			return nil, err
		}
	}
	app := *old
	app.Spec, app.RequestID, app.UpdatedAt = spec, requestID, c.cfg.Now()
	if spec.Image != old.Spec.Image {
		c.cache.mu.RLock()
		var nodes []string
		for n := range c.cache.byNode {
			for _, in := range c.cache.byNode[n] {
				if in.App == spec.Name {
					nodes = append(nodes, n)
					break
				}
			}
		}
		c.cache.mu.RUnlock()
		slices.Sort(nodes)
		c.predistribute(ctx, requestID, spec.Name, spec.Image, nodes)
	}
	if templateChanged(&old.Spec, &spec) {
		prev := old.Spec
		app.Previous, app.PreviousGeneration = &prev, old.Generation
		app.Generation++
		app.Rollout = state.Rollout{Phase: state.RolloutProgress, Message: fmt.Sprintf("rolling out generation %d", app.Generation)}
	}
	ch, err := c.resize(ctx, t, requestID, &app, old, "AppUpdated")
	if err == nil {
		c.poke()
	}
	return ch, err
}

func vlanOf(s *state.AppSpec) int {
	if s.Network == nil {
		return 0
	}
	return s.Network.VLAN
}

// templateChanged reports whether instances made from a and b differ.
func templateChanged(a, b *state.AppSpec) bool {
	ta, tb := a.Template(), b.Template()
	if !reflect.DeepEqual(ta, tb) {
		return true
	}
	na, nb := a.Network, b.Network
	return (na == nil) != (nb == nil) || (na != nil && (na.EgressBps != nb.EgressBps || na.IngressBps != nb.IngressBps))
}

// Delete removes an app and all its instances.
func (c *Controller) Delete(ctx context.Context, requestID, name string) (*Change, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	t, _, err := c.appForChange(name)
	if err != nil {
		return nil, err
	}
	c.cache.mu.RLock()
	var items []item
	ch := &Change{}
	for _, in := range c.cache.byApp[name] {
		items = append(items, deleteItem(in))
		ch.Removed = append(ch.Removed, in.ID)
	}
	c.cache.mu.RUnlock()
	items = append(items, item{ops: []clientv3.Op{clientv3.OpDelete(state.AppKey(name))}})
	if err := c.commit(ctx, t, items); err != nil {
		return nil, err
	}
	c.event(ctx, requestID, state.Event{
		Kind: "AppDeleted", Priority: state.Info, App: name,
		Message: fmt.Sprintf("%d instance(s) removed", len(ch.Removed)),
	})
	return ch, nil
}

// appForChange returns the term and the app to change; c.mu is held.
func (c *Controller) appForChange(name string) (*term, *state.App, error) {
	t, err := c.leader()
	if err != nil {
		return nil, nil, err
	}
	c.cache.mu.RLock()
	defer c.cache.mu.RUnlock()
	app := c.cache.apps[name]
	if app == nil {
		return nil, nil, newError(ErrNotFound, "app %q", name)
	}
	return t, app, nil
}

// resize writes app and brings its instance count to Spec.Replicas:
// new ones placed, extra ones removed, all in one change. old is the app
// as stored (nil for a new one). c.mu is held.
func (c *Controller) resize(ctx context.Context, t *term, requestID string, app, old *state.App, kind string) (*Change, error) {
	c.cache.mu.RLock()
	have := len(c.cache.byApp[app.Spec.Name])
	c.cache.mu.RUnlock()
	ch := &Change{App: app}
	want := app.Spec.Replicas
	if want > have {
		if err := c.checkQuota(app, want-have); err != nil {
			return nil, err
		}
		var err error
		if ch.Created, err = c.plan(app, want-have, requestID); err != nil {
			return nil, err
		}
		c.predistribute(ctx, requestID, app.Spec.Name, app.Spec.Image, nodesOf(ch.Created))
	}
	appItem := item{ops: []clientv3.Op{putJSON(state.AppKey(app.Spec.Name), app)}}
	if old == nil {
		appItem.cmps = []clientv3.Cmp{absent(state.AppKey(app.Spec.Name))}
		appItem.undo = []clientv3.Op{clientv3.OpDelete(state.AppKey(app.Spec.Name))}
	}
	items := []item{appItem}
	for i := range ch.Created {
		it := createItem(&ch.Created[i])
		c.withEvent(ctx, &it, requestID, state.Event{
			Kind: "InstanceScheduled", Priority: state.Info,
			App: app.Spec.Name, Instance: ch.Created[i].ID, Node: ch.Created[i].Node, Reason: kind, Message: addrOf(&ch.Created[i]),
		})
		items = append(items, it)
	}
	if want < have {
		c.cache.mu.RLock()
		for _, in := range c.victims(app.Spec.Name, have-want) {
			items = append(items, deleteItem(in))
			ch.Removed = append(ch.Removed, in.ID)
		}
		c.cache.mu.RUnlock()
	}
	if err := c.commit(ctx, t, items); err != nil {
		return nil, err
	}
	c.event(ctx, requestID, state.Event{
		Kind: kind, Priority: state.Info, App: app.Spec.Name,
		Message: fmt.Sprintf("generation %d, %d replica(s): %d created, %d removed", app.Generation, want, len(ch.Created), len(ch.Removed)),
	})
	return ch, nil
}

func addrOf(in *state.Instance) string {
	if in.Network == nil {
		return "host network"
	}
	return fmt.Sprintf("vlan %d %v", in.Network.VLAN, in.Network.IP)
}

// withEvent adds an event's put to a write item, so the change and its
// record land together.
func (c *Controller) withEvent(ctx context.Context, it *item, requestID string, ev state.Event) {
	ev.RequestID = requestID
	if op, err := c.events.Op(ctx, ev); err == nil {
		it.ops = append(it.ops, op)
	}
}

func (c *Controller) checkImage(ctx context.Context, ref string) error {
	if c.cfg.CheckImage == nil {
		return nil
	}
	if err := c.cfg.CheckImage(ctx, ref); err != nil {
		return &fieldError{field: "image", err: wrapError(ErrInvalid, err, "image %q", ref)}
	}
	return nil
}

// checkQuota refuses adding n instances of app when its team's quota
// would be exceeded, naming what. c.mu is held.
func (c *Controller) checkQuota(app *state.App, n int) error {
	c.cache.mu.RLock()
	defer c.cache.mu.RUnlock()
	q := c.cache.quotas[app.Spec.Team]
	if q == nil {
		return nil
	}
	u := c.teamUsage(app.Spec.Team)
	add := app.Spec.Resources
	switch {
	case q.Instances > 0 && u.Instances+n > q.Instances:
		return newError(ErrQuota, "team %s: %d instance(s) + %d exceeds its quota of %d", app.Spec.Team, u.Instances, n, q.Instances)
	case q.CPUs > 0 && u.CPUs+float64(n)*add.CPUs > q.CPUs+1e-9:
		return newError(ErrQuota, "team %s: %.2f cores + %.2f exceeds its quota of %.2f", app.Spec.Team, u.CPUs, float64(n)*add.CPUs, q.CPUs)
	case q.MemoryBytes > 0 && u.MemoryBytes+int64(n)*add.MemoryBytes > q.MemoryBytes:
		return newError(ErrQuota, "team %s: %d bytes of memory + %d exceeds its quota of %d", app.Spec.Team, u.MemoryBytes, int64(n)*add.MemoryBytes, q.MemoryBytes)
	}
	return nil
}

// teamUsage sums what a team's instances hold; c.cache.mu is read-held.
func (c *Controller) teamUsage(team string) state.Quota {
	var u state.Quota
	for name, a := range c.cache.apps {
		if a.Spec.Team != team {
			continue
		}
		for _, in := range c.cache.byApp[name] {
			u.Instances++
			u.CPUs += in.Resources.CPUs
			u.MemoryBytes += in.Resources.MemoryBytes
		}
	}
	return u
}

// Resize changes one instance's resources in place: the agent applies new
// limits to the running container.
func (c *Controller) Resize(ctx context.Context, requestID, id string, res state.Resources) (*state.Instance, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	t, err := c.leader()
	if err != nil {
		return nil, err
	}
	c.cache.mu.RLock()
	cur := c.cache.desired[id]
	c.cache.mu.RUnlock()
	if cur == nil {
		return nil, newError(ErrNotFound, "instance %q", id)
	}
	in := *cur
	in.Resources, in.RequestID = res, requestID
	in.Generation++
	if err := in.Validate(); err != nil {
		var fe *state.FieldError
		if errors.As(err, &fe) {
			return nil, &fieldError{field: fe.Field, err: wrapError(ErrInvalid, err, "resize")}
		}
		return nil, wrapError(ErrInvalid, err, "resize")
	}
	it := item{ops: []clientv3.Op{putJSON(state.DesiredKey(in.Node, in.ID), &in)}}
	c.withEvent(ctx, &it, requestID, state.Event{
		Kind: "InstanceResized", Priority: state.Info, App: in.App, Instance: id, Node: in.Node,
		Message: fmt.Sprintf("cpus %v, memory %d, pids %d", res.CPUs, res.MemoryBytes, res.PIDs),
	})
	if err := c.commit(ctx, t, []item{it}); err != nil {
		return nil, err
	}
	return &in, nil
}

// SetCordon cordons a node (no new placements), drains it (its instances
// are moved away too), or, with mode "", lets it take placements again.
func (c *Controller) SetCordon(ctx context.Context, requestID, node, mode string) error {
	if !state.ValidName(node) {
		return newError(ErrInvalid, "node %q is not a name", node)
	}
	if mode != "" && mode != "cordon" && mode != "drain" {
		return newError(ErrInvalid, "mode %q, want cordon or drain", mode)
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	t, err := c.leader()
	if err != nil {
		return err
	}
	op := clientv3.OpDelete(state.CordonKey(node))
	kind := "NodeUncordoned"
	if mode != "" {
		op, kind = clientv3.OpPut(state.CordonKey(node), mode), "Node"+map[string]string{"cordon": "Cordoned", "drain": "Draining"}[mode]
	}
	it := item{ops: []clientv3.Op{op}}
	c.withEvent(ctx, &it, requestID, state.Event{Kind: kind, Priority: state.Info, Node: node})
	if err := c.commit(ctx, t, []item{it}); err != nil {
		return err
	}
	c.poke()
	return nil
}

// PutNetwork defines or replaces a VLAN's address pool. A pool may not
// shrink away from addresses in use.
func (c *Controller) PutNetwork(ctx context.Context, requestID string, p state.NetworkPool) error {
	if err := p.Validate(); err != nil {
		var fe *state.FieldError
		if errors.As(err, &fe) {
			return &fieldError{field: fe.Field, err: wrapError(ErrInvalid, err, "network")}
		}
		return wrapError(ErrInvalid, err, "network")
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	t, err := c.leader()
	if err != nil {
		return err
	}
	c.cache.mu.RLock()
	for ip, id := range c.cache.ips[p.VLAN] {
		if !p.Subnet.Contains(ip) {
			c.cache.mu.RUnlock()
			return &fieldError{field: "subnet", err: newError(ErrConflict, "%v is held by %s and outside %v", ip, id, p.Subnet)}
		}
	}
	c.cache.mu.RUnlock()
	it := item{ops: []clientv3.Op{putJSON(state.NetworkKey(p.VLAN), &p)}}
	c.withEvent(ctx, &it, requestID, state.Event{Kind: "NetworkDefined", Priority: state.Info, Message: fmt.Sprintf("vlan %d %v", p.VLAN, p.Subnet)})
	return c.commit(ctx, t, []item{it})
}

// PutQuota sets a team's quota.
func (c *Controller) PutQuota(ctx context.Context, requestID, team string, q state.Quota) error {
	if !state.ValidName(team) {
		return &fieldError{field: "team", err: newError(ErrInvalid, "team %q is not a name", team)}
	}
	if err := q.Validate(); err != nil {
		return &fieldError{field: "quota", err: wrapError(ErrInvalid, err, "quota")}
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	t, err := c.leader()
	if err != nil {
		return err
	}
	it := item{ops: []clientv3.Op{putJSON(state.QuotaKey(team), &q)}}
	c.withEvent(ctx, &it, requestID, state.Event{Kind: "QuotaSet", Priority: state.Info, Message: fmt.Sprintf("team %s: %+v", team, q)})
	return c.commit(ctx, t, []item{it})
}

// poke asks the leader loop for a pass soon.
func (c *Controller) poke() {
	select {
	case c.kick <- struct{}{}:
	default:
	}
}
