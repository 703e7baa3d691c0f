package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/shoalkit/shoal/examples/internal/daemon"
	"github.com/shoalkit/shoal/internal/testenv"
	"github.com/shoalkit/shoal/netvlan/netvlantest"
)

func TestVlanctlAgainstInMemoryOVSDB(t *testing.T) {
	srv := netvlantest.StartServer(t, "br0")
	base := []string{"-db", srv.Endpoint, "-bridge", "br0", "-pool", "10:10.1.0.0/24"}
	ctl := func(args ...string) (string, error) {
		var out, errOut bytes.Buffer
		err := newCLI().Run(t.Context(), append(append([]string{}, base...), args...), &out, &errOut)
		return out.String() + errOut.String(), err
	}
	out, err := ctl("list")
	if err != nil || !strings.HasPrefix(out, "CONTAINER") {
		t.Fatalf("list: %v\n%s", err, out)
	}
	if out, err := ctl("list", "-json"); err != nil || strings.TrimSpace(out) != "[]" {
		t.Fatalf("list -json: %v\n%s", err, out)
	}
	if _, err := ctl("detach", "-id", "nothing"); err != nil {
		t.Fatalf("detach of nothing: %v", err)
	}
	if _, err := ctl("attach", "-id", "x", "-netns", "/run/netns/x", "-vlan", "5000"); err == nil || !strings.Contains(err.Error(), "vlan 5000 out of range") {
		t.Fatalf("attach vlan 5000: %v", err)
	}
	f := filepath.Join(t.TempDir(), "desired.json")
	if err := os.WriteFile(f, []byte("[]"), 0o600); err != nil {
		t.Fatal(err)
	}
	if out, err := ctl("reconcile", "-f", f); err != nil || !strings.Contains(out, "0 added, 0 removed, 0 retagged, 0 unchanged, 0 failed") {
		t.Fatalf("reconcile: %v\n%s", err, out)
	}
	if err := os.WriteFile(f, []byte(`[{"container_id": "a", "netns": "/x", "vlan": 10, "ip": "bad"}]`), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := ctl("reconcile", "-f", f); err == nil || !strings.Contains(err.Error(), "container a: ip") {
		t.Fatalf("reconcile with a bad ip: %v", err)
	}
	if _, err := ctl("frobnicate"); !errors.Is(err, daemon.ErrUsage) {
		t.Fatalf("unknown command: %v", err)
	}
	if _, err := ctl("reconcile"); !errors.Is(err, daemon.ErrUsage) {
		t.Fatalf("reconcile without -f: %v", err)
	}
	// Global flags after the command's name are the same as before it.
	var out3, errOut3 bytes.Buffer
	if err := newCLI().Run(t.Context(), []string{"list", "-pool", "10:10.1.0.0/24", "-pool", "20:10.1.0.0/16"}, &out3, &errOut3); err == nil || !strings.Contains(err.Error(), "overlap") {
		t.Fatalf("overlapping pools after the command: %v", err)
	}
	var out2, errOut bytes.Buffer
	if err := newCLI().Run(t.Context(), []string{"-pool", "10:10.1.0.0/24", "-pool", "20:10.1.0.0/16", "list"}, &out2, &errOut); err == nil || !strings.Contains(err.Error(), "overlap") {
		t.Fatalf("overlapping pools: %v", err)
	}
}

func TestVlanctlOnRealOVS(t *testing.T) {
	sw := testenv.StartOVS(t)
	sw.AddBridge(t, "br0")
	ns := testenv.NewNetns(t)
	base := []string{"-db", sw.Endpoint, "-bridge", "br0", "-host-netns", sw.Host.Path, "-pool", "10:10.88.0.0/24"}
	ctl := func(args ...string) string {
		t.Helper()
		var out, errOut bytes.Buffer
		if err := newCLI().Run(t.Context(), append(append([]string{}, base...), args...), &out, &errOut); err != nil {
			t.Fatalf("vlanctl %v: %v\n%s", args, err, errOut.String())
		}
		return out.String()
	}
	var p portJSON
	if err := json.Unmarshal([]byte(ctl("attach", "-id", "web-1", "-netns", ns.Path, "-vlan", "10")), &p); err != nil {
		t.Fatal(err)
	}
	if p.IP != "10.88.0.2/24" || p.Ofport <= 0 || p.Hostname != "c-10-88-0-2" {
		t.Fatalf("attached %+v", p)
	}
	if out := ctl("list"); !strings.Contains(out, "web-1") || !strings.Contains(out, "10.88.0.2/24") {
		t.Fatalf("list:\n%s", out)
	}
	if got := sw.Vsctl(t, "get", "Port", p.Port, "tag"); got != "10" {
		t.Fatalf("tag = %s", got)
	}
	ctl("detach", "-id", "web-1")
	if got := sw.Vsctl(t, "list-ports", "br0"); got != "" {
		t.Fatalf("ports after detach: %q", got)
	}
}
