package controller

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
	"go.etcd.io/etcd/client/v3/concurrency"
	"golang.org/x/sync/errgroup"

	"github.com/shoalkit/shoal/examples/internal/state"
)

// Controller places apps on the nodes, keeps them at their replica count,
// rolls out their changes, moves instances off lost and drained nodes, and
// answers the API. Every controller serves reads from its watch cache; the
// one that leads (an etcd election) makes the changes.
type Controller struct {
	cfg    Config
	log    *slog.Logger
	cache  *cache
	events *state.EventWriter

	// mu serialises every change: API calls and reconcile passes plan
	// from the cache and commit one at a time.
	mu   sync.Mutex
	lead atomic.Pointer[term]
	kick chan struct{}

	// warned remembers the last warning per app, so a pass that keeps
	// failing logs one event, not one per pass. Guarded by mu.
	warned map[string]string
	// rolledAt is when the leader rewrote an instance in a rollout (or
	// first saw it rewritten). Guarded by mu.
	rolledAt map[string]time.Time

	scalersMu sync.Mutex
	scalers   map[string]*scaler // app → its autoscale state, on the leader

	activity *activity
}

// term is one period of leadership.
type term struct {
	key string
	rev int64
	ctx context.Context //nolint:containedctx // the term's lifetime: ends when leadership does
}

// guard is the comparison that makes a write apply only while t leads,
// followed by the items' own.
func (t *term) guard(items []item) []clientv3.Cmp {
	cmps := []clientv3.Cmp{clientv3.Compare(clientv3.CreateRevision(t.key), "=", t.rev)}
	for _, it := range items {
		cmps = append(cmps, it.cmps...)
	}
	return cmps
}

// New returns a controller; Run starts it.
func New(cfg Config) (*Controller, error) {
	cfg, err := cfg.withDefaults()
	if err != nil {
		return nil, err
	}
	c := &Controller{cfg: cfg, log: cfg.Logger, kick: make(chan struct{}, 1), warned: map[string]string{}, rolledAt: map[string]time.Time{}, scalers: map[string]*scaler{}, activity: newActivity(cfg)}
	c.cache = newCache(cfg.Etcd, cfg.MaxEvents, cfg.Now, func(key string, err error) {
		c.log.Warn("malformed value skipped", "key", key, "err", err)
	})
	c.events = state.NewEventWriter(cfg.Etcd, cfg.Name, cfg.EventRetention, cfg.Now)
	return c, nil
}

// EnsureToken returns the cluster's bearer token, creating it at the first
// start of the platform. The API and the agents' APIs accept it.
func (c *Controller) EnsureToken(ctx context.Context) (string, error) {
	var b [32]byte
	_, _ = rand.Read(b[:])
	tok := hex.EncodeToString(b[:])
	resp, err := c.cfg.Etcd.Txn(ctx).If(absent(state.TokenKey)).
		Then(clientv3.OpPut(state.TokenKey, tok)).Else(clientv3.OpGet(state.TokenKey)).Commit()
	if err != nil {
		return "", wrapError(ErrUnavailable, err, "etcd")
	}
	if !resp.Succeeded {
		kvs := resp.Responses[0].GetResponseRange().Kvs
		if len(kvs) == 0 || len(kvs[0].Value) < 32 {
			return "", newError(ErrInvalid, "%s holds no usable token", state.TokenKey)
		}
		tok = string(kvs[0].Value)
	}
	// The API answers with it at once, before the watch cache has loaded
	// (the cache keeps it current from then on).
	c.cache.mu.Lock()
	if c.cache.token == "" {
		c.cache.token = tok
	}
	c.cache.mu.Unlock()
	return tok, nil
}

// Run follows etcd, campaigns for leadership and, while it leads,
// reconciles; it returns when ctx ends.
func (c *Controller) Run(ctx context.Context) error {
	if _, err := c.EnsureToken(ctx); err != nil {
		return err
	}
	g, ctx := errgroup.WithContext(ctx)
	g.Go(func() error { return c.cache.run(ctx) })
	g.Go(func() error { c.campaign(ctx); return nil })
	g.Go(func() error { c.activityLoop(ctx); return nil })
	return g.Wait()
}

// Leading reports whether this controller leads now.
func (c *Controller) Leading() bool { return c.lead.Load() != nil }

func (c *Controller) campaign(ctx context.Context) {
	ttl := max(int(c.cfg.SessionTTL/time.Second), 1)
	for ctx.Err() == nil {
		sess, err := concurrency.NewSession(c.cfg.Etcd, concurrency.WithTTL(ttl), concurrency.WithContext(ctx))
		if err != nil {
			sleep(ctx, time.Second)
			continue
		}
		el := concurrency.NewElection(sess, state.ElectionPrefix)
		if err := el.Campaign(ctx, c.cfg.Advertise); err != nil {
			_ = sess.Close()
			sleep(ctx, time.Second)
			continue
		}
		tctx, cancel := context.WithCancel(ctx)
		go func() {
			select {
			case <-sess.Done():
			case <-tctx.Done():
			}
			cancel()
		}()
		t := &term{key: el.Key(), rev: el.Rev(), ctx: tctx}
		c.lead.Store(t)
		c.log.Info("leading", "name", c.cfg.Name)
		c.event(tctx, "", state.Event{Kind: "LeaderElected", Priority: state.Info, Message: c.cfg.Name + " leads"})
		c.leadLoop(tctx, t)
		c.lead.Store(nil)
		cancel()
		rctx, rcancel := context.WithTimeout(context.Background(), 2*time.Second)
		_ = el.Resign(rctx) //nolint:contextcheck // resigning must outlive the ended term
		rcancel()
		_ = sess.Close()
		c.log.Info("no longer leading", "name", c.cfg.Name)
	}
}

func sleep(ctx context.Context, d time.Duration) {
	select {
	case <-ctx.Done():
	case <-time.After(d):
	}
}

// stillLeads asks etcd whether t's leader key still exists.
func (c *Controller) stillLeads(ctx context.Context, t *term) bool {
	resp, err := c.cfg.Etcd.Get(ctx, t.key)
	return err == nil && len(resp.Kvs) == 1 && resp.Kvs[0].CreateRevision == t.rev
}

// Leader returns the API address of the controller that leads, "" if none.
func (c *Controller) Leader(ctx context.Context) string {
	resp, err := c.cfg.Etcd.Get(ctx, state.ElectionPrefix+"/", clientv3.WithFirstCreate()...)
	if err != nil || len(resp.Kvs) == 0 {
		return ""
	}
	return string(resp.Kvs[0].Value)
}

// leadLoop reconciles until the term ends: first once the cache holds
// everything the previous leader wrote, then on every change (at most
// every 200 ms) and every Resync.
func (c *Controller) leadLoop(ctx context.Context, t *term) {
	resp, err := c.cfg.Etcd.Get(ctx, state.TokenKey)
	if err != nil || c.cache.waitRev(ctx, resp.Header.Revision) != nil {
		return
	}
	go c.autoscaleLoop(ctx, t)
	go c.accountLoop(ctx, t)
	tick := time.NewTicker(c.cfg.Resync)
	defer tick.Stop()
	full := true
	for {
		changed := c.cache.wait()
		c.reconcile(ctx, t, full)
		full = false
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
			full = true
		case <-c.kick:
		case <-changed:
			sleep(ctx, 200*time.Millisecond)
		}
	}
}

// event writes one line of the message-tracking list.
func (c *Controller) event(ctx context.Context, requestID string, ev state.Event) {
	ev.RequestID = requestID
	if err := c.events.Write(ctx, ev); err != nil {
		c.log.Warn("event not written", "kind", ev.Kind, "err", err)
	}
}

// leader returns the current term, or ErrNotLeader.
func (c *Controller) leader() (*term, error) {
	t := c.lead.Load()
	if t == nil || t.ctx.Err() != nil {
		return nil, newError(ErrNotLeader, "this controller does not lead; retry at the leader")
	}
	return t, nil
}
