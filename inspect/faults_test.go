package inspect

import (
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/hashicorp/serf/serf"

	"github.com/shoalkit/shoal/internal/testenv"
)

// waitStatus waits until node k's serf sees member name in status want.
func (c *cluster) waitStatus(k int, name string, want serf.MemberStatus, within time.Duration) {
	c.t.Helper()
	deadline := time.Now().Add(within)
	for time.Now().Before(deadline) {
		for _, m := range c.nodes[k].Serf().Members() {
			if m.Name == name && m.Status == want {
				return
			}
		}
		time.Sleep(100 * time.Millisecond)
	}
	c.t.Fatalf("%s did not see %s %s within %v", c.nodes[k].Name(), name, want, within)
}

func expectCounts(t *testing.T, rep *Report, want map[MemberStatus]int) {
	t.Helper()
	if rep.Accounted() != len(rep.Members) {
		t.Errorf("%d of %d members accounted", rep.Accounted(), len(rep.Members))
	}
	bad := false
	for s, n := range want {
		if rep.Counts[s] != n {
			bad = true
			t.Errorf("%s: %d members, want %d (counts %v)", s, rep.Counts[s], n, rep.Counts)
		}
	}
	if bad {
		var sb strings.Builder
		_ = rep.WriteText(&sb)
		t.Log(sb.String())
	}
}

// TestKilledMemberIsDead: a member stopped without leaving is never
// counted as passed, and is dead once serf declares it failed.
func TestKilledMemberIsDead(t *testing.T) {
	t.Parallel() // waits on protocol timeouts more than it computes
	events := make(chan MemberEvent, 64)
	c := startCluster(t, clusterOpts{n: 8, events: events, quick: true})
	in := c.inspector(InspectorConfig{})
	victim := c.nodes[5].Name()
	if err := c.nodes[5].Serf().Shutdown(); err != nil {
		t.Fatal(err)
	}
	rep := steadyRound(t, in, c.opts.spec)
	m, _ := rep.Member(victim)
	if m.Status != StatusSilent && m.Status != StatusDead {
		t.Errorf("killed member right after: %s (%s), want silent or dead", m.Status, m.Reason)
	}
	c.waitStatus(0, victim, serf.StatusFailed, 30*time.Second)
	rep = steadyRound(t, in, c.opts.spec)
	expectCounts(t, rep, map[MemberStatus]int{StatusPassed: 7, StatusDead: 1})
	if m, _ := rep.Member(victim); m.Status != StatusDead {
		t.Errorf("killed member: %s, want dead", m.Status)
	}
	deadline := time.After(5 * time.Second)
	for {
		select {
		case e := <-events:
			if e.Type == "failed" && len(e.Members) == 1 && e.Members[0] == victim {
				return
			}
		case <-deadline:
			t.Fatal("no member-failed event for the killed member")
		}
	}
}

// TestCutPathIsUnreachable: a member whose path to the inspector is cut
// (an iptables drop rule inside the cluster's namespace) is unreachable,
// not dead, and stays so while its peers see it alive.
func TestCutPathIsUnreachable(t *testing.T) {
	t.Parallel() // waits on protocol timeouts more than it computes
	testenv.Require(t, testenv.Netns, testenv.Iptables)
	ns := testenv.NewNetns(t)
	c := startCluster(t, clusterOpts{n: 8, ns: ns, quick: true})
	in := c.inspector(InspectorConfig{QueryTimeout: time.Second, Retries: 2})
	victim, inspector := c.addrs[3], c.addrs[0]
	ns.Run(t, "iptables", "-A", "INPUT", "-s", inspector, "-d", victim, "-j", "DROP")
	ns.Run(t, "iptables", "-A", "INPUT", "-s", victim, "-d", inspector, "-j", "DROP")
	for round := range 2 {
		rep := steadyRound(t, in, c.opts.spec)
		expectCounts(t, rep, map[MemberStatus]int{StatusPassed: 7, StatusUnreachable: 1, StatusDead: 0})
		m, _ := rep.Member(c.nodes[3].Name())
		if m.Status != StatusUnreachable {
			t.Fatalf("round %d: cut member %s (%s), want unreachable", round, m.Status, m.Reason)
		}
		t.Logf("round %d: %s: %s, verdict relayed %v", round, m.Name, m.Reason, m.Relayed)
		// Long enough for a wrong failure verdict to spread: four probe
		// intervals of the quick timing, two suspicion timeouts.
		time.Sleep(2 * time.Second)
	}
	for _, mm := range c.nodes[0].Serf().Members() {
		if mm.Status != serf.StatusAlive {
			t.Errorf("inspector's serf: %s %s, want alive", mm.Name, mm.Status)
		}
	}
}

// TestPacketLoss: with 5% of UDP packets dropped, every round accounts
// for every member and no healthy member is declared dead.
func TestPacketLoss(t *testing.T) {
	t.Parallel() // waits on protocol timeouts more than it computes
	testenv.Require(t, testenv.Netns, testenv.Iptables)
	ns := testenv.NewNetns(t)
	n := 20
	if raceDetector {
		n = 8 // the race detector slows every member about tenfold
	}
	c := startCluster(t, clusterOpts{n: n, ns: ns})
	ns.Run(t, "iptables", "-A", "INPUT", "-p", "udp", "-m", "statistic", "--mode", "random", "--probability", "0.05", "-j", "DROP")
	in := c.inspector(InspectorConfig{Retries: 3})
	for round := range 5 {
		rep := steadyRound(t, in, c.opts.spec)
		if rep.Accounted() != n || rep.Counts[StatusDead] != 0 || rep.Counts[StatusSilent] != 0 {
			var sb strings.Builder
			_ = rep.WriteText(&sb)
			t.Fatalf("round %d: counts %v\n%s", round, rep.Counts, sb.String())
		}
		if rep.Counts[StatusPassed]+rep.Counts[StatusUnreachable] != n {
			t.Fatalf("round %d: counts %v", round, rep.Counts)
		}
		if rep.Counts[StatusUnreachable] > 0 {
			t.Logf("round %d: %d unreachable under loss", round, rep.Counts[StatusUnreachable])
		}
	}
}

// TestDriftFoundDetailedFixed: a drifted sysctl is found by a round,
// detailed by stage two, left alone by a dry run and an unsigned request,
// fixed on an authenticated request, and the next round confirms.
func TestDriftFoundDetailedFixed(t *testing.T) {
	t.Parallel() // waits on protocol timeouts more than it computes
	key := []byte("fix-key-of-the-test")
	c := startCluster(t, clusterOpts{n: 5, details: true, fixKey: key})
	in := c.inspector(InspectorConfig{QueryTimeout: time.Second})
	writeSysctl(t, c.roots[2], "net.ipv4.ip_forward", "0")
	c.nodes[2].Agent().invalidate()
	rep := steadyRound(t, in, c.opts.spec)
	expectCounts(t, rep, map[MemberStatus]int{StatusPassed: 4, StatusFailed: 1})
	m, _ := rep.Member(c.nodes[2].Name())
	if m.Status != StatusFailed || fmt.Sprint(m.Failed) != "[ip-forward]" {
		t.Fatalf("drifted member: %s %v", m.Status, m.Failed)
	}
	if err := in.Details(t.Context(), rep); err != nil {
		t.Fatal(err)
	}
	m, _ = rep.Member(c.nodes[2].Name())
	if len(m.Details) != 1 || m.Details[0].Observed != "0" || m.Details[0].Outcome != OutcomeFail {
		t.Fatalf("details %+v (%s)", m.Details, m.Reason)
	}

	dry, err := in.Remediate(t.Context(), rep, c.opts.spec, RemediateOptions{Key: key, DryRun: true})
	if err != nil {
		t.Fatal(err)
	}
	if len(dry) != 1 || len(dry[0].Outcomes) != 1 || dry[0].Outcomes[0].Action != "sysctl net.ipv4.ip_forward=1" || dry[0].Outcomes[0].After != nil {
		t.Fatalf("dry run: %+v", dry)
	}
	if v := readSysctl(t, c.roots[2], "net.ipv4.ip_forward"); v != "0" {
		t.Fatalf("dry run changed the sysctl to %s", v)
	}
	bad, err := in.Remediate(t.Context(), rep, c.opts.spec, RemediateOptions{Key: []byte("wrong")})
	if err != nil {
		t.Fatal(err)
	}
	if len(bad) != 1 || bad[0].Error == "" || readSysctl(t, c.roots[2], "net.ipv4.ip_forward") != "0" {
		t.Fatalf("unauthenticated fix: %+v", bad)
	}

	fixed, err := in.Remediate(t.Context(), rep, c.opts.spec, RemediateOptions{Key: key})
	if err != nil {
		t.Fatal(err)
	}
	if len(fixed) != 1 || fixed[0].Error != "" || fixed[0].Outcomes[0].After == nil || fixed[0].Outcomes[0].After.Outcome != OutcomePass {
		t.Fatalf("fix: %+v", fixed)
	}
	if v := readSysctl(t, c.roots[2], "net.ipv4.ip_forward"); v != "1" {
		t.Fatalf("sysctl after fix: %s", v)
	}
	again, err := in.Remediate(t.Context(), rep, c.opts.spec, RemediateOptions{Key: key})
	if err != nil || again[0].Outcomes[0].Error != "" || again[0].Outcomes[0].Action != "none: check passes" {
		t.Fatalf("second fix: %+v %v", again, err)
	}
	rep = steadyRound(t, in, c.opts.spec)
	expectCounts(t, rep, map[MemberStatus]int{StatusPassed: 5})
}

// TestKeyring: members share a key; a node with another key or none
// cannot join.
func TestKeyring(t *testing.T) {
	t.Parallel() // waits on protocol timeouts more than it computes
	key := []byte("0123456789abcdef")
	c := startCluster(t, clusterOpts{n: 3, keys: [][]byte{key}})
	in := c.inspector(InspectorConfig{QueryTimeout: time.Second})
	rep := steadyRound(t, in, c.opts.spec)
	expectCounts(t, rep, map[MemberStatus]int{StatusPassed: 3})
	for _, keys := range [][][]byte{nil, {[]byte("fedcba9876543210")}} {
		other := startCluster(t, clusterOpts{n: 1, keys: keys})
		if _, err := other.nodes[0].Join(t.Context(), c.nodes[0].Addr()); err == nil {
			t.Errorf("a node with keys %q joined", keys)
		}
	}
	c.waitMembers(0, 3)
}

// TestStaleSpecAndRateLimit: a member on another spec version is stale
// and shows drift in its tag; a round on a new version right after
// another is refused.
func TestStaleSpecAndRateLimit(t *testing.T) {
	t.Parallel() // waits on protocol timeouts more than it computes
	c := startCluster(t, clusterOpts{n: 4})
	if err := c.nodes[1].SetSpec(simpleSpec(2)); err != nil {
		t.Fatal(err)
	}
	time.Sleep(time.Second) // the tag gossips
	in := c.inspector(InspectorConfig{QueryTimeout: time.Second})
	rep := steadyRound(t, in, c.opts.spec)
	expectCounts(t, rep, map[MemberStatus]int{StatusPassed: 3, StatusStale: 1})
	m, _ := rep.Member(c.nodes[1].Name())
	if m.Status != StatusStale || !m.SpecDrift || m.HeldSpec != specTagValue(simpleSpec(2)) {
		t.Errorf("member on v2: %+v", m)
	}
	if _, err := in.Round(t.Context(), simpleSpec(2)); !errors.Is(err, ErrRateLimited) {
		t.Errorf("round on v2 right after v1: %v, want rate limited", err)
	}
}
