package activity_test

import (
	"fmt"
	"os"
	"time"

	"github.com/shoalkit/shoal/metrics"
	"github.com/shoalkit/shoal/metrics/activity"
)

// A ranking of one app's containers in JD's form.
func Example() {
	tr, err := activity.New(activity.Config{TopN: 1})
	if err != nil {
		fmt.Println(err)
		return
	}
	at := time.Date(2026, 12, 3, 10, 0, 0, 0, time.UTC)
	sample := func(id string, cpu float64, conns uint64) metrics.ContainerSample {
		return metrics.ContainerSample{
			Target: metrics.Target{ID: id, App: "shop"}, Time: at,
			Memory: metrics.MemoryStats{WorkingSet: 598 << 20, Limit: 1 << 30},
			Disks:  []metrics.DiskStats{{MountPoint: "/", Total: 1000, Used: 60}},
			TCP:    metrics.TCPStats{InUse: conns},
			Rates:  metrics.Rates{Valid: true, CPUPercent: cpu, NetRx: 10486},
		}
	}
	tr.Observe(&metrics.Snapshot{Time: at, Containers: []metrics.ContainerSample{
		sample("shop-1", 2.79, 687), sample("shop-2", 0.01, 0),
	}})
	_ = tr.Report().WriteText(os.Stdout)
	// Output:
	// Container activity at 2026-12-03T10:00:00Z
	//
	// app shop: 2 containers ranked
	//   most active:
	//    1. shop-1  score 27.0  cpu:2.79%;mem:58.40%;disk:6.0%;tcpconns:687.0;net-in:0.01MB/s net-out:0.00MB/s
	//   idlest:
	//    1. shop-2  score 12.4  cpu:0.01%;mem:58.40%;disk:6.0%;tcpconns:0.0;net-in:0.01MB/s net-out:0.00MB/s
}
