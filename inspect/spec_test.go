package inspect

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/shoalkit/shoal/internal/errs"
)

const testSpec = `{"version": 3, "checks": [
 {"id": "ip-forward", "kind": "sysctl", "key": "net.ipv4.ip_forward", "want": "1", "fix": {"sysctl": "1"}},
 {"id": "kernel", "kind": "kernel", "want": "5.10", "op": "ge"},
 {"id": "os", "kind": "os", "want": "12"},
 {"id": "dockerd", "kind": "process", "key": "dockerd"},
 {"id": "data-mount", "kind": "mount", "key": "/data", "want": "xfs"},
 {"id": "cpus", "kind": "hardware", "key": "cpus", "want": "4", "op": "ge"},
 {"id": "oom", "kind": "kernellog", "key": "Out of memory|Killed process", "window": "5m"},
 {"id": "motd", "kind": "filehash", "key": "/etc/motd", "want": "2c26b46b68ffc68ff99b453c1d30413413422d706483bfa0f98a5e886266e7ae"},
 {"id": "zone-b-only", "kind": "sysctl", "key": "vm.swappiness", "want": "1", "select": {"zone": "b"}},
 {"id": "runc", "kind": "package", "key": "runc", "want": "1.1", "op": "ge"},
 {"id": "custom", "kind": "command", "args": ["check-thing"], "timeout": "1s"}
]}`

// fakeRoot builds a host tree for testSpec.
func fakeRoot(t *testing.T) string {
	t.Helper()
	root := t.TempDir()
	files := map[string]string{
		"proc/sys/net/ipv4/ip_forward": "0\n",
		"proc/sys/vm/swappiness":       "60\n",
		"proc/sys/kernel/osrelease":    "6.1.0-18-amd64\n",
		"etc/os-release":               "PRETTY_NAME=\"Debian GNU/Linux 12\"\nVERSION_ID=\"12\"\n",
		"proc/1/comm":                  "systemd\n",
		"proc/42/comm":                 "dockerd\n",
		"proc/self/mounts":             "/dev/sda1 / ext4 rw 0 0\n/dev/sdb1 /data xfs rw 0 0\n",
		"proc/cpuinfo":                 "processor\t: 0\n\nprocessor\t: 1\n",
		"etc/motd":                     "foo",
	}
	for p, body := range files {
		full := filepath.Join(root, p)
		if err := os.MkdirAll(filepath.Dir(full), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(full, []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return root
}

func fakeHost(t *testing.T) Host {
	return Host{
		Root: fakeRoot(t),
		Exec: func(ctx context.Context, argv []string) ([]byte, error) {
			switch argv[0] {
			case "dpkg-query":
				return []byte("1.1.5+ds1-1"), nil
			case "hang":
				<-ctx.Done()
				return nil, ctx.Err()
			case "crash":
				panic("boom")
			case "check-thing":
				return []byte("ok\n"), nil
			}
			return nil, errors.New("no such command")
		},
		KernelLog: func(context.Context, time.Time) ([]string, error) {
			return []string{"eth0: link up", "Out of memory: Killed process 1234 (java)"}, nil
		},
	}
}

func TestChecksOnFakeHost(t *testing.T) {
	spec, err := ParseSpec([]byte(testSpec))
	if err != nil {
		t.Fatal(err)
	}
	h := fakeHost(t).withDefaults()
	got := h.runChecks(t.Context(), spec, map[string]string{"zone": "a"}, nil, 4, time.Second)
	want := map[string]Outcome{
		"ip-forward": OutcomeFail, "kernel": OutcomePass, "os": OutcomePass, "dockerd": OutcomePass,
		"data-mount": OutcomePass, "cpus": OutcomeFail, "oom": OutcomeFail, "motd": OutcomePass,
		"zone-b-only": OutcomeSkipped, "runc": OutcomePass, "custom": OutcomePass,
	}
	for _, r := range got {
		if r.Outcome != want[r.ID] {
			t.Errorf("check %s: %s (observed %q, want %s, error %q), want %s", r.ID, r.Outcome, r.Observed, r.Want, r.Error, want[r.ID])
		}
	}
	if got[0].Observed != "0" || got[6].Observed != "1" {
		t.Errorf("observed ip_forward %q, oom lines %q", got[0].Observed, got[6].Observed)
	}
	if v := verdictOf(got); len(v.Failed) != 3 {
		t.Errorf("verdict %v, want 3 failures", v.Failed)
	}
}

// TestBadChecks: checks that hang, crash or miss their input are
// bounded and reported as errors.
func TestBadChecks(t *testing.T) {
	spec := &Spec{Version: 1, Checks: []Check{
		{ID: "hang", Kind: KindCommand, Args: []string{"hang"}, Timeout: Duration(50 * time.Millisecond)},
		{ID: "crash", Kind: KindCommand, Args: []string{"crash"}},
		{ID: "missing", Kind: KindSysctl, Key: "no.such.key", Want: "1"},
		{ID: "nomount", Kind: KindMount, Key: "/nowhere"},
	}}
	if err := spec.Validate(); err != nil {
		t.Fatal(err)
	}
	h := fakeHost(t).withDefaults()
	start := time.Now()
	got := h.runChecks(t.Context(), spec, nil, nil, 4, 5*time.Second)
	if d := time.Since(start); d > 3*time.Second {
		t.Errorf("a hanging check held the run for %v", d)
	}
	for i, want := range []Outcome{OutcomeError, OutcomeError, OutcomeError, OutcomeFail} {
		if got[i].Outcome != want || (want == OutcomeError && got[i].Error == "") {
			t.Errorf("check %s: %s %q, want %s with an error", got[i].ID, got[i].Outcome, got[i].Error, want)
		}
	}
	if !strings.Contains(got[1].Error, "crashed") || !strings.Contains(got[0].Error, "timed out") {
		t.Errorf("errors %q, %q", got[0].Error, got[1].Error)
	}
}

func TestCompare(t *testing.T) {
	tests := []struct {
		a    string
		op   Op
		b    string
		want bool
	}{
		{"1", OpEq, "1", true},
		{" 1 ", OpEq, "1", true},
		{"6.1.0-18-amd64", OpGe, "5.10", true},
		{"5.4.0", OpGe, "5.10", false},
		{"5.10.0-100", OpGe, "5.10.0-28", true},
		{"10737418240", OpGe, "10GiB", true},
		{"20%", OpGe, "15%", true},
		{"3", OpLe, "2", false},
		{"abc", OpMatch, "^a.c$", true},
		{"abc", OpPrefix, "ab", true},
		{"a", OpNe, "b", true},
	}
	for _, tt := range tests {
		if got := compare(tt.a, tt.op, tt.b); got != tt.want {
			t.Errorf("%q %s %q = %v, want %v", tt.a, tt.op, tt.b, got, tt.want)
		}
	}
}

func TestSpecHashAndSelect(t *testing.T) {
	a, err := ParseSpec([]byte(testSpec))
	if err != nil {
		t.Fatal(err)
	}
	b, _ := ParseSpec([]byte(testSpec))
	if a.Hash() != b.Hash() {
		t.Error("equal specs hash differently")
	}
	b.Checks[0].Want = "0"
	if a.Hash() == b.Hash() {
		t.Error("a changed check keeps the hash")
	}
	i, _ := a.Index("zone-b-only")
	if a.Selects(i, map[string]string{"zone": "a"}) || !a.Selects(i, map[string]string{"zone": "b"}) {
		t.Error("zone selection wrong")
	}
}

func FuzzParseSpec(f *testing.F) {
	f.Add([]byte(testSpec))
	f.Add([]byte(`{"version":1,"checks":[{"id":"a","kind":"kernellog","key":"("}]}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		s, err := ParseSpec(b)
		if err != nil {
			return
		}
		if s.Version == 0 || len(s.Checks) > MaxChecks {
			t.Fatalf("accepted %+v", s)
		}
		_ = s.Hash()
	})
}

// TestErrorShapes runs every error path of the package through CheckShape.
func TestErrorShapes(t *testing.T) {
	spec := func(js string) error { _, err := ParseSpec([]byte(js)); return err }
	agent, _ := NewAgent(AgentConfig{Name: "n1"})
	_, nodeErr := NewNode(NodeConfig{Profile: "moon"}, agent)
	_, portErr := NewNode(NodeConfig{BindPort: -2}, agent)
	_, bigPortErr := NewNode(NodeConfig{BindPort: 70000}, agent)
	_, fixErr := agent.Fix(t.Context(), []byte(`{}`), "00")
	_, detErr := agent.Details(t.Context(), 9)
	_, verdictErr := DecodeVerdict(nil, 1, 1)
	_, agentErr := NewAgent(AgentConfig{})
	tests := map[string]error{
		"version 0":       spec(`{"version":0,"checks":[]}`),
		"unknown field":   spec(`{"version":1,"checks":[],"x":1}`),
		"bad id":          spec(`{"version":1,"checks":[{"id":"a b","kind":"os"}]}`),
		"duplicate id":    spec(`{"version":1,"checks":[{"id":"a","kind":"os"},{"id":"a","kind":"os"}]}`),
		"unknown kind":    spec(`{"version":1,"checks":[{"id":"a","kind":"magic"}]}`),
		"bad regexp":      spec(`{"version":1,"checks":[{"id":"a","kind":"os","op":"match","want":"("}]}`),
		"no key":          spec(`{"version":1,"checks":[{"id":"a","kind":"sysctl"}]}`),
		"sysctl escape":   spec(`{"version":1,"checks":[{"id":"a","kind":"sysctl","key":"../../etc/passwd"}]}`),
		"fix on os":       spec(`{"version":1,"checks":[{"id":"a","kind":"os","fix":{"sysctl":"1"}}]}`),
		"bad duration":    spec(`{"version":1,"checks":[{"id":"a","kind":"os","timeout":"soon"}]}`),
		"profile":         nodeErr,
		"port -2":         portErr,
		"port 70000":      bigPortErr,
		"collect groups":  collectRequest{Version: 1, Groups: 1, Timeout: Duration(time.Second)}.validate(),
		"collect version": collectRequest{Groups: 2, Timeout: Duration(time.Second)}.validate(),
		"fix without key": fixErr,
		"details":         detErr,
		"verdict":         verdictErr,
		"agent name":      agentErr,
	}
	kinds := []error{ErrInvalid, ErrNotFound, ErrDenied, ErrRateLimited, ErrUnavailable, ErrClosed}
	for name, err := range tests {
		if e := errs.CheckShape(err, "inspect", kinds...); e != nil {
			t.Errorf("%s: %v", name, e)
		}
	}
}

// TestZeroConfigs: a zero Config means the documented defaults.
func TestZeroConfigs(t *testing.T) {
	a := AgentConfig{}.withDefaults()
	if d := DefaultAgentConfig(); a.CheckTimeout != d.CheckTimeout || a.Parallel != d.Parallel ||
		a.CacheTTL != d.CacheTTL || a.FixInterval != d.FixInterval || a.Host.Root != "/" || a.Logger == nil {
		t.Errorf("zero AgentConfig: %+v", a)
	}
	n := NodeConfig{}.withDefaults()
	if d := DefaultNodeConfig(); n.BindAddr != d.BindAddr || n.BindPort != 7946 || n.Profile != ProfileLAN || n.QueryConcurrency != 4 {
		t.Errorf("zero NodeConfig: %+v", n)
	}
	if any := (NodeConfig{BindPort: AnyPort}).withDefaults(); any.BindPort != 0 {
		t.Errorf("NodeConfig{BindPort: AnyPort} gives memberlist port %d, want 0 (any free port)", any.BindPort)
	}
	i := InspectorConfig{}.withDefaults()
	if d := DefaultInspectorConfig(); i.QueryTimeout != d.QueryTimeout || i.Retries != 2 || i.RelayFactor != 2 ||
		i.ProbePeers != 3 || i.NewSpecInterval != d.NewSpecInterval || i.HTTP == nil || i.Now == nil {
		t.Errorf("zero InspectorConfig: %+v", i)
	}
}

// TestBindPortNamed: a refused BindPort names the field.
func TestBindPortNamed(t *testing.T) {
	agent, _ := NewAgent(AgentConfig{Name: "n1"})
	for _, port := range []int{-2, 65536} {
		_, err := NewNode(NodeConfig{BindAddr: "127.0.0.1", BindPort: port}, agent)
		if !errors.Is(err, ErrInvalid) || !strings.Contains(err.Error(), "NodeConfig.BindPort") {
			t.Errorf("BindPort %d: %v, want ErrInvalid naming NodeConfig.BindPort", port, err)
		}
	}
}
