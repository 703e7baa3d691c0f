package fleetinspect

import (
	"context"
	"errors"
	"log/slog"
	"net"
	"slices"
	"time"

	"github.com/hashicorp/serf/serf"
	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/shoalkit/shoal/inspect"
)

func isNotFound(err error) bool { return errors.Is(err, ErrNotFound) }

// gossip keeps a member's gossip address registered under a lease and
// the member joined to the others registered: it joins when it is alone
// and others are registered, checking every interval.
type gossip struct {
	cli      *clientv3.Client
	node     *inspect.Node
	ttl      time.Duration
	interval time.Duration
	log      *slog.Logger
}

func (g gossip) run(ctx context.Context) error {
	for {
		if err := g.register(ctx); err != nil {
			g.log.Warn("fleetinspect: register gossip address", "err", err)
		} else {
			return nil
		}
		if !sleep(ctx, g.interval) {
			return nil
		}
	}
}

// register puts the gossip key under a lease kept alive until ctx ends,
// joining the others meanwhile.
func (g gossip) register(ctx context.Context) error {
	lease, err := g.cli.Grant(ctx, int64(g.ttl/time.Second))
	if err != nil {
		return wrapError(ErrUnavailable, err, "lease for %s", GossipKey(g.node.Name()))
	}
	if _, err := g.cli.Put(ctx, GossipKey(g.node.Name()), g.node.Addr(), clientv3.WithLease(lease.ID)); err != nil {
		return wrapError(ErrUnavailable, err, "put %s", GossipKey(g.node.Name()))
	}
	alive, err := g.cli.KeepAlive(ctx, lease.ID)
	if err != nil {
		return wrapError(ErrUnavailable, err, "keep lease of %s alive", GossipKey(g.node.Name()))
	}
	tick := time.NewTicker(g.interval)
	defer tick.Stop()
	for {
		g.join(ctx)
		select {
		case <-ctx.Done():
			revoke, cancel := context.WithTimeout(context.WithoutCancel(ctx), time.Second)
			_, _ = g.cli.Revoke(revoke, lease.ID) // best effort: the lease expires anyway
			cancel()
			return nil
		case _, ok := <-alive:
			if !ok {
				return newError(ErrUnavailable, "lease of %s lost", GossipKey(g.node.Name()))
			}
		case <-tick.C:
		}
	}
}

// join joins the registered members when this one sees no other alive.
func (g gossip) join(ctx context.Context) {
	alive := 0
	for _, m := range g.node.Serf().Members() {
		if m.Status == serf.StatusAlive {
			alive++
		}
	}
	if alive > 1 {
		return
	}
	all, err := GossipAddrs(ctx, g.cli)
	if err != nil {
		return
	}
	self := g.node.Addr()
	addrs := slices.DeleteFunc(all, func(a string) bool { return a == self })
	if len(addrs) == 0 {
		return
	}
	if n, err := g.node.Join(ctx, addrs...); err != nil {
		g.log.Debug("fleetinspect: join", "addrs", len(addrs), "err", err)
	} else {
		g.log.Info("fleetinspect: joined the gossip cluster", "reached", n)
	}
}

// GossipAddrs returns the gossip addresses members registered in etcd
// (at most 1,024; malformed ones skipped): where to join the cluster.
func GossipAddrs(ctx context.Context, cli *clientv3.Client) ([]string, error) {
	resp, err := cli.Get(ctx, GossipPrefix, clientv3.WithPrefix(), clientv3.WithLimit(maxGossipMembers))
	if err != nil {
		return nil, wrapError(ErrUnavailable, err, "get %s", GossipPrefix)
	}
	var addrs []string
	for _, kv := range resp.Kvs {
		a := string(kv.Value)
		if _, _, err := net.SplitHostPort(a); err == nil && len(a) <= 256 {
			addrs = append(addrs, a)
		}
	}
	return addrs, nil
}

// sleep waits d or until ctx ends; it reports whether ctx is alive.
func sleep(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-t.C:
		return true
	}
}
