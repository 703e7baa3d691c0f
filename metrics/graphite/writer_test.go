package graphite_test

import (
	"bufio"
	"context"
	"errors"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/shoalkit/shoal/internal/errs"
	"github.com/shoalkit/shoal/metrics"
	"github.com/shoalkit/shoal/metrics/graphite"
)

func TestConfigErrors(t *testing.T) {
	kinds := []error{graphite.ErrInvalid, graphite.ErrUnavailable, graphite.ErrClosed}
	for name, cfg := range map[string]graphite.Config{
		"zero":             {},
		"no port":          {Addr: "localhost"},
		"negative queue":   {Addr: "127.0.0.1:1", QueueSize: -1},
		"negative timeout": {Addr: "127.0.0.1:1", WriteTimeout: -time.Second},
		"backoff order":    {Addr: "127.0.0.1:1", MinBackoff: time.Minute, MaxBackoff: time.Second},
	} {
		_, err := graphite.New(cfg)
		if shape := errs.CheckShape(err, "graphite", kinds...); shape != nil || !errors.Is(err, graphite.ErrInvalid) {
			t.Errorf("%s: %v (shape %v)", name, err, shape)
		}
	}
	// Only Addr set: every other field its default.
	w, err := graphite.New(graphite.Config{Addr: "127.0.0.1:1"})
	if err != nil || w == nil {
		t.Fatalf("defaults: %v", err)
	}
}

// snapshot is a small snapshot at time t with one container.
func snapshot(t time.Time, cpu time.Duration) *metrics.Snapshot {
	return &metrics.Snapshot{
		Time: t,
		Node: metrics.NodeSample{Load1: 0.5, Threads: 300, PidMax: 32768, Files: metrics.Usage{Used: 10, Max: 100}},
		Containers: []metrics.ContainerSample{{
			Target: metrics.Target{ID: "web-1", App: "web.shop", Cgroup: "/web-1"},
			CPU:    metrics.CPUStats{Usage: cpu},
			Memory: metrics.MemoryStats{Usage: 100 << 20, WorkingSet: 70 << 20, Limit: metrics.Unlimited},
			TCP:    metrics.TCPStats{InUse: 7, TimeWait: 2},
			Rates:  metrics.Rates{Valid: true, CPUPercent: 12.5},
		}},
		Totals: metrics.Totals{ContainerErrors: map[string]uint64{metrics.ReasonVanished: 2}},
	}
}

func TestPointNames(t *testing.T) {
	ts := time.Unix(1_700_000_000, 0)
	find := func(pts []graphite.Point, name string) (float64, bool) {
		for _, p := range pts {
			if p.Name == name {
				return p.Value, true
			}
		}
		return 0, false
	}
	plain := graphite.Points(snapshot(ts, 3*time.Second), "shoal", "node.1", false)
	for name, want := range map[string]float64{
		"shoal.node_1.containers.web_shop.web-1.cpu.usage_seconds": 3,
		"shoal.node_1.containers.web_shop.web-1.cpu.percent":       12.5,
		"shoal.node_1.containers.web_shop.web-1.tcp.timewait":      2,
		"shoal.node_1.node.threads":                                300,
		"shoal.node_1.node.container_errors.vanished":              2,
	} {
		if v, ok := find(plain, name); !ok || v != want {
			t.Errorf("%s = %v (present %v), want %v", name, v, ok, want)
		}
	}
	if _, ok := find(plain, "shoal.node_1.containers.web_shop.web-1.memory.limit_bytes"); ok {
		t.Error("an unlimited memory limit was sent")
	}
	tagged := graphite.Points(snapshot(ts, 3*time.Second), "shoal", "node.1", true)
	if v, ok := find(tagged, "container.memory.working_set_bytes;app=web_shop;id=web-1;node=node_1"); !ok || v != 70<<20 {
		t.Errorf("tagged working set %v %v", v, ok)
	}
	if _, ok := find(tagged, "node.load1;node=node_1"); !ok {
		t.Error("tagged node load missing")
	}
}

// lineServer is a TCP listener on loopback that records every line it
// receives; it can drop its connections.
type lineServer struct {
	l     net.Listener
	mu    sync.Mutex
	lines []string
	conns []net.Conn
}

func newLineServer(t *testing.T) *lineServer {
	t.Helper()
	l, err := (&net.ListenConfig{}).Listen(context.Background(), "tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s := &lineServer{l: l}
	t.Cleanup(func() { _ = l.Close(); s.dropConns() })
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			s.mu.Lock()
			s.conns = append(s.conns, c)
			s.mu.Unlock()
			go func() {
				sc := bufio.NewScanner(c)
				for sc.Scan() {
					s.mu.Lock()
					s.lines = append(s.lines, sc.Text())
					s.mu.Unlock()
				}
			}()
		}
	}()
	return s
}

func (s *lineServer) dropConns() {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, c := range s.conns {
		_ = c.Close()
	}
	s.conns = nil
}

// distinct returns the distinct lines received (a resent batch repeats).
func (s *lineServer) distinct() map[string]bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := map[string]bool{}
	for _, l := range s.lines {
		out[l] = true
	}
	return out
}

func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(10 * time.Second); !cond(); {
		if time.Now().After(deadline) {
			t.Fatalf("%s: not within 10 s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func runWriter(t *testing.T, w *graphite.Writer) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error)
	go func() { done <- w.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; !errors.Is(err, context.Canceled) {
			t.Errorf("Run returned %v", err)
		}
	})
}

func TestReconnectResendsNothingLost(t *testing.T) {
	srv := newLineServer(t)
	w, err := graphite.New(graphite.Config{Addr: srv.l.Addr().String(), Node: "n1", FlushInterval: 10 * time.Millisecond, MinBackoff: 10 * time.Millisecond, BatchSize: 7})
	if err != nil {
		t.Fatal(err)
	}
	runWriter(t, w)
	var want []graphite.Point
	for i := range 200 {
		p := graphite.Point{Name: "a.b", Value: float64(i), Time: time.Unix(int64(1_700_000_000+i), 0)}
		want = append(want, p)
		if w.Enqueue(p) != 1 {
			t.Fatal("point refused")
		}
		if i%50 == 25 {
			srv.dropConns() // the server goes away mid-stream
		}
		time.Sleep(time.Millisecond)
	}
	waitFor(t, "200 distinct points received", func() bool { return len(srv.distinct()) == 200 })
	got := srv.distinct()
	for _, p := range want {
		line := "a.b " + strings.TrimSuffix(strings.TrimSuffix(formatValue(p.Value), ".0"), "") + " " + formatTime(p.Time)
		if !got[line] {
			t.Fatalf("line %q missing", line)
		}
	}
	waitFor(t, "stats", func() bool { st := w.Stats(); return st.Sent >= 200 && st.Queued == 0 })
	if st := w.Stats(); st.Dropped != 0 || st.Reconnects == 0 {
		t.Errorf("stats %+v, want no drops and a reconnect", st)
	}
}

func TestServerDownNeverBlocksAndCountsDrops(t *testing.T) {
	// A port nothing listens on: dials fail, points pile up to QueueSize.
	l, err := (&net.ListenConfig{}).Listen(context.Background(), "tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	_ = l.Close()
	w, err := graphite.New(graphite.Config{Addr: addr, Node: "n1", QueueSize: 100, MinBackoff: 5 * time.Millisecond, MaxBackoff: 20 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	runWriter(t, w)
	offered := 0
	for i := range 20 {
		s := snapshot(time.Unix(int64(1_700_000_000+i), 0), time.Second)
		offered += len(graphite.Points(s, "shoal", "n1", false)) + 4 // and the writer's own four
		w.Observe(s)                                                 // returns at once: nothing waits for carbon
	}
	waitFor(t, "dial errors", func() bool { return w.Stats().DialErrors >= 2 })
	st := w.Stats()
	if st.Queued != 100 || st.Sent != 0 || st.Queued+st.Dropped != uint64(offered) {
		t.Errorf("stats %+v for %d points offered: want 100 queued and the rest dropped", st, offered)
	}
}

func TestSlowServerTimesOutAndReconnects(t *testing.T) {
	// Accepts and never reads: writes fill the socket buffers and time out.
	l, err := (&net.ListenConfig{}).Listen(context.Background(), "tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var held []net.Conn
	var mu sync.Mutex
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			mu.Lock()
			held = append(held, c)
			mu.Unlock()
		}
	}()
	t.Cleanup(func() {
		_ = l.Close()
		mu.Lock()
		for _, c := range held {
			_ = c.Close()
		}
		mu.Unlock()
	})
	w, err := graphite.New(graphite.Config{Addr: l.Addr().String(), Node: "n1", WriteTimeout: 50 * time.Millisecond, FlushInterval: 5 * time.Millisecond, MinBackoff: 5 * time.Millisecond, QueueSize: 200_000})
	if err != nil {
		t.Fatal(err)
	}
	runWriter(t, w)
	long := strings.Repeat("x", 200)
	for i := range 100_000 {
		w.Enqueue(graphite.Point{Name: long, Value: float64(i), Time: time.Unix(1_700_000_000, 0)})
	}
	// The write times out, the connection is dropped and dialed again;
	// nothing is counted sent that the server did not take.
	waitFor(t, "a write timeout and a reconnect", func() bool { st := w.Stats(); return st.WriteErrors >= 1 && st.Reconnects >= 1 })
	if st := w.Stats(); st.Sent+st.Queued != 100_000 || st.Dropped != 0 {
		t.Errorf("stats %+v: want sent and queued to make the 100,000 points", st)
	}
}
