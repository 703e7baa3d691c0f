package agent

import (
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"maps"
	"net"
	"sync"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
	"golang.org/x/sync/errgroup"

	"github.com/shoalkit/shoal/examples/internal/container"
	"github.com/shoalkit/shoal/examples/internal/state"
	"github.com/shoalkit/shoal/internal/keylock"
)

// SeccompLabel is the node label saying whether the node's containers run
// under the default seccomp profile: "default", or "unavailable" when the
// agent was built without the seccomp tag (they run without a filter).
const SeccompLabel = "shoal.seccomp"

func seccompState() string {
	if container.SeccompAvailable() {
		return "default"
	}
	return "unavailable"
}

// Agent follows one node's desired instances.
type Agent struct {
	cfg Config
	log *slog.Logger
	// sysinfo is SysinfoLabel's value, fixed at New; sysinfoErr why it is
	// unavailable.
	sysinfo    string
	sysinfoErr error

	mu sync.Mutex
	// desired is the latest view of desired/NODE/ (ids whose value was
	// malformed map to their decode error in bad).
	desired map[string]state.Instance
	bad     map[string]error
	// loaded is set by the first successful read of desired state: before
	// it nothing is removed.
	loaded bool
	// insts are the instances the agent manages, adopted or created.
	insts map[string]*instance

	kick    chan struct{} // reconcile soon
	exits   chan exit     // containers that ended, from their waiters
	waiters sync.WaitGroup
	events  *state.EventWriter
	tokens  tokenCache
	snaps   snapshotter
	// volLocks keeps a volume's making and its removal through the API
	// apart.
	volLocks keylock.Locks
}

// New checks cfg and returns an agent; Run starts it.
func New(cfg Config) (*Agent, error) {
	c, err := cfg.withDefaults()
	if err != nil {
		return nil, err
	}
	a := &Agent{
		cfg: c, log: c.Logger.With("node", c.Node.Name),
		desired: map[string]state.Instance{}, bad: map[string]error{}, insts: map[string]*instance{},
		kick: make(chan struct{}, 1), exits: make(chan exit),
	}
	a.sysinfo, a.sysinfoErr = sysinfoMode(c)
	a.tokens.get = a.readToken
	a.events = state.NewEventWriter(c.Etcd, "agent/"+c.Node.Name, c.EventRetention, c.Now)
	return a, nil
}

// Run adopts the containers that run, registers the node, and follows its
// desired state until ctx is done. Containers keep running when it returns.
func (a *Agent) Run(ctx context.Context) error {
	if !container.SeccompAvailable() {
		a.log.Warn("containers run without a seccomp filter: this agent was built without the seccomp tag")
	}
	var sysinfoLn *net.UnixListener
	switch a.sysinfo {
	case sysinfoSeccomp:
		// Listening before any container starts: each start hands its
		// listener over this socket.
		ln, err := a.listenSysinfo(ctx)
		if err != nil {
			return err
		}
		defer ln.Close() // removes the socket
		sysinfoLn = ln
	case sysinfoUnavailable:
		a.log.Warn("sysinfo in containers shows the host's numbers: seccomp user notification is unavailable", "err", a.sysinfoErr)
	}
	if err := a.adopt(ctx); err != nil {
		return err
	}
	g, gctx := errgroup.WithContext(ctx)
	if sysinfoLn != nil {
		g.Go(func() error { return a.cfg.ProcViewServer.AcceptSeccomp(gctx, sysinfoLn) })
	}
	g.Go(func() error { return a.register(gctx) })
	g.Go(func() error { return a.watch(gctx) })
	g.Go(func() error { return a.loop(gctx) })
	if a.cfg.Metrics != nil {
		g.Go(func() error { return a.cfg.Metrics.Run(gctx) })
	}
	err := g.Wait()
	a.waiters.Wait()
	if errors.Is(err, context.Canceled) {
		return nil
	}
	return err
}

// poke asks the loop to reconcile soon.
func (a *Agent) poke() {
	select {
	case a.kick <- struct{}{}:
	default:
	}
}

// register keeps the node's report under a lease alive, registering again
// whenever the lease is lost (etcd restarted, the agent paused past TTL).
func (a *Agent) register(ctx context.Context) error {
	ttl := int64(a.cfg.LeaseTTL / time.Second)
	for ctx.Err() == nil {
		err := a.registerOnce(ctx, ttl)
		if ctx.Err() == nil {
			a.log.Warn("registration lost; registering again", "err", err)
		}
		sleep(ctx, time.Second)
	}
	return nil
}

func (a *Agent) registerOnce(ctx context.Context, ttl int64) error {
	lease, err := a.cfg.Etcd.Grant(ctx, ttl)
	if err != nil {
		return err
	}
	node := a.cfg.Node
	node.StartedAt = a.cfg.Now()
	node.Labels = maps.Clone(node.Labels)
	if node.Labels == nil {
		node.Labels = map[string]string{}
	}
	node.Labels[SeccompLabel] = seccompState()
	node.Labels[SysinfoLabel] = a.sysinfo
	if imgs, err := a.cfg.Store.Images(ctx); err == nil {
		for _, im := range imgs {
			if im.Name != "" {
				node.Images = append(node.Images, im.Name)
			}
		}
	}
	val, err := json.Marshal(node)
	if err != nil {
		return err
	}
	if _, err := a.cfg.Etcd.Put(ctx, state.NodeKey(node.Name), string(val), clientv3.WithLease(lease.ID)); err != nil {
		return err
	}
	alive, err := a.cfg.Etcd.KeepAlive(ctx, lease.ID)
	if err != nil {
		return err
	}
	a.log.Info("registered", "lease", lease.ID, "ttl", ttl)
	for range alive {
		// Drain: the channel closes when the lease is lost.
	}
	return errors.New("lease keep-alive ended")
}

// watch keeps a.desired equal to desired/NODE/: a full read, then a watch
// from the read's revision, again from a full read whenever the watch ends.
func (a *Agent) watch(ctx context.Context) error {
	prefix := state.DesiredPrefix(a.cfg.Node.Name)
	for ctx.Err() == nil {
		resp, err := a.cfg.Etcd.Get(ctx, prefix, clientv3.WithPrefix())
		if err != nil {
			a.log.Warn("reading desired state", "err", err)
			sleep(ctx, time.Second)
			continue
		}
		a.mu.Lock()
		a.desired, a.bad = map[string]state.Instance{}, map[string]error{}
		for _, kv := range resp.Kvs {
			a.setDesiredLocked(string(kv.Key), kv.Value)
		}
		a.loaded = true
		a.mu.Unlock()
		a.poke()
		wch := a.cfg.Etcd.Watch(clientv3.WithRequireLeader(ctx), prefix, clientv3.WithPrefix(), clientv3.WithRev(resp.Header.Revision+1))
		for wr := range wch {
			if wr.Err() != nil {
				a.log.Warn("watch ended", "err", wr.Err())
				break
			}
			a.mu.Lock()
			for _, ev := range wr.Events {
				if ev.Type == clientv3.EventTypeDelete {
					_, id, _ := state.SplitInstanceKey(string(ev.Kv.Key))
					delete(a.desired, id)
					delete(a.bad, id)
					continue
				}
				a.setDesiredLocked(string(ev.Kv.Key), ev.Kv.Value)
			}
			a.mu.Unlock()
			a.poke()
		}
	}
	return nil
}

// setDesiredLocked records one desired value, or why it is malformed.
func (a *Agent) setDesiredLocked(key string, value []byte) {
	node, id, ok := state.SplitInstanceKey(key)
	if !ok || node != a.cfg.Node.Name || !state.ValidName(id) {
		a.log.Warn("ignoring a key that names no instance", "key", key)
		return
	}
	var in state.Instance
	if err := state.Decode(value, &in); err != nil {
		delete(a.desired, id)
		a.bad[id] = err
		return
	}
	if in.ID != id || in.Node != node {
		delete(a.desired, id)
		a.bad[id] = &state.FieldError{Field: "id", Err: errors.New("agent: the value's id or node differs from its key")}
		return
	}
	delete(a.bad, id)
	a.desired[id] = in
}

// loop reconciles on every change, every Resync, and when a container
// exits. It is the one goroutine that changes instances.
func (a *Agent) loop(ctx context.Context) error {
	tick := time.NewTicker(a.cfg.Resync)
	defer tick.Stop()
	for {
		a.reconcile(ctx)
		select {
		case <-ctx.Done():
			return ctx.Err()
		case e := <-a.exits:
			a.applyExit(e)
		case <-a.kick:
		case <-tick.C:
		}
	}
}

// sleep waits d or until ctx is done.
func sleep(ctx context.Context, d time.Duration) {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
	case <-t.C:
	}
}
