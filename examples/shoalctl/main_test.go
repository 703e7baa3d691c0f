package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
	"go.uber.org/zap"

	"github.com/shoalkit/shoal/examples/internal/controller"
	"github.com/shoalkit/shoal/examples/internal/daemon"
	"github.com/shoalkit/shoal/examples/internal/embedetcd"
	"github.com/shoalkit/shoal/examples/internal/simnode"
	"github.com/shoalkit/shoal/examples/internal/state"
)

// platform is embedded etcd, three simulated nodes and a controller behind
// an httptest server; it returns the environment shoalctl reads.
func platform(t *testing.T) map[string]string {
	t.Helper()
	srv, err := embedetcd.Start(t.Context(), embedetcd.Config{Dir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(srv.Close)
	cli, err := clientv3.New(clientv3.Config{Endpoints: srv.Endpoints(), DialTimeout: 5 * time.Second, Logger: zap.NewNop()})
	if err != nil {
		t.Fatal(err)
	}
	fleet, err := simnode.Start(t.Context(), simnode.Config{Etcd: cli, Nodes: simnode.Racks(3, 1, state.Capacity{CPUs: 8, MemoryBytes: 8 << 30})})
	if err != nil {
		t.Fatal(err)
	}
	c, err := controller.New(controller.Config{Etcd: cli, Resync: 200 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	tok, err := c.EnsureToken(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); _ = c.Run(ctx) }()
	api := httptest.NewServer(c.Handler())
	t.Cleanup(func() {
		api.Close()
		cancel()
		<-done
		_ = fleet.Close()
		cli.Close()
	})
	for !c.Leading() {
		time.Sleep(10 * time.Millisecond)
	}
	tokenFile := filepath.Join(t.TempDir(), "token")
	if err := os.WriteFile(tokenFile, []byte(tok+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	return map[string]string{"SHOAL_SERVER": api.URL, "SHOAL_TOKEN_FILE": tokenFile}
}

func run(t *testing.T, env map[string]string, args ...string) (string, string, error) {
	t.Helper()
	var out, errb bytes.Buffer
	err := newCLI(func(k string) string { return env[k] }).Run(t.Context(), args, &out, &errb)
	return out.String(), errb.String(), err
}

func TestShoalctl(t *testing.T) {
	env := platform(t)
	out, _, err := run(t, env, "nodes")
	if err != nil || strings.Count(out, "simulated") != 3 || !strings.Contains(out, "r2") {
		t.Fatalf("nodes: %v\n%s", err, out)
	}
	if _, _, err := run(t, env, "network", "10", "10.0.10.0/24", "10.0.10.1"); err != nil {
		t.Fatal(err)
	}
	app := state.AppSpec{
		Name: "web", Team: "shop", Image: "127.0.0.1:1/web:1", Replicas: 3, Network: &state.AppNetwork{VLAN: 10, Port: 80},
		Placement: state.PlacementSpec{Spread: []state.SpreadSpec{{Key: "rack"}}},
	}
	file := filepath.Join(t.TempDir(), "app.json")
	b, _ := json.Marshal(app)
	if err := os.WriteFile(file, b, 0o600); err != nil {
		t.Fatal(err)
	}
	out, errOut, err := run(t, env, "-request-id", "req-ctl", "deploy", "-f", file, "-wait", "20s")
	if err != nil || strings.Count(out, "10.0.10.") != 3 || !strings.Contains(out, "all running") || !strings.Contains(errOut, "request id: req-ctl") {
		t.Fatalf("deploy: %v\n%s\n%s", err, out, errOut)
	}
	out, _, err = run(t, env, "scale", "web", "5")
	if err != nil || strings.Count(out, "10.0.10.") != 2 {
		t.Fatalf("scale: %v\n%s", err, out)
	}
	out, _, err = run(t, env, "instances", "-app", "web", "-o", "json")
	var ins []controller.InstanceView
	if err != nil || json.Unmarshal([]byte(out), &ins) != nil || len(ins) != 5 {
		t.Fatalf("instances -o json: %v\n%s", err, out)
	}
	out, _, err = run(t, env, "apps")
	if err != nil || !strings.Contains(out, "web") || !strings.Contains(out, "/5") {
		t.Fatalf("apps: %v\n%s", err, out)
	}
	out, _, err = run(t, env, "events", "-request-id", "req-ctl")
	if err != nil || !strings.Contains(out, "AppDeployed") || strings.Count(out, "InstanceScheduled") != 3 {
		t.Fatalf("events -request-id: %v\n%s", err, out)
	}
	out, _, err = run(t, env, "endpoints", "web")
	if err != nil || strings.Count(out, ":80") != 5 {
		t.Fatalf("endpoints: %v\n%s", err, out)
	}

	// What a person gets wrong.
	_, _, err = run(t, env, "scale", "web")
	if !errors.Is(err, daemon.ErrUsage) {
		t.Errorf("scale without a count: %v, want a usage error", err)
	}
	_, _, err = run(t, env, "deploy", "-f", file)
	var p *controller.ProblemError
	if !errors.As(err, &p) || p.Code != controller.CodeConflict || p.Field != "name" {
		t.Errorf("deploying twice: %v", err)
	}
	bad := map[string]string{"SHOAL_SERVER": env["SHOAL_SERVER"], "SHOAL_TOKEN_FILE": filepath.Join(t.TempDir(), "none")}
	if _, _, err := run(t, bad, "apps"); err == nil || !strings.Contains(err.Error(), "token") {
		t.Errorf("without a token file: %v", err)
	}
	if _, _, err := run(t, env, "frobnicate"); !errors.Is(err, daemon.ErrUsage) {
		t.Errorf("unknown command: %v", err)
	}
}
