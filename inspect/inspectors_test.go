package inspect

import (
	"context"
	"slices"
	"testing"
	"time"

	"github.com/hashicorp/serf/serf"
)

// inspectorNode starts a spec-less member on any free port, as a round
// command does, with an inspector made before it joins (so that its
// InspectorTag travels with the join), joined to the cluster.
func (c *cluster) inspectorNode(name string) (*Inspector, context.CancelFunc) {
	c.t.Helper()
	agent, err := NewAgent(AgentConfig{Name: name})
	if err != nil {
		c.t.Fatal(err)
	}
	node, err := NewNode(NodeConfig{BindAddr: "127.0.0.1", BindPort: AnyPort, Profile: ProfileLocal, Tune: c.tune, TuneSerf: fastLeave}, agent)
	if err != nil {
		c.t.Fatal(err)
	}
	if node.Addr() == "127.0.0.1:7946" || node.Addr() == "127.0.0.1:0" {
		c.t.Fatalf("AnyPort bound %s", node.Addr())
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { _ = node.Run(ctx); close(done) }()
	stop := func() { cancel(); <-done; _ = node.Close() }
	c.t.Cleanup(stop)
	in, err := NewInspector(node, InspectorConfig{QueryTimeout: time.Second})
	if err != nil {
		c.t.Fatal(err)
	}
	if _, err := node.Join(c.t.Context(), c.nodes[0].Addr()); err != nil {
		c.t.Fatal(err)
	}
	return in, stop
}

// TestInspectorsLeftOut: an inspector's own member is not in its report,
// nor is another inspector's, alive or gone; a one-off inspector that
// left is pruned from every member's list by the next round.
func TestInspectorsLeftOut(t *testing.T) {
	t.Parallel() // waits on protocol timeouts more than it computes
	c := startCluster(t, clusterOpts{n: 3})
	inA, _ := c.inspectorNode("inspector-a")
	inB, stopB := c.inspectorNode("inspector-b")
	a := inA.node
	c.waitMembers(0, 5)
	for _, n := range append(c.nodes, a, inB.node) { // every member knows every other
		c.waitAlive(n, 5)
	}
	names := func(rep *Report) []string {
		var out []string
		for _, m := range rep.Members {
			out = append(out, m.Name)
		}
		return out
	}
	agents := []string{"n000", "n001", "n002"}
	for _, in := range []*Inspector{inA, inB} {
		rep := steadyRound(t, in, c.opts.spec)
		expectCounts(t, rep, map[MemberStatus]int{StatusPassed: 3})
		if !slices.Equal(names(rep), agents) || rep.Inspector != in.node.Name() {
			t.Errorf("%s's report: members %v, inspector %q", in.node.Name(), names(rep), rep.Inspector)
		}
	}

	stopB() // a one-off round ends: it leaves
	c.waitStatus(0, "inspector-b", serf.StatusLeft, 10*time.Second)
	rep, err := inA.Round(t.Context(), c.opts.spec)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(names(rep), agents) || rep.Counts[StatusLeft] != 0 {
		t.Errorf("after inspector-b left: members %v, counts %v", names(rep), rep.Counts)
	}
	for _, n := range append(c.nodes, a) {
		deadline := time.Now().Add(10 * time.Second)
		for slices.ContainsFunc(n.Serf().Members(), func(m serf.Member) bool { return m.Name == "inspector-b" }) {
			if time.Now().After(deadline) {
				t.Fatalf("%s still lists inspector-b after the round pruned it", n.Name())
			}
			time.Sleep(50 * time.Millisecond)
		}
	}
}

// waitAlive waits until n sees want members alive.
func (c *cluster) waitAlive(n *Node, want int) {
	c.t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		alive := 0
		for _, m := range n.Serf().Members() {
			if m.Status == serf.StatusAlive {
				alive++
			}
		}
		if alive == want {
			return
		}
		if time.Now().After(deadline) {
			c.t.Fatalf("%s sees %d of %d members alive", n.Name(), alive, want)
		}
		time.Sleep(20 * time.Millisecond)
	}
}
