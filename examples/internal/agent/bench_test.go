package agent_test

import (
	"encoding/json"
	"fmt"
	"slices"
	"testing"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/shoalkit/shoal/examples/internal/state"
)

// BenchmarkDesiredToRunning measures the agent's side of a deploy with the
// image already in the node's store: a desired instance written into etcd →
// the agent has prepared the rootfs, started the container and written its
// Running status (seen through a watch, not polling). Removal is not timed.
// p50 and p99 are reported beside the mean.
func BenchmarkDesiredToRunning(b *testing.B) {
	n := newNode(b)
	n.startAgent()
	// Warm the store: the first instance pulls the image.
	warm := state.Instance{ID: "warm", App: "bench", Generation: 1, Image: n.image, Kind: state.Thin, Command: []string{"/bin/sleep", "1000"}}
	n.put(warm)
	n.waitStatus("warm", "running", running)

	var lat []time.Duration
	i := 0
	for b.Loop() {
		id := fmt.Sprintf("b-%d", i)
		i++
		in := state.Instance{
			ID: id, App: "bench", Generation: 1, RequestID: id, Image: n.image, Kind: state.Thin,
			Command: []string{"/bin/sleep", "1000"}, Resources: state.Resources{MemoryBytes: 32 << 20},
		}
		wch := n.cli.Watch(b.Context(), state.StatusKey("n1", id))
		start := time.Now()
		n.put(in)
	wait:
		for wr := range wch {
			for _, ev := range wr.Events {
				var st state.Status
				if json.Unmarshal(ev.Kv.Value, &st) == nil && running(st) {
					break wait
				}
			}
		}
		lat = append(lat, time.Since(start))
		b.StopTimer()
		if _, err := n.cli.Delete(b.Context(), state.DesiredKey("n1", id)); err != nil {
			b.Fatal(err)
		}
		waitGoneB(b, n.cli, id)
		b.StartTimer()
	}
	slices.Sort(lat)
	b.ReportMetric(float64(lat[len(lat)/2].Microseconds())/1000, "p50-ms")
	b.ReportMetric(float64(lat[len(lat)*99/100].Microseconds())/1000, "p99-ms")
}

func waitGoneB(b *testing.B, cli *clientv3.Client, id string) {
	deadline := time.Now().Add(20 * time.Second)
	for {
		resp, err := cli.Get(b.Context(), state.StatusKey("n1", id), clientv3.WithCountOnly())
		if err == nil && resp.Count == 0 {
			return
		}
		if time.Now().After(deadline) {
			b.Fatalf("%s not removed", id)
		}
		time.Sleep(10 * time.Millisecond)
	}
}
