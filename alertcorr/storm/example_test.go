package storm_test

import (
	"context"
	"fmt"
	"time"

	"github.com/shoalkit/shoal/alertcorr"
	"github.com/shoalkit/shoal/alertcorr/storm"
)

// A generated storm, correlated and scored against its truth.
func Example() {
	s, err := storm.Generate(storm.Config{Seed: 1, Hosts: 400, ContainersPerHost: 20, HostFaults: 3, SwitchFaults: 1, Noise: 4})
	if err != nil {
		fmt.Println(err)
		return
	}
	tp := alertcorr.NewTopology()
	_ = tp.Load(context.Background(), s)
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	e, _ := alertcorr.New(alertcorr.Config{Topology: tp, Now: func() time.Time { return now }})
	defer e.Close()
	for _, a := range s.Alerts {
		_ = e.Ingest(a.Alert)
	}
	_ = e.Advance(context.Background(), now.Add(time.Minute))
	sc := s.Score(e.Incidents())
	fmt.Printf("%d alerts, %d incidents, top-1 %.2f, F1 %.2f\n", sc.Alerts, sc.Incidents, sc.Top1, sc.F1)
	// Output:
	// 907 alerts, 8 incidents, top-1 1.00, F1 1.00
}
