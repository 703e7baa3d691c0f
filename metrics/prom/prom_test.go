package prom_test

import (
	"bytes"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/common/expfmt"
	"golang.org/x/sync/errgroup"

	"github.com/shoalkit/shoal/cgroupx/cgroupxtest"
	"github.com/shoalkit/shoal/internal/errs"
	"github.com/shoalkit/shoal/internal/testenv"
	"github.com/shoalkit/shoal/metrics"
	"github.com/shoalkit/shoal/metrics/prom"
)

var update = flag.Bool("update", false, "rewrite the golden exposition")

// fixtureTime is the fixture's clock: the collector's and the exporter's.
var fixtureTime = time.Unix(1_700_000_000, 0)

func fixtureNow() time.Time { return fixtureTime }

// fixtureCollector is a collector over a fake v1 host with one container
// that has every metric, and one target that does not exist.
func fixtureCollector(t *testing.T) *metrics.Collector {
	t.Helper()
	return fixtureCollectorWith(t, metrics.Config{})
}

// fixtureCollectorWith is fixtureCollector with cfg's Interval.
func fixtureCollectorWith(t *testing.T, cfg metrics.Config) *metrics.Collector {
	t.Helper()
	tr := cgroupxtest.New(t, cgroupxtest.V1)
	tr.SetMemory("/web-1", cgroupxtest.Memory{Limit: 256 << 20, Usage: 100 << 20, Cache: 40 << 20, RSS: 60 << 20, Mapped: 5 << 20, InactiveFile: 30 << 20})
	tr.SetCPU("/web-1", 50000, 100000)
	tr.SetCPUUsage("/web-1", 2e9, 1e9)
	tr.WriteFile("cpu", "/web-1", "cpu.stat", "nr_periods 10\nnr_throttled 4\nthrottled_time 300000000\n")
	tr.WriteFile("memory", "/web-1", "memory.oom_control", "oom_kill_disable 0\nunder_oom 0\noom_kill 1\n")
	tr.WriteFile("pids", "/web-1", "pids.current", "3\n")
	tr.WriteFile("pids", "/web-1", "pids.max", "100\n")
	tr.WriteFile("blkio", "/web-1", "blkio.throttle.io_service_bytes_recursive", "8:0 Read 4096\n8:0 Write 8192\nTotal 12288\n")
	tr.WriteFile("blkio", "/web-1", "blkio.throttle.io_serviced_recursive", "8:0 Read 1\n8:0 Write 2\nTotal 3\n")
	tr.AddProcess("/web-1", cgroupxtest.Process{PID: 42, Comm: "web", Threads: []cgroupxtest.Thread{{TID: 42}, {TID: 43}}})
	tr.WriteHostFile("proc/42/ns/net", "")
	tr.WriteHostFile("proc/42/fd/0", "")
	tr.WriteHostFile("proc/42/net/dev", "h\nh\n    lo: 1 1 0 0 0 0 0 0 1 1 0 0 0 0 0 0\n  eth0: 1000 10 1 2 0 0 0 0 2000 20 3 4 0 0 0 0\n")
	tr.WriteHostFile("proc/42/net/sockstat", "sockets: used 5\nTCP: inuse 7 orphan 3 tw 2 alloc 9 mem 1\n")
	tr.WriteHostFile("proc/42/net/sockstat6", "TCP6: inuse 1\n")
	tr.WriteHostFile("proc/loadavg", "0.52 0.58 0.59 2/315 12345\n")
	tr.WriteHostFile("proc/sys/kernel/pid_max", "32768\n")
	tr.WriteHostFile("proc/sys/kernel/threads-max", "192739\n")
	tr.WriteHostFile("proc/sys/fs/file-nr", "5363\t0\t2466293\n")
	tr.WriteHostFile("proc/net/sockstat", "sockets: used 5\nTCP: inuse 9 orphan 3 tw 1 alloc 90 mem 4\n")
	tr.WriteHostFile("proc/sys/net/netfilter/nf_conntrack_count", "120\n")
	tr.WriteHostFile("proc/sys/net/netfilter/nf_conntrack_max", "262144\n")
	c, err := metrics.New(context.Background(), metrics.Config{
		Root: tr.Root, DiskInterval: -1, Interval: cfg.Interval, Now: fixtureNow,
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c.Close() })
	for _, tg := range []metrics.Target{
		{ID: "web-1", Name: "web-1", App: "web", Image: "registry/web:1", Cgroup: "/web-1"},
		{ID: "gone", App: "web", Cgroup: "/gone"},
	} {
		if err := c.Add(tg); err != nil {
			t.Fatal(err)
		}
	}
	return c
}

// scrape gathers reg and returns the text exposition.
func scrape(t *testing.T, reg *prometheus.Registry) []byte {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatalf("gather: %v", err)
	}
	var buf bytes.Buffer
	enc := expfmt.NewEncoder(&buf, expfmt.NewFormat(expfmt.TypeTextPlain))
	for _, mf := range mfs {
		if err := enc.Encode(mf); err != nil {
			t.Fatal(err)
		}
	}
	return buf.Bytes()
}

// timings are the values that differ between runs.
var timings = regexp.MustCompile(`(?m)^(shoal_metrics_(scrape|sample)_duration_seconds) .*$`)

// runCollector runs c.Run until the test ends and waits for its first
// snapshot.
func runCollector(t *testing.T, c *metrics.Collector) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- c.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; !errors.Is(err, context.Canceled) {
			t.Errorf("run: %v", err)
		}
		if c.Latest() != nil {
			t.Error("Latest after Run returned")
		}
	})
	for deadline := time.Now().Add(10 * time.Second); c.Latest() == nil; time.Sleep(time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("Run took no snapshot")
		}
	}
}

// TestGoldenExposition checks a scrape that samples and one that serves
// the snapshot of Collector.Run, each gathered by a registry and encoded
// by expfmt or written by WriteText, against the same exposition.
func TestGoldenExposition(t *testing.T) {
	for _, served := range []bool{false, true} {
		for _, text := range []bool{false, true} {
			name := map[bool]string{false: "sampled", true: "snapshot"}[served] + "/" + map[bool]string{false: "gather", true: "text"}[text]
			t.Run(name, func(t *testing.T) {
				c := fixtureCollectorWith(t, metrics.Config{Interval: time.Hour})
				if served {
					runCollector(t, c)
				}
				reg := prometheus.NewPedanticRegistry()
				exp, err := prom.Register(reg, c, prom.Config{Now: fixtureNow})
				if err != nil {
					t.Fatal(err)
				}
				get := func() []byte { return scrape(t, reg) }
				if text {
					get = func() []byte {
						var buf bytes.Buffer
						if err := exp.WriteText(context.Background(), &buf); err != nil {
							t.Fatal(err)
						}
						return buf.Bytes()
					}
				}
				got := timings.ReplaceAll(get(), []byte("$1 X"))
				golden := filepath.Join("testdata", "exposition.golden")
				if *update && !served && !text {
					if err := os.WriteFile(golden, got, 0o644); err != nil {
						t.Fatal(err)
					}
				}
				want, err := os.ReadFile(golden)
				if err != nil {
					t.Fatal(err)
				}
				if !bytes.Equal(got, want) {
					t.Errorf("exposition differs from %s (go test -update to rewrite):\n%s", golden, got)
				}
				// A served snapshot is not sampled again: the second scrape
				// still shows the one sample Run took.
				again := get()
				wantSamples := map[bool]string{false: "shoal_metrics_samples_total 2", true: "shoal_metrics_samples_total 1"}[served]
				if !bytes.Contains(again, []byte(wantSamples)) {
					t.Errorf("second scrape lacks %s", wantSamples)
				}
			})
		}
	}
}

// TestHandler serves the exporter's text and another registry's
// families, and leaves out one of those named as the exporter's.
func TestHandler(t *testing.T) {
	c := fixtureCollector(t)
	exp, err := prom.New(c, prom.Config{Now: fixtureNow})
	if err != nil {
		t.Fatal(err)
	}
	others := prometheus.NewPedanticRegistry()
	own := prometheus.NewCounter(prometheus.CounterOpts{Name: "agent_requests_total", Help: "Requests."})
	own.Add(3)
	clash := prometheus.NewGauge(prometheus.GaugeOpts{Name: "node_load1", Help: "Not ours."})
	others.MustRegister(own, clash)
	srv := httptest.NewServer(exp.Handler(others))
	defer srv.Close()
	req, err := http.NewRequestWithContext(context.Background(), http.MethodGet, srv.URL, nil)
	if err != nil {
		t.Fatal(err)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	body, err := io.ReadAll(resp.Body)
	_ = resp.Body.Close()
	if err != nil {
		t.Fatal(err)
	}
	if ct := resp.Header.Get("Content-Type"); !strings.HasPrefix(ct, "text/plain; version=0.0.4") {
		t.Errorf("content type %q", ct)
	}
	for _, want := range []string{"agent_requests_total 3\n", "node_load1 0.52\n", `container_memory_usage_bytes{container_label_app="web",id="/web-1",image="registry/web:1",name="web-1"} 1.048576e+08`} {
		if !bytes.Contains(body, []byte(want)) {
			t.Errorf("response lacks %q", want)
		}
	}
	if n := bytes.Count(body, []byte("# TYPE node_load1 ")); n != 1 {
		t.Errorf("node_load1 typed %d times", n)
	}
	if out := testenv.CheckMetrics(t, body); out != "" {
		t.Errorf("promtool check metrics:\n%s", out)
	}
}

// clock is a settable clock.
type clock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *clock) set(t time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = t
}

// samples returns shoal_metrics_samples_total of a scrape.
func samples(t *testing.T, reg *prometheus.Registry) string {
	t.Helper()
	m := regexp.MustCompile(`(?m)^shoal_metrics_samples_total (\d+)$`).FindSubmatch(scrape(t, reg))
	if m == nil {
		t.Fatal("no shoal_metrics_samples_total")
	}
	return string(m[1])
}

// TestMaxAge serves Run's snapshot while it is young enough and samples
// once it is older than MaxAge, or when MaxAge is negative.
func TestMaxAge(t *testing.T) {
	c := fixtureCollectorWith(t, metrics.Config{Interval: time.Hour})
	runCollector(t, c) // sample 1, at fixtureTime
	clk := &clock{now: fixtureTime}
	for _, tt := range []struct {
		name   string
		maxAge time.Duration
		age    time.Duration
		want   string // samples_total seen by the scrape
	}{
		{"fresh", 0, 0, "1"},
		{"at the default max age", 0, 20 * time.Second, "1"},
		{"past the default max age", 0, 20*time.Second + 1, "2"},
		{"within a longer max age", time.Minute, 59 * time.Second, "1"},
		{"negative max age", -1, 0, "3"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			reg := prometheus.NewPedanticRegistry()
			if _, err := prom.Register(reg, c, prom.Config{MaxAge: tt.maxAge, Now: clk.Now}); err != nil {
				t.Fatal(err)
			}
			clk.set(fixtureTime.Add(tt.age))
			if got := samples(t, reg); got != tt.want {
				t.Errorf("samples_total %s, want %s", got, tt.want)
			}
		})
	}
}

// TestSampledWithoutRun: without Run every scrape samples, whatever
// MaxAge says.
func TestSampledWithoutRun(t *testing.T) {
	reg := prometheus.NewPedanticRegistry()
	if _, err := prom.Register(reg, fixtureCollector(t), prom.Config{MaxAge: time.Hour, Now: fixtureNow}); err != nil {
		t.Fatal(err)
	}
	for want := range []string{"1", "2", "3"} {
		if got := samples(t, reg); got != fmt.Sprint(want+1) {
			t.Errorf("scrape %d: samples_total %s", want+1, got)
		}
	}
}

// TestConcurrentScrapesDuringRun scrapes from several goroutines while
// Run samples every millisecond: the race detector watches the handoff,
// and every scrape is whole.
func TestConcurrentScrapesDuringRun(t *testing.T) {
	c := fixtureCollectorWith(t, metrics.Config{Interval: time.Millisecond})
	runCollector(t, c)
	reg := prometheus.NewPedanticRegistry()
	exp, err := prom.Register(reg, c, prom.Config{Now: fixtureNow})
	if err != nil {
		t.Fatal(err)
	}
	var g errgroup.Group
	for range 2 {
		g.Go(func() error {
			for range 50 {
				mfs, err := reg.Gather()
				if err != nil {
					return err
				}
				if n := len(mfs); n < 40 {
					return fmt.Errorf("scrape with %d families", n)
				}
			}
			return nil
		})
		g.Go(func() error {
			for range 50 {
				var buf bytes.Buffer
				if err := exp.WriteText(context.Background(), &buf); err != nil {
					return err
				}
				if n := bytes.Count(buf.Bytes(), []byte("# TYPE ")); n < 40 {
					return fmt.Errorf("text scrape with %d families", n)
				}
			}
			return nil
		})
	}
	if err := g.Wait(); err != nil {
		t.Fatal(err)
	}
}

func TestPromtoolFixture(t *testing.T) {
	reg := prometheus.NewPedanticRegistry()
	if _, err := prom.Register(reg, fixtureCollector(t), prom.Config{}); err != nil {
		t.Fatal(err)
	}
	if out := testenv.CheckMetrics(t, scrape(t, reg)); out != "" {
		t.Errorf("promtool check metrics:\n%s", out)
	}
}

// TestPromtoolRealHost scrapes real cgroups with processes in a network
// namespace and lints the result.
func TestPromtoolRealHost(t *testing.T) {
	ns := testenv.NewNetns(t)
	cg := testenv.NewCgroup(t)
	p := cg.Start(t, "ip", "netns", "exec", ns.Name, "sleep", "1000")
	waitNetns(t, p.Pid, ns)
	c, err := metrics.New(context.Background(), metrics.Config{})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if err := c.Add(metrics.Target{ID: "a", Name: "a", App: "app", Cgroup: "/" + cg.Name}); err != nil {
		t.Fatal(err)
	}
	reg := prometheus.NewPedanticRegistry()
	exp, err := prom.Register(reg, c, prom.Config{})
	if err != nil {
		t.Fatal(err)
	}
	text := scrape(t, reg)
	var direct bytes.Buffer
	if err := exp.WriteText(context.Background(), &direct); err != nil {
		t.Fatal(err)
	}
	if out := testenv.CheckMetrics(t, direct.Bytes()); out != "" {
		t.Errorf("promtool check metrics of WriteText:\n%s", out)
	}
	for _, want := range []string{
		fmt.Sprintf(`container_processes{container_label_app="app",id="/%s",image="",name="a"} 1`, cg.Name),
		fmt.Sprintf(`container_network_tcp_usage{container_label_app="app",id="/%s",image="",name="a",tcp_state="inuse"} 0`, cg.Name),
		`shoal_metrics_containers 1`,
	} {
		if !bytes.Contains(text, []byte(want)) {
			t.Errorf("scrape lacks %s", want)
		}
	}
	if out := testenv.CheckMetrics(t, text); out != "" {
		t.Errorf("promtool check metrics:\n%s", out)
	}
}

// waitNetns waits until pid has entered ns (ip netns exec has run).
func waitNetns(t *testing.T, pid int, ns *testenv.Namespace) {
	t.Helper()
	want, err := os.Stat(ns.Path)
	if err != nil {
		t.Fatal(err)
	}
	for deadline := time.Now().Add(5 * time.Second); ; {
		got, err := os.Stat(fmt.Sprintf("/proc/%d/ns/net", pid))
		if err == nil && os.SameFile(got, want) {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("pid %d did not enter netns %s", pid, ns.Name)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// failing is a Sampler whose samples fail.
type failing struct{}

func (failing) Sample(context.Context) (*metrics.Snapshot, error) {
	return nil, errors.New("closed")
}

func TestFailedSampleCounted(t *testing.T) {
	reg := prometheus.NewPedanticRegistry()
	if _, err := prom.Register(reg, failing{}, prom.Config{}); err != nil {
		t.Fatal(err)
	}
	scrape(t, reg)
	text := scrape(t, reg)
	if !bytes.Contains(text, []byte("shoal_metrics_scrape_failures_total 2")) {
		t.Errorf("two failed scrapes not counted:\n%s", text)
	}
}

func TestRegisterErrors(t *testing.T) {
	reg := prometheus.NewPedanticRegistry()
	c := fixtureCollector(t)
	if _, err := prom.Register(reg, c, prom.Config{}); err != nil {
		t.Fatal(err)
	}
	_, dup := prom.Register(reg, c, prom.Config{})
	_, nilReg := prom.Register(nil, c, prom.Config{})
	_, nilSrc := prom.New(nil, prom.Config{})
	_, badTimeout := prom.New(c, prom.Config{Timeout: -1})
	_, lateSnapshots := prom.New(c, prom.Config{MaxAge: -1})
	if lateSnapshots != nil {
		t.Errorf("negative MaxAge (always sample): %v", lateSnapshots)
	}
	for name, tt := range map[string]struct {
		err  error
		kind error
	}{
		"duplicate": {dup, prom.ErrConflict}, "nil registerer": {nilReg, prom.ErrInvalid},
		"nil sampler": {nilSrc, prom.ErrInvalid}, "negative timeout": {badTimeout, prom.ErrInvalid},
	} {
		if err := errs.CheckShape(tt.err, "prom", prom.ErrInvalid, prom.ErrConflict); err != nil || !errors.Is(tt.err, tt.kind) {
			t.Errorf("%s: %v (shape: %v)", name, tt.err, err)
		}
	}
}

// TestTextEqualsGather: labels that need escaping, several containers,
// interfaces and devices come out of WriteText as Gather and expfmt
// write them.
func TestTextEqualsGather(t *testing.T) {
	tr := cgroupxtest.New(t, cgroupxtest.V2)
	for i, id := range []string{"b", "a", "c"} {
		cg := "/" + id
		tr.SetMemory(cg, cgroupxtest.Memory{Limit: 256 << 20, Usage: uint64(i+1) << 20})
		pid := 100 + i
		tr.AddProcess(cg, cgroupxtest.Process{PID: pid, Comm: id})
		tr.WriteHostFile(fmt.Sprintf("proc/%d/ns/net", pid), "")
		tr.WriteHostFile(fmt.Sprintf("proc/%d/net/dev", pid), "h\nh\n  eth1: 1 1 0 0 0 0 0 0 1 1 0 0 0 0 0 0\n  eth0: 1000 10 1 2 0 0 0 0 2000 20 3 4 0 0 0 0\n")
		tr.WriteHostFile(fmt.Sprintf("proc/%d/net/sockstat", pid), "TCP: inuse 7 orphan 3 tw 2 alloc 9 mem 1\n")
	}
	c, err := metrics.New(context.Background(), metrics.Config{Root: tr.Root, DiskInterval: -1, Now: fixtureNow})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	for _, tg := range []metrics.Target{
		{ID: "1", Name: `we"ird\na` + "\nme", App: "z", Image: `img\`, Cgroup: "/b"},
		{ID: "2", Name: "plain", App: "a", Cgroup: "/a"},
		{ID: "3", Name: "plain", App: "a", Image: "x", Cgroup: "/c"},
	} {
		if err := c.Add(tg); err != nil {
			t.Fatal(err)
		}
	}
	reg := prometheus.NewPedanticRegistry()
	exp, err := prom.Register(reg, c, prom.Config{Now: fixtureNow, MaxAge: -1})
	if err != nil {
		t.Fatal(err)
	}
	for range 2 { // the second with the order kept from the first
		var text bytes.Buffer
		if err := exp.WriteText(context.Background(), &text); err != nil {
			t.Fatal(err)
		}
		// Each scrape samples: the counts of samples (and of the node
		// files this fixture lacks) move between the two.
		counts := regexp.MustCompile(`(?m)^(shoal_metrics_(samples|node_errors)_total) .*$`)
		mask := func(b []byte) []byte { return counts.ReplaceAll(timings.ReplaceAll(b, []byte("$1 X")), []byte("$1 X")) }
		gathered := mask(scrape(t, reg))
		got := mask(text.Bytes())
		if !bytes.Equal(got, gathered) {
			t.Errorf("WriteText:\n%s\nGather:\n%s", got, gathered)
		}
		if !bytes.Contains(got, []byte(`name="we\"ird\\na\nme"`)) {
			t.Errorf("escaped name missing:\n%s", got)
		}
	}
}

func TestDefaultConfig(t *testing.T) {
	d := prom.DefaultConfig()
	if d.Timeout != 10*time.Second || d.MaxAge != 20*time.Second || d.Now == nil || d.Logger != nil {
		t.Errorf("defaults %+v", d)
	}
}
