package inspect

import (
	"context"
	"log"
	"log/slog"
	"net"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/hashicorp/memberlist"
	"github.com/hashicorp/serf/serf"
	"golang.org/x/sync/errgroup"
)

// Serf query names.
const (
	// QueryInspect asks every member for its verdict (payload: see
	// encodeQuery).
	QueryInspect = "shoal-inspect"
	// QueryProbe asks a member to ping others directly and say which
	// answered (payload: names, one a line; reply: '1' or '0' per name).
	QueryProbe = "shoal-probe"
	// AddrTag is the serf tag carrying the host:port of a node's stage-two
	// HTTP endpoint (Agent.Handler).
	AddrTag = "inspect-addr"
	// InspectorTag marks a member that inspects and is not inspected (an
	// Inspector without InspectSelf): rounds leave such members out of
	// their reports, alive, left or failed, and prune them from the
	// member list once they are gone.
	InspectorTag  = "inspect-inspector"
	maxProbeNames = 64
)

// AnyPort as NodeConfig.BindPort listens on any free port (read it back
// with Node.Addr); a zero BindPort means serf's 7946.
const AnyPort = -1

// Profile picks memberlist's timing profile.
type Profile string

// The profiles: serf's LAN default; Local for many nodes on one host or a
// fast LAN (shorter timeouts: the LAN profile falls over near 100 nodes on
// one 2-core box, Local answers every node); WAN for slow links.
const (
	ProfileLAN   Profile = "lan"
	ProfileLocal Profile = "local"
	ProfileWAN   Profile = "wan"
)

// NodeConfig configures a Node. A zero field means its default.
type NodeConfig struct {
	// BindAddr and BindPort are where gossip listens (UDP and TCP); default
	// 0.0.0.0:7946, serf's. BindPort AnyPort (-1) picks a free port; other
	// values outside 1..65535 are refused.
	BindAddr string
	BindPort int
	// AdvertiseAddr is the address peers reach this node on (default: the
	// bind address, or the first private one when binding 0.0.0.0).
	AdvertiseAddr string
	// Profile is the timing profile (default ProfileLAN).
	Profile Profile
	// Keys is serf's keyring: the first key (16, 24 or 32 bytes) encrypts,
	// all decrypt. Empty: gossip in clear. A node without the key cannot
	// join, query or answer.
	Keys [][]byte
	// Transport replaces memberlist's network transport (for a node whose
	// sockets live in another network namespace, or a simulated network).
	Transport memberlist.Transport
	// DetailsAddr is the host:port where Agent.Handler is served, gossiped
	// in AddrTag (empty: no stage two from this node).
	DetailsAddr string
	// QueryConcurrency is how many queries the node answers at once; more
	// are dropped and counted (default 4).
	QueryConcurrency int
	// Tune, when set, adjusts memberlist's configuration after the
	// profile is applied (probe and gossip timing for a crowded host).
	Tune func(*memberlist.Config)
	// TuneSerf, when set, adjusts serf's configuration before the node
	// sets what it owns (name, tags, protocol version, event channel,
	// memberlist configuration, logger): leave and reap timing, tombstone
	// and reconnect timeouts.
	TuneSerf func(*serf.Config)
	// Events receives member joins, leaves and failures; a full channel
	// drops the event (counted in Stats). Nil: none sent.
	Events chan<- MemberEvent
	// Logger receives the node's and serf's log (nil: discarded).
	Logger *slog.Logger
}

// DefaultNodeConfig returns the defaults: serf's 0.0.0.0:7946, the LAN
// profile, no encryption, 4 queries answered at once.
func DefaultNodeConfig() NodeConfig {
	return NodeConfig{BindAddr: "0.0.0.0", BindPort: 7946, Profile: ProfileLAN, QueryConcurrency: 4}
}

func (c NodeConfig) withDefaults() NodeConfig {
	d := DefaultNodeConfig()
	if c.BindAddr == "" {
		c.BindAddr = d.BindAddr
	}
	if c.BindPort == 0 {
		c.BindPort = d.BindPort
	}
	if c.Profile == "" {
		c.Profile = d.Profile
	}
	if c.BindPort == AnyPort {
		c.BindPort = 0 // memberlist's "any free port"
	}
	if c.QueryConcurrency <= 0 {
		c.QueryConcurrency = d.QueryConcurrency
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	return c
}

// MemberEvent is a change of membership the node saw.
type MemberEvent struct {
	Type    string    `json:"type"` // "join", "leave", "failed", "update" or "reap"
	Members []string  `json:"members"`
	At      time.Time `json:"at"`
}

// NodeStats counts what a node dropped.
type NodeStats struct {
	QueriesAnswered, QueriesDropped, EventsDropped uint64
}

// Node is a serf member that answers inspections with its Agent. Any node
// can also run an Inspector. Run must be running for the node to answer.
type Node struct {
	cfg    NodeConfig
	agent  *Agent
	serf   *serf.Serf
	events chan serf.Event

	answered, dropped, eventsDropped atomic.Uint64
	inspectorOnly                    atomic.Bool
	closeOnce                        sync.Once
	closeErr                         error
}

// NewNode creates the serf member (it listens at once) for agent.
func NewNode(cfg NodeConfig, agent *Agent) (*Node, error) {
	if agent == nil {
		return nil, newError(ErrInvalid, "nil agent")
	}
	if cfg.BindPort < AnyPort || cfg.BindPort > 65535 {
		return nil, newError(ErrInvalid, "NodeConfig.BindPort %d: want 1..65535, 0 for 7946 or AnyPort (-1)", cfg.BindPort)
	}
	cfg = cfg.withDefaults()
	var ml *memberlist.Config
	switch cfg.Profile {
	case ProfileLAN:
		ml = memberlist.DefaultLANConfig()
	case ProfileLocal:
		ml = memberlist.DefaultLocalConfig()
	case ProfileWAN:
		ml = memberlist.DefaultWANConfig()
	default:
		return nil, newError(ErrInvalid, "NodeConfig.Profile %q: want lan, local or wan", cfg.Profile)
	}
	logger := log.New(slogWriter{cfg.Logger}, "", 0)
	ml.BindAddr, ml.BindPort = cfg.BindAddr, cfg.BindPort
	ml.AdvertiseAddr = cfg.AdvertiseAddr
	ml.Transport = cfg.Transport
	ml.Logger = logger
	if cfg.Tune != nil {
		cfg.Tune(ml)
	}
	if len(cfg.Keys) > 0 {
		kr, err := memberlist.NewKeyring(cfg.Keys, cfg.Keys[0])
		if err != nil {
			return nil, wrapError(ErrInvalid, err, "NodeConfig.Keys")
		}
		ml.Keyring = kr
	}
	n := &Node{cfg: cfg, agent: agent, events: make(chan serf.Event, 4096)}
	sc := serf.DefaultConfig()
	if cfg.TuneSerf != nil {
		cfg.TuneSerf(sc)
	}
	sc.NodeName = agent.Name()
	sc.Tags = n.tags()
	sc.ProtocolVersion = serf.ProtocolVersionMax // 5: replies can be relayed
	sc.MemberlistConfig = ml
	sc.EventCh = n.events
	sc.Logger = logger
	s, err := serf.Create(sc)
	if err != nil {
		return nil, wrapError(ErrUnavailable, err, "start serf member %s on %s:%d", agent.Name(), cfg.BindAddr, cfg.BindPort)
	}
	n.serf = s
	agent.collector.Store(&collector{node: n})
	return n, nil
}

func (n *Node) tags() map[string]string {
	t := n.agent.Tags()
	if n.cfg.DetailsAddr != "" {
		t[AddrTag] = n.cfg.DetailsAddr
	}
	if n.inspectorOnly.Load() {
		t[InspectorTag] = "1"
	}
	t[ShardTag] = shardOf(n.Name())
	return t
}

// markInspector gossips InspectorTag: the node inspects and is not
// inspected.
func (n *Node) markInspector() error {
	if n.inspectorOnly.Swap(true) {
		return nil
	}
	if err := n.serf.SetTags(n.tags()); err != nil {
		return wrapError(ErrUnavailable, err, "gossip inspector tag of %s", n.Name())
	}
	return nil
}

// Agent returns the node's agent.
func (n *Node) Agent() *Agent { return n.agent }

// Serf returns the underlying serf member, for adapters that need more of
// it (its key manager, coordinates).
func (n *Node) Serf() *serf.Serf { return n.serf }

// Name returns the node's name.
func (n *Node) Name() string { return n.agent.Name() }

// Addr returns the gossip address peers join ("host:port").
func (n *Node) Addr() string {
	m := n.serf.LocalMember()
	return net.JoinHostPort(m.Addr.String(), strconv.Itoa(int(m.Port)))
}

// SetSpec gives the agent a new spec and gossips its version and hash in
// SpecTag.
func (n *Node) SetSpec(s *Spec) error {
	if err := n.agent.SetSpec(s); err != nil {
		return err
	}
	if err := n.serf.SetTags(n.tags()); err != nil {
		return wrapError(ErrUnavailable, err, "gossip spec tag of %s", n.Name())
	}
	return nil
}

// Join joins the cluster through any of addrs and returns how many it
// reached.
func (n *Node) Join(ctx context.Context, addrs ...string) (int, error) {
	if err := ctx.Err(); err != nil {
		return 0, wrapError(ErrUnavailable, err, "join")
	}
	k, err := n.serf.Join(addrs, true)
	if err != nil {
		return k, wrapError(ErrUnavailable, err, "%s join %s", n.Name(), strings.Join(addrs, ","))
	}
	return k, nil
}

// Stats returns what the node answered and dropped.
func (n *Node) Stats() NodeStats {
	return NodeStats{n.answered.Load(), n.dropped.Load(), n.eventsDropped.Load()}
}

// Run answers queries and forwards member events until ctx ends or the
// node is closed.
func (n *Node) Run(ctx context.Context) error {
	g := new(errgroup.Group)
	g.SetLimit(n.cfg.QueryConcurrency)
	defer func() { _ = g.Wait() }() // the handlers return no error
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-n.serf.ShutdownCh():
			return nil
		case ev := <-n.events:
			switch e := ev.(type) {
			case *serf.Query:
				if !g.TryGo(func() error { n.answer(ctx, e); return nil }) {
					n.dropped.Add(1)
				}
			case serf.MemberEvent:
				n.forward(e)
			}
		}
	}
}

func (n *Node) forward(e serf.MemberEvent) {
	if n.cfg.Events == nil {
		return
	}
	me := MemberEvent{Type: strings.TrimPrefix(e.Type.String(), "member-"), At: time.Now()}
	for _, m := range e.Members {
		me.Members = append(me.Members, m.Name)
	}
	select {
	case n.cfg.Events <- me:
	default:
		n.eventsDropped.Add(1)
	}
}

func (n *Node) answer(ctx context.Context, q *serf.Query) {
	ctx, cancel := context.WithDeadline(ctx, q.Deadline().Add(-20*time.Millisecond))
	defer cancel()
	var reply []byte
	switch q.Name {
	case QueryInspect:
		reply = n.agent.Answer(ctx, q.Payload)
	case QueryProbe:
		reply = n.probe(ctx, q.Payload)
	default:
		return
	}
	if reply == nil {
		return
	}
	if err := q.Respond(reply); err != nil {
		n.cfg.Logger.Debug("inspect: respond", "query", q.Name, "err", err)
		return
	}
	n.answered.Add(1)
}

// probe pings each named member directly and replies '1' for those that
// answered.
func (n *Node) probe(ctx context.Context, payload []byte) []byte {
	names := strings.Split(string(payload), "\n")
	if len(payload) == 0 || len(names) > maxProbeNames {
		return nil
	}
	addrs := map[string]*net.UDPAddr{}
	for _, m := range n.serf.Members() {
		addrs[m.Name] = &net.UDPAddr{IP: m.Addr, Port: int(m.Port)}
	}
	out := make([]byte, len(names))
	g := new(errgroup.Group)
	for i, name := range names {
		out[i] = '0'
		a, ok := addrs[name]
		if !ok || name == n.Name() {
			continue
		}
		g.Go(func() error {
			if ctx.Err() == nil {
				if _, err := n.serf.Memberlist().Ping(name, a); err == nil {
					out[i] = '1'
				}
			}
			return nil
		})
	}
	_ = g.Wait() // the goroutines return no error
	return out
}

// Close leaves the cluster gracefully and stops the member; it is
// idempotent.
func (n *Node) Close() error {
	n.closeOnce.Do(func() {
		if err := n.serf.Leave(); err != nil {
			n.cfg.Logger.Debug("inspect: leave", "err", err)
		}
		if err := n.serf.Shutdown(); err != nil {
			n.closeErr = wrapError(ErrUnavailable, err, "shut down %s", n.Name())
		}
	})
	return n.closeErr
}

// slogWriter turns serf's and memberlist's "[LEVEL] text" log lines into
// slog records.
type slogWriter struct{ l *slog.Logger }

func (w slogWriter) Write(p []byte) (int, error) {
	line := strings.TrimSpace(string(p))
	level := slog.LevelDebug
	switch {
	case strings.HasPrefix(line, "[ERR]"):
		level = slog.LevelError
	case strings.HasPrefix(line, "[WARN]"):
		level = slog.LevelWarn
	}
	w.l.Log(context.Background(), level, line, "from", "serf")
	return len(p), nil
}
