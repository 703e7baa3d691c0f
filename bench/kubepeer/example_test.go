package kubepeer_test

import (
	"context"
	"fmt"

	"github.com/shoalkit/shoal/bench/kubepeer"
)

// Run compares the two schedulers on a 100-node fleet: every row says
// whether schedtest's checker accepted each side's placements.
func ExampleRun() {
	rep, err := kubepeer.Run(context.Background(), kubepeer.Config{
		Nodes: 100, Racks: 10, Switches: 2, Replicas: 5,
		ExactApps: 2, SampledApps: 2, Runs: 1, SchedRepeats: 1,
		Modes: []kubepeer.Mode{kubepeer.Exact},
	})
	if err != nil {
		fmt.Println(err)
		return
	}
	for _, r := range rep.Rows {
		kube := "checked"
		if r.Inexpressible != nil {
			kube = "cannot express"
		} else if r.Kube.Quality.Violation != nil {
			kube = "broken"
		}
		fmt.Printf("%s %s: %d pods, kube-scheduler %s, sched ok=%v\n", r.Scenario, r.Mode, r.Placements, kube, r.Sched.Quality.Violation == nil)
	}
	// Output:
	// plain exact: 10 pods, kube-scheduler checked, sched ok=true
	// rack-max-1 exact: 10 pods, kube-scheduler checked, sched ok=true
	// rack-max-2 exact: 10 pods, kube-scheduler cannot express, sched ok=true
	// hard-spread exact: 10 pods, kube-scheduler checked, sched ok=true
	// soft-spread exact: 10 pods, kube-scheduler checked, sched ok=true
}
