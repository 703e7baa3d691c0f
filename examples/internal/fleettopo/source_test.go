package fleettopo_test

import (
	"context"
	"encoding/json"
	"fmt"
	"sync"
	"testing"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
	"go.uber.org/zap"

	"github.com/shoalkit/shoal/alertcorr"
	"github.com/shoalkit/shoal/alertcorr/alertcorrtest"
	"github.com/shoalkit/shoal/examples/internal/embedetcd"
	"github.com/shoalkit/shoal/examples/internal/fleettopo"
	"github.com/shoalkit/shoal/examples/internal/state"
	"github.com/shoalkit/shoal/internal/errs"
)

// startEtcd runs an embedded etcd for the test and returns a client.
func startEtcd(t *testing.T) *clientv3.Client {
	t.Helper()
	srv, err := embedetcd.Start(t.Context(), embedetcd.Config{Dir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	cli, err := clientv3.New(clientv3.Config{Endpoints: srv.Endpoints(), DialTimeout: 5 * time.Second, Logger: zap.NewNop()})
	if err != nil {
		srv.Close()
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cli.Close(); srv.Close() })
	return cli
}

func put(t *testing.T, cli *clientv3.Client, key string, v any) {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := cli.Put(t.Context(), key, string(b)); err != nil {
		t.Fatal(err)
	}
}

// fleet writes what agents write: 6 nodes in two racks of one room and
// zone, one switch per rack; app shop with one instance per node, and on
// every node 4 instances of apps of their own.
func fleet(t *testing.T, cli *clientv3.Client) {
	for n := range 6 {
		name := fmt.Sprintf("n%d", n)
		rack := fmt.Sprintf("rack%d", n/3)
		put(t, cli, state.NodeKey(name), state.Node{Name: name, Addr: "127.0.0.1:1", Zone: "z1", Room: "room1", Rack: rack, Switch: "sw-" + rack, Version: "test", StartedAt: time.Now()})
		put(t, cli, state.StatusKey(name, "shop-"+name), state.Status{ID: "shop-" + name, App: "shop", Node: name, Phase: state.Running})
		for i := range 4 {
			id := fmt.Sprintf("x%d-%s", i, name)
			put(t, cli, state.StatusKey(name, id), state.Status{ID: id, App: "app-" + id, Node: name, Phase: state.Running})
		}
	}
}

func TestSourceIsATopologySource(t *testing.T) {
	cli := startEtcd(t)
	fleet(t, cli)
	alertcorrtest.TopologySource(t, fleettopo.New(cli, nil))
}

// The topology comes from etcd: a storm on one app's containers becomes
// one incident rooted at the app; an instance that moves, a node that
// comes, and a malformed value are followed.
func TestStormOnAppBecomesOneIncident(t *testing.T) {
	cli := startEtcd(t)
	fleet(t, cli)
	src := fleettopo.New(cli, nil)
	src.Debounce = 20 * time.Millisecond
	topo := alertcorr.NewTopology()
	ctx, cancel := context.WithCancel(t.Context())
	var wg sync.WaitGroup
	wg.Go(func() { _ = src.Run(ctx, topo) })
	defer func() { cancel(); wg.Wait() }()
	// 1 zone, 1 room, 2 racks, 2 switches, 6 hosts, 1 + 24 apps, 30 containers.
	waitFor(t, "the fleet in the topology", func() bool { return topo.Len() == 67 })
	if e, ok := topo.Get(alertcorr.KindHost, "n4"); !ok || e.Parent != "rack1" || e.Switch != "sw-rack1" {
		t.Fatalf("host n4 = %+v, want in rack1 on sw-rack1", e)
	}
	if e, ok := topo.Get(alertcorr.KindContainer, "shop-n2"); !ok || e.Parent != "n2" || e.App != "shop" {
		t.Fatalf("container shop-n2 = %+v", e)
	}

	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	e, err := alertcorr.New(alertcorr.Config{Topology: topo, Now: func() time.Time { return now }})
	if err != nil {
		t.Fatal(err)
	}
	defer e.Close()
	// The shop bug: its 6 containers throttled, their 6 hosts loaded, and
	// the other containers there slow.
	var storm []alertcorr.Alert
	for n := range 6 {
		name := fmt.Sprintf("n%d", n)
		storm = append(storm,
			alertcorr.Alert{Labels: alertcorr.Labels{"alertname": "ContainerCPUThrottled", "container": "shop-" + name}},
			alertcorr.Alert{Labels: alertcorr.Labels{"alertname": "HostLoadHigh", "host": name}})
		for i := range 4 {
			storm = append(storm, alertcorr.Alert{Labels: alertcorr.Labels{"alertname": "LatencyHigh", "container": fmt.Sprintf("x%d-%s", i, name)}})
		}
	}
	if err := e.Ingest(storm...); err != nil {
		t.Fatal(err)
	}
	now = now.Add(time.Minute)
	if err := e.Advance(t.Context(), now); err != nil {
		t.Fatal(err)
	}
	inc := e.Incidents()
	if len(inc) != 1 || inc[0].Root.Kind != alertcorr.KindApp || inc[0].Root.ID != "shop" || len(inc[0].Members) != len(storm) {
		t.Fatalf("incidents %+v, want one rooted at app shop with all %d alerts", inc, len(storm))
	}

	// shop-n5 moves to n0: the new agent writes its status, then the old
	// one removes its own; n6 registers in rack1; a malformed status is
	// skipped.
	put(t, cli, state.StatusKey("n0", "shop-n5"), state.Status{ID: "shop-n5", App: "shop", Node: "n0", Phase: state.Running})
	waitFor(t, "shop-n5 on n0", func() bool { c, _ := topo.Get(alertcorr.KindContainer, "shop-n5"); return c.Parent == "n0" })
	if _, err := cli.Delete(t.Context(), state.StatusKey("n5", "shop-n5")); err != nil {
		t.Fatal(err)
	}
	put(t, cli, state.NodeKey("n6"), state.Node{Name: "n6", Zone: "z1", Room: "room1", Rack: "rack1", Switch: "sw-rack1"})
	if _, err := cli.Put(t.Context(), state.StatusKey("n6", "bad"), "{not json"); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "n6 in rack1", func() bool { h, _ := topo.Get(alertcorr.KindHost, "n6"); return h.Parent == "rack1" })
	if c, _ := topo.Get(alertcorr.KindContainer, "shop-n5"); c.Parent != "n0" {
		t.Fatalf("after the old status went: shop-n5 = %+v, want on n0", c)
	}
	if _, ok := topo.Get(alertcorr.KindContainer, "bad"); ok || src.Stats().Skipped != 1 {
		t.Fatalf("malformed status: in topology %v, skipped %d, want skipped once", ok, src.Stats().Skipped)
	}
	// A node whose key goes (lease expired) keeps its instances' host,
	// without a place.
	if _, err := cli.Delete(t.Context(), state.NodeKey("n3")); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "n3 without a rack", func() bool { h, ok := topo.Get(alertcorr.KindHost, "n3"); return ok && h.Parent == "" })
}

func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func TestErrorShape(t *testing.T) {
	cli := startEtcd(t)
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	err := fleettopo.New(cli, nil).Entities(ctx, func(alertcorr.Entity) error { return nil })
	if err := errs.CheckShape(err, "fleettopo", fleettopo.ErrUnavailable); err != nil {
		t.Fatal(err)
	}
}
