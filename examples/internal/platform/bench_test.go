package platform_test

import (
	"fmt"
	"net/http"
	"testing"
	"time"

	"github.com/shoalkit/shoal/examples/internal/controller"
	"github.com/shoalkit/shoal/examples/internal/platform"
	"github.com/shoalkit/shoal/examples/internal/state"
	"github.com/shoalkit/shoal/internal/testenv"
)

// BenchmarkDeploy100 deploys 100 fat instances on three real agents
// through the API and waits until all run with their addresses: placement,
// the image pre-distributed through the agents (a new image every time, so
// it is never already there), the containers created. Reported: seconds
// from the call to the last instance running.
func BenchmarkDeploy100(b *testing.B) {
	testenv.Require(b, testenv.Root, testenv.Runc, testenv.Cgroups, testenv.OVS, testenv.Netns, testenv.OCIRegistry)
	reg := testenv.StartRegistry(b)
	p, err := platform.Start(b.Context(), platform.Config{
		Dir: b.TempDir(), Agents: 3, Real: true, Registry: reg.Addr,
		NodeCapacity: state.Capacity{CPUs: 64, MemoryBytes: 64 << 30},
	})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(p.Close)
	cl := p.Client()
	if _, err := cl.Do(b.Context(), http.MethodPut, "/v1/networks/10", "", state.NetworkPool{VLAN: 10, Subnet: mustPrefix("10.10.0.0/23")}, nil); err != nil {
		b.Fatal(err)
	}
	var worst time.Duration
	i := 0
	for b.Loop() {
		b.StopTimer()
		i++
		img, err := p.BuildImage(b.Context(), fmt.Sprintf("bench%d:1", i), map[string]string{"/etc/bench": fmt.Sprint(i)})
		if err != nil {
			b.Fatal(err)
		}
		spec := state.AppSpec{
			Name: fmt.Sprintf("bench%d", i), Team: "bench", Image: img, Replicas: 100,
			Command: []string{"/bin/sh", "-c", "exec sleep 100000"}, Network: &state.AppNetwork{VLAN: 10},
			Resources: state.Resources{MemoryBytes: 32 << 20},
		}
		b.StartTimer()
		var d controller.Deployed
		if _, err := cl.Do(b.Context(), http.MethodPost, "/v1/apps?wait=5m", "", spec, &d); err != nil {
			b.Fatal(err)
		}
		b.StopTimer()
		if !d.Running {
			b.Fatalf("not all 100 running")
		}
		worst = max(worst, time.Duration(d.TimeToRunning))
		if _, err := cl.Do(b.Context(), http.MethodDelete, "/v1/apps/"+spec.Name, "", nil, nil); err != nil {
			b.Fatal(err)
		}
		waitGone(b, cl)
		b.StartTimer()
	}
	b.ReportMetric(worst.Seconds(), "worst-s")
}

// waitGone waits until no instance is desired or reported.
func waitGone(b *testing.B, cl *controller.Client) {
	deadline := time.Now().Add(5 * time.Minute)
	for time.Now().Before(deadline) {
		var ins []controller.InstanceView
		if _, err := cl.Do(b.Context(), http.MethodGet, "/v1/instances", "", nil, &ins); err != nil {
			b.Fatal(err)
		}
		if len(ins) == 0 {
			return
		}
		time.Sleep(200 * time.Millisecond)
	}
	b.Fatal("instances left after 5 min")
}
