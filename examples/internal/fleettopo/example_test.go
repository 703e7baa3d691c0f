package fleettopo_test

import (
	"context"
	"log/slog"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/shoalkit/shoal/alertcorr"
	"github.com/shoalkit/shoal/examples/internal/fleettopo"
)

// The topology of the platform, kept up to date while the engine runs.
func Example() {
	ctx := context.Background()
	cli, err := clientv3.New(clientv3.Config{Endpoints: []string{"http://127.0.0.1:2379"}, DialTimeout: 5 * time.Second})
	if err != nil {
		return
	}
	defer cli.Close()
	src := fleettopo.New(cli, slog.Default())
	topo := alertcorr.NewTopology()
	if _, err := topo.Sync(ctx, src); err != nil { // the fleet now
		return
	}
	go func() { _ = src.Run(ctx, topo) }() // and as it changes
	e, err := alertcorr.New(alertcorr.Config{Topology: topo})
	if err != nil {
		return
	}
	defer e.Close()
}
