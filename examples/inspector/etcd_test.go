package main

import (
	"context"
	"encoding/json"
	"fmt"
	"path/filepath"
	"sync"
	"testing"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
	"go.uber.org/zap"

	"github.com/shoalkit/shoal/examples/internal/daemon"
	"github.com/shoalkit/shoal/examples/internal/embedetcd"
	"github.com/shoalkit/shoal/examples/internal/fleetinspect"
	"github.com/shoalkit/shoal/inspect"
	"github.com/shoalkit/shoal/internal/testenv"
)

// TestEtcdEndpoints: with -etcd-endpoints the agents take the spec from
// etcd and find each other there, and a round with no -join and no -spec
// accounts for all three and stores its report in etcd.
func TestEtcdEndpoints(t *testing.T) {
	t.Parallel() // waits on protocol timeouts more than it computes
	f := newFiles(t)
	srv, err := embedetcd.Start(t.Context(), embedetcd.Config{Dir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Close()
	cli, err := clientv3.New(clientv3.Config{Endpoints: srv.Endpoints(), DialTimeout: 5 * time.Second, Logger: zap.NewNop()})
	if err != nil {
		t.Fatal(err)
	}
	defer cli.Close()
	spec, err := inspect.ParseSpec([]byte(specJSON(4)))
	if err != nil {
		t.Fatal(err)
	}
	if err := fleetinspect.PutSpec(t.Context(), cli, spec); err != nil {
		t.Fatal(err)
	}
	endpoints := srv.Endpoints()[0]
	ctx, cancel := context.WithCancel(t.Context())
	var wg sync.WaitGroup
	logs := make([]*syncBuffer, 3)
	for k := range 3 {
		root := t.TempDir()
		write(t, filepath.Join(root, ipForward), map[bool]string{true: "0\n", false: "1\n"}[k == 1])
		logs[k] = &syncBuffer{}
		args := []string{
			"agent", "-name", fmt.Sprintf("n%d", k+1), "-bind", "127.0.0.1:0", "-profile", "local",
			"-keyring", f.keyring, "-etcd-endpoints", endpoints, "-root", root,
			"-http", fmt.Sprintf("127.0.0.1:%d", testenv.FreePort(t)),
		}
		wg.Go(func() {
			if err := newCLI().Run(ctx, args, logs[k], logs[k]); err != nil {
				t.Errorf("agent n%d: %v\n%s", k+1, err, logs[k])
			}
		})
	}
	defer func() { cancel(); wg.Wait() }()

	var o roundOutput
	for deadline := time.Now().Add(20 * time.Second); ; time.Sleep(200 * time.Millisecond) {
		var out, errOut syncBuffer
		err := newCLI().Run(t.Context(), []string{
			"round", "-once", "-json", "-details", "-name", "inspector-etcd", "-profile", "local", "-bind", "127.0.0.1:0",
			"-keyring", f.keyring, "-etcd-endpoints", endpoints, "-query-timeout", "1s",
		}, &out, &errOut)
		o = roundOutput{Report: &inspect.Report{}}
		if out.String() != "" {
			if jerr := json.Unmarshal([]byte(out.String()), &o); jerr != nil {
				t.Fatalf("round: %v; output %q: %v", err, out.String(), jerr)
			}
		}
		if o.Counts[inspect.StatusPassed]+o.Counts[inspect.StatusFailed] == 3 {
			if daemon.ExitCode(err) != 1 {
				t.Fatalf("round with a failed member: exit %d (%v)", daemon.ExitCode(err), err)
			}
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("no round heard three agents: %v, counts %v\n%s", err, o.Counts, errOut.String())
		}
	}
	if n2, _ := o.Member("n2"); o.Spec != 4 || len(o.Members) != 3 || n2.Status != inspect.StatusFailed || len(n2.Details) != 1 {
		t.Fatalf("round: spec %d, %d members, n2 %+v", o.Spec, len(o.Members), n2)
	}
	stored, err := fleetinspect.GetReport(t.Context(), cli)
	if err != nil {
		t.Fatal(err)
	}
	if n2, _ := stored.Member("n2"); stored.Spec != 4 || len(stored.Members) != 3 || n2.Status != inspect.StatusFailed || n2.Details[0].Observed != "0" {
		t.Fatalf("stored report: spec %d, %d members, n2 %+v", stored.Spec, len(stored.Members), n2)
	}
}
