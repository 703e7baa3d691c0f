package controller_test

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
	"go.uber.org/zap"

	"github.com/shoalkit/shoal/examples/internal/controller"
	"github.com/shoalkit/shoal/examples/internal/embedetcd"
	"github.com/shoalkit/shoal/examples/internal/simnode"
	"github.com/shoalkit/shoal/examples/internal/state"
)

// A controller over three simulated nodes: define a VLAN's pool, deploy
// an app spread over the racks, read where its instances went.
func Example() {
	ctx := context.Background()
	dir, _ := os.MkdirTemp("", "shoal-example-")
	defer os.RemoveAll(dir)
	srv, err := embedetcd.Start(ctx, embedetcd.Config{Dir: dir})
	if err != nil {
		fmt.Println(err)
		return
	}
	defer srv.Close()
	cli, _ := clientv3.New(clientv3.Config{Endpoints: srv.Endpoints(), DialTimeout: 5 * time.Second, Logger: zap.NewNop()})
	defer cli.Close()
	fleet, _ := simnode.Start(ctx, simnode.Config{Etcd: cli, Nodes: simnode.Racks(3, 1, state.Capacity{CPUs: 8, MemoryBytes: 16 << 30})})
	defer fleet.Close()

	c, _ := controller.New(controller.Config{Etcd: cli})
	token, _ := c.EnsureToken(ctx)
	runCtx, stop := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() { defer close(done); _ = c.Run(runCtx) }()
	defer func() { stop(); <-done }()
	api := httptest.NewServer(c.Handler())
	defer api.Close()
	for !c.Leading() {
		time.Sleep(10 * time.Millisecond)
	}

	cl := &controller.Client{URL: api.URL, Token: token}
	pool := state.NetworkPool{VLAN: 10, Subnet: mustPrefix("10.0.10.0/24"), Gateway: mustAddr("10.0.10.1")}
	if _, err := cl.Do(ctx, http.MethodPut, "/v1/networks/10", "", pool, nil); err != nil {
		fmt.Println(err)
		return
	}
	app := state.AppSpec{
		Name: "web", Team: "shop", Image: "registry.example/web:1", Replicas: 3,
		Network:   &state.AppNetwork{VLAN: 10, Port: 80},
		Placement: state.PlacementSpec{Spread: []state.SpreadSpec{{Key: "rack"}}},
	}
	var d controller.Deployed
	if _, err := cl.Do(ctx, http.MethodPost, "/v1/apps?wait=30s", "req-example", app, &d); err != nil {
		fmt.Println(err)
		return
	}
	nodes := map[string]bool{}
	for _, in := range d.Created {
		nodes[in.Node] = true
	}
	fmt.Printf("%d instances running on %d nodes, one per rack: %v\n", len(d.Created), len(nodes), d.Running)

	_, err = cl.Do(ctx, http.MethodPost, "/v1/apps", "", app, nil)
	var p *controller.ProblemError
	if errors.As(err, &p) {
		fmt.Println(p.Code)
	}
	// Output:
	// 3 instances running on 3 nodes, one per rack: true
	// conflict
}
