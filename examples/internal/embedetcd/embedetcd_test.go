package embedetcd_test

import (
	"bytes"
	"log/slog"
	"testing"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/shoalkit/shoal/examples/internal/embedetcd"
)

func TestStartPutGetRestart(t *testing.T) {
	dir := t.TempDir()
	var logs bytes.Buffer
	srv, err := embedetcd.Start(t.Context(), embedetcd.Config{Dir: dir, Logger: slog.New(slog.NewTextHandler(&logs, nil))})
	if err != nil {
		t.Fatal(err)
	}
	addr := srv.Endpoints()[0]
	put := func(ep []string, k, v string) {
		cli, err := clientv3.New(clientv3.Config{Endpoints: ep, DialTimeout: 5 * time.Second})
		if err != nil {
			t.Fatal(err)
		}
		defer cli.Close()
		if _, err := cli.Put(t.Context(), k, v); err != nil {
			t.Fatal(err)
		}
	}
	get := func(ep []string, k string) string {
		cli, err := clientv3.New(clientv3.Config{Endpoints: ep, DialTimeout: 5 * time.Second})
		if err != nil {
			t.Fatal(err)
		}
		defer cli.Close()
		r, err := cli.Get(t.Context(), k)
		if err != nil || len(r.Kvs) != 1 {
			t.Fatalf("get %s: %v %v", k, err, r)
		}
		return string(r.Kvs[0].Value)
	}
	put(srv.Endpoints(), "/a", "1")
	srv.Close()
	srv.Close() // idempotent, where embed's own Close panics

	// The same Dir on a new port keeps the data.
	srv2, err := embedetcd.Start(t.Context(), embedetcd.Config{Dir: dir})
	if err != nil {
		t.Fatal(err)
	}
	defer srv2.Close()
	if srv2.Endpoints()[0] == "" || get(srv2.Endpoints(), "/a") != "1" {
		t.Fatalf("data lost across a restart (was %s, now %s)", addr, srv2.Endpoints()[0])
	}
}

func TestStartRefusesBadConfig(t *testing.T) {
	for name, cfg := range map[string]embedetcd.Config{
		"no dir":        {},
		"all addresses": {Dir: t.TempDir(), ClientAddr: "0.0.0.0:2379"},
		"not an addr":   {Dir: t.TempDir(), PeerAddr: "x"},
	} {
		if _, err := embedetcd.Start(t.Context(), cfg); err == nil {
			t.Errorf("%s: Start succeeded", name)
		}
	}
}
