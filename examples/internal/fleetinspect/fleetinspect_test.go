package fleetinspect_test

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hashicorp/memberlist"
	clientv3 "go.etcd.io/etcd/client/v3"
	"go.uber.org/zap"

	"github.com/shoalkit/shoal/examples/internal/embedetcd"
	"github.com/shoalkit/shoal/examples/internal/fleetinspect"
	"github.com/shoalkit/shoal/inspect"
)

func startEtcd(t *testing.T) *clientv3.Client {
	t.Helper()
	srv, err := embedetcd.Start(t.Context(), embedetcd.Config{Dir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	cli, err := clientv3.New(clientv3.Config{Endpoints: srv.Endpoints(), DialTimeout: 5 * time.Second, Logger: zap.NewNop()})
	if err != nil {
		srv.Close()
		t.Fatal(err)
	}
	t.Cleanup(func() { cli.Close(); srv.Close() })
	return cli
}

func spec(version uint64, want string) *inspect.Spec {
	s := &inspect.Spec{Version: version, Checks: []inspect.Check{
		{ID: "ip-forward", Kind: inspect.KindSysctl, Key: "net.ipv4.ip_forward", Want: want, Fix: &inspect.Fix{Sysctl: want}},
	}}
	if err := s.Validate(); err != nil {
		panic(err)
	}
	return s
}

const ipForward = "proc/sys/net/ipv4/ip_forward"

func writeFile(t *testing.T, path, content string) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
}

// quick is memberlist's Local profile with failure detection patient
// enough for a loaded 2-core box.
func quick(c *memberlist.Config) {
	c.ProbeInterval, c.ProbeTimeout = 500*time.Millisecond, 300*time.Millisecond
	c.TCPTimeout = 10 * time.Second
	c.RetransmitMult = 3
}

func gossipConfig(keys [][]byte) inspect.NodeConfig {
	return inspect.NodeConfig{BindAddr: "127.0.0.1", BindPort: inspect.AnyPort, Profile: inspect.ProfileLocal, Keys: keys, Tune: quick}
}

// waitReport polls the stored report until ok accepts it.
func waitReport(t *testing.T, cli *clientv3.Client, what string, ok func(*fleetinspect.Report) bool) *fleetinspect.Report {
	t.Helper()
	var rep *fleetinspect.Report
	var err error
	start := time.Now()
	for deadline := time.Now().Add(30 * time.Second); time.Now().Before(deadline); time.Sleep(100 * time.Millisecond) {
		if rep, err = fleetinspect.GetReport(t.Context(), cli); err == nil && ok(rep) {
			t.Logf("report with %s after %v", what, time.Since(start))
			return rep
		}
	}
	if rep != nil {
		var sb strings.Builder
		_ = rep.WriteText(&sb)
		t.Fatalf("no report with %s; last:\n%s", what, sb.String())
	}
	t.Fatalf("no report with %s: %v", what, err)
	return nil
}

// TestSpecReportFix: the spec put in etcd reaches three agents (real serf
// members, encrypted gossip, found through etcd), the inspector's report
// in etcd shows the one with a drifted sysctl failed with its details, a
// fix order through etcd fixes it with a signed request and the next
// report confirms; a new spec is followed, a malformed one refused.
func TestSpecReportFix(t *testing.T) {
	t.Parallel() // waits on protocol timeouts more than it computes
	cli := startEtcd(t)
	if err := fleetinspect.PutSpec(t.Context(), cli, spec(1, "1")); err != nil {
		t.Fatal(err)
	}
	keys := [][]byte{[]byte("0123456789abcdef")}
	fixKey := []byte("fix-secret")
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	errs := make([]error, 4)
	roots := make([]string, 3)
	for k := range 3 {
		roots[k] = t.TempDir()
		value := "1\n"
		if k == 1 {
			value = "0\n"
		}
		writeFile(t, filepath.Join(roots[k], ipForward), value)
		name := []string{"n1", "n2", "n3"}[k]
		cfg := fleetinspect.AgentConfig{
			Gossip: gossipConfig(keys), HTTPAddr: "127.0.0.1:0", Rejoin: 200 * time.Millisecond,
			Agent: inspect.AgentConfig{Host: inspect.Host{Root: roots[k]}, FixKey: fixKey},
		}
		wg.Go(func() { errs[k] = fleetinspect.Run(ctx, cli, name, map[string]string{"zone": "a"}, cfg) })
	}
	in, err := fleetinspect.NewInspector(cli, fleetinspect.InspectorConfig{
		Name: "controller", Gossip: gossipConfig(keys), FixKey: fixKey, Interval: 300 * time.Millisecond,
		Round: inspect.InspectorConfig{QueryTimeout: time.Second, NewSpecInterval: 500 * time.Millisecond}, Rejoin: 200 * time.Millisecond,
	})
	if err != nil {
		t.Fatal(err)
	}
	wg.Go(func() { errs[3] = in.Run(ctx) })
	t.Cleanup(func() {
		cancel()
		wg.Wait()
		for k, err := range errs {
			if err != nil {
				t.Errorf("part %d: %v", k, err)
			}
		}
	})

	rep := waitReport(t, cli, "three agents answering", func(r *fleetinspect.Report) bool {
		return r.Spec == 1 && r.Counts[inspect.StatusPassed]+r.Counts[inspect.StatusFailed] == 3
	})
	if len(rep.Members) != 3 || rep.Inspector != "controller" || rep.Accounted() != 3 {
		t.Fatalf("report: %d members, inspector %q, %d accounted", len(rep.Members), rep.Inspector, rep.Accounted())
	}
	n2, _ := rep.Member("n2")
	if n2.Status != inspect.StatusFailed || !slices.Equal(n2.Failed, []string{"ip-forward"}) ||
		len(n2.Details) != 1 || n2.Details[0].Observed != "0" {
		t.Fatalf("n2: %+v", n2)
	}
	for _, name := range []string{"n1", "n3"} {
		if m, _ := rep.Member(name); m.Status != inspect.StatusPassed {
			t.Fatalf("%s: %+v", name, m)
		}
	}

	// A dry run changes nothing; the order fixes n2, and a round confirms.
	order := func(o fleetinspect.FixOrder) *fleetinspect.FixResult {
		t.Helper()
		if err := fleetinspect.PutFixOrder(t.Context(), cli, o); err != nil {
			t.Fatal(err)
		}
		for deadline := time.Now().Add(20 * time.Second); time.Now().Before(deadline); time.Sleep(50 * time.Millisecond) {
			if r, err := fleetinspect.GetFixResult(t.Context(), cli); err == nil && r.ID == o.ID {
				return r
			}
		}
		t.Fatalf("order %s not carried out", o.ID)
		return nil
	}
	dry := order(fleetinspect.FixOrder{ID: "req-1", Spec: 1, DryRun: true})
	if dry.Error != "" || len(dry.Remediations) != 1 || len(dry.Remediations[0].Outcomes) != 1 || !dry.Remediations[0].Outcomes[0].DryRun {
		t.Fatalf("dry run: %+v", dry)
	}
	if b, _ := os.ReadFile(filepath.Join(roots[1], ipForward)); string(b) != "0\n" {
		t.Fatalf("a dry run wrote %q", b)
	}
	fixed := order(fleetinspect.FixOrder{ID: "req-2", Spec: 1, Nodes: []string{"n2"}})
	if fixed.Error != "" || len(fixed.Remediations) != 1 || fixed.Remediations[0].Node != "n2" || fixed.Remediations[0].Error != "" ||
		fixed.Remediations[0].Outcomes[0].After == nil || fixed.Remediations[0].Outcomes[0].After.Outcome != inspect.OutcomePass {
		t.Fatalf("fix: %+v", fixed)
	}
	if b, _ := os.ReadFile(filepath.Join(roots[1], ipForward)); string(b) != "1\n" {
		t.Fatalf("after the fix ip_forward is %q", b)
	}
	waitReport(t, cli, "three passed after the fix", func(r *fleetinspect.Report) bool {
		return r.Spec == 1 && r.Counts[inspect.StatusPassed] == 3 && len(r.Members) == 3
	})

	// A new spec reaches every agent by watch; a malformed one is refused
	// and the held spec kept.
	if err := fleetinspect.PutSpec(t.Context(), cli, spec(2, "1")); err != nil {
		t.Fatal(err)
	}
	waitReport(t, cli, "spec 2 passed", func(r *fleetinspect.Report) bool {
		return r.Spec == 2 && r.Counts[inspect.StatusPassed] == 3
	})
	if _, err := cli.Put(t.Context(), fleetinspect.SpecKey, `{"version": 3, "checks": [{"id": "x"`); err != nil {
		t.Fatal(err)
	}
	time.Sleep(500 * time.Millisecond)
	waitReport(t, cli, "spec 2 still held", func(r *fleetinspect.Report) bool {
		return r.Spec == 2 && r.Counts[inspect.StatusPassed] == 3 && time.Since(r.Written) < 400*time.Millisecond
	})
}

// TestPutSpecRefuses: a spec that does not validate, an old version, a
// concurrent writer's version are refused with their kind.
func TestPutSpecRefuses(t *testing.T) {
	t.Parallel() // waits on protocol timeouts more than it computes
	cli := startEtcd(t)
	ctx := t.Context()
	if _, _, err := fleetinspect.GetSpec(ctx, cli); !errors.Is(err, fleetinspect.ErrNotFound) {
		t.Errorf("no spec: %v", err)
	}
	if err := fleetinspect.PutSpec(ctx, cli, spec(5, "1")); err != nil {
		t.Fatal(err)
	}
	if err := fleetinspect.PutSpec(ctx, cli, spec(5, "1")); err != nil {
		t.Errorf("same spec again: %v", err)
	}
	for name, tt := range map[string]struct {
		s    *inspect.Spec
		kind error
	}{
		"nil":           {nil, fleetinspect.ErrInvalid},
		"version 0":     {&inspect.Spec{}, fleetinspect.ErrInvalid},
		"older":         {spec(4, "1"), fleetinspect.ErrConflict},
		"same, changed": {spec(5, "0"), fleetinspect.ErrConflict},
		"too large":     {bigSpec(6), fleetinspect.ErrInvalid},
	} {
		if err := fleetinspect.PutSpec(ctx, cli, tt.s); !errors.Is(err, tt.kind) {
			t.Errorf("%s: %v, want %v", name, err, tt.kind)
		}
	}
	s, _, err := fleetinspect.GetSpec(ctx, cli)
	if err != nil || s.Version != 5 {
		t.Fatalf("stored spec: %v %v", s, err)
	}
	if _, err := cli.Put(ctx, fleetinspect.SpecKey, "{"); err != nil {
		t.Fatal(err)
	}
	if _, _, err := fleetinspect.GetSpec(ctx, cli); !errors.Is(err, fleetinspect.ErrInvalid) {
		t.Errorf("malformed stored spec: %v", err)
	}
}

// bigSpec is a valid spec of about 2 MiB.
func bigSpec(version uint64) *inspect.Spec {
	s := &inspect.Spec{Version: version}
	for k := range 8 {
		s.Checks = append(s.Checks, inspect.Check{
			ID: "big-" + strconv.Itoa(k), Kind: inspect.KindCommand, Args: slices.Repeat([]string{strings.Repeat("x", 4096)}, 64),
		})
	}
	return s
}
