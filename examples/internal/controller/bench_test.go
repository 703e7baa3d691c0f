package controller_test

import (
	"context"
	"fmt"
	"net/http"
	"os"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/shoalkit/shoal/examples/internal/controller"
	"github.com/shoalkit/shoal/examples/internal/embedetcd"
	"github.com/shoalkit/shoal/examples/internal/simnode"
	"github.com/shoalkit/shoal/examples/internal/state"
)

// benchHarness is newHarness with etcd's transaction limit at the
// embedded default and the controller told so.
func benchController(h *harness) *ctrl {
	return h.startWith("c1", func(cfg *controller.Config) { cfg.MaxTxnOps = embedetcd.DefaultMaxTxnOps })
}

// BenchmarkDeploy50k places 50,000 fat instances on 1,000 simulated nodes
// (20 racks) in deploys of 1,000, through the API: placement, address
// allocation and the etcd transactions. Reported: instances/s, and the
// whole process's RSS at the end (etcd, the simulated nodes and the
// controller together: an upper bound of the controller's).
func BenchmarkDeploy50k(b *testing.B) {
	for b.Loop() {
		b.StopTimer()
		h := newHarness(b, simnode.Racks(20, 50, state.Capacity{CPUs: 64, MemoryBytes: 256 << 30}), nil)
		k := benchController(h)
		h.leader()
		h.must(k, "PUT", "/v1/networks/10", "", state.NetworkPool{VLAN: 10, Subnet: mustPrefix("10.0.0.0/16")}, nil)
		b.StartTimer()
		start, cpu0 := time.Now(), cpuTime()
		const apps, per = 50, 1000
		for i := range apps {
			spec := webApp(per)
			spec.Name = fmt.Sprintf("app%d", i)
			spec.Resources = state.Resources{CPUs: 0.5, MemoryBytes: 512 << 20}
			h.must(k, "POST", "/v1/apps", "", spec, nil)
		}
		el, cpu := time.Since(start), cpuTime()-cpu0
		b.StopTimer()
		b.ReportMetric(apps*per/el.Seconds(), "instances/s")
		b.ReportMetric(apps*per/cpu.Seconds(), "instances/cpu-s")
		b.ReportMetric(float64(rss())/(1<<20), "RSS-MiB")
		if n := h.count(state.Prefix + "desired/"); n != apps*per {
			b.Fatalf("%d instances in etcd, want %d", n, apps*per)
		}
		b.StartTimer()
	}
}

// cpuTime is the CPU time this process has used (user and system): the
// controller, etcd and the simulated nodes together.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// rss is this process's resident set size in bytes.
func rss() int64 {
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return 0
	}
	for line := range strings.SplitSeq(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, "VmRSS:"); ok {
			kb, _ := strconv.ParseInt(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB")), 10, 64)
			return kb << 10
		}
	}
	return 0
}

// BenchmarkFailover kills the leading controller the way a crash does (its
// etcd connection drops; it cannot resign) with 2,000 instances placed,
// and measures until the other leads and has made a change. It checks that
// nothing was lost or duplicated.
func BenchmarkFailover(b *testing.B) {
	h := newHarness(b, simnode.Racks(10, 10, capacity), nil)
	k1 := benchController(h)
	h.leader()
	h.must(k1, "PUT", "/v1/networks/10", "", state.NetworkPool{VLAN: 10, Subnet: mustPrefix("10.0.0.0/16")}, nil)
	spec := webApp(2000)
	spec.Resources = state.Resources{}
	h.must(k1, "POST", "/v1/apps", "", spec, nil)
	leader := k1
	var worst time.Duration
	replicas := 2000
	for b.Loop() {
		b.StopTimer()
		next := benchController(h)
		time.Sleep(200 * time.Millisecond) // campaigning behind the leader
		b.StartTimer()
		start := time.Now()
		leader.crash()
		for !next.c.Leading() {
			time.Sleep(5 * time.Millisecond)
		}
		replicas++
		h.must(next, "POST", "/v1/apps/web/scale", "", map[string]int{"replicas": replicas}, nil)
		el := time.Since(start)
		b.StopTimer()
		worst = max(worst, el)
		if n, ips := len(h.appInstances("web")), h.count(state.IPPrefix()); n != replicas || ips != replicas {
			b.Fatalf("after failover: %d instances, %d addresses, want %d", n, ips, replicas)
		}
		leader = next
		b.StartTimer()
	}
	b.ReportMetric(worst.Seconds(), "worst-s")
}

// BenchmarkAPIRead reads from the watch cache with 10,000 instances (100
// apps of 100): one instance, one app's instances, the app list. p99 is
// over all calls of each kind.
func BenchmarkAPIRead(b *testing.B) {
	h := newHarness(b, simnode.Racks(10, 10, state.Capacity{CPUs: 256, MemoryBytes: 1 << 40}), nil)
	k := benchController(h)
	h.leader()
	h.must(k, "PUT", "/v1/networks/10", "", state.NetworkPool{VLAN: 10, Subnet: mustPrefix("10.0.0.0/16")}, nil)
	for i := range 100 {
		spec := webApp(100)
		spec.Name = fmt.Sprintf("app%d", i)
		spec.Resources = state.Resources{}
		h.must(k, "POST", "/v1/apps", "", spec, nil)
	}
	h.eventually("10,000 instances ready", func() (bool, string) {
		var apps []controller.AppView
		h.must(k, "GET", "/v1/apps", "", nil, &apps)
		ready := 0
		for _, a := range apps {
			ready += a.Ready
		}
		return ready == 10000, fmt.Sprint(ready)
	})
	var ins []controller.InstanceView
	h.must(k, "GET", "/v1/instances?app=app7", "", nil, &ins)
	paths := map[string]string{
		"instance": "/v1/instances/" + ins[0].Desired.ID,
		"app":      "/v1/instances?app=app42",
		"apps":     "/v1/apps",
	}
	for _, name := range []string{"instance", "app", "apps"} {
		b.Run(name, func(b *testing.B) {
			var lat []time.Duration
			for b.Loop() {
				start := time.Now()
				getOK(b, k, h.token, paths[name])
				lat = append(lat, time.Since(start))
			}
			slices.Sort(lat)
			b.ReportMetric(float64(lat[len(lat)*99/100].Microseconds())/1000, "p99-ms")
		})
	}
}

func getOK(b *testing.B, k *ctrl, token, path string) {
	req, _ := http.NewRequestWithContext(context.Background(), http.MethodGet, k.srv.URL+path, nil)
	req.Header.Set("Authorization", "Bearer "+token)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		b.Fatal(err)
	}
	buf := make([]byte, 32<<10)
	for {
		if _, err := resp.Body.Read(buf); err != nil {
			break
		}
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		b.Fatalf("GET %s: %d", path, resp.StatusCode)
	}
}
