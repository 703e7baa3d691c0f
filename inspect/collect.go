package inspect

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"hash/fnv"
	"io"
	"math/rand/v2"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"

	"golang.org/x/sync/errgroup"
)

// Collection: in a large fleet the inspector would handle one reply and
// one ack per member, one at a time. Instead, the first attempt of a
// round asks a few peers, the collectors, each over HTTP to query one
// group of members (a serf query filtered on ShardTag, so that only the
// group answers it) and return the group's verdicts in one reply. The
// inspector then handles a reply per collector instead of two packets per
// member; members a collector did not hear from are asked again by the
// inspector itself, relayed, as before. Verdicts that came through a
// collector say so (MemberReport.Via); they do not test the path between
// the member and the inspector, which only the inspector's own attempts
// do.

// ShardTag is the serf tag carrying a member's shard: two hex digits of
// the FNV-1a hash of its name. A collection group is the members whose
// shard, modulo the number of groups, is the group's index.
const ShardTag = "inspect-shard"

// CollectPath is the agent's endpoint a collector serves (POST, a
// collectRequest body).
const CollectPath = "/v1/inspect/collect"

const (
	maxShards         = 256
	maxCollectBody    = 4 << 10
	maxCollectTimeout = 30 * time.Second
	maxCollectRetries = 5
)

// shardOf is ShardTag's value for a member name.
func shardOf(name string) string {
	h := fnv.New32a()
	_, _ = h.Write([]byte(name)) // a hash never fails
	return fmt.Sprintf("%02x", h.Sum32()&0xff)
}

// collectRequest asks a collector for the verdicts of one group.
type collectRequest struct {
	Version uint64   `json:"version"`
	Group   int      `json:"group"`
	Groups  int      `json:"groups"`
	Timeout Duration `json:"timeout"`
	Retries int      `json:"retries"`
}

func (c collectRequest) validate() error {
	switch {
	case c.Version == 0:
		return newError(ErrInvalid, "collect: spec version 0")
	case c.Groups < 2 || c.Groups > maxShards || c.Group < 0 || c.Group >= c.Groups:
		return newError(ErrInvalid, "collect: group %d of %d: want 0 ≤ group < groups ≤ %d", c.Group, c.Groups, maxShards)
	case c.Timeout <= 0 || time.Duration(c.Timeout) > maxCollectTimeout:
		return newError(ErrInvalid, "collect: timeout %v: want up to %v", time.Duration(c.Timeout), maxCollectTimeout)
	case c.Retries < 0 || c.Retries > maxCollectRetries:
		return newError(ErrInvalid, "collect: %d retries: want 0..%d", c.Retries, maxCollectRetries)
	}
	return nil
}

// shardFilter is the regular expression of the shards of group g of n.
func shardFilter(g, n int) string {
	var alts []string
	for s := g; s < maxShards; s += n {
		alts = append(alts, fmt.Sprintf("%02x", s))
	}
	return "^(" + strings.Join(alts, "|") + ")$"
}

// inGroup reports whether a member with the given tags is in group g of n.
func inGroup(tags map[string]string, g, n int) bool {
	got, ok := groupOf(tags, n)
	return ok && got == g
}

// groupOf is the group, of n, of a member with the given tags.
func groupOf(tags map[string]string, n int) (int, bool) {
	s, err := strconv.ParseUint(tags[ShardTag], 16, 8)
	if err != nil || len(tags[ShardTag]) != 2 {
		return 0, false
	}
	return int(s) % n, true
}

// collectReply is a collector's answer: the members of the group that
// gave a verdict.
type collectReply struct {
	Node    string         `json:"node"`
	Members []MemberReport `json:"members"`
}

// collector is what the agent's Handler calls for CollectPath: the node's
// collect, set by NewNode.
type collector struct {
	mu   sync.Mutex // one collection at a time
	node *Node
}

// collect runs the first attempts of a round on one group, from this node.
func (c *collector) collect(ctx context.Context, req collectRequest) (*collectReply, error) {
	if !c.mu.TryLock() {
		return nil, newError(ErrRateLimited, "collect: a collection is running on %s", c.node.Name())
	}
	defer c.mu.Unlock()
	n := c.node
	spec := n.agent.Spec()
	if spec == nil || spec.Version != req.Version {
		return nil, newError(ErrNotFound, "collect: spec version %d is not held by node %s", req.Version, n.Name())
	}
	in := &Inspector{node: n, cfg: InspectorConfig{
		QueryTimeout: time.Duration(req.Timeout), Retries: req.Retries, InspectSelf: true,
	}.withDefaults()}
	r := newRound(spec)
	in.snapshot(r)
	for name, m := range r.members {
		if !inGroup(m.Tags, req.Group, req.Groups) {
			delete(r.members, name)
		}
	}
	in.gather(ctx, r, map[string]string{ShardTag: shardFilter(req.Group, req.Groups)}, 0)
	out := &collectReply{Node: n.Name(), Members: []MemberReport{}}
	for _, m := range r.members {
		if m.Status == StatusPassed || m.Status == StatusFailed || m.Status == StatusStale {
			out.Members = append(out.Members, MemberReport{Name: m.Name, Status: m.Status, Failed: m.Failed, Reason: m.Reason})
		}
	}
	return out, nil
}

// serveCollect is the handler of CollectPath.
func (a *Agent) serveCollect(w http.ResponseWriter, r *http.Request) {
	c := a.collector.Load()
	if c == nil {
		writeError(w, newError(ErrNotFound, "collect: node %s is not a serf member", a.cfg.Name))
		return
	}
	body, err := io.ReadAll(io.LimitReader(r.Body, maxCollectBody+1))
	var req collectRequest
	if err == nil && len(body) <= maxCollectBody {
		err = json.Unmarshal(body, &req)
	}
	if err != nil || len(body) > maxCollectBody {
		writeError(w, newError(ErrInvalid, "collect request of %d bytes: want JSON up to %d", len(body), maxCollectBody))
		return
	}
	if err := req.validate(); err != nil {
		writeError(w, err)
		return
	}
	reply, err := c.collect(r.Context(), req)
	if err != nil {
		writeError(w, err)
		return
	}
	writeJSON(w, http.StatusOK, reply)
}

// collectFirst is a round's first attempt through collectors, when the
// round has at least two groups of GroupSize members; it reports whether
// it ran. Groups without a collector (no member of theirs serves stage two
// and holds the spec) and members a collector did not hear from stay
// pending.
func (in *Inspector) collectFirst(ctx context.Context, r *round) bool {
	pending := r.pending()
	if in.cfg.GroupSize <= 0 {
		return false
	}
	groups := min(maxShards/2, (len(pending)+in.cfg.GroupSize-1)/in.cfg.GroupSize)
	if groups < 2 {
		return false
	}
	want := specTagValue(r.spec)
	cands := make([][]string, groups)
	for _, name := range pending {
		m := r.members[name]
		if g, ok := groupOf(m.Tags, groups); ok && m.Tags[AddrTag] != "" && m.HeldSpec == want {
			cands[g] = append(cands[g], name)
		}
	}
	client := *in.cfg.HTTP
	client.Timeout = 0 // bounded by the context below
	wait := time.Duration(in.cfg.CollectRetries+1)*in.cfg.QueryTimeout + 2*time.Second
	var mu sync.Mutex
	g := new(errgroup.Group)
	g.SetLimit(in.cfg.DetailConcurrency)
	for group, names := range cands {
		if len(names) == 0 {
			continue
		}
		via := names[rand.IntN(len(names))] //nolint:gosec // spreading load, not a secret
		addr := r.members[via].Tags[AddrTag]
		r.health.Collectors++
		g.Go(func() error {
			cctx, cancel := context.WithTimeout(ctx, wait)
			defer cancel()
			reply, err := in.askCollector(cctx, &client, addr, collectRequest{
				Version: r.spec.Version, Group: group, Groups: groups,
				Timeout: Duration(in.cfg.QueryTimeout), Retries: in.cfg.CollectRetries,
			})
			mu.Lock()
			defer mu.Unlock()
			if err != nil {
				r.health.CollectorErrors++
				in.cfg.Logger.Warn("inspect: collector", "node", via, "err", err)
				return nil
			}
			for _, got := range reply.Members {
				m := r.members[got.Name]
				if m == nil || m.Status != "" || !inGroup(m.Tags, group, groups) {
					continue // not asked of this collector, or already known
				}
				switch got.Status {
				case StatusPassed, StatusFailed, StatusStale:
				default:
					continue // a collector reports verdicts, never a liveness
				}
				m.Status, m.Failed, m.Reason = got.Status, got.Failed, got.Reason
				if m.Status == StatusFailed && !r.knownChecks(m.Failed) {
					m.Status, m.Failed, m.Reason = "", nil, "collector "+via+" named unknown checks"
					continue
				}
				m.Attempts, m.Via = 1, via
			}
			return nil
		})
	}
	_ = g.Wait() // per-collector errors are counted in Health
	return true
}

// knownChecks reports whether every id is a check of the round's spec.
func (r *round) knownChecks(ids []string) bool {
	for _, id := range ids {
		if _, ok := r.spec.Index(id); !ok {
			return false
		}
	}
	return len(ids) > 0
}

func (*Inspector) askCollector(ctx context.Context, client *http.Client, addr string, req collectRequest) (*collectReply, error) {
	body, err := json.Marshal(req)
	if err != nil {
		return nil, wrapError(ErrInvalid, err, "collect request")
	}
	hreq, err := http.NewRequestWithContext(ctx, http.MethodPost, "http://"+addr+CollectPath, bytes.NewReader(body))
	if err != nil {
		return nil, wrapError(ErrInvalid, err, "collector address %q", addr)
	}
	hreq.Header.Set("Content-Type", "application/json")
	reply, err := do(client, hreq)
	if err != nil {
		return nil, err
	}
	var out collectReply
	if err := json.Unmarshal(reply, &out); err != nil {
		return nil, wrapError(ErrInvalid, err, "collect reply from %s", addr)
	}
	return &out, nil
}
