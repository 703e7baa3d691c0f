package controller_test

import (
	"fmt"
	"math"
	"net"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"strconv"
	"sync/atomic"
	"testing"
	"time"

	"github.com/shoalkit/shoal/examples/internal/controller"
	"github.com/shoalkit/shoal/examples/internal/state"
)

// TestAgentMetrics reads an agent's exposition (CPU as a counter turned
// into a rate, connections, working set) and an instance's own counter for
// TPS, over real HTTP.
func TestAgentMetrics(t *testing.T) {
	var cpu, requests atomic.Int64 // milliseconds of CPU; requests served
	agentSrv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		fmt.Fprintf(w, "# TYPE container_cpu_usage_seconds_total counter\n")
		fmt.Fprintf(w, "container_cpu_usage_seconds_total{cpu=\"total\",id=\"/shoal/a-1\",name=\"a-1\",image=\"x\",container_label_app=\"a\"} %g\n", float64(cpu.Load())/1000)
		fmt.Fprintf(w, "# TYPE container_network_tcp_usage gauge\n")
		fmt.Fprintf(w, "container_network_tcp_usage{id=\"/shoal/a-1\",name=\"a-1\",image=\"x\",container_label_app=\"a\",tcp_state=\"inuse\"} 42\n")
		fmt.Fprintf(w, "container_network_tcp_usage{id=\"/shoal/a-1\",name=\"a-1\",image=\"x\",container_label_app=\"a\",tcp_state=\"timewait\"} 7\n")
		fmt.Fprintf(w, "# TYPE container_memory_working_set_bytes gauge\n")
		fmt.Fprintf(w, "container_memory_working_set_bytes{id=\"/shoal/a-1\",name=\"a-1\",image=\"x\",container_label_app=\"a\"} 1048576\n")
	}))
	defer agentSrv.Close()
	appSrv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		fmt.Fprintf(w, "# TYPE http_requests_total counter\nhttp_requests_total{code=\"200\"} %d\nhttp_requests_total{code=\"500\"} 0\n", requests.Load())
	}))
	defer appSrv.Close()
	_, port, _ := net.SplitHostPort(appSrv.Listener.Addr().String())
	p, _ := strconv.Atoi(port)
	app := &state.App{Spec: state.AppSpec{Name: "a", Autoscale: &state.AutoscaleSpec{Max: 2, TPS: 100, TPSMetric: "http_requests_total", MetricsPort: p}}}
	ins := []controller.InstanceView{{Desired: state.Instance{
		ID: "a-1", App: "a", Node: "n1",
		Network: &state.Network{VLAN: 10, IP: netip.MustParsePrefix("127.0.0.1/8")},
	}}}
	nodes := map[string]*state.Node{"n1": {Name: "n1", Addr: agentSrv.Listener.Addr().String()}}

	apps := map[string]*state.App{"a": app}
	src := &controller.AgentMetrics{}
	first := src.Read(t.Context(), apps, ins, nodes)["a-1"]
	if !math.IsNaN(first.CPUCores) || first.Connections != 42 || first.MemoryBytes != 1<<20 || first.Requests != 0 {
		t.Fatalf("first read %+v: want no CPU rate yet, 42 connections, 1 MiB, 0 requests", first)
	}
	time.Sleep(500 * time.Millisecond)
	cpu.Add(250) // 0.25 s of CPU in about 0.5 s: half a core
	requests.Add(120)
	second := src.Read(t.Context(), apps, ins, nodes)["a-1"]
	if second.CPUCores < 0.3 || second.CPUCores > 0.55 || second.Requests != 120 {
		t.Errorf("second read %+v: want about half a core and the counter at 120", second)
	}
	// An agent that does not answer leaves its instances out.
	gone := map[string]*state.Node{"n1": {Name: "n1", Addr: "127.0.0.1:1"}}
	if got := src.Read(t.Context(), apps, ins, gone); len(got) != 0 {
		t.Errorf("an unreachable agent's instances read as %+v", got)
	}
	// A failed scrape keeps the last counter: the next good one is a rate.
	cpu.Add(100)
	if third := src.Read(t.Context(), apps, ins, nodes)["a-1"]; math.IsNaN(third.CPUCores) || third.CPUCores <= 0 {
		t.Errorf("read after a failed scrape %+v: want a CPU rate", third)
	}
}
