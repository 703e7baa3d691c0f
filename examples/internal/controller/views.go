package controller

import (
	"net/netip"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/shoalkit/shoal/examples/internal/state"
)

// InstanceView is an instance as the API shows it: what is desired and
// what its agent last reported.
type InstanceView struct {
	Desired state.Instance `json:"desired"`
	Status  *state.Status  `json:"status,omitempty"`
	// Ready is true when the instance runs its current generation.
	Ready bool `json:"ready"`
}

// AppView is an app with its instances counted.
type AppView struct {
	state.App
	Instances int `json:"instances"`
	Ready     int `json:"ready"`
}

// NodeView is a node as the controller sees it.
type NodeView struct {
	Name string `json:"name"`
	// Node is the agent's last report; nil when the node is gone.
	Node      *state.Node `json:"node,omitempty"`
	Live      bool        `json:"live"`
	LostSince time.Time   `json:"lost_since,omitzero"`
	// Cordon is "", "cordon" or "drain".
	Cordon      string  `json:"cordon,omitempty"`
	Instances   int     `json:"instances"`
	CPUs        float64 `json:"allocated_cpus"`
	MemoryBytes int64   `json:"allocated_memory_bytes"`
}

// Endpoint is one ready instance of an app, for a load balancer.
type Endpoint struct {
	Instance string `json:"instance"`
	Node     string `json:"node"`
	IP       string `json:"ip"`
	Port     int    `json:"port,omitempty"`
}

// TeamUsage is a team's quota beside what its instances hold.
type TeamUsage struct {
	Team  string       `json:"team"`
	Quota *state.Quota `json:"quota,omitempty"`
	Used  state.Quota  `json:"used"`
}

// Apps lists the apps, by name.
func (c *Controller) Apps() []AppView {
	c.cache.mu.RLock()
	defer c.cache.mu.RUnlock()
	out := make([]AppView, 0, len(c.cache.apps))
	for name, a := range c.cache.apps {
		out = append(out, AppView{App: *a, Instances: len(c.cache.byApp[name]), Ready: c.cache.ready[name]})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Spec.Name < out[j].Spec.Name })
	return out
}

// App returns one app.
func (c *Controller) App(name string) (AppView, error) {
	for _, a := range c.Apps() {
		if a.Spec.Name == name {
			return a, nil
		}
	}
	return AppView{}, newError(ErrNotFound, "app %q", name)
}

// Instances lists instances, of one app or node when given, by id.
func (c *Controller) Instances(app, node string) []InstanceView {
	c.cache.mu.RLock()
	defer c.cache.mu.RUnlock()
	set := c.cache.desired
	switch {
	case app != "":
		set = c.cache.byApp[app]
	case node != "":
		set = c.cache.byNode[node]
	}
	var out []InstanceView
	for _, in := range set {
		if (app == "" || in.App == app) && (node == "" || in.Node == node) {
			out = append(out, c.view(in))
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Desired.ID < out[j].Desired.ID })
	return out
}

// view builds an InstanceView; c.cache.mu is read-held.
func (c *Controller) view(in *state.Instance) InstanceView {
	v := InstanceView{Desired: *in, Ready: c.running(in)}
	if st := c.cache.status[in.ID]; st != nil && st.Node == in.Node {
		s := *st
		v.Status = &s
	}
	return v
}

// Instance returns one instance.
func (c *Controller) Instance(id string) (InstanceView, error) {
	c.cache.mu.RLock()
	defer c.cache.mu.RUnlock()
	in := c.cache.desired[id]
	if in == nil {
		return InstanceView{}, newError(ErrNotFound, "instance %q", id)
	}
	return c.view(in), nil
}

// Nodes lists the nodes that report or have instances, by name.
func (c *Controller) Nodes() []NodeView {
	c.cache.mu.RLock()
	defer c.cache.mu.RUnlock()
	views := map[string]*NodeView{}
	get := func(name string) *NodeView {
		v := views[name]
		if v == nil {
			v = &NodeView{Name: name, Cordon: c.cache.cordon[name], LostSince: c.cache.lostAt[name]}
			views[name] = v
		}
		return v
	}
	for name, n := range c.cache.nodes {
		v := get(name)
		nn := *n
		v.Node, v.Live = &nn, true
	}
	for _, in := range c.cache.desired {
		v := get(in.Node)
		v.Instances++
		v.CPUs += in.Resources.CPUs
		v.MemoryBytes += in.Resources.MemoryBytes
	}
	out := make([]NodeView, 0, len(views))
	for _, v := range views {
		out = append(out, *v)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out
}

// Endpoints returns an app's ready instances with their address.
func (c *Controller) Endpoints(app string) ([]Endpoint, error) {
	c.cache.mu.RLock()
	defer c.cache.mu.RUnlock()
	a := c.cache.apps[app]
	if a == nil {
		return nil, newError(ErrNotFound, "app %q", app)
	}
	port := 0
	if a.Spec.Network != nil {
		port = a.Spec.Network.Port
	}
	out := []Endpoint{}
	for _, in := range c.cache.byApp[app] {
		if !c.running(in) {
			continue
		}
		ip := ""
		if in.Network != nil {
			ip = in.Network.IP.Addr().String()
		} else if n := c.cache.nodes[in.Node]; n != nil {
			ip, _, _ = strings.Cut(n.Addr, ":")
		}
		out = append(out, Endpoint{Instance: in.ID, Node: in.Node, IP: ip, Port: port})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Instance < out[j].Instance })
	return out, nil
}

// EventFilter selects events; empty fields match everything.
type EventFilter struct {
	RequestID string
	Instance  string
	App       string
	Node      string
	Since     time.Time
	// Limit is the most events returned, the newest; 0 means 1,000.
	Limit int
}

func (f *EventFilter) match(ev *state.Event) bool {
	return (f.RequestID == "" || ev.RequestID == f.RequestID) && (f.Instance == "" || ev.Instance == f.Instance) &&
		(f.App == "" || ev.App == f.App) && (f.Node == "" || ev.Node == f.Node) && !ev.Time.Before(f.Since)
}

// Events returns the events matching f, oldest first, from the last
// MaxEvents the controller holds.
func (c *Controller) Events(f EventFilter) []state.Event {
	evs, _ := c.eventsAfter("", f)
	return evs
}

// eventsAfter returns the matching events with a key after from, and the
// key of the newest event held.
func (c *Controller) eventsAfter(from string, f EventFilter) ([]state.Event, string) {
	limit := f.Limit
	if limit <= 0 {
		limit = 1000
	}
	c.cache.mu.RLock()
	defer c.cache.mu.RUnlock()
	i, _ := slices.BinarySearchFunc(c.cache.events, from+"\x00", func(e eventEntry, k string) int { return strings.Compare(e.key, k) })
	var out []state.Event
	for j := len(c.cache.events) - 1; j >= i && len(out) < limit; j-- {
		if ev := &c.cache.events[j].ev; f.match(ev) {
			out = append(out, *ev)
		}
	}
	slices.Reverse(out)
	last := from
	if n := len(c.cache.events); n > 0 {
		last = c.cache.events[n-1].key
	}
	return out, last
}

// Networks lists the VLAN pools with the addresses taken.
func (c *Controller) Networks() []NetworkView {
	c.cache.mu.RLock()
	defer c.cache.mu.RUnlock()
	out := make([]NetworkView, 0, len(c.cache.networks))
	for vlan, p := range c.cache.networks {
		out = append(out, NetworkView{NetworkPool: *p, Used: len(c.cache.ips[vlan]), Size: poolSize(p)})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].VLAN < out[j].VLAN })
	return out
}

// NetworkView is a VLAN pool with its use.
type NetworkView struct {
	state.NetworkPool
	Used int `json:"used"`
	Size int `json:"size"`
}

func poolSize(p *state.NetworkPool) int {
	n := 1<<(32-p.Subnet.Bits()) - 2 // less the network and broadcast addresses
	first := p.Subnet.Addr().Next()
	if p.From.IsValid() {
		n -= addrDiff(first, p.From)
		first = p.From
	}
	if p.Gateway.IsValid() && !p.Gateway.Less(first) {
		n--
	}
	return max(n, 0)
}

func addrDiff(a, b netip.Addr) int {
	x, y := a.As4(), b.As4()
	return int(uint32(y[0])<<24|uint32(y[1])<<16|uint32(y[2])<<8|uint32(y[3])) -
		int(uint32(x[0])<<24|uint32(x[1])<<16|uint32(x[2])<<8|uint32(x[3]))
}

// Usage lists each team's quota and use.
func (c *Controller) Usage() []TeamUsage {
	c.cache.mu.RLock()
	defer c.cache.mu.RUnlock()
	teams := map[string]bool{}
	for _, a := range c.cache.apps {
		teams[a.Spec.Team] = true
	}
	for t := range c.cache.quotas {
		teams[t] = true
	}
	out := make([]TeamUsage, 0, len(teams))
	for t := range teams {
		out = append(out, TeamUsage{Team: t, Quota: c.cache.quotas[t], Used: c.teamUsage(t)})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Team < out[j].Team })
	return out
}
