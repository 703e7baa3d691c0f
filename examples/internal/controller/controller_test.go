package controller_test

import (
	"fmt"
	"net/http"
	"net/netip"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/shoalkit/shoal/examples/internal/controller"
	"github.com/shoalkit/shoal/examples/internal/simnode"
	"github.com/shoalkit/shoal/examples/internal/state"
	"github.com/shoalkit/shoal/internal/testenv"
)

func mustPrefix(s string) netip.Prefix { return netip.MustParsePrefix(s) }
func mustAddr(s string) netip.Addr     { return netip.MustParseAddr(s) }

var capacity = state.Capacity{CPUs: 8, MemoryBytes: 16 << 30}

func brokenImage(in *state.Instance) (state.Phase, string) {
	if strings.Contains(in.Image, "broken") {
		return state.CrashLoop, "Exited"
	}
	return "", ""
}

func (h *harness) appInstances(app string) []state.Instance {
	var out []state.Instance
	for _, in := range h.desired() {
		if in.App == app {
			out = append(out, in)
		}
	}
	return out
}

func (h *harness) eventKinds(k *ctrl, reqID string) []string {
	var evs []state.Event
	h.must(k, "GET", "/v1/events?request_id="+reqID, "", nil, &evs)
	var kinds []string
	for _, ev := range evs {
		if ev.RequestID != reqID {
			h.t.Errorf("event %+v answers request_id=%s", ev, reqID)
		}
		kinds = append(kinds, ev.Kind)
	}
	return kinds
}

func TestAppLifecycle(t *testing.T) {
	h := newHarness(t, simnode.Racks(3, 2, capacity), brokenImage)
	k := h.start("c1")
	h.leader()

	// No token, nothing done.
	req, _ := http.NewRequestWithContext(t.Context(), http.MethodPost, k.srv.URL+"/v1/apps", strings.NewReader(`{}`))
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusUnauthorized {
		t.Fatalf("no token: %d, want 401", resp.StatusCode)
	}

	h.must(k, "PUT", "/v1/networks/10", "", pool10, nil)
	var dep controller.Deployed
	h.must(k, "POST", "/v1/apps?wait=20s", "req-deploy", webApp(6), &dep)
	if !dep.Running || len(dep.Created) != 6 || dep.TimeToRunning <= 0 {
		t.Fatalf("deploy: running %v, %d created, %v", dep.Running, len(dep.Created), dep.TimeToRunning)
	}
	ins := h.appInstances("web")
	if len(ins) != 6 {
		t.Fatalf("%d instances in etcd, want 6", len(ins))
	}
	seen := map[netip.Addr]bool{}
	for _, in := range ins {
		ip := in.Network.IP.Addr()
		if seen[ip] || !pool10.Subnet.Contains(ip) || ip == pool10.Gateway || ip == pool10.Subnet.Addr() || in.Network.IP.Bits() != 24 {
			t.Errorf("instance %s got %v (duplicate, gateway, network or outside the pool)", in.ID, in.Network.IP)
		}
		seen[ip] = true
		if in.RequestID != "req-deploy" || in.AppGeneration != 1 || in.Network.Gateway != pool10.Gateway {
			t.Errorf("instance %+v lacks its request id, app generation or gateway", in)
		}
	}
	if got := h.byRack(ins); got["r1"] != 2 || got["r2"] != 2 || got["r3"] != 2 {
		t.Errorf("spread %v, want 2 per rack", got)
	}
	if h.count(state.IPPrefix()) != 6 {
		t.Errorf("%d addresses taken, want 6", h.count(state.IPPrefix()))
	}
	kinds := h.eventKinds(k, "req-deploy")
	if n := strings.Count(strings.Join(kinds, " "), "InstanceScheduled"); n != 6 || !slices.Contains(kinds, "AppDeployed") || !slices.Contains(kinds, "AppRunning") {
		t.Errorf("events of the deploy: %v", kinds)
	}

	// A duplicate name is refused, nothing changes.
	if st, p := h.call(k, "POST", "/v1/apps", "", webApp(2), nil); st != http.StatusConflict || p.Field != "name" {
		t.Errorf("duplicate: %d %+v", st, p)
	}

	// Scale 6 → 9 → 6, spread kept.
	for _, n := range []int{9, 6} {
		h.must(k, "POST", "/v1/apps/web/scale?wait=20s", fmt.Sprintf("req-scale-%d", n), map[string]int{"replicas": n}, nil)
		ins = h.appInstances("web")
		if got := h.byRack(ins); len(ins) != n || got["r1"] != n/3 || got["r2"] != n/3 || got["r3"] != n/3 {
			t.Errorf("scaled to %d: %d instances, per rack %v", n, len(ins), got)
		}
	}
	if h.count(state.IPPrefix()) != 6 {
		t.Errorf("after scale in: %d addresses taken, want 6", h.count(state.IPPrefix()))
	}

	// What cannot be placed says why and leaves nothing.
	big := webApp(1)
	big.Name, big.Resources.CPUs = "big", 100
	st, p := h.call(k, "POST", "/v1/apps", "", big, nil)
	if st != http.StatusUnprocessableEntity || p.Code != controller.CodeUnschedulable || !strings.Contains(p.Detail, "cores") {
		t.Errorf("impossible placement: %d %+v", st, p)
	}
	if h.count(state.AppKey("big")) != 0 {
		t.Error("an unschedulable app was left in etcd")
	}

	// A team's quota bounds a scale and names what it exceeds.
	h.must(k, "PUT", "/v1/quotas/shop", "", state.Quota{Instances: 8}, nil)
	st, p = h.call(k, "POST", "/v1/apps/web/scale", "", map[string]int{"replicas": 9}, nil)
	if st != http.StatusUnprocessableEntity || p.Code != controller.CodeQuota || !strings.Contains(p.Detail, "instance") {
		t.Errorf("over quota: %d %+v", st, p)
	}
	if n := len(h.appInstances("web")); n != 6 {
		t.Errorf("after a refused scale: %d instances", n)
	}

	var eps []controller.Endpoint
	h.must(k, "GET", "/v1/apps/web/endpoints", "", nil, &eps)
	if len(eps) != 6 || eps[0].Port != 80 || !pool10.Subnet.Contains(mustAddr(eps[0].IP)) {
		t.Errorf("endpoints: %+v", eps)
	}

	// A rolling update keeps every instance's address.
	addrs := func() []string {
		var a []string
		for _, in := range h.appInstances("web") {
			a = append(a, in.ID+"="+in.Network.IP.String())
		}
		slices.Sort(a)
		return a
	}
	before := addrs()
	v2 := webApp(6)
	v2.Image, v2.Update.BatchSize = "127.0.0.1:5000/web:2", 2
	h.must(k, "PUT", "/v1/apps/web", "req-v2", v2, nil)
	h.eventually("rollout to web:2", func() (bool, string) {
		var a controller.AppView
		h.must(k, "GET", "/v1/apps/web", "", nil, &a)
		for _, in := range h.appInstances("web") {
			if in.Image != v2.Image || in.AppGeneration != 2 {
				return false, in.ID + " still " + in.Image
			}
		}
		return a.Rollout.Phase == state.RolloutDone && a.Ready == 6, fmt.Sprintf("%+v ready %d", a.Rollout, a.Ready)
	})
	if after := addrs(); !slices.Equal(before, after) {
		t.Errorf("a rolling update moved instances: %v → %v", before, after)
	}

	// A broken image stops the update and rolls it back.
	v3 := v2
	v3.Image = "127.0.0.1:5000/web:broken"
	h.must(k, "PUT", "/v1/apps/web", "req-v3", v3, nil)
	h.eventually("roll back from web:broken", func() (bool, string) {
		var a controller.AppView
		h.must(k, "GET", "/v1/apps/web", "", nil, &a)
		for _, in := range h.appInstances("web") {
			if in.Image != v2.Image {
				return false, in.ID + " runs " + in.Image
			}
		}
		return a.Rollout.Phase == state.RolloutRolledBack && a.Spec.Image == v2.Image && a.Ready == 6, fmt.Sprintf("%+v ready %d", a.Rollout, a.Ready)
	})
	if kinds := h.eventKinds(k, "req-v3"); !slices.Contains(kinds, "RolloutFailed") {
		t.Errorf("no RolloutFailed event under the update's request id: %v", kinds)
	}

	// Resize in place.
	victim := h.appInstances("web")[0]
	var resized state.Instance
	h.must(k, "POST", "/v1/instances/"+victim.ID+"/resize", "req-resize", state.Resources{CPUs: 2, MemoryBytes: 512 << 20}, &resized)
	if resized.Generation != victim.Generation+1 || resized.Resources.MemoryBytes != 512<<20 || resized.Node != victim.Node {
		t.Errorf("resize: %+v", resized)
	}

	// A lost node's instances go elsewhere after the grace period.
	if err := h.fleet.Kill(t.Context(), "n1"); err != nil {
		t.Fatal(err)
	}
	h.eventually("instances moved off lost n1", func() (bool, string) {
		ins := h.appInstances("web")
		for _, in := range ins {
			if in.Node == "n1" {
				return false, ids(ins)
			}
		}
		return len(ins) == 6, ids(ins)
	})
	// Drain moves the instances off a live node.
	h.must(k, "POST", "/v1/nodes/n2/drain", "req-drain", nil, nil)
	h.eventually("n2 drained", func() (bool, string) {
		ins := h.appInstances("web")
		for _, in := range ins {
			if in.Node == "n2" {
				return false, ids(ins)
			}
		}
		return len(ins) == 6, ids(ins)
	})
	if kinds := h.eventKinds(k, "req-drain"); !slices.Contains(kinds, "NodeDraining") {
		t.Errorf("drain events: %v", kinds)
	}

	h.must(k, "DELETE", "/v1/apps/web", "req-delete", nil, nil)
	if h.count(state.Prefix+"desired/") != 0 || h.count(state.IPPrefix()) != 0 || h.count(state.AppKey("web")) != 0 {
		t.Errorf("after delete: %d desired, %d addresses, %d app keys", h.count(state.Prefix+"desired/"), h.count(state.IPPrefix()), h.count(state.AppKey("web")))
	}
}

func TestLeaderFailover(t *testing.T) {
	h := newHarness(t, simnode.Racks(3, 1, capacity), nil)
	c1 := h.start("c1")
	first := h.leader()
	c2 := h.start("c2")
	follower := c2
	if first == c2 {
		follower = c1
	}
	h.must(first, "PUT", "/v1/networks/10", "", pool10, nil)
	h.must(first, "POST", "/v1/apps?wait=20s", "", webApp(3), nil)

	// A follower refuses changes and names the leader.
	st, p := h.call(follower, "POST", "/v1/apps/web/scale", "", map[string]int{"replicas": 4}, nil)
	if st != http.StatusServiceUnavailable || p.Code != controller.CodeNotLeader || "http://"+p.Leader != first.srv.URL {
		t.Errorf("change at a follower: %d %+v, want not_leader naming %s", st, p, first.srv.URL)
	}
	// The client follows the problem to the leader.
	cl := &controller.Client{URL: follower.srv.URL, Token: h.token}
	if _, err := cl.Do(t.Context(), http.MethodGet, "/v1/apps", "", nil, nil); err != nil {
		t.Fatal(err)
	}
	var sc controller.Deployed
	if _, err := cl.Do(t.Context(), http.MethodPost, "/v1/apps/web/scale", "", map[string]int{"replicas": 3}, &sc); err != nil {
		t.Errorf("a change sent to the follower through the client: %v", err)
	}
	// It answers reads from its cache.
	h.eventually("follower's cache", func() (bool, string) {
		var apps []controller.AppView
		h.must(follower, "GET", "/v1/apps", "", nil, &apps)
		return len(apps) == 1 && apps[0].Instances == 3, fmt.Sprint(apps)
	})

	start := time.Now()
	first.stop()
	h.eventually("the follower leads", func() (bool, string) { return follower.c.Leading(), "" })
	t.Logf("failover took %v (session TTL 2 s)", time.Since(start))
	h.must(follower, "POST", "/v1/apps/web/scale?wait=20s", "", map[string]int{"replicas": 6}, nil)

	// Restarting a controller on the same state duplicates nothing.
	c3 := h.start("c3")
	time.Sleep(time.Second)
	follower.stop()
	h.eventually("c3 leads", func() (bool, string) { return c3.c.Leading(), "" })
	time.Sleep(time.Second) // a few reconcile passes
	if ins := h.appInstances("web"); len(ins) != 6 || h.count(state.IPPrefix()) != 6 {
		t.Errorf("after two leader changes: %d instances (%s), %d addresses", len(ins), ids(ins), h.count(state.IPPrefix()))
	}
}

// TestEtcdCluster runs the platform on a separate three-member etcd
// cluster (Debian's etcd-server, given by endpoints as --etcd-endpoints
// does) and kills one member: the platform keeps working.
func TestEtcdCluster(t *testing.T) {
	testenv.Require(t, testenv.EtcdServer)
	cluster := testenv.StartEtcdCluster(t, 3)
	h := newHarnessOn(t, cluster.Endpoints, simnode.Racks(3, 1, capacity), nil)
	h.start("c1")
	h.start("c2")
	lead := h.leader() // either may win the election
	h.must(lead, "PUT", "/v1/networks/10", "", pool10, nil)
	h.must(lead, "POST", "/v1/apps?wait=20s", "req-cluster", webApp(3), nil)

	cluster.Kill(t, 0)
	var d controller.Deployed
	// While the members elect a new raft leader a call may answer 503
	// unavailable, as it says; a scale is declarative, so the caller
	// retries it.
	h.eventually("a scale with a member down", func() (bool, string) {
		st, p := h.call(h.leader(), "POST", "/v1/apps/web/scale?wait=20s", "req-after-kill", map[string]int{"replicas": 6}, &d)
		if st == http.StatusServiceUnavailable {
			return false, p.Detail
		}
		if st != http.StatusOK {
			t.Fatalf("scale: %d %+v", st, p)
		}
		return true, ""
	})
	if ins := h.appInstances("web"); len(ins) != 6 {
		t.Errorf("scale with a member down: %d instances", len(ins))
	}
	if ins := h.appInstances("web"); len(ins) != 6 || h.count(state.IPPrefix()) != 6 {
		t.Errorf("%d instances, %d addresses, want 6", len(ins), h.count(state.IPPrefix()))
	}
	if kinds := h.eventKinds(h.leader(), "req-after-kill"); !slices.Contains(kinds, "AppScaled") {
		t.Errorf("events of the scale: %v", kinds)
	}
}
