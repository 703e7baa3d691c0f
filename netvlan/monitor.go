package netvlan

import (
	"context"
	"sync"
	"sync/atomic"
	"time"

	"github.com/ovn-org/libovsdb/model"

	"github.com/shoalkit/shoal/netvlan/ovsmodel"
)

// EventKind says what an Event reports.
type EventKind string

// The events a Switch reports through Run.
const (
	EventDisconnected EventKind = "disconnected" // the connection to ovsdb-server dropped
	EventReconnected  EventKind = "reconnected"  // connected and monitoring again; calls may already have succeeded before it arrives
	EventPortAdded    EventKind = "port-added"   // an owned interface appeared in OVSDB
	EventPortRemoved  EventKind = "port-removed" // an owned interface left OVSDB
	EventOfport       EventKind = "ofport"       // an owned interface's ofport changed (-1: ovs-vswitchd could not open it)
	EventLinkState    EventKind = "link-state"   // an owned interface went up or down
	EventError        EventKind = "error"        // ovs-vswitchd set an error on an owned interface
	EventConfig       EventKind = "config"       // next_cfg or cur_cfg changed: CurCfg < NextCfg means ovs-vswitchd lags
)

// Event is a change of the switch's state.
type Event struct {
	Kind        EventKind
	Time        time.Time
	Port        string // the interface (and port) name
	ContainerID string
	IfName      string
	Ofport      int
	LinkState   string
	Error       string
	NextCfg     int // Open_vSwitch.next_cfg: the configuration asked for
	CurCfg      int // Open_vSwitch.cur_cfg: the configuration ovs-vswitchd applied
}

// eventBuffer is how many events a slow Run handler may fall behind before
// events are dropped (and counted in Health.DroppedEvents).
const eventBuffer = 1024

// watchers are the running Run calls.
type watchers struct {
	mu      sync.Mutex
	chans   map[chan Event]struct{}
	dropped atomic.Uint64
}

// Run calls handle for every event until ctx ends, and returns ctx's error.
// handle runs on the caller's goroutine, one event at a time; events that
// arrive while more than 1024 are waiting are dropped and counted. Several
// Run calls may run at once; each sees every event.
func (s *Switch) Run(ctx context.Context, handle func(Event)) error {
	ch := make(chan Event, eventBuffer)
	s.watch.mu.Lock()
	if s.watch.chans == nil {
		s.watch.chans = map[chan Event]struct{}{}
	}
	s.watch.chans[ch] = struct{}{}
	s.watch.mu.Unlock()
	defer func() {
		s.watch.mu.Lock()
		delete(s.watch.chans, ch)
		s.watch.mu.Unlock()
	}()
	for {
		select {
		case e := <-ch:
			handle(e)
		case <-s.closed:
			return newError(ErrClosed, "switch is closed")
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}

// emit hands e to every Run call without blocking.
func (s *Switch) emit(e Event) {
	if e.Time.IsZero() {
		e.Time = time.Now()
	}
	s.watch.mu.Lock()
	defer s.watch.mu.Unlock()
	for ch := range s.watch.chans {
		select {
		case ch <- e:
		default:
			s.watch.dropped.Add(1)
		}
	}
}

// observe turns a cache change into events.
func (s *Switch) observe(table string, old, m model.Model) {
	switch table {
	case ovsmodel.InterfaceTable:
		var o, n *ovsmodel.Interface
		if old != nil {
			o, _ = old.(*ovsmodel.Interface)
		}
		if m != nil {
			n, _ = m.(*ovsmodel.Interface)
		}
		s.observeInterface(o, n)
	case ovsmodel.OpenvSwitchTable:
		var o, n *ovsmodel.OpenvSwitch
		if old != nil {
			o, _ = old.(*ovsmodel.OpenvSwitch)
		}
		if m != nil {
			n, _ = m.(*ovsmodel.OpenvSwitch)
		}
		if n != nil && (o == nil || o.CurCfg != n.CurCfg || o.NextCfg != n.NextCfg) {
			s.emit(Event{Kind: EventConfig, NextCfg: n.NextCfg, CurCfg: n.CurCfg})
		}
	}
}

func (s *Switch) observeInterface(o, n *ovsmodel.Interface) {
	ref := n
	if ref == nil {
		ref = o
	}
	if ref == nil || ref.ExternalIDs[keyOwner] != s.cfg.Owner {
		return
	}
	base := Event{Port: ref.Name, ContainerID: ref.ExternalIDs[keyContainer], IfName: ref.ExternalIDs[keyIfName]}
	with := func(k EventKind) Event {
		e := base
		e.Kind = k
		if n != nil {
			e.Ofport = deref(n.Ofport)
			e.LinkState = deref(n.LinkState)
			e.Error = deref(n.Error)
		}
		return e
	}
	switch {
	case o == nil:
		s.emit(with(EventPortAdded))
		return
	case n == nil:
		s.emit(with(EventPortRemoved))
		return
	}
	if deref(o.Ofport) != deref(n.Ofport) {
		s.emit(with(EventOfport))
	}
	if deref(o.LinkState) != deref(n.LinkState) {
		s.emit(with(EventLinkState))
	}
	if deref(n.Error) != "" && deref(o.Error) != deref(n.Error) {
		s.emit(with(EventError))
	}
}

func deref[T any](p *T) T {
	var zero T
	if p == nil {
		return zero
	}
	return *p
}

// Health is the switch's state as values for metrics.
type Health struct {
	Connected      bool   // connected to ovsdb-server
	NextCfg        int    // Open_vSwitch.next_cfg
	CurCfg         int    // Open_vSwitch.cur_cfg
	Lag            int    // NextCfg - CurCfg: configurations ovs-vswitchd has not applied yet
	Bridges        int    // bridges in the database
	Ports          int    // ports this owner attached
	PortsDown      int    // of those, with link_state down
	PortsNoOfport  int    // of those, without an ofport yet
	PortsWithError int    // of those, with an Interface error
	DroppedEvents  uint64 // events Run handlers fell too far behind to get
}

// Health reads the switch's state from the cache.
func (s *Switch) Health(ctx context.Context) (Health, error) {
	h := Health{Connected: s.Connected(), DroppedEvents: s.watch.dropped.Load()}
	if !h.Connected {
		return h, nil
	}
	root, err := s.root(ctx)
	if err != nil {
		return h, err
	}
	h.NextCfg, h.CurCfg = root.NextCfg, root.CurCfg
	h.Lag = max(0, h.NextCfg-h.CurCfg)
	h.Bridges = len(root.Bridges)
	ports, err := s.List(ctx)
	if err != nil {
		return h, err
	}
	h.Ports = len(ports)
	for _, p := range ports {
		if p.LinkState == "down" {
			h.PortsDown++
		}
		if p.Ofport <= 0 {
			h.PortsNoOfport++
		}
		if p.Error != "" {
			h.PortsWithError++
		}
	}
	return h, nil
}
