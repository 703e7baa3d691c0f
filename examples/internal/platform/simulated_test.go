package platform_test

import (
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/shoalkit/shoal/examples/internal/controller"
	"github.com/shoalkit/shoal/examples/internal/fleetinspect"
	"github.com/shoalkit/shoal/examples/internal/platform"
	"github.com/shoalkit/shoal/examples/internal/state"
	"github.com/shoalkit/shoal/inspect"
)

// TestSimulated runs the platform as the pilot does without root: the
// control plane over simulated nodes, labelled so, and fleet inspection
// over real gossip: a kernel parameter drifted on one node is found in
// the report and fixed on request.
func TestSimulated(t *testing.T) {
	dir := t.TempDir()
	p, err := platform.Start(t.Context(), platform.Config{Dir: dir, Agents: 3, InspectInterval: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(p.Close)
	cl := p.Client()
	do := func(method, path, reqID string, body, out any) {
		t.Helper()
		if _, err := cl.Do(t.Context(), method, path, reqID, body, out); err != nil {
			t.Fatalf("%s %s: %v", method, path, err)
		}
	}
	var nodes []controller.NodeView
	do(http.MethodGet, "/v1/nodes", "", nil, &nodes)
	for _, n := range nodes {
		if n.Node == nil || n.Node.Version != state.SimulatedVersion {
			t.Errorf("node %s is not labelled simulated: %+v", n.Name, n.Node)
		}
	}

	spec := inspect.Spec{Version: 1, Checks: []inspect.Check{{
		ID: "ip-forward", Kind: inspect.KindSysctl, Key: "net.ipv4.ip_forward", Want: "1", Op: inspect.OpEq,
		Fix: &inspect.Fix{Sysctl: "1"},
	}}}
	forward := func(node string) string {
		b, _ := os.ReadFile(filepath.Join(p.HostDir(node), "proc/sys/net/ipv4/ip_forward"))
		return string(b)
	}
	for _, n := range p.Nodes {
		if err := os.WriteFile(filepath.Join(p.HostDir(n), "proc/sys/net/ipv4/ip_forward"), []byte("1\n"), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.WriteFile(filepath.Join(p.HostDir("n2"), "proc/sys/net/ipv4/ip_forward"), []byte("0\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	do(http.MethodPut, "/v1/inspection/spec", "req-spec", spec, nil)
	report := func(want func(*fleetinspect.Report) bool) *fleetinspect.Report {
		t.Helper()
		var last *fleetinspect.Report
		waitFor(t, "an inspection report", 60*time.Second, func() (bool, string) {
			var in controller.Inspection
			do(http.MethodGet, "/v1/inspection", "", nil, &in)
			last = in.Report
			return last != nil && last.Report != nil && want(last), fmt.Sprintf("%+v", last)
		})
		return last
	}
	rep := report(func(r *fleetinspect.Report) bool {
		m, ok := r.Member("n2")
		return r.Spec == 1 && ok && slices.Contains(m.Failed, "ip-forward") && r.Accounted() == 3
	})
	if m, _ := rep.Member("n1"); m.Status != inspect.StatusPassed {
		t.Errorf("n1: %+v", m)
	}
	do(http.MethodPost, "/v1/inspection/fix", "req-fix", fleetinspect.FixOrder{Spec: 1, Nodes: []string{"n2"}}, nil)
	report(func(r *fleetinspect.Report) bool { return r.Counts[inspect.StatusPassed] == 3 })
	if got := forward("n2"); got != "1\n" && got != "1" {
		t.Errorf("n2's ip_forward after the fix: %q", got)
	}
	var evs []state.Event
	do(http.MethodGet, "/v1/events?request_id=req-fix", "", nil, &evs)
	if len(evs) == 0 || evs[0].Kind != "FixOrdered" {
		t.Errorf("fix events: %+v", evs)
	}

	// The controller uses the verdicts: a node cut off from etcd but alive
	// by its peers keeps its instances; once it is dead too, they move.
	do(http.MethodPut, "/v1/networks/10", "", state.NetworkPool{VLAN: 10, Subnet: mustPrefix("10.0.10.0/24")}, nil)
	img, err := p.BuildImage(t.Context(), "x:1", nil)
	if err != nil {
		t.Fatal(err)
	}
	app := state.AppSpec{
		Name: "web", Team: "t", Image: img, Replicas: 3, Network: &state.AppNetwork{VLAN: 10},
		Placement: state.PlacementSpec{Spread: []state.SpreadSpec{{Key: "rack"}}},
	}
	do(http.MethodPost, "/v1/apps?wait=20s", "", app, nil)
	onN3 := func() int {
		var ins []controller.InstanceView
		do(http.MethodGet, "/v1/instances?node=n3", "", nil, &ins)
		return len(ins)
	}
	if err := p.PartitionNode(t.Context(), "n3"); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the partitioned node reported alive by its peers", 30*time.Second, func() (bool, string) {
		var evs []state.Event
		do(http.MethodGet, "/v1/events?node=n3", "", nil, &evs)
		for _, ev := range evs {
			if ev.Kind == "NodeUnreachableButAlive" {
				return true, ""
			}
		}
		return false, fmt.Sprint(len(evs))
	})
	if n := onN3(); n != 1 {
		t.Errorf("%d instances left on n3 while its peers hear it, want 1", n)
	}
	if err := p.KillNode(t.Context(), "n3"); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "n3's instance moved once it is dead", 60*time.Second, func() (bool, string) { return onN3() == 0, "" })
}
