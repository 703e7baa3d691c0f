package inspect

import (
	"encoding/base64"
	"encoding/json"
	"os"
	"path/filepath"
	"testing"

	"github.com/shoalkit/shoal/internal/testenv"
)

// passScript answers an inspection query as a conforming agent whose
// checks all pass: the one-byte pass verdict, 0x40 | (version & 0xf).
// That a shell script can answer is the point of the small text query
// and byte verdict.
const passScript = `#!/bin/sh
v=$(cat)
v=${v%%:*}
printf "$(printf '\\%03o' $((64 + v % 16)))"
`

// TestDebianSerfInterop: Debian's serf agent (an independent
// implementation build, protocol 5) joins an encrypted cluster of library
// nodes, answers the inspector's query through an event handler, and
// sends an inspection query of its own that the library nodes answer.
func TestDebianSerfInterop(t *testing.T) {
	t.Parallel() // waits on protocol timeouts more than it computes
	testenv.Require(t, testenv.Serf)
	key := []byte("0123456789abcdef0123456789abcdef")
	c := startCluster(t, clusterOpts{n: 3, keys: [][]byte{key}, spec: simpleSpec(17)})
	script := filepath.Join(t.TempDir(), "answer.sh")
	if err := os.WriteFile(script, []byte(passScript), 0o755); err != nil { //nolint:gosec // the handler must be executable
		t.Fatal(err)
	}
	peer := testenv.StartSerf(t, "debian", testenv.SerfOptions{
		Encrypt:  base64.StdEncoding.EncodeToString(key),
		Handlers: []string{"query:" + QueryInspect + "=" + script},
	})
	peer.Run(t, "join", c.nodes[1].Addr())
	c.waitMembers(0, 4)

	in := c.inspector(InspectorConfig{})
	rep := steadyRound(t, in, c.opts.spec)
	expectCounts(t, rep, map[MemberStatus]int{StatusPassed: 4})
	if m, _ := rep.Member("debian"); m.Status != StatusPassed || !m.SpecDrift {
		t.Errorf("debian peer: %+v (want passed, and spec drift: it gossips no spec tag)", m)
	}

	// A reply is one UDP packet and may be lost (serf issues #407, #267):
	// like the inspector, ask again for the members that did not answer.
	answers := map[string]string{}
	for try := 0; try < 3 && len(answers) < len(c.nodes); try++ {
		out := peer.Run(t, "query", "-format=json", "-timeout=2s", QueryInspect, "17")
		var res struct{ Responses map[string]string }
		if err := json.Unmarshal([]byte(out), &res); err != nil {
			t.Fatalf("serf query output: %v\n%s", err, out)
		}
		for k, v := range res.Responses {
			answers[k] = v
		}
	}
	for _, n := range c.nodes {
		v, err := DecodeVerdict([]byte(answers[n.Name()]), 17, 2)
		if err != nil || !v.Passed() {
			t.Errorf("%s answered the Debian peer %q: %+v %v", n.Name(), answers[n.Name()], v, err)
		}
	}
	// A query on a version the nodes do not hold gets stale verdicts.
	out := peer.Run(t, "query", "-format=json", "-timeout=2s", QueryInspect, "99")
	var res struct{ Responses map[string]string }
	if err := json.Unmarshal([]byte(out), &res); err != nil {
		t.Fatal(err)
	}
	for name, r := range res.Responses {
		if name == "debian" {
			continue // the script answers every version
		}
		if v, err := DecodeVerdict([]byte(r), 99, 2); err != nil || !v.Stale || v.Held != 17 {
			t.Errorf("%s on an unknown version: %+v %v", name, v, err)
		}
	}
	if len(res.Responses) == 0 {
		t.Error("no answer on an unknown version")
	}
}
