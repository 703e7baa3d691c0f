package graphite_test

import (
	"fmt"
	"time"

	"github.com/shoalkit/shoal/metrics"
	"github.com/shoalkit/shoal/metrics/graphite"
)

// The points a snapshot becomes, as paths.
func ExamplePoints() {
	s := &metrics.Snapshot{
		Time: time.Unix(1_700_000_000, 0),
		Containers: []metrics.ContainerSample{{
			Target: metrics.Target{ID: "web-1", App: "web"},
			TCP:    metrics.TCPStats{InUse: 687, TimeWait: 12},
		}},
	}
	for _, p := range graphite.Points(s, "shoal", "node1", false) {
		if p.Name == "shoal.node1.containers.web.web-1.tcp.inuse" {
			fmt.Println(p.Name, p.Value, p.Time.Unix())
		}
	}
	// Output: shoal.node1.containers.web.web-1.tcp.inuse 687 1700000000
}

// A writer never blocks its caller: with carbon down, points wait in the
// bounded queue and what does not fit is counted.
func ExampleWriter_Enqueue() {
	w, err := graphite.New(graphite.Config{Addr: "127.0.0.1:9", Node: "node1", QueueSize: 2})
	if err != nil {
		fmt.Println(err)
		return
	}
	p := graphite.Point{Name: "a.b", Value: 1, Time: time.Unix(1_700_000_000, 0)}
	fmt.Println(w.Enqueue(p, p, p))
	st := w.Stats()
	fmt.Println(st.Queued, st.Dropped)
	// Output:
	// 2
	// 2 1
}
