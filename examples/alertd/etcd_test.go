package main

import (
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
	"go.uber.org/zap"

	"github.com/shoalkit/shoal/examples/internal/embedetcd"
	"github.com/shoalkit/shoal/examples/internal/state"
)

// The platform's way: the topology from etcd as agents wrote it, the
// snapshot kept in etcd, bounded; a restart on the same etcd keeps the
// silence and does not notify the incident again.
func TestEtcdTopologyAndSnapshot(t *testing.T) {
	srv, err := embedetcd.Start(t.Context(), embedetcd.Config{Dir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(srv.Close)
	cli, err := clientv3.New(clientv3.Config{Endpoints: srv.Endpoints(), DialTimeout: 5 * time.Second, Logger: zap.NewNop()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cli.Close() })
	put := func(key string, v any) {
		b, _ := json.Marshal(v)
		if _, err := cli.Put(t.Context(), key, string(b)); err != nil {
			t.Fatal(err)
		}
	}
	// Five nodes in one rack; app shop on each, two other apps' instances
	// beside it.
	for n := range 5 {
		name := fmt.Sprintf("n%d", n)
		put(state.NodeKey(name), state.Node{Name: name, Zone: "z1", Room: "room1", Rack: "rack1", Switch: "sw1"})
		put(state.StatusKey(name, "shop-"+name), state.Status{ID: "shop-" + name, App: "shop", Node: name, Phase: state.Running})
		for i := range 2 {
			id := fmt.Sprintf("o%d-%s", i, name)
			put(state.StatusKey(name, id), state.Status{ID: id, App: "app-" + id, Node: name, Phase: state.Running})
		}
	}
	var storm []map[string]any
	for n := range 5 {
		name := fmt.Sprintf("n%d", n)
		storm = append(storm, map[string]any{"labels": map[string]string{"alertname": "ContainerCPUThrottled", "container": "shop-" + name, "severity": "warning"}},
			map[string]any{"labels": map[string]string{"alertname": "HostLoadHigh", "host": name, "severity": "warning"}})
		for i := range 2 {
			storm = append(storm, map[string]any{"labels": map[string]string{"alertname": "LatencyHigh", "container": fmt.Sprintf("o%d-%s", i, name)}})
		}
	}

	dir := t.TempDir()
	h := startHook(t)
	args := []string{"-etcd-endpoints", strings.Join(srv.Endpoints(), ","), "-settings", writeFile(t, dir, "settings.json", fastConfig), "-webhook", h.url}
	d := start(t, args...)
	d.post(t, "/api/v2/alerts", storm)
	waitFor(t, "the incident", func() bool { return len(h.roots()) > 0 })
	if got := h.roots(); len(got) != 1 || got["shop"] != 1 {
		t.Fatalf("incidents by root %v, want one rooted at app shop", got)
	}
	if ann := h.incident("shop"); ann["members"] != "20" || ann["rule"] != "app-spread" {
		t.Fatalf("shop's incident %v, want 20 members by app-spread", ann)
	}
	var created struct{ SilenceID string }
	if err := json.Unmarshal(d.post(t, "/api/v2/silences", map[string]any{
		"matchers": []map[string]any{{"name": "root", "value": "n9", "isRegex": false}},
		"startsAt": time.Now().Add(-time.Minute), "endsAt": time.Now().Add(time.Hour), "createdBy": "test", "comment": "c",
	}), &created); err != nil || created.SilenceID == "" {
		t.Fatalf("silence: %v %+v", err, created)
	}
	if err := d.stop(); err != nil {
		t.Fatalf("alertd stopped with %v", err)
	}

	// The snapshot is in etcd, under alertd's prefix, in bounded values.
	resp, err := cli.Get(t.Context(), state.Prefix+"alertd/", clientv3.WithPrefix())
	if err != nil {
		t.Fatal(err)
	}
	keys := map[string]int{}
	for _, kv := range resp.Kvs {
		keys[string(kv.Key)] = len(kv.Value)
		if len(kv.Value) > chunkBytes {
			t.Fatalf("%s holds %d bytes, more than %d", kv.Key, len(kv.Value), chunkBytes)
		}
	}
	if _, ok := keys[snapshotPrefix+"current"]; !ok || len(keys) < 2 {
		t.Fatalf("etcd under alertd/: %v, want current and its chunks", keys)
	}

	d = start(t, args...)
	var silences []struct{ ID string }
	getJSON(t, d.url+"/api/v2/silences", &silences)
	if len(silences) != 1 || silences[0].ID != created.SilenceID {
		t.Fatalf("after restart silences %+v, want %s", silences, created.SilenceID)
	}
	// The storm again, and a marker alert on no known entity that opens
	// an incident of its own: once it is notified, the rounds that would
	// have notified shop again have run.
	d.post(t, "/api/v2/alerts", append(storm, map[string]any{"labels": map[string]string{"alertname": "Marker", "instance": "elsewhere:1"}}))
	waitFor(t, "the marker's incident", func() bool { return len(h.roots()) == 2 })
	if got := h.roots(); got["shop"] != 1 {
		t.Fatalf("after restart incidents by root %v, want shop still notified once", got)
	}
	// Once alertd has stopped (its last save done), only the current
	// generation's chunks are left.
	if err := d.stop(); err != nil {
		t.Fatalf("alertd stopped with %v", err)
	}
	resp, err = cli.Get(t.Context(), snapshotPrefix+"data/", clientv3.WithPrefix(), clientv3.WithKeysOnly())
	if err != nil {
		t.Fatal(err)
	}
	gens := map[string]bool{}
	for _, kv := range resp.Kvs {
		gens[strings.Split(strings.TrimPrefix(string(kv.Key), snapshotPrefix+"data/"), "/")[0]] = true
	}
	if len(gens) != 1 {
		t.Fatalf("snapshot generations in etcd: %v, want one", gens)
	}
}
