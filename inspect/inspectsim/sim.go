// Package inspectsim is a discrete-event model of an inspection round on
// serf: the query's spread by memberlist gossip (random gossip phases,
// fanout, the transmit limit of retransmit-mult × ceil(log10(N+1))),
// direct and relayed UDP replies with independent packet loss, the
// inspector handling replies one at a time, re-queries of silent members,
// peer probes, and stage two over HTTP. It is for fleets a test box
// cannot hold; its figures are simulated and must always be labelled so.
//
//	p := inspectsim.LocalProfile()
//	p.Nodes, p.Loss, p.FreshFailures = 10000, 0.05, 0.001
//	r := inspectsim.Run(p, 1)
//	fmt.Printf("simulated: round %v, %d/%d accounted\n", r.Round, r.Accounted, p.Nodes)
package inspectsim

import (
	"cmp"
	"container/heap"
	"math"
	"math/rand/v2"
	"slices"
	"time"
)

// Params are the model's inputs. Gossip and timeouts mirror the serf and
// memberlist settings; Latency, ReplyCost and AnswerDelay are calibrated
// against real clusters (see Calibrate).
type Params struct {
	Nodes          int
	GossipInterval time.Duration // memberlist GossipInterval
	GossipNodes    int           // memberlist GossipNodes (fanout)
	RetransmitMult int           // memberlist RetransmitMult
	ProbeTimeout   time.Duration // memberlist ProbeTimeout, for pings of silent members

	QueryTimeout time.Duration // per attempt
	Retries      int
	RelayFactor  int
	ProbePeers   int

	Latency     time.Duration // one-way packet latency, scheduling included
	ReplyCost   time.Duration // inspector time per reply or ack handled
	AnswerDelay time.Duration // agent time from query to reply (cached checks)

	Loss          float64 // probability a UDP packet is lost
	FreshFailures float64 // fraction of members failed but not yet declared so by serf
	Failing       float64 // fraction of members with failed checks (stage two fetches them)

	DetailConcurrency int           // stage-two fetches at once
	DetailService     time.Duration // agent time to serve one detail request

	// GroupSize > 0: the first attempt goes through collectors, one per
	// group of GroupSize members (when there are at least two groups),
	// each asking its group with CollectRetries re-queries of its own and
	// answering the inspector over HTTP with one reply.
	GroupSize      int
	CollectRetries int
}

// LocalProfile is serf's Local profile with the inspector's defaults and
// the calibrated costs of this repository's loopback runs.
func LocalProfile() Params {
	return Params{
		GossipInterval: 100 * time.Millisecond, GossipNodes: 3, RetransmitMult: 2, ProbeTimeout: 200 * time.Millisecond,
		QueryTimeout: 2 * time.Second, Retries: 2, RelayFactor: 2, ProbePeers: 3,
		Latency: 2 * time.Millisecond, ReplyCost: 100 * time.Microsecond, AnswerDelay: time.Millisecond,
		DetailConcurrency: 32, DetailService: 2 * time.Millisecond, CollectRetries: 1,
	}
}

// Result is one simulated round. All durations are simulated time.
type Result struct {
	Round     time.Duration // query attempts and classification, without stage two
	StageTwo  time.Duration // detail fetches of the failing members
	Total     time.Duration
	Attempts  int
	Accounted int // members with a status: always Nodes
	Answered  int // members with a verdict
	Silent    int // fresh failures and members whose every reply was lost
	FalseDead int // healthy members classified as not answering (never dead: serf decides death)
	Replies   int // replies and acks handled, by the inspector and the collectors
	// InspectorReplies are the replies, acks and collector replies the
	// inspector itself handled.
	InspectorReplies int
	Packets          int // gossip packets sent
	LastAnswer       time.Duration
}

type event struct {
	at   time.Duration
	kind int // evGossipRecv, evReply
	node int
}

const (
	evGossipRecv = iota
	evAck
	evReply
)

type queue []event

// Len, Less, Swap, Push and Pop make queue a container/heap by time.
func (q queue) Len() int           { return len(q) }
func (q queue) Less(i, j int) bool { return q[i].at < q[j].at }
func (q queue) Swap(i, j int)      { q[i], q[j] = q[j], q[i] }

// Push adds an event (heap.Interface).
func (q *queue) Push(x any) { *q = append(*q, x.(event)) }

// Pop removes the last event (heap.Interface).
func (q *queue) Pop() any {
	old := *q
	e := old[len(old)-1]
	*q = old[:len(old)-1]
	return e
}

// attempt simulates one query attempt from node origin (the inspector is
// node 0) to the members in want (nil: all), and returns when each wanted
// member's reply was handled (or -1), and the time the attempt ended:
// when every wanted live member was handled, else at the timeout — or
// later, when the origin is still handling replies that arrived in time
// (serf's channel holds them; the origin reads them all). busy is when
// the origin's handler is free; it is advanced past the attempt's replies.
func attempt(p Params, rng *rand.Rand, origin int, start time.Duration, busy *time.Duration, want []bool, relay int, dead []bool, phase []time.Duration, res *Result) (done []time.Duration, end time.Duration) {
	n := p.Nodes
	limit := p.RetransmitMult * int(math.Ceil(math.Log10(float64(n+1))))
	ticks := (limit + p.GossipNodes - 1) / p.GossipNodes
	seen := make([]bool, n)
	done = make([]time.Duration, n)
	for i := range done {
		done[i] = -1
	}
	q := &queue{{at: start, kind: evGossipRecv, node: origin}}
	var arrivals []time.Duration
	var from []int
	var isReply []bool
	lost := func() bool { return rng.Float64() < p.Loss }
	arrives := func(hops int) bool { // every hop survives the loss
		for range hops {
			if lost() {
				return false
			}
		}
		return true
	}
	for q.Len() > 0 {
		e := heap.Pop(q).(event)
		if e.kind != evGossipRecv {
			arrivals = append(arrivals, e.at)
			from = append(from, e.node)
			isReply = append(isReply, e.kind == evReply)
			continue
		}
		i := e.node
		if seen[i] || dead[i] {
			continue
		}
		seen[i] = true
		// Gossip on: at each of the next ticks, fanout random peers.
		next := e.at - (e.at-phase[i])%p.GossipInterval + p.GossipInterval
		if e.at < phase[i] {
			next = phase[i]
		}
		for k := range ticks {
			at := next + time.Duration(k)*p.GossipInterval
			for range p.GossipNodes {
				res.Packets++
				if j := rng.IntN(n); j != i && !lost() {
					heap.Push(q, event{at: at + p.Latency, kind: evGossipRecv, node: j})
				}
			}
		}
		if want != nil && !want[i] { // re-queries carry node filters
			continue
		}
		// Ack and reply, direct and through relay peers.
		t := e.at + p.AnswerDelay
		for _, kind := range []int{evAck, evReply} {
			if !lost() {
				heap.Push(q, event{at: t + p.Latency, kind: kind, node: i})
			}
			for range relay {
				if arrives(2) {
					heap.Push(q, event{at: t + 2*p.Latency, kind: kind, node: i})
				}
			}
		}
	}
	// The origin handles replies one at a time; serf's channel holds N.
	deadline := start + p.QueryTimeout
	free := max(start, *busy)
	got := 0
	order := sortedIdx(arrivals)
	end = deadline
	for _, k := range order {
		a := arrivals[k]
		if a > deadline {
			break
		}
		free = max(free, a) + p.ReplyCost
		res.Replies++
		if origin == 0 {
			res.InspectorReplies++
		}
		i := from[k]
		if isReply[k] && done[i] < 0 && (want == nil || want[i]) { // relayed copies are handled, then dropped
			done[i] = free
			got++
		}
	}
	wanted := 0
	var last time.Duration
	for i := range n {
		if want == nil || want[i] {
			wanted++
			if done[i] >= 0 {
				last = max(last, done[i])
			}
		}
	}
	if got == wanted-countTrue(dead, want) {
		end = max(last, start)
	}
	*busy = free
	return done, max(end, free)
}

func countTrue(dead, want []bool) int {
	c := 0
	for i, d := range dead {
		if d && (want == nil || want[i]) {
			c++
		}
	}
	return c
}

func sortedIdx(a []time.Duration) []int {
	idx := make([]int, len(a))
	for i := range idx {
		idx[i] = i
	}
	// insertion is too slow at 100k: use a counting-free sort
	sortByKey(idx, a)
	return idx
}

// Run simulates one round with the given seed.
func Run(p Params, seed uint64) Result {
	rng := rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15)) //nolint:gosec // a simulation, not a secret
	n := p.Nodes
	dead := make([]bool, n)
	phase := make([]time.Duration, n)
	for i := range n {
		phase[i] = time.Duration(rng.Int64N(int64(p.GossipInterval)))
		if i > 0 && rng.Float64() < p.FreshFailures {
			dead[i] = true
		}
	}
	var res Result
	answered := make([]bool, n)
	now, busy := time.Duration(0), time.Duration(0)
	var want []bool
	first := 0
	if collected, end := collect(p, rng, dead, phase, answered, &busy, &res); collected {
		now, first = end, 1
		want = pendingOf(answered)
	}
	for a := first; a <= p.Retries; a++ {
		relay := 0
		if a > 0 {
			relay = p.RelayFactor
		}
		res.Attempts++
		done, end := attempt(p, rng, 0, now, &busy, want, relay, dead, phase, &res)
		for i, d := range done {
			if d >= 0 && !answered[i] {
				answered[i] = true
				res.LastAnswer = max(res.LastAnswer, d)
			}
		}
		now = end
		want = pendingOf(answered)
		if countTrue(want, nil) == 0 {
			break
		}
	}
	silent := 0
	for i := range n {
		if !answered[i] {
			silent++
			if !dead[i] {
				res.FalseDead++
			}
		} else {
			res.Answered++
		}
	}
	if silent > 0 {
		// Peers are asked to probe (a query round trip plus their pings),
		// and the inspector pings each silent member up to three times.
		now += 2*p.Latency + p.ProbeTimeout + 3*p.ProbeTimeout
	}
	res.Silent = silent
	res.Accounted = n
	res.Round = now
	failing := int(math.Round(p.Failing * float64(res.Answered)))
	if failing > 0 {
		batches := (failing + p.DetailConcurrency - 1) / p.DetailConcurrency
		res.StageTwo = time.Duration(batches) * (4*p.Latency + p.DetailService)
	}
	res.Total = res.Round + res.StageTwo
	return res
}

// pendingOf marks the members without a verdict.
func pendingOf(answered []bool) []bool {
	want := make([]bool, len(answered))
	for i, a := range answered {
		want[i] = !a
	}
	return want
}

// collect simulates a first attempt through collectors and reports
// whether one ran and when the inspector had handled every collector's
// reply. Each collector is a random member of its group (a fresh failure
// among them loses the group's first attempt after the collection
// timeout); it asks its group like an inspector (same latency and reply
// cost, its own handler), then replies over HTTP: a TCP round trip each
// way, and ReplyCost at the inspector per reply plus ReplyCost/64 per
// verdict it carries (an assumption: decoding a JSON line per member).
func collect(p Params, rng *rand.Rand, dead []bool, phase []time.Duration, answered []bool, busy *time.Duration, res *Result) (bool, time.Duration) {
	n := p.Nodes
	if p.GroupSize <= 0 {
		return false, 0
	}
	groups := min(128, (n-1+p.GroupSize-1)/p.GroupSize)
	if groups < 2 {
		return false, 0
	}
	members := make([][]int, groups)
	for i := 1; i < n; i++ { // node 0 is the inspector
		g := rng.IntN(groups) // the shard tag: a hash of the name
		members[g] = append(members[g], i)
	}
	type reply struct {
		at   time.Duration
		got  []int
		lost bool
	}
	timeout := time.Duration(p.CollectRetries+1)*p.QueryTimeout + 2*time.Second
	var replies []reply
	for _, group := range members {
		if len(group) == 0 {
			continue
		}
		c := group[rng.IntN(len(group))]
		start := 2 * p.Latency // connect and request
		if dead[c] {
			replies = append(replies, reply{at: timeout, lost: true})
			continue
		}
		want := make([]bool, n)
		for _, i := range group {
			want[i] = true
		}
		got := make([]bool, n)
		var cbusy time.Duration
		now := start
		for a := 0; a <= p.CollectRetries; a++ {
			relay := 0
			if a > 0 {
				relay = p.RelayFactor
			}
			res.Attempts++
			done, end := attempt(p, rng, c, now, &cbusy, want, relay, dead, phase, res)
			for i, d := range done {
				if d >= 0 && want[i] {
					got[i], want[i] = true, false
				}
			}
			now = end
			if countTrue(want, nil) == 0 {
				break
			}
		}
		var ids []int
		for i, ok := range got {
			if ok {
				ids = append(ids, i)
			}
		}
		replies = append(replies, reply{at: min(now, timeout) + 2*p.Latency, got: ids})
	}
	slices.SortFunc(replies, func(a, b reply) int { return cmp.Compare(a.at, b.at) })
	free := *busy
	for _, r := range replies {
		if r.lost {
			free = max(free, r.at)
			continue
		}
		free = max(free, r.at) + p.ReplyCost + p.ReplyCost*time.Duration(len(r.got))/64
		res.Replies++
		res.InspectorReplies++
		for _, i := range r.got {
			if !answered[i] {
				answered[i] = true
				res.LastAnswer = max(res.LastAnswer, free)
			}
		}
	}
	*busy = free
	return true, free
}
