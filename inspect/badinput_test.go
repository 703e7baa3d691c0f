package inspect

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/hashicorp/serf/serf"

	"github.com/shoalkit/shoal/internal/testenv"
)

// TestMalformedVerdicts: members that answer with oversize, malformed or
// wrong-version verdicts are counted as bad replies and reported silent,
// never as passed, and the round goes on.
func TestMalformedVerdicts(t *testing.T) {
	t.Parallel() // waits on protocol timeouts more than it computes
	c := startCluster(t, clusterOpts{n: 3})
	answers := map[string][]byte{
		"bad-oversize": make([]byte, 900),
		"bad-garbage":  []byte("\xff\x00\x13"),
		"bad-version":  EncodeVerdict(9, Verdict{}),
	}
	for name, answer := range answers {
		events := make(chan serf.Event, 64)
		sc := serf.DefaultConfig()
		sc.NodeName, sc.EventCh, sc.ProtocolVersion = name, events, 5
		sc.MemberlistConfig.BindAddr, sc.MemberlistConfig.BindPort = "127.0.0.1", testenv.FreePort(t)
		sc.Logger = nil
		sc.LogOutput = discard{}
		sc.MemberlistConfig.LogOutput = discard{}
		s, err := serf.Create(sc)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = s.Shutdown() })
		go func() {
			for ev := range events {
				if q, ok := ev.(*serf.Query); ok && q.Name == QueryInspect {
					_ = q.Respond(answer)
				}
			}
		}()
		if _, err := s.Join([]string{c.nodes[0].Addr()}, true); err != nil {
			t.Fatal(err)
		}
	}
	c.waitMembers(0, 6)
	in := c.inspector(InspectorConfig{QueryTimeout: time.Second, Retries: 1})
	rep := steadyRound(t, in, c.opts.spec)
	expectCounts(t, rep, map[MemberStatus]int{StatusPassed: 3, StatusSilent: 3})
	for name := range answers {
		m, _ := rep.Member(name)
		if m.Status != StatusSilent || !strings.Contains(m.Reason, "last reply: inspect:") {
			t.Errorf("%s: %s %q", name, m.Status, m.Reason)
		}
	}
	if rep.Health.BadReplies < 3 {
		t.Errorf("bad replies %d, want at least 3", rep.Health.BadReplies)
	}
}

type discard struct{}

func (discard) Write(p []byte) (int, error) { return len(p), nil }

// TestFixRequests: unsigned, misaddressed, old and unknown-check requests
// are refused; a failing fix is reported and leaves the agent working; a
// second fix within FixInterval is rate-limited.
func TestFixRequests(t *testing.T) {
	key := []byte("k")
	h := fakeHost(t)
	writeSysctl(t, h.Root, "vm.swappiness", "60")
	now := time.Unix(1_800_000_000, 0)
	h.Now = func() time.Time { return now }
	a, err := NewAgent(AgentConfig{Name: "n1", Host: h, FixKey: key, FixInterval: time.Minute})
	if err != nil {
		t.Fatal(err)
	}
	spec := &Spec{Version: 2, Checks: []Check{
		{ID: "swap", Kind: KindSysctl, Key: "vm.swappiness", Want: "10", Fix: &Fix{Sysctl: "10"}},
		{ID: "broken", Kind: KindCommand, Args: []string{"false-check"}, Fix: &Fix{Command: []string{"no-such-fixer"}}},
		{ID: "nofix", Kind: KindOS, Want: "13"},
	}}
	if err := a.SetSpec(spec); err != nil {
		t.Fatal(err)
	}
	req := FixRequest{Node: "n1", Version: 2, Checks: []string{"swap", "broken", "nofix"}, Time: now.Unix()}
	body, sig := req.Sign(key)
	otherBody, otherSig := FixRequest{Node: "n2", Version: 2, Time: now.Unix()}.Sign(key)
	oldBody, oldSig := FixRequest{Node: "n1", Version: 2, Time: now.Unix() - 3600}.Sign(key)
	for name, tc := range map[string]struct {
		body []byte
		sig  string
	}{
		"unsigned":    {body, ""},
		"wrong key":   {body, sign([]byte("x"), body)},
		"other node":  {otherBody, otherSig},
		"old request": {oldBody, oldSig},
	} {
		if _, err := a.Fix(t.Context(), tc.body, tc.sig); !errors.Is(err, ErrDenied) {
			t.Errorf("%s: %v, want denied", name, err)
		}
	}
	out, err := a.Fix(t.Context(), body, sig)
	if err != nil {
		t.Fatal(err)
	}
	if out[0].Error != "" || out[0].After == nil || out[0].After.Outcome != OutcomePass {
		t.Errorf("swap fix: %+v", out[0])
	}
	if out[1].Error == "" || !strings.Contains(out[1].Error, "no-such-fixer") {
		t.Errorf("a failing fix is not reported: %+v", out[1])
	}
	if !strings.Contains(out[2].Error, "has no fix") {
		t.Errorf("nofix: %q", out[2].Error)
	}
	ghostBody, ghostSig := FixRequest{Node: "n1", Version: 2, Checks: []string{"ghost"}, Time: now.Unix()}.Sign(key)
	if g, err := a.Fix(t.Context(), ghostBody, ghostSig); err != nil || !strings.Contains(g[0].Error, "not in spec") {
		t.Errorf("ghost: %+v %v", g, err)
	}
	writeSysctl(t, h.Root, "vm.swappiness", "60") // drifts again at once
	out, err = a.Fix(t.Context(), body, sig)
	if err != nil || !strings.Contains(out[0].Error, "FixInterval") {
		t.Errorf("second fix within FixInterval: %+v %v", out, err)
	}
	if v := a.Answer(t.Context(), encodeQuery(2, nil)); len(v) == 0 {
		t.Error("the agent stopped answering after a failed fix")
	}
}
