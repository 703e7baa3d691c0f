package inspect

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"
	"time"
)

// TestCollectors: with GroupSize set, a round's first attempt goes
// through collectors — peers that query one group each and return its
// verdicts — and still accounts for every member, a drifted one failed
// with its check.
func TestCollectors(t *testing.T) {
	t.Parallel() // waits on protocol timeouts more than it computes
	c := startCluster(t, clusterOpts{n: 12, details: true})
	writeSysctl(t, c.roots[5], "net.ipv4.ip_forward", "0")
	c.nodes[5].Agent().invalidate()
	in := c.inspector(InspectorConfig{GroupSize: 4, QueryTimeout: time.Second})
	for round := range 3 {
		rep := steadyRound(t, in, c.opts.spec)
		expectCounts(t, rep, map[MemberStatus]int{StatusPassed: 11, StatusFailed: 1})
		if m, _ := rep.Member(c.nodes[5].Name()); fmt.Sprint(m.Failed) != "[ip-forward]" {
			t.Errorf("round %d: drifted member %s %v", round, m.Status, m.Failed)
		}
		via := 0
		for _, m := range rep.Members {
			if m.Via != "" {
				via++
			}
		}
		if rep.Health.Collectors != 3 || rep.Health.CollectorErrors != 0 || via < 6 {
			t.Errorf("round %d: %d collectors, %d failed, %d of 12 verdicts through them", round, rep.Health.Collectors, rep.Health.CollectorErrors, via)
		}
		t.Logf("round %d: %d verdicts through %d collectors, took %v", round, via, rep.Health.Collectors, time.Duration(rep.Took))
	}
}

func TestShardFilter(t *testing.T) {
	if got := shardFilter(1, 128); got != "^(01|81)$" {
		t.Errorf("shardFilter(1, 128) = %s", got)
	}
	for _, name := range []string{"n000", "n001", "node-with-a-long-name"} {
		tags := map[string]string{ShardTag: shardOf(name)}
		in := 0
		for g := range 3 {
			if inGroup(tags, g, 3) {
				in++
			}
		}
		if in != 1 {
			t.Errorf("%s (shard %s) is in %d of 3 groups", name, tags[ShardTag], in)
		}
	}
	if inGroup(map[string]string{ShardTag: "zz"}, 0, 2) || inGroup(nil, 0, 2) {
		t.Error("a member without a valid shard tag is in a group")
	}
}

// TestCollectEndpointRefuses: malformed, oversize and out-of-range
// collection requests are refused with 400, an agent that is no node's
// with 404, a spec version it does not hold with 404.
func TestCollectEndpointRefuses(t *testing.T) {
	lone, _ := NewAgent(AgentConfig{Name: "lone"})
	agent, _ := NewAgent(AgentConfig{Name: "n1", Host: fakeHost(t)})
	if err := agent.SetSpec(simpleSpec(1)); err != nil {
		t.Fatal(err)
	}
	node, err := NewNode(NodeConfig{BindAddr: "127.0.0.1", BindPort: AnyPort, Profile: ProfileLocal}, agent)
	if err != nil {
		t.Fatal(err)
	}
	defer node.Close()
	tests := []struct {
		agent *Agent
		body  string
		code  int
	}{
		{agent, `{`, http.StatusBadRequest},
		{agent, strings.Repeat(" ", maxCollectBody+1), http.StatusBadRequest},
		{agent, `{"version":1,"group":2,"groups":2,"timeout":"1s"}`, http.StatusBadRequest},
		{agent, `{"version":1,"group":0,"groups":1,"timeout":"1s"}`, http.StatusBadRequest},
		{agent, `{"version":1,"group":0,"groups":2,"timeout":"1h"}`, http.StatusBadRequest},
		{agent, `{"version":1,"group":0,"groups":2,"timeout":"1s","retries":9}`, http.StatusBadRequest},
		{agent, `{"version":0,"group":0,"groups":2,"timeout":"1s"}`, http.StatusBadRequest},
		{agent, `{"version":7,"group":0,"groups":2,"timeout":"1s"}`, http.StatusNotFound},
		{lone, `{"version":1,"group":0,"groups":2,"timeout":"1s"}`, http.StatusNotFound},
	}
	for _, tt := range tests {
		rec := httptest.NewRecorder()
		tt.agent.Handler().ServeHTTP(rec, httptest.NewRequest(http.MethodPost, CollectPath, strings.NewReader(tt.body)))
		if rec.Code != tt.code {
			t.Errorf("%.60s: %d %s, want %d", tt.body, rec.Code, rec.Body, tt.code)
		}
	}
	// A well-formed request on the held version collects (a cluster of one).
	rec := httptest.NewRecorder()
	agent.Handler().ServeHTTP(rec, httptest.NewRequest(http.MethodPost, CollectPath,
		strings.NewReader(`{"version":1,"group":`+strconv.Itoa(mustShard(t, "n1")%2)+`,"groups":2,"timeout":"300ms"}`)))
	if rec.Code != http.StatusOK || !strings.Contains(rec.Body.String(), `"node":"n1"`) {
		t.Errorf("collect: %d %s", rec.Code, rec.Body)
	}
}

func mustShard(t *testing.T, name string) int {
	s, err := strconv.ParseUint(shardOf(name), 16, 8)
	if err != nil {
		t.Fatal(err)
	}
	return int(s)
}

// FuzzCollectRequest: any body decodes to a refusal or to a request
// within bounds, never a panic.
func FuzzCollectRequest(f *testing.F) {
	f.Add([]byte(`{"version":1,"group":0,"groups":2,"timeout":"1s","retries":1}`))
	f.Add([]byte(`{"version":1,"group":-1,"groups":300,"timeout":5}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		var req collectRequest
		if json.Unmarshal(b, &req) != nil || req.validate() != nil {
			return
		}
		if req.Groups < 2 || req.Groups > maxShards || req.Group >= req.Groups || req.Retries > maxCollectRetries || time.Duration(req.Timeout) > maxCollectTimeout {
			t.Fatalf("accepted %+v", req)
		}
		_ = shardFilter(req.Group, req.Groups)
	})
}
