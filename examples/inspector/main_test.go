package main

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/shoalkit/shoal/examples/internal/daemon"
	"github.com/shoalkit/shoal/inspect"
	"github.com/shoalkit/shoal/internal/testenv"
)

// syncBuffer is a bytes.Buffer that serf's goroutines may log to.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

func write(t *testing.T, path, content string) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
}

const ipForward = "proc/sys/net/ipv4/ip_forward"

func specJSON(version int) string {
	return `{"version": ` + strconv.Itoa(version) + `, "checks": [
		{"id": "ip-forward", "kind": "sysctl", "key": "net.ipv4.ip_forward", "want": "1", "fix": {"sysctl": "1"}}]}`
}

// files are what the agents and rounds of a test share.
type files struct{ dir, spec, keyring, secret string }

func newFiles(t *testing.T) files {
	dir := t.TempDir()
	f := files{dir, filepath.Join(dir, "spec.json"), filepath.Join(dir, "serf.keys"), filepath.Join(dir, "fix.key")}
	write(t, f.spec, specJSON(1))
	write(t, f.keyring, base64.StdEncoding.EncodeToString(bytes.Repeat([]byte{7}, 32))+"\n")
	write(t, f.secret, "fix-secret\n")
	return f
}

// TestAgentsAndRounds starts three agents, each over its own fake /proc,
// the second with ip_forward 0; a round accounts for the three and fails
// the second on ip-forward; a dry-run fix changes nothing, a signed fix
// repairs it and the next round passes; a new spec file is picked up and
// a malformed one refused.
func TestAgentsAndRounds(t *testing.T) {
	t.Parallel() // waits on protocol timeouts more than it computes
	f := newFiles(t)
	var wg sync.WaitGroup
	ctxRun, cancel := context.WithCancel(t.Context())
	errs := make([]error, 3)
	logs := make([]*syncBuffer, 3)
	roots := make([]string, 3)
	var first string
	for k := range 3 {
		roots[k] = t.TempDir()
		value := "1\n"
		if k == 1 {
			value = "0\n"
		}
		write(t, filepath.Join(roots[k], ipForward), value)
		gossip := fmt.Sprintf("127.0.0.1:%d", testenv.FreePort(t))
		if k == 0 {
			first = gossip
		}
		args := []string{
			"agent", "-name", fmt.Sprintf("n%d", k+1), "-bind", gossip, "-profile", "local",
			"-keyring", f.keyring, "-spec", f.spec, "-root", roots[k], "-fix-key-file", f.secret,
			"-http", fmt.Sprintf("127.0.0.1:%d", testenv.FreePort(t)), "-zone", "z" + strconv.Itoa(k), "-reload", "100ms",
		}
		if k > 0 {
			args = append(args, "-join", first)
		}
		logs[k] = &syncBuffer{}
		wg.Go(func() { errs[k] = newCLI().Run(ctxRun, args, logs[k], logs[k]) })
	}
	t.Cleanup(func() {
		cancel()
		wg.Wait()
		for k, err := range errs {
			if err != nil {
				t.Errorf("agent n%d: %v\n%s", k+1, err, logs[k])
			}
		}
	})

	round := func(extra ...string) (roundOutput, error) {
		t.Helper()
		args := append([]string{
			"round", "-once", "-json", "-name", "inspector-test", "-profile", "local",
			"-bind", fmt.Sprintf("127.0.0.1:%d", testenv.FreePort(t)), "-join", first,
			"-keyring", f.keyring, "-spec", f.spec, "-query-timeout", "1s",
		}, extra...)
		var out, errOut syncBuffer
		err := newCLI().Run(t.Context(), args, &out, &errOut)
		o := roundOutput{Report: &inspect.Report{}}
		if out.String() == "" { // it failed before a round: join refused
			t.Logf("round %q: %v", extra, err)
			return o, err
		}
		if jerr := json.Unmarshal([]byte(out.String()), &o); jerr != nil {
			t.Fatalf("round %q: %v; output %q: %v\n%s", extra, err, out.String(), jerr, errOut.String())
		}
		return o, err
	}
	// The agents join in the background: wait until a round hears all three.
	var o roundOutput
	var err error
	for deadline := time.Now().Add(20 * time.Second); ; {
		o, err = round("-details")
		if o.Counts[inspect.StatusPassed]+o.Counts[inspect.StatusFailed] == 3 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("no round heard three agents: %+v\n%s", o.Report, logs[0])
		}
		time.Sleep(200 * time.Millisecond)
	}
	if daemon.ExitCode(err) != 1 || o.Accounted() != 3 || len(o.Members) != 3 || o.Spec != 1 {
		t.Fatalf("round: exit %d (%v), accounted %d of %d members, spec %d", daemon.ExitCode(err), err, o.Accounted(), len(o.Members), o.Spec)
	}
	want := map[string]inspect.MemberStatus{"n1": inspect.StatusPassed, "n2": inspect.StatusFailed, "n3": inspect.StatusPassed}
	for name, status := range want {
		m, ok := o.Member(name)
		if !ok || m.Status != status {
			t.Fatalf("%s: %+v, want %s", name, m, status)
		}
	}
	n2, _ := o.Member("n2")
	if !slices.Equal(n2.Failed, []string{"ip-forward"}) || len(n2.Details) != 1 || n2.Details[0].Observed != "0" || n2.Details[0].Want != "eq 1" {
		t.Fatalf("n2 failed %q, details %+v", n2.Failed, n2.Details)
	}

	// The text report names the member that failed, the check and why.
	text := roundText(t, first, f, "-once", "-details")
	for _, want := range []string{"3 members", "passed 2, failed 1", "n2  failed  ip-forward", `ip-forward: fail, observed "0", want eq 1`} {
		if !strings.Contains(text, want) {
			t.Errorf("text report lacks %q:\n%s", want, text)
		}
	}

	// A dry run says what it would do and does nothing.
	o, _ = round("-fix", "-dry-run", "-fix-key-file", f.secret)
	if len(o.Remediations) != 1 || o.Remediations[0].Node != "n2" || len(o.Remediations[0].Outcomes) != 1 ||
		!o.Remediations[0].Outcomes[0].DryRun || o.Remediations[0].Outcomes[0].After != nil {
		t.Fatalf("dry run: %+v", o.Remediations)
	}
	if b, _ := os.ReadFile(filepath.Join(roots[1], ipForward)); string(b) != "0\n" {
		t.Fatalf("a dry run wrote ip_forward %q", b)
	}

	// A wrong secret is refused; the shared one fixes n2.
	write(t, filepath.Join(f.dir, "wrong.key"), "not-the-secret")
	o, _ = round("-fix", "-fix-key-file", filepath.Join(f.dir, "wrong.key"))
	if len(o.Remediations) != 1 || !strings.Contains(o.Remediations[0].Error, "403") {
		t.Fatalf("fix with a wrong secret: %+v", o.Remediations)
	}
	o, _ = round("-fix", "-fix-key-file", f.secret)
	if len(o.Remediations) != 1 || len(o.Remediations[0].Outcomes) != 1 || o.Remediations[0].Outcomes[0].After == nil ||
		o.Remediations[0].Outcomes[0].After.Outcome != inspect.OutcomePass {
		t.Fatalf("fix: %+v", o.Remediations)
	}
	if b, _ := os.ReadFile(filepath.Join(roots[1], ipForward)); string(b) != "1\n" {
		t.Fatalf("after the fix ip_forward is %q", b)
	}
	o, err = round()
	if err != nil || o.Counts[inspect.StatusPassed] != 3 || len(o.Members) != 3 {
		t.Fatalf("round after the fix: %v, counts %v", err, o.Counts)
	}

	// Without -once, rounds go on every -interval until interrupted.
	lines := strings.Count(roundText(t, first, f, "-json", "-interval", "100ms"), "\n")
	if lines < 2 {
		t.Errorf("%d rounds printed in 4 s of -interval 100ms", lines)
	}

	// A new spec file reaches every agent without a restart.
	write(t, f.spec, specJSON(2))
	for deadline := time.Now().Add(15 * time.Second); ; {
		o, err = round()
		if err == nil && o.Spec == 2 && o.Counts[inspect.StatusPassed] == 3 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("spec 2 not taken up: %v, counts %v", err, o.Counts)
		}
		time.Sleep(200 * time.Millisecond)
	}

	// A malformed spec file is refused by every agent, which keeps spec 2.
	good := filepath.Join(f.dir, "spec2.json")
	write(t, good, specJSON(2))
	write(t, f.spec, `{"version": 3, "checks": [{"id": "x"`)
	for deadline := time.Now().Add(15 * time.Second); ; {
		refused := 0
		for _, l := range logs {
			if strings.Contains(l.String(), "spec refused; keeping the held one") {
				refused++
			}
		}
		if refused == 3 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d of 3 agents logged the malformed spec", refused)
		}
		time.Sleep(100 * time.Millisecond)
	}
	o, err = round("-spec", good)
	if err != nil || o.Spec != 2 || o.Counts[inspect.StatusPassed] != 3 {
		t.Fatalf("round on spec 2 after a malformed file: %v, spec %d, counts %v", err, o.Spec, o.Counts)
	}
}

// roundText runs a round command (for 4 s at most) and returns its output.
func roundText(t *testing.T, join string, f files, extra ...string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 4*time.Second)
	defer cancel()
	args := append([]string{
		"round", "-name", "inspector-test", "-profile", "local",
		"-bind", fmt.Sprintf("127.0.0.1:%d", testenv.FreePort(t)), "-join", join,
		"-keyring", f.keyring, "-spec", f.spec, "-query-timeout", "1s",
	}, extra...)
	var out, errOut syncBuffer
	err := newCLI().Run(ctx, args, &out, &errOut)
	if code := daemon.ExitCode(err); code == 2 || out.String() == "" {
		t.Fatalf("round %q: exit %d (%v)\n%s", extra, code, err, errOut.String())
	}
	return out.String()
}

func TestBadInput(t *testing.T) {
	f := newFiles(t)
	bad := filepath.Join(f.dir, "bad.json")
	write(t, bad, `{"version": 1, "checks": [{"id": "x", "kind": "nonsense"}]}`)
	badKey := filepath.Join(f.dir, "bad.keys")
	write(t, badKey, "c2hvcnQ=\n")
	tests := []struct {
		args []string
		want string // in stderr
	}{
		{[]string{"agent", "-bogus"}, "flag provided but not defined: -bogus"},
		{[]string{"agent"}, "-spec is required (or -etcd-endpoints)"},
		{[]string{"agent", "-spec", bad}, "-spec " + bad + ": inspect:"},
		{[]string{"agent", "-spec", filepath.Join(f.dir, "none.json")}, "no such file"},
		{[]string{"agent", "-spec", f.spec, "-keyring", filepath.Join(f.dir, "missing.keys")}, "-keyring: open"},
		{[]string{"agent", "-spec", f.spec, "-keyring", badKey}, "key 1 is not base64 of 16, 24 or 32 bytes"},
		{[]string{"agent", "-spec", f.spec, "-bind", "nowhere"}, `-bind "nowhere": want HOST:PORT`},
		{[]string{"agent", "-spec", f.spec, "-profile", "fast"}, `-profile "fast"`},
		{[]string{"agent", "-spec", f.spec, "-fix-key-file", filepath.Join(f.dir, "none.key")}, "-fix-key-file: open"},
		{[]string{"agent", "-spec", f.spec, "stray"}, "unexpected arguments"},
		{[]string{"round", "-spec", f.spec}, "-join is required"},
		{[]string{"round", "-spec", f.spec, "-join", "127.0.0.1:1", "-fix"}, "-fix needs -fix-key-file"},
		{[]string{"nope"}, `unknown command "nope"`},
	}
	for _, tt := range tests {
		t.Run(strings.Join(tt.args, " "), func(t *testing.T) {
			var out, errOut syncBuffer
			err := newCLI().Run(t.Context(), tt.args, &out, &errOut)
			if code := daemon.ExitCode(err); code != 2 {
				t.Errorf("exit code %d (%v), want 2", code, err)
			}
			if !strings.Contains(errOut.String(), tt.want) {
				t.Errorf("stderr %q, want it to contain %q", errOut.String(), tt.want)
			}
		})
	}
}

// TestBindInUse: a gossip port taken by another process is a failed start
// (exit 1) that names the port, and leaves the HTTP port free.
func TestBindInUse(t *testing.T) {
	f := newFiles(t)
	var lc net.ListenConfig
	taken, err := lc.Listen(t.Context(), "tcp", fmt.Sprintf("127.0.0.1:%d", testenv.FreePort(t)))
	if err != nil {
		t.Fatal(err)
	}
	defer taken.Close()
	httpAddr := fmt.Sprintf("127.0.0.1:%d", testenv.FreePort(t))
	var out, errOut syncBuffer
	err = newCLI().Run(t.Context(), []string{"agent", "-spec", f.spec, "-bind", taken.Addr().String(), "-http", httpAddr}, &out, &errOut)
	if daemon.ExitCode(err) != 1 || !strings.Contains(err.Error(), taken.Addr().String()) {
		t.Fatalf("agent on a taken port: exit %d (%v)", daemon.ExitCode(err), err)
	}
	l, err := lc.Listen(t.Context(), "tcp", httpAddr)
	if err != nil {
		t.Fatalf("the HTTP port stayed open: %v", err)
	}
	l.Close()
}
