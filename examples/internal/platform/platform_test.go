package platform_test

import (
	"fmt"
	"net/http"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/shoalkit/shoal/examples/internal/container"
	"github.com/shoalkit/shoal/examples/internal/controller"
	"github.com/shoalkit/shoal/examples/internal/platform"
	"github.com/shoalkit/shoal/examples/internal/state"
	"github.com/shoalkit/shoal/internal/testenv"
)

func TestMain(m *testing.M) {
	container.Init()
	os.Exit(m.Run())
}

// TestPlatform runs the pilot's pieces for real — embedded etcd, the
// controller, three agents with real containers, each node's OVS bridge
// trunked to a top-of-rack bridge, a real registry — and drives them
// through the API as an operator would.
func TestPlatform(t *testing.T) {
	testenv.Require(t, testenv.Root, testenv.Runc, testenv.Cgroups, testenv.OVS, testenv.Netns, testenv.Ping, testenv.OCIRegistry)
	reg := testenv.StartRegistry(t)
	dir := t.TempDir()
	p, err := platform.Start(t.Context(), platform.Config{Dir: dir, Agents: 3, Real: true, Registry: reg.Addr, NodeGrace: 3 * time.Second})
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
	img, err := p.BuildImage(t.Context(), "busybox:1", nil)
	if err != nil {
		t.Fatal(err)
	}
	do(http.MethodPut, "/v1/networks/10", "", state.NetworkPool{VLAN: 10, Subnet: mustPrefix("10.10.0.0/24"), Gateway: mustAddr("10.10.0.1")}, nil)
	// VLAN 20 shares the address range: only the VLAN keeps them apart.
	do(http.MethodPut, "/v1/networks/20", "", state.NetworkPool{VLAN: 20, Subnet: mustPrefix("10.10.0.0/24"), From: mustAddr("10.10.0.200")}, nil)

	web := state.AppSpec{
		Name: "web", Team: "shop", Image: img, Command: []string{"/bin/sh", "-c", "exec sleep 100000"},
		Resources: state.Resources{CPUs: 0.1, MemoryBytes: 64 << 20}, Replicas: 6,
		Network:   &state.AppNetwork{VLAN: 10, Port: 80},
		Placement: state.PlacementSpec{Spread: []state.SpreadSpec{{Key: "rack", MaxSkew: 1}}},
		Update:    state.UpdateSpec{BatchSize: 2, FailAfter: state.Duration(20 * time.Second)},
	}
	var dep controller.Deployed
	do(http.MethodPost, "/v1/apps?wait=60s", "req-web", web, &dep)
	if !dep.Running || len(dep.Created) != 6 {
		t.Fatalf("deploy: running %v, %d created", dep.Running, len(dep.Created))
	}
	t.Logf("6 instances running %v after the call", time.Duration(dep.TimeToRunning))
	perNode := map[string][]state.Instance{}
	for _, in := range dep.Created {
		perNode[in.Node] = append(perNode[in.Node], in)
	}
	if len(perNode) != 3 {
		t.Fatalf("placement over %d nodes, want 3 (one per rack): %v", len(perNode), perNode)
	}
	other := state.AppSpec{
		Name: "other", Team: "ops", Image: img, Command: []string{"/bin/sh", "-c", "while :; do :; done"}, Replicas: 1,
		Network: &state.AppNetwork{VLAN: 20}, Resources: state.Resources{CPUs: 0.2},
	}
	var odep controller.Deployed
	do(http.MethodPost, "/v1/apps?wait=60s", "req-other", other, &odep)

	// The autoscale loop's numbers, from the agents' real /metrics: the
	// spinner uses its 0.2-core quota, a sleeper nothing.
	var oins, wins []controller.InstanceView
	do(http.MethodGet, "/v1/instances?app=other", "", nil, &oins)
	do(http.MethodGet, "/v1/instances?app=web", "", nil, &wins)
	var nodes []controller.NodeView
	do(http.MethodGet, "/v1/nodes", "", nil, &nodes)
	byName := map[string]*state.Node{}
	for _, n := range nodes {
		byName[n.Name] = n.Node
	}
	// A scrape serves the collector's last sample (every 2 s here), so
	// a rate needs two samples of the container.
	src := &controller.AgentMetrics{}
	waitFor(t, "the spinner's and the sleeper's CPU through the agents' /metrics", 30*time.Second, func() (bool, string) {
		time.Sleep(2500 * time.Millisecond)
		got := src.Read(t.Context(), map[string]*state.App{other.Name: {Spec: other}}, append(oins, wins...), byName)
		spin, ok1 := got[oins[0].Desired.ID]
		sleep, ok2 := got[wins[0].Desired.ID]
		return ok1 && ok2 && spin.CPUCores > 0.1 && spin.CPUCores < 0.3 && sleep.CPUCores < 0.05, fmt.Sprintf("spinner %+v, sleeper %+v", spin, sleep)
	})

	// Across nodes on the VLAN, through the trunks: reachable. Another
	// VLAN in the same address range: not.
	a, b := perNode["n1"][0], perNode["n2"][0]
	if out, err := ping(a.ID, b.Network.IP.Addr().String()); err != nil {
		t.Errorf("%s (n1) cannot reach %s (n2) on VLAN 10: %v\n%s", a.ID, b.ID, err, out)
	}
	if out, err := ping(odep.Created[0].ID, b.Network.IP.Addr().String()); err == nil {
		t.Errorf("%s on VLAN 20 reaches %s on VLAN 10:\n%s", odep.Created[0].ID, b.ID, out)
	}

	// 6 → 9 → 6.
	for _, n := range []int{9, 6} {
		var d controller.Deployed
		do(http.MethodPost, "/v1/apps/web/scale?wait=60s", fmt.Sprintf("req-scale-%d", n), map[string]int{"replicas": n}, &d)
		var ins []controller.InstanceView
		do(http.MethodGet, "/v1/instances?app=web", "", nil, &ins)
		if len(ins) != n || (len(d.Created) > 0 && !d.Running) {
			t.Errorf("scale to %d: %d instances, created running %v", n, len(ins), d.Running)
		}
	}

	// A broken update stops and rolls back.
	broken := web
	broken.Command = []string{"/bin/sh", "-c", "exit 3"}
	do(http.MethodPut, "/v1/apps/web", "req-broken", broken, nil)
	waitFor(t, "the broken update rolled back", 90*time.Second, func() (bool, string) {
		var av controller.AppView
		do(http.MethodGet, "/v1/apps/web", "", nil, &av)
		return av.Rollout.Phase == state.RolloutRolledBack && av.Ready == 6, fmt.Sprintf("%+v ready %d", av.Rollout, av.Ready)
	})

	// A node dies: its instances are placed on the others.
	if err := p.KillNode(t.Context(), "n3"); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "n3's instances rescheduled and running", 90*time.Second, func() (bool, string) {
		var ins []controller.InstanceView
		do(http.MethodGet, "/v1/instances?app=web", "", nil, &ins)
		ready := 0
		for _, v := range ins {
			if v.Desired.Node == "n3" {
				return false, v.Desired.ID + " still on n3"
			}
			if v.Ready {
				ready++
			}
		}
		return ready == 6, fmt.Sprintf("%d ready", ready)
	})

	// A controller restart loses nothing and duplicates nothing.
	idsOf := func() []string {
		var ins []controller.InstanceView
		do(http.MethodGet, "/v1/instances", "", nil, &ins)
		var ids []string
		for _, v := range ins {
			ids = append(ids, v.Desired.ID)
		}
		return ids
	}
	before := idsOf()
	if err := p.RestartController(t.Context()); err != nil {
		t.Fatal(err)
	}
	time.Sleep(3 * time.Second) // several reconcile passes of the new leader
	if after := idsOf(); !slices.Equal(before, after) {
		t.Errorf("a controller restart changed the instances: %v → %v", before, after)
	}

	// Cold migration: the data volume travels in the snapshot.
	db := state.AppSpec{
		Name: "db", Team: "shop", Image: img, Replicas: 1, Network: &state.AppNetwork{VLAN: 10},
		Command:   []string{"/bin/sh", "-c", "[ -e /export/mark ] || cat /proc/sys/kernel/random/uuid > /export/mark; head -1 /proc/meminfo > /export/meminfo; exec sleep 100000"},
		Volume:    &state.Volume{SizeBytes: 16 << 20, Mount: "/export"},
		Resources: state.Resources{MemoryBytes: 64 << 20},
	}
	var ddep controller.Deployed
	do(http.MethodPost, "/v1/apps?wait=60s", "req-db", db, &ddep)
	old := ddep.Created[0]
	markAt := func(node string) string {
		b, _ := os.ReadFile(filepath.Join(dir, "nodes", node, "volumes", old.ID, "data", "mark"))
		return string(b)
	}
	waitFor(t, "db's mark", 30*time.Second, func() (bool, string) { return markAt(old.Node) != "", "" })
	mark := markAt(old.Node)
	// The live /proc: inside, /proc/meminfo shows the container's 64 MiB.
	meminfo := filepath.Join(dir, "nodes", old.Node, "volumes", old.ID, "data", "meminfo")
	waitFor(t, "db's /proc/meminfo", 30*time.Second, func() (bool, string) {
		b, _ := os.ReadFile(meminfo)
		return len(strings.Fields(string(b))) > 0, string(b)
	})
	if b, _ := os.ReadFile(meminfo); !strings.Contains(string(b), "65536 kB") {
		t.Errorf("/proc/meminfo inside a 64 MiB container: %q", b)
	}
	var moved state.Instance
	do(http.MethodPost, "/v1/instances/"+old.ID+"/migrate", "req-migrate", controller.MigrateRequest{}, &moved)
	if moved.Node == old.Node || moved.Network.IP != old.Network.IP || moved.ID != old.ID {
		t.Fatalf("migrated %+v from %s: want another node, the same id and address", moved, old.Node)
	}
	waitFor(t, "the migrated instance running", 90*time.Second, func() (bool, string) {
		var v controller.InstanceView
		do(http.MethodGet, "/v1/instances/"+old.ID, "", nil, &v)
		return v.Ready && v.Desired.Node == moved.Node, fmt.Sprintf("%+v", v.Status)
	})
	if got := markAt(moved.Node); got != mark {
		t.Errorf("volume after migration: %q, want %q", got, mark)
	}

	var evs []state.Event
	do(http.MethodGet, "/v1/events?request_id=req-web", "", nil, &evs)
	var kinds []string
	for _, ev := range evs {
		kinds = append(kinds, ev.Publisher+":"+ev.Kind)
	}
	all := strings.Join(kinds, " ")
	if !strings.Contains(all, "controller:AppDeployed") || !strings.Contains(all, "controller:ImagePredistributed") || !strings.Contains(all, "agent/") || !slices.Contains(kinds, "controller:AppRunning") {
		t.Errorf("the deploy's events (controller's and agents') under its request id: %v", kinds)
	}
	do(http.MethodDelete, "/v1/apps/web", "", nil, nil)
	do(http.MethodDelete, "/v1/apps/other", "", nil, nil)
}

func ping(id, ip string) (string, error) {
	out, err := exec.Command("ip", "netns", "exec", "shoal-"+id, "ping", "-c", "2", "-W", "2", ip).CombinedOutput()
	return string(out), err
}

func waitFor(t *testing.T, what string, limit time.Duration, cond func() (bool, string)) {
	t.Helper()
	deadline := time.Now().Add(limit)
	last := ""
	for time.Now().Before(deadline) {
		ok, msg := cond()
		if ok {
			return
		}
		last = msg
		time.Sleep(200 * time.Millisecond)
	}
	t.Fatalf("%s: not after %v (%s)", what, limit, last)
}

func mustPrefix(s string) netip.Prefix { return netip.MustParsePrefix(s) }
func mustAddr(s string) netip.Addr     { return netip.MustParseAddr(s) }
