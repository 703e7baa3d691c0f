package inspect

import (
	"context"
	"log/slog"
	"math/rand/v2"
	"net"
	"net/http"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/hashicorp/serf/serf"
	"golang.org/x/sync/errgroup"
)

// InspectorConfig configures an Inspector. A zero field means its default.
type InspectorConfig struct {
	// QueryTimeout bounds each query attempt (default 2s); an attempt
	// ends early once every member it asked has answered.
	QueryTimeout time.Duration
	// Retries is how many times silent members are asked again (default 2).
	Retries int
	// RelayFactor is how many peers relay each reply of a re-query
	// (default 2). The first attempt is not relayed, so that a member
	// that answers only through peers shows its path to the inspector is
	// broken.
	RelayFactor uint8
	// ProbePeers is how many peers are asked to ping a silent member
	// (default 3).
	ProbePeers int
	// NewSpecInterval is the least time between rounds on two different
	// spec versions (default 30s): a new spec makes every agent run every
	// check again.
	NewSpecInterval time.Duration
	// InspectSelf also inspects the inspector's own member, whose agent
	// must then hold the spec. By default (false) the inspector's member
	// is left out of every report and gossips InspectorTag, so that other
	// inspectors leave it out too and prune it once it has gone.
	InspectSelf bool
	// GroupSize is how many members one collector gathers verdicts from
	// in a round's first attempt (see CollectPath), when a round has at
	// least two such groups (default 0: no collectors, every member
	// answers the inspector).
	GroupSize int
	// CollectRetries is how many times a collector asks its silent
	// members again (default 1) before the inspector asks them itself.
	CollectRetries int
	// DetailConcurrency is how many stage-two fetches, fixes or collector
	// calls run at once (default 32).
	DetailConcurrency int
	// HTTP is the client for stage two and fixes (default: 5s timeout).
	HTTP *http.Client
	// Logger receives the inspector's log (nil: discarded).
	Logger *slog.Logger
	// Now is the clock (default time.Now).
	Now func() time.Time
}

// DefaultInspectorConfig returns the defaults.
func DefaultInspectorConfig() InspectorConfig {
	return InspectorConfig{
		QueryTimeout: 2 * time.Second, Retries: 2, RelayFactor: 2, ProbePeers: 3,
		NewSpecInterval: 30 * time.Second, DetailConcurrency: 32, CollectRetries: 1,
	}
}

func (c InspectorConfig) withDefaults() InspectorConfig {
	d := DefaultInspectorConfig()
	if c.QueryTimeout <= 0 {
		c.QueryTimeout = d.QueryTimeout
	}
	if c.Retries <= 0 {
		c.Retries = d.Retries
	}
	if c.RelayFactor == 0 {
		c.RelayFactor = d.RelayFactor
	}
	if c.ProbePeers <= 0 {
		c.ProbePeers = d.ProbePeers
	}
	if c.NewSpecInterval <= 0 {
		c.NewSpecInterval = d.NewSpecInterval
	}
	if c.CollectRetries <= 0 {
		c.CollectRetries = d.CollectRetries
	}
	if c.DetailConcurrency <= 0 {
		c.DetailConcurrency = d.DetailConcurrency
	}
	if c.HTTP == nil {
		c.HTTP = &http.Client{Timeout: 5 * time.Second}
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	if c.Now == nil {
		c.Now = time.Now
	}
	return c
}

// Inspector runs inspection rounds from a Node.
type Inspector struct {
	node *Node
	cfg  InspectorConfig

	mu          sync.Mutex
	lastVersion uint64
	specChanged time.Time
	last        *Report
}

// NewInspector returns an inspector that queries through node. Unless
// cfg.InspectSelf, it tags node with InspectorTag: make it before the
// node joins, so that the tag travels with the join and no other
// inspector counts this member meanwhile.
func NewInspector(node *Node, cfg InspectorConfig) (*Inspector, error) {
	if node == nil {
		return nil, newError(ErrInvalid, "nil node")
	}
	if !cfg.InspectSelf {
		if err := node.markInspector(); err != nil {
			return nil, err
		}
	}
	return &Inspector{node: node, cfg: cfg.withDefaults()}, nil
}

// Last returns the last round's report, or nil.
func (in *Inspector) Last() *Report {
	in.mu.Lock()
	defer in.mu.Unlock()
	return in.last
}

// round is one round's working state.
type round struct {
	spec    *Spec
	members map[string]*MemberReport
	addrs   map[string]*net.UDPAddr
	acked   map[string]bool
	health  *Health
	gone    []string // inspector-only members that left or failed: pruned after the round
}

// Round inspects every member against spec and accounts for each: passed,
// failed (which checks), stale, dead, left, unreachable or silent.
func (in *Inspector) Round(ctx context.Context, spec *Spec) (*Report, error) {
	if spec == nil || spec.Validate() != nil {
		return nil, newError(ErrInvalid, "round needs a valid spec")
	}
	if err := in.admit(spec.Version); err != nil {
		return nil, err
	}
	start := in.cfg.Now()
	r := newRound(spec)
	in.snapshot(r)
	first := 0
	if in.collectFirst(ctx, r) {
		first = 1
	}
	in.gather(ctx, r, nil, first)
	in.confirmRelayed(ctx, r)
	in.classifySilent(ctx, r)
	rep := r.report(spec, start, in.cfg.Now())
	rep.Inspector = in.node.Name()
	in.measureHealth(rep, start)
	in.mu.Lock()
	in.last = rep
	in.mu.Unlock()
	in.cfg.Logger.Info("inspect: round", "spec", spec.Version, "members", len(rep.Members), "counts", rep.Counts, "took", rep.Took)
	in.pruneInspectors(r.gone)
	return rep, nil
}

// maxPrunes bounds the inspector members one round prunes (each waits for
// its broadcast); the rest wait for the next round.
const maxPrunes = 8

// pruneInspectors erases inspector-only members that left or failed from
// every member's list (serf would keep them for its 24 h tombstone and
// reconnect timeouts): one-off rounds must not pile up.
func (in *Inspector) pruneInspectors(gone []string) {
	for _, name := range gone[:min(len(gone), maxPrunes)] {
		if err := in.node.serf.RemoveFailedNodePrune(name); err != nil {
			in.cfg.Logger.Debug("inspect: prune inspector member", "member", name, "err", err)
		}
	}
}

func newRound(spec *Spec) *round {
	return &round{
		spec: spec, members: map[string]*MemberReport{}, addrs: map[string]*net.UDPAddr{},
		acked: map[string]bool{}, health: &Health{},
	}
}

// gather runs the query attempts from first on: the first attempt asks
// every member (tags: only those whose tags match), unrelayed, so that a
// broken path shows; the next ones ask the silent members by name,
// relayed.
func (in *Inspector) gather(ctx context.Context, r *round, tags map[string]string, first int) {
	for attempt := first; attempt <= in.cfg.Retries; attempt++ {
		pending := r.pending()
		if len(pending) == 0 || ctx.Err() != nil {
			break
		}
		in.query(ctx, r, pending, attempt, tags)
	}
}

// admit applies the rate limit on rounds after a spec change.
func (in *Inspector) admit(version uint64) error {
	in.mu.Lock()
	defer in.mu.Unlock()
	now := in.cfg.Now()
	if version == in.lastVersion {
		return nil
	}
	if in.lastVersion != 0 && now.Sub(in.specChanged) < in.cfg.NewSpecInterval {
		return newError(ErrRateLimited, "round on spec version %d %v after version %d (NewSpecInterval %v)",
			version, now.Sub(in.specChanged).Round(time.Millisecond), in.lastVersion, in.cfg.NewSpecInterval)
	}
	in.lastVersion, in.specChanged = version, now
	return nil
}

// snapshot records serf's view of every member.
func (in *Inspector) snapshot(r *round) {
	want := specTagValue(r.spec)
	self := in.node.Name()
	for _, m := range in.node.serf.Members() {
		if m.Name == self && !in.cfg.InspectSelf {
			continue
		}
		if _, ok := m.Tags[InspectorTag]; ok && m.Name != self {
			if m.Status == serf.StatusLeft || m.Status == serf.StatusFailed {
				r.gone = append(r.gone, m.Name)
			}
			continue // another inspector: it inspects, it is not inspected
		}
		mr := &MemberReport{
			Name: m.Name, Addr: net.JoinHostPort(m.Addr.String(), strconv.Itoa(int(m.Port))),
			Tags: m.Tags, HeldSpec: m.Tags[SpecTag],
		}
		mr.SpecDrift = mr.HeldSpec != want
		switch m.Status {
		case serf.StatusFailed:
			mr.Status, mr.Reason = StatusDead, "serf declared it failed"
		case serf.StatusLeft, serf.StatusLeaving:
			mr.Status, mr.Reason = StatusLeft, "left the cluster"
		}
		r.members[m.Name] = mr
		r.addrs[m.Name] = &net.UDPAddr{IP: m.Addr, Port: int(m.Port)}
	}
}

// pending lists the members with no status yet, sorted.
func (r *round) pending() []string {
	var out []string
	for name, m := range r.members {
		if m.Status == "" {
			out = append(out, name)
		}
	}
	slices.Sort(out)
	return out
}

// filterBudget keeps a query's node filter well inside serf's 1,024-byte
// query limit: a re-query of more silent members is split into several
// filtered queries, sent together, so that only the silent ones answer.
const filterBudget = 600

// chunks splits names into lists whose node filter fits filterBudget.
func chunks(names []string) [][]string {
	var out [][]string
	var cur []string
	size := 0
	for _, n := range names {
		if size+len(n)+8 > filterBudget && len(cur) > 0 {
			out = append(out, cur)
			cur, size = nil, 0
		}
		cur = append(cur, n)
		size += len(n) + 8
	}
	if len(cur) > 0 {
		out = append(out, cur)
	}
	return out
}

// reply is one verdict or ack an attempt received.
type reply struct {
	from    string
	payload []byte
	ack     bool
}

// query runs one attempt on the pending members and records the verdicts:
// the first attempt asks every member, a re-query asks the silent ones
// through node filters, relayed.
func (in *Inspector) query(ctx context.Context, r *round, pending []string, attempt int, tags map[string]string) {
	lists := [][]string{nil}
	relay := uint8(0)
	if attempt > 0 {
		lists, relay, tags = chunks(pending), in.cfg.RelayFactor, nil
	}
	waiting := map[string]bool{}
	for _, p := range pending {
		waiting[p] = true
	}
	replies := make(chan reply, len(pending)+1)
	var wg sync.WaitGroup
	var open []*serf.QueryResponse
	for _, filter := range lists {
		r.health.Attempts++
		resp, err := in.node.serf.Query(QueryInspect, encodeQuery(r.spec.Version, nil),
			&serf.QueryParam{RequestAck: true, Timeout: in.cfg.QueryTimeout, RelayFactor: relay, FilterNodes: filter, FilterTags: tags})
		if err != nil {
			r.health.QueryErrors++
			in.cfg.Logger.Warn("inspect: query", "attempt", attempt, "err", err)
			continue
		}
		open = append(open, resp)
		wg.Go(func() { drain(ctx, resp, replies) })
	}
	go func() { wg.Wait(); close(replies) }()
	for rp := range replies {
		if rp.ack {
			r.acked[rp.from] = true
			continue
		}
		m := r.members[rp.from]
		if m == nil || !waiting[rp.from] {
			continue // a member that joined after the snapshot, or a duplicate
		}
		v, err := DecodeVerdict(rp.payload, r.spec.Version, len(r.spec.Checks))
		if err != nil {
			r.health.BadReplies++
			m.Reason = err.Error()
			continue
		}
		delete(waiting, rp.from)
		m.Attempts, m.Relayed = attempt+1, attempt > 0
		m.setVerdict(r.spec, v)
		if len(waiting) == 0 {
			for _, resp := range open {
				resp.Close() // every member answered: end the attempt early
			}
		}
	}
}

// drain forwards an open query's acks and replies until it ends; serf's
// channels hold only as many as there were members, so it never waits.
func drain(ctx context.Context, resp *serf.QueryResponse, out chan<- reply) {
	defer resp.Close()
	acks, replies := resp.AckCh(), resp.ResponseCh()
	for acks != nil || replies != nil {
		select {
		case <-ctx.Done():
			return
		case name, ok := <-acks:
			if !ok {
				acks = nil
				continue
			}
			out <- reply{from: name, ack: true}
		case nr, ok := <-replies:
			if !ok {
				replies = nil
				continue
			}
			out <- reply{from: nr.From, payload: nr.Payload}
		}
	}
}

// confirmRelayed pings directly every member that answered only through
// relays: when the ping fails, the member is alive (it answered) but
// unreachable from the inspector.
func (in *Inspector) confirmRelayed(ctx context.Context, r *round) {
	var names []string
	for name, m := range r.members {
		if m.Relayed && name != in.node.Name() {
			names = append(names, name)
		}
	}
	reached := in.pingAll(ctx, r, names)
	for _, name := range names {
		if !reached[name] {
			m := r.members[name]
			m.Status, m.Reason = StatusUnreachable, "answered only through peers; direct ping failed"
		}
	}
}

// pingAll pings names directly from the inspector, in parallel.
func (in *Inspector) pingAll(ctx context.Context, r *round, names []string) map[string]bool {
	var mu sync.Mutex
	out := map[string]bool{}
	g := new(errgroup.Group)
	g.SetLimit(64)
	for _, name := range names {
		g.Go(func() error {
			if ctx.Err() != nil {
				return nil
			}
			// Three tries: a lost ping or ack must not make a member
			// unreachable on a lossy network.
			ok := false
			for range 3 {
				if _, err := in.node.serf.Memberlist().Ping(name, r.addrs[name]); err == nil {
					ok = true
					break
				}
				if ctx.Err() != nil {
					break
				}
			}
			mu.Lock()
			out[name] = ok
			mu.Unlock()
			return nil
		})
	}
	_ = g.Wait() // the goroutines return no error
	return out
}

// classifySilent accounts for the members that gave no verdict: dead if
// serf now says so, unreachable if peers reach them and the inspector does
// not, silent otherwise.
func (in *Inspector) classifySilent(ctx context.Context, r *round) {
	pending := r.pending()
	if len(pending) == 0 {
		return
	}
	for _, m := range in.node.serf.Members() {
		if mr := r.members[m.Name]; mr != nil && mr.Status == "" && m.Status == serf.StatusFailed {
			mr.Status, mr.Reason = StatusDead, "serf declared it failed during the round"
		}
	}
	pending = r.pending()
	byPeers := in.askPeers(ctx, r, pending)
	direct := in.pingAll(ctx, r, pending)
	for _, name := range pending {
		m := r.members[name]
		why := m.Reason
		if why != "" {
			why = "; last reply: " + why
		}
		switch {
		case byPeers[name] && !direct[name]:
			m.Status, m.Reason = StatusUnreachable, "no verdict; peers reach it, the inspector does not"+why
		case direct[name] || byPeers[name]:
			m.Status, m.Reason = StatusSilent, "reachable but its agent did not answer"+ackNote(r.acked[name])+why
		default:
			m.Status, m.Reason = StatusSilent, "no verdict and no one reaches it; serf has not declared it failed yet"+why
		}
	}
}

func ackNote(acked bool) string {
	if acked {
		return " (it acknowledged the query)"
	}
	return ""
}

// askPeers asks a few members that answered to ping the silent ones.
func (in *Inspector) askPeers(ctx context.Context, r *round, silent []string) map[string]bool {
	var peers []string
	for name, m := range r.members {
		if (m.Status == StatusPassed || m.Status == StatusFailed || m.Status == StatusStale) && name != in.node.Name() {
			peers = append(peers, name)
		}
	}
	rand.Shuffle(len(peers), func(i, j int) { peers[i], peers[j] = peers[j], peers[i] })
	peers = peers[:min(len(peers), in.cfg.ProbePeers)]
	out := map[string]bool{}
	if len(peers) == 0 {
		return out
	}
	for chunk := range slices.Chunk(silent, maxProbeNames) {
		for len(strings.Join(chunk, "\n")) > filterBudget && len(chunk) > 1 {
			chunk = chunk[:len(chunk)/2] // names beyond the budget stay unprobed: silent
		}
		r.health.Attempts++
		resp, err := in.node.serf.Query(QueryProbe, []byte(strings.Join(chunk, "\n")),
			&serf.QueryParam{FilterNodes: peers, RelayFactor: in.cfg.RelayFactor, Timeout: in.cfg.QueryTimeout})
		if err != nil {
			r.health.QueryErrors++
			continue
		}
		for nr := range resp.ResponseCh() {
			if len(nr.Payload) != len(chunk) {
				r.health.BadReplies++
				continue
			}
			for i, c := range nr.Payload {
				if c == '1' {
					out[chunk[i]] = true
				}
			}
			if ctx.Err() != nil {
				break
			}
		}
		resp.Close()
	}
	return out
}

// measureHealth records the inspector's own state, so that a slow
// inspector is not read as slow nodes.
func (in *Inspector) measureHealth(rep *Report, start time.Time) {
	st := in.node.serf.Stats()
	h := &rep.Health
	h.SerfHealthScore, _ = strconv.Atoi(st["health_score"])
	h.QueryQueue, _ = strconv.Atoi(st["query_queue"])
	h.Goroutines = runtime.NumGoroutine()
	stats := in.node.Stats()
	h.QueriesDropped = stats.QueriesDropped
	var why []string
	if h.SerfHealthScore > 0 {
		why = append(why, "memberlist health score "+strconv.Itoa(h.SerfHealthScore)+" (the inspector misses its own probes)")
	}
	if h.QueryQueue > 64 {
		why = append(why, "query broadcast queue "+strconv.Itoa(h.QueryQueue))
	}
	if lag := in.cfg.Now().Sub(start); lag > time.Duration(in.cfg.Retries+2)*in.cfg.QueryTimeout+time.Second {
		why = append(why, "round took "+lag.String())
	}
	h.Degraded, h.Reason = len(why) > 0, strings.Join(why, "; ")
}
