package inspect

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

	"golang.org/x/sync/errgroup"
)

// quantiles reports p50 and p99 of ds in milliseconds.
func quantiles(b *testing.B, ds []time.Duration) {
	slices.Sort(ds)
	q := func(f float64) float64 {
		return float64(ds[min(len(ds)-1, int(f*float64(len(ds))))].Microseconds()) / 1000
	}
	b.ReportMetric(q(0.5), "p50-ms")
	b.ReportMetric(q(0.99), "p99-ms")
	b.ReportMetric(0, "ns/op")
}

// BenchmarkRound: one inspection round of n real serf members on
// loopback (Local profile, the tests' patient probe timing), every member
// answering from its agent; group > 0: the first attempt through
// collectors of that many members (each member serves stage two).
func BenchmarkRound(b *testing.B) {
	for _, tc := range []struct{ n, group int }{{50, 0}, {100, 0}, {100, 25}} {
		n := tc.n
		b.Run(fmt.Sprintf("nodes=%d/group=%d", n, tc.group), func(b *testing.B) {
			c := startCluster(b, clusterOpts{n: n, details: tc.group > 0})
			in := c.inspector(InspectorConfig{GroupSize: tc.group})
			var ds []time.Duration
			degraded := 0
			for b.Loop() {
				rep, err := in.Round(b.Context(), c.opts.spec)
				if err != nil {
					b.Fatal(err)
				}
				// Every member is accounted for in every round; all pass
				// unless the inspector itself was starved (the box's
				// load), which it reports: such rounds are counted and
				// timed, not failed.
				if rep.Accounted() != n || (rep.Counts[StatusPassed] != n && !rep.Health.Degraded) {
					var sb strings.Builder
					_ = rep.WriteText(&sb)
					b.Fatalf("counts %v\n%s", rep.Counts, sb.String())
				}
				if rep.Health.Degraded {
					degraded++
				}
				ds = append(ds, time.Duration(rep.Took))
			}
			quantiles(b, ds)
			b.ReportMetric(float64(degraded), "degraded-rounds")
		})
	}
}

// BenchmarkCentralPoll: the same checks on the same 100 agents, collected
// by a central poller with w workers opening a TCP connection per node —
// what a push model such as Ansible's amounts to.
func BenchmarkCentralPoll(b *testing.B) {
	const n = 100
	c := &cluster{t: b, opts: clusterOpts{spec: simpleSpec(1)}}
	var addrs []string
	for k := range n {
		root := b.TempDir()
		writeSysctl(b, root, "net.ipv4.ip_forward", "1")
		writeSysctl(b, root, "vm.swappiness", "1")
		agent, err := NewAgent(AgentConfig{Name: "p" + strconv.Itoa(k), Host: Host{Root: root}})
		if err != nil {
			b.Fatal(err)
		}
		if err := agent.SetSpec(c.opts.spec); err != nil {
			b.Fatal(err)
		}
		addrs = append(addrs, c.serve("127.0.0.1", agent.Handler()))
	}
	for _, w := range []int{5, 50} {
		b.Run(fmt.Sprintf("workers=%d", w), func(b *testing.B) {
			client := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{DisableKeepAlives: true}}
			var ds []time.Duration
			for b.Loop() {
				start := time.Now()
				g, ctx := errgroup.WithContext(b.Context())
				g.SetLimit(w)
				for _, a := range addrs {
					g.Go(func() error { return pollOne(ctx, client, a) })
				}
				if err := g.Wait(); err != nil {
					b.Fatal(err)
				}
				ds = append(ds, time.Since(start))
			}
			quantiles(b, ds)
		})
	}
}

func pollOne(ctx context.Context, client *http.Client, addr string) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+addr+DetailsPath+"?version=1", nil)
	if err != nil {
		return err
	}
	resp, err := client.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("%s: %s", addr, resp.Status)
	}
	return nil
}

// BenchmarkIdle100: CPU and memory of 100 idle members over 10 s (run
// with -benchtime=1x).
func BenchmarkIdle100(b *testing.B) {
	startCluster(b, clusterOpts{n: 100})
	time.Sleep(2 * time.Second) // joins settle
	for b.Loop() {
		c0, t0 := cpuTime(), time.Now()
		time.Sleep(10 * time.Second)
		b.ReportMetric((cpuTime()-c0).Seconds()/time.Since(t0).Seconds(), "cores")
	}
	b.ReportMetric(float64(rssBytes())/(1<<20), "rss-MiB")
	b.ReportMetric(0, "ns/op")
}

func cpuTime() time.Duration {
	var ru syscall.Rusage
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// rssBytes is the test process's resident set: all 100 members, the test
// binary and the Go runtime.
func rssBytes() int64 {
	b, _ := os.ReadFile("/proc/self/status")
	for line := range strings.Lines(string(b)) {
		if f := strings.Fields(line); len(f) >= 2 && f[0] == "VmRSS:" {
			kb, _ := strconv.ParseInt(f[1], 10, 64)
			return kb << 10
		}
	}
	return 0
}
