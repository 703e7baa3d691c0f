package netvlan

import (
	"context"
	"errors"
	"log/slog"
	"sync"
	"time"

	"github.com/go-logr/logr"
	"github.com/ovn-org/libovsdb/cache"
	"github.com/ovn-org/libovsdb/client"
	"github.com/ovn-org/libovsdb/model"
	"github.com/ovn-org/libovsdb/ovsdb"
	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netns"

	"github.com/shoalkit/shoal/netvlan/ovsmodel"
)

// external_ids keys. container_id and container_iface are the names
// ovs-docker uses, so its tools read our ports too; the shoal- keys are ours.
const (
	keyOwner     = "shoal-owner"
	keyContainer = "container_id"
	keyIfName    = "container_iface"
	keyIfaceID   = "iface-id"
	keyMAC       = "attached-mac"
	keyNetns     = "shoal-netns"
	keyAddr      = "shoal-ip"
	keyGateway   = "shoal-gateway"
	keyPoolVLAN  = "shoal-pool-vlan"
)

// Switch wires containers to one Open vSwitch: it holds a monitored OVSDB
// connection to ovsdb-server, a netlink handle in the host namespace, and
// the address pools. Open one per host and share it; its methods are safe
// for concurrent use. Close releases it.
//
// A Switch owns one goroutine, the exception to "the caller owns the
// goroutines": Open starts it and Close stops it and waits for it. It
// reconnects to ovsdb-server whenever the connection drops, so that an
// Attach after an ovsdb-server restart works without the caller having to
// run anything; Run only reports, on the caller's goroutine, what it did.
// (libovsdb's client keeps goroutines of its own for the connection, which
// Close ends too.)
type Switch struct {
	cfg  Config
	log  *slog.Logger
	ipam *IPAM
	host *hostNetns
	ovs  client.Client

	mu        sync.Mutex
	up        chan struct{} // closed while connected and monitoring
	changed   chan struct{} // closed and replaced on every cache change
	closed    chan struct{}
	closeOnce sync.Once
	done      sync.WaitGroup

	commit  committer
	index   rowIndex
	deletes sync.Mutex // one paced delete at a time
	watch   watchers
	probe   sync.Once // of the tc police action
	police  bool      // the kernel has it

	// attaching counts the Attach calls in flight per port name; Reconcile
	// holds attachMu while it decides on and deletes a veth without a Port
	// row, so it never deletes one an Attach is still committing.
	attachMu  sync.Mutex
	attaching map[string]int
}

// Open connects to ovsdb-server at cfg.Endpoint, starts monitoring the
// tables netvlan uses, opens the host namespace, and reads the address
// leases recorded on existing ports back into the pools.
func Open(ctx context.Context, cfg Config) (*Switch, error) {
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	cfg = cfg.withDefaults()
	ipam, err := NewIPAM(cfg.Pools...)
	if err != nil {
		return nil, err
	}
	log := cfg.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	host, err := openHostNetns(cfg.HostNetns)
	if err != nil {
		return nil, err
	}
	dbModel, err := ovsmodel.FullDatabaseModel()
	if err != nil {
		host.close()
		return nil, wrapError(ErrInvalid, err, "ovsdb model")
	}
	// libovsdb logs its row dumps at V(4) and V(5): slog levels -4 and -5,
	// at or below Debug, so an Info logger stays quiet.
	lg := logr.FromSlogHandler(log.Handler()).WithName("libovsdb")
	ovs, err := client.NewOVSDBClient(dbModel, client.WithEndpoint(cfg.Endpoint), client.WithLogger(&lg))
	if err != nil {
		host.close()
		return nil, wrapError(ErrInvalid, err, "ovsdb endpoint %q", cfg.Endpoint)
	}
	s := &Switch{
		cfg: cfg, log: log, ipam: ipam, host: host, ovs: ovs,
		up: make(chan struct{}), changed: make(chan struct{}), closed: make(chan struct{}),
	}
	s.commit.s = s
	cctx, cancel := context.WithTimeout(ctx, cfg.ConnectTimeout)
	defer cancel()
	if err := s.connect(cctx); err != nil {
		ovs.Close()
		host.close()
		return nil, err
	}
	if err := s.restoreLeases(ctx); err != nil {
		s.Close()
		return nil, err
	}
	s.done.Add(1)
	go s.reconnectLoop() //nolint:contextcheck // outlives Open's ctx; Close stops it
	return s, nil
}

// Close stops the reconnecting goroutine, disconnects from ovsdb-server
// and releases the host namespace. The ports stay: they belong to the
// containers. Close is idempotent and safe to call concurrently: every
// call returns once the switch is closed, and calls made after it return
// ErrClosed.
func (s *Switch) Close() error {
	s.closeOnce.Do(func() {
		close(s.closed)
		s.ovs.Close()
		s.done.Wait()
		s.host.close()
	})
	return nil
}

// IPAM returns the switch's address pools, for callers that want to look at
// or reserve addresses directly.
func (s *Switch) IPAM() *IPAM { return s.ipam }

// Config returns the configuration the switch runs with, defaults filled in.
func (s *Switch) Config() Config { return s.cfg }

// monitoredTables lists the tables and columns netvlan reads. Interface
// statistics are left out: ovs-vswitchd rewrites them every few seconds for
// every port, which would flood the cache on a bridge with a thousand ports.
func (s *Switch) monitor() *client.Monitor {
	var (
		root  ovsmodel.OpenvSwitch
		br    ovsmodel.Bridge
		port  ovsmodel.Port
		iface ovsmodel.Interface
		qos   ovsmodel.QoS
	)
	return s.ovs.NewMonitor(
		client.WithTable(&root, &root.Bridges, &root.CurCfg, &root.NextCfg),
		client.WithTable(&br, &br.Name, &br.Ports, &br.DatapathType),
		client.WithTable(&port, &port.Name, &port.Tag, &port.Trunks, &port.VLANMode, &port.Interfaces, &port.ExternalIDs, &port.QOS),
		client.WithTable(&iface, &iface.Name, &iface.Type, &iface.Ofport, &iface.Error, &iface.LinkState,
			&iface.AdminState, &iface.ExternalIDs, &iface.IngressPolicingRate, &iface.IngressPolicingBurst),
		client.WithTable(&qos, &qos.Type, &qos.OtherConfig, &qos.Queues, &qos.ExternalIDs),
	)
}

// connect connects and starts the monitor. The cache is new after every
// connection, so the change handler is added each time.
func (s *Switch) connect(ctx context.Context) error {
	if err := s.ovs.Connect(ctx); err != nil {
		return wrapError(ErrUnavailable, err, "connect to ovsdb-server at %s", s.cfg.Endpoint)
	}
	s.index.reset()
	s.ovs.Cache().AddEventHandler(&cache.EventHandlerFuncs{
		AddFunc:    func(table string, m model.Model) { s.onChange(table, nil, m) },
		UpdateFunc: func(table string, old, m model.Model) { s.onChange(table, old, m) },
		DeleteFunc: func(table string, m model.Model) { s.onChange(table, m, nil) },
	})
	if _, err := s.ovs.Monitor(ctx, s.monitor()); err != nil {
		// Let libovsdb finish tearing the connection down before the
		// next attempt, or Connect would find it still there.
		s.ovs.Disconnect()
		select {
		case <-s.ovs.DisconnectNotify():
		case <-time.After(s.cfg.ConnectTimeout):
		}
		return wrapError(ErrUnavailable, err, "monitor ovsdb-server at %s", s.cfg.Endpoint)
	}
	s.mu.Lock()
	close(s.up)
	s.mu.Unlock()
	s.notify()
	return nil
}

// reconnectLoop waits for the connection to drop and connects again,
// pausing ReconnectInterval (doubling up to ReconnectMax) between attempts.
func (s *Switch) reconnectLoop() {
	defer s.done.Done()
	for {
		select {
		case <-s.closed:
			return
		case <-s.ovs.DisconnectNotify():
		}
		s.mu.Lock()
		s.up = make(chan struct{})
		s.mu.Unlock()
		s.log.Warn("netvlan: lost ovsdb-server, reconnecting", "endpoint", s.cfg.Endpoint)
		s.emit(Event{Kind: EventDisconnected})
		pause := s.cfg.ReconnectInterval
		for {
			select {
			case <-s.closed:
				return
			default:
			}
			ctx, cancel := context.WithTimeout(context.Background(), s.cfg.ConnectTimeout)
			err := s.connect(ctx)
			cancel()
			if err == nil {
				break
			}
			s.log.Debug("netvlan: reconnect failed", "err", err)
			select {
			case <-s.closed:
				return
			case <-time.After(pause):
			}
			pause = min(2*pause, s.cfg.ReconnectMax)
		}
		s.log.Info("netvlan: reconnected to ovsdb-server", "endpoint", s.cfg.Endpoint)
		s.emit(Event{Kind: EventReconnected})
	}
}

// ready waits until the switch is connected and its cache populated.
func (s *Switch) ready(ctx context.Context) error {
	select {
	case <-s.closed:
		return newError(ErrClosed, "switch is closed")
	default:
	}
	s.mu.Lock()
	up := s.up
	s.mu.Unlock()
	select {
	case <-up:
		return nil
	default:
	}
	select {
	case <-up:
		return nil
	case <-s.closed:
		return newError(ErrClosed, "switch is closed")
	case <-ctx.Done():
		return wrapError(ErrUnavailable, ctx.Err(), "ovsdb-server at %s is not connected", s.cfg.Endpoint)
	}
}

// Connected reports whether the switch is connected to ovsdb-server now.
func (s *Switch) Connected() bool {
	select {
	case <-s.closed:
		return false
	default:
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	select {
	case <-s.up:
		return true
	default:
		return false
	}
}

// onChange runs on libovsdb's cache goroutine for every row change.
func (s *Switch) onChange(table string, old, m model.Model) {
	s.index.update(table, old, m)
	s.notify()
	s.observe(table, old, m)
}

// notify wakes every waiter on the cache.
func (s *Switch) notify() {
	s.mu.Lock()
	close(s.changed)
	s.changed = make(chan struct{})
	s.mu.Unlock()
}

// waitFor calls check after every cache change until it returns true or an
// error, or ctx ends.
func (s *Switch) waitFor(ctx context.Context, check func() (bool, error)) error {
	for {
		s.mu.Lock()
		ch := s.changed
		s.mu.Unlock()
		ok, err := check()
		if err != nil || ok {
			return err
		}
		select {
		case <-ch:
		case <-s.closed:
			return newError(ErrClosed, "switch is closed")
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}

// transact runs ops once the switch is connected and checks every result.
// It returns the results and, on failure, the index of the first failed
// operation (-1 when the failure was not an operation's).
func (s *Switch) transact(ctx context.Context, ops []ovsdb.Operation) ([]ovsdb.OperationResult, int, error) {
	if err := s.ready(ctx); err != nil {
		return nil, -1, err
	}
	res, err := s.ovs.Transact(ctx, ops...)
	if err != nil {
		return nil, -1, wrapError(ErrUnavailable, err, "ovsdb transaction")
	}
	for i, r := range res {
		if r.Error != "" {
			return res, i, newError(ErrUnavailable, "ovsdb transaction: %s: %s", r.Error, r.Details)
		}
	}
	if len(res) < len(ops) {
		return res, -1, newError(ErrUnavailable, "ovsdb transaction: %d operations, %d results", len(ops), len(res))
	}
	return res, -1, nil
}

// bridge returns the bridge called name from the cache, with its UUID and
// name only.
func (s *Switch) bridge(ctx context.Context, name string) (*ovsmodel.Bridge, error) {
	if err := s.ready(ctx); err != nil {
		return nil, err
	}
	if uuid, ok := s.index.bridge(name); ok {
		return &ovsmodel.Bridge{UUID: uuid, Name: name}, nil
	}
	b := &ovsmodel.Bridge{Name: name}
	if err := s.ovs.Get(ctx, b); err != nil {
		if errors.Is(err, client.ErrNotFound) {
			return nil, newError(ErrNotFound, "bridge %q does not exist", name)
		}
		return nil, wrapError(ErrUnavailable, err, "look up bridge %q", name)
	}
	return &ovsmodel.Bridge{UUID: b.UUID, Name: b.Name}, nil
}

// ownedPorts returns every port whose external_ids carry this switch's owner.
func (s *Switch) ownedPorts(ctx context.Context) ([]ovsmodel.Port, error) {
	if err := s.ready(ctx); err != nil {
		return nil, err
	}
	var ports []ovsmodel.Port
	err := s.ovs.WhereCache(func(p *ovsmodel.Port) bool { return p.ExternalIDs[keyOwner] == s.cfg.Owner }).List(ctx, &ports)
	if err != nil {
		return nil, wrapError(ErrUnavailable, err, "list ports")
	}
	return ports, nil
}

// bridgesOf maps port UUIDs to the bridges holding them.
func (s *Switch) bridgesOf(ctx context.Context) (map[string]*ovsmodel.Bridge, error) {
	var brs []ovsmodel.Bridge
	if err := s.ovs.List(ctx, &brs); err != nil {
		return nil, wrapError(ErrUnavailable, err, "list bridges")
	}
	m := map[string]*ovsmodel.Bridge{}
	for i := range brs {
		for _, p := range brs[i].Ports {
			m[p] = &brs[i]
		}
	}
	return m, nil
}

// root returns the Open_vSwitch row.
func (s *Switch) root(ctx context.Context) (*ovsmodel.OpenvSwitch, error) {
	var rows []ovsmodel.OpenvSwitch
	if err := s.ovs.List(ctx, &rows); err != nil {
		return nil, wrapError(ErrUnavailable, err, "read Open_vSwitch")
	}
	if len(rows) != 1 {
		return nil, newError(ErrUnavailable, "database has %d Open_vSwitch rows, want 1 (ovs-vsctl init)", len(rows))
	}
	return &rows[0], nil
}

// hostNetns is the namespace of the veth host ends.
type hostNetns struct {
	path string
	ns   netns.NsHandle // -1 when the caller's namespace
	h    *netlink.Handle
}

func openHostNetns(path string) (*hostNetns, error) {
	if path == "" {
		h, err := netlink.NewHandle()
		if err != nil {
			return nil, wrapError(ErrUnavailable, err, "netlink")
		}
		ns, err := netns.Get()
		if err != nil {
			h.Close()
			return nil, wrapError(ErrUnavailable, err, "open own network namespace")
		}
		return &hostNetns{ns: ns, h: h}, nil
	}
	ns, err := openNetns(path)
	if err != nil {
		return nil, err
	}
	h, err := handleAt(ns)
	if err != nil {
		_ = ns.Close()
		return nil, err
	}
	return &hostNetns{path: path, ns: ns, h: h}, nil
}

func (n *hostNetns) close() {
	n.h.Close()
	_ = n.ns.Close()
}
