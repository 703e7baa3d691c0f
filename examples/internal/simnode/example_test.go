package simnode_test

import (
	"context"
	"fmt"
	"os"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
	"go.uber.org/zap"

	"github.com/shoalkit/shoal/examples/internal/embedetcd"
	"github.com/shoalkit/shoal/examples/internal/simnode"
	"github.com/shoalkit/shoal/examples/internal/state"
)

// Three simulated nodes register as agents would.
func ExampleStart() {
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
	fleet, err := simnode.Start(ctx, simnode.Config{Etcd: cli, Nodes: simnode.Racks(3, 1, state.Capacity{CPUs: 4})})
	if err != nil {
		fmt.Println(err)
		return
	}
	defer fleet.Close()
	resp, _ := cli.Get(ctx, state.NodesPrefix(), clientv3.WithPrefix(), clientv3.WithCountOnly())
	fmt.Println(resp.Count, "nodes registered")
	// Output: 3 nodes registered
}
