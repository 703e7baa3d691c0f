package netvlan

import (
	"context"
	"errors"
	"net/netip"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ovn-org/libovsdb/ovsdb"

	"github.com/shoalkit/shoal/netvlan/netvlantest"
	"github.com/shoalkit/shoal/netvlan/ovsmodel"
)

// openFake opens a Switch on an in-memory OVSDB server with bridge br0.
func openFake(t *testing.T, pools ...Pool) (*Switch, *netvlantest.Server) {
	t.Helper()
	srv := netvlantest.StartServer(t, "br0")
	cfg := DefaultConfig()
	cfg.Endpoint = srv.Endpoint
	cfg.Bridge = "br0"
	cfg.Pools = pools
	cfg.ReadyTimeout = time.Second
	s, err := Open(t.Context(), cfg)
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	t.Cleanup(func() { _ = s.Close() })
	return s, srv
}

// insertPort adds a port with the given external_ids to br0, as an earlier
// agent (or another tool) left it.
func insertPort(t *testing.T, srv *netvlantest.Server, name string, tag int, ids map[string]string) {
	t.Helper()
	m, err := ovsdb.NewOvsMap(ids)
	if err != nil {
		t.Fatal(err)
	}
	srv.Transact(t,
		ovsdb.Operation{Op: ovsdb.OperationInsert, Table: ovsmodel.InterfaceTable, UUIDName: "iface", Row: ovsdb.Row{"name": name, "external_ids": m}},
		ovsdb.Operation{Op: ovsdb.OperationInsert, Table: ovsmodel.PortTable, UUIDName: "port", Row: ovsdb.Row{
			"name": name, "tag": tag, "external_ids": m,
			"interfaces": ovsdb.OvsSet{GoSet: []any{ovsdb.UUID{GoUUID: "iface"}}},
		}},
		ovsdb.Operation{
			Op: ovsdb.OperationMutate, Table: ovsmodel.BridgeTable,
			Where:     []ovsdb.Condition{ovsdb.NewCondition("name", ovsdb.ConditionEqual, "br0")},
			Mutations: []ovsdb.Mutation{*ovsdb.NewMutation("ports", ovsdb.MutateOperationInsert, ovsdb.OvsSet{GoSet: []any{ovsdb.UUID{GoUUID: "port"}}})},
		},
	)
}

func ours(container, addr string) map[string]string {
	ids := map[string]string{keyOwner: "netvlan", keyContainer: container, keyIfName: "eth0", keyNetns: "/run/netns/x"}
	if addr != "" {
		ids[keyAddr] = addr
	}
	return ids
}

func TestOpenUnreachable(t *testing.T) {
	cfg := DefaultConfig()
	cfg.Endpoint = "unix:" + t.TempDir() + "/missing.sock"
	cfg.ConnectTimeout = 200 * time.Millisecond
	_, err := Open(t.Context(), cfg)
	if !errors.Is(err, ErrUnavailable) || !strings.Contains(err.Error(), "missing.sock") {
		t.Fatalf("err = %v, want ErrUnavailable naming the endpoint", err)
	}
}

func TestOpenMissingHostNetns(t *testing.T) {
	cfg := DefaultConfig()
	cfg.HostNetns = "/run/netns/shoal-no-such-namespace"
	_, err := Open(t.Context(), cfg)
	if !errors.Is(err, ErrNotFound) || !strings.Contains(err.Error(), "shoal-no-such-namespace") {
		t.Fatalf("err = %v, want ErrNotFound naming the namespace", err)
	}
}

func TestOpenOverlappingPools(t *testing.T) {
	a, _ := ParsePool(10, "10.0.0.0/16", "")
	b, _ := ParsePool(20, "10.0.5.0/24", "")
	cfg := DefaultConfig()
	cfg.Pools = []Pool{a, b}
	_, err := Open(t.Context(), cfg)
	if !errors.Is(err, ErrInvalid) || !strings.Contains(err.Error(), "overlap") {
		t.Fatalf("err = %v", err)
	}
}

func TestAttachRejectsBadInput(t *testing.T) {
	s, _ := openFake(t)
	cases := []struct {
		a    Attachment
		want error
		msg  string
	}{
		{Attachment{Netns: "/x", VLAN: 10}, ErrInvalid, "container id"},
		{Attachment{ContainerID: "c", VLAN: 10}, ErrInvalid, "namespace"},
		{Attachment{ContainerID: "c", Netns: "/x", VLAN: 0}, ErrInvalid, "vlan 0 out of range 1..4094"},
		{Attachment{ContainerID: "c", Netns: "/x", VLAN: 4095}, ErrInvalid, "vlan 4095"},
		{Attachment{ContainerID: "c", Netns: "/x", VLAN: 5000}, ErrInvalid, "vlan 5000"},
		{Attachment{ContainerID: "c", Netns: "/x", Trunks: []int{10, 4096}}, ErrInvalid, "vlan 4096"},
		{Attachment{ContainerID: "c", Netns: "/x", VLAN: 10, IfName: "much-too-long-name"}, ErrInvalid, "interface name"},
		{Attachment{ContainerID: "c", Netns: "/x", VLAN: 10, MTU: 20}, ErrInvalid, "mtu"},
		{Attachment{ContainerID: "c", Netns: "/x", VLAN: 10, Addr: netip.MustParsePrefix("fd00::1/64")}, ErrInvalid, "IPv4"},
		{Attachment{ContainerID: "c/d", Netns: "/x", VLAN: 10}, ErrInvalid, "container id"},
		// A newline reached error text raw; control characters are refused,
		// quoted.
		{Attachment{ContainerID: "c\nnetvlan: forged", Netns: "/x", VLAN: 10}, ErrInvalid, `container id "c\nnetvlan: forged" contains the control character U+000A`},
		{Attachment{ContainerID: "c\x00", Netns: "/x", VLAN: 10}, ErrInvalid, "control character U+0000"},
		{Attachment{ContainerID: "c\xff", Netns: "/x", VLAN: 10}, ErrInvalid, "not valid UTF-8"},
		{Attachment{ContainerID: strings.Repeat("c", 1025), Netns: "/x", VLAN: 10}, ErrInvalid, "longer than 1024"},
		{Attachment{ContainerID: "c", Netns: "/x\r", VLAN: 10}, ErrInvalid, "network namespace path"},
		{Attachment{ContainerID: "c", Netns: "/x", IfName: "e\t0", VLAN: 10}, ErrInvalid, "interface name"},
		{Attachment{ContainerID: "c", Netns: "/x", VLAN: 10, Bridge: "br-nope"}, ErrNotFound, `bridge "br-nope" does not exist`},
	}
	for _, tc := range cases {
		_, err := s.Attach(t.Context(), tc.a)
		if !errors.Is(err, tc.want) || !strings.Contains(err.Error(), tc.msg) || !strings.HasPrefix(err.Error(), "netvlan: ") {
			t.Errorf("Attach(%+v) = %v, want %v mentioning %q", tc.a, err, tc.want, tc.msg)
		}
		if err != nil && strings.ContainsAny(err.Error(), "\n\r\t\x00") {
			t.Errorf("Attach(%+v) error carries a raw control character: %q", tc.a, err)
		}
	}
	for _, args := range [][]string{{"c\n"}, {"c", "eth0\n"}} {
		err := s.Detach(t.Context(), args[0], args[1:]...)
		if !errors.Is(err, ErrInvalid) || !strings.Contains(err.Error(), "control character") || strings.Contains(err.Error(), "\n") {
			t.Errorf("Detach(%q) = %v, want ErrInvalid with the id quoted", args, err)
		}
	}
}

func TestAttachDuplicateContainerIsConflict(t *testing.T) {
	s, srv := openFake(t)
	insertPort(t, srv, s.portName("dup", "eth0"), 10, ours("dup", ""))
	_, err := s.Attach(t.Context(), Attachment{ContainerID: "dup", Netns: "/run/netns/whatever", VLAN: 10})
	if !errors.Is(err, ErrConflict) || !strings.Contains(err.Error(), "dup") {
		t.Fatalf("err = %v, want ErrConflict naming the container", err)
	}
}

func TestLeasesComeBackFromOVSDB(t *testing.T) {
	pool, err := ParsePool(10, "10.0.0.0/24", "")
	if err != nil {
		t.Fatal(err)
	}
	srv := netvlantest.StartServer(t, "br0")
	insertPort(t, srv, "nvold", 10, ours("old", "10.0.0.2/24"))
	cfg := DefaultConfig()
	cfg.Endpoint, cfg.Bridge, cfg.Pools = srv.Endpoint, "br0", []Pool{pool}
	s, err := Open(t.Context(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if n := s.IPAM().InUse(10); n != 1 {
		t.Fatalf("leases after open = %d, want the recorded one", n)
	}
	l, err := s.IPAM().Allocate(10, "new/eth0")
	if err != nil || l.Addr.String() != "10.0.0.3/24" {
		t.Fatalf("next lease = %v, %v; want 10.0.0.3/24 (10.0.0.2 is recorded in OVSDB)", l.Addr, err)
	}
	ports, err := s.List(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	if len(ports) != 1 || ports[0].ContainerID != "old" || ports[0].Addr.String() != "10.0.0.2/24" || ports[0].Bridge != "br0" || ports[0].Hostname != "c-10-0-0-2" {
		t.Fatalf("List = %+v", ports)
	}
	if err := s.Detach(t.Context(), "old"); err != nil {
		t.Fatal(err)
	}
	if n := s.IPAM().InUse(10); n != 1 { // only new/eth0 now
		t.Fatalf("leases after detach = %d", n)
	}
	if ports, _ := s.List(t.Context()); len(ports) != 0 {
		t.Fatalf("List after detach = %+v", ports)
	}
	if err := s.Detach(t.Context(), "old"); err != nil {
		t.Fatalf("second detach: %v", err)
	}
}

func TestReconcileTouchesOnlyOwnedPorts(t *testing.T) {
	s, srv := openFake(t)
	insertPort(t, srv, "nvstale", 10, ours("stale", ""))
	foreign := ours("foreign", "")
	foreign[keyOwner] = "someone-else"
	insertPort(t, srv, "nvforeign", 10, foreign)
	insertPort(t, srv, "tap-manual", 10, map[string]string{keyContainer: "manual"})
	rep, err := s.Reconcile(t.Context(), nil)
	if err != nil {
		t.Fatal(err)
	}
	if len(rep.Removed) != 1 || rep.Removed[0].ContainerID != "stale" {
		t.Fatalf("removed = %+v", rep.Removed)
	}
	var left []ovsmodel.Port
	if err := s.ovs.List(t.Context(), &left); err != nil {
		t.Fatal(err)
	}
	names := []string{}
	for _, p := range left {
		names = append(names, p.Name)
	}
	if len(left) != 2 || strings.Contains(strings.Join(names, ","), "nvstale") {
		t.Fatalf("ports left = %v, want the two not owned by netvlan", names)
	}
	rep, err = s.Reconcile(t.Context(), nil)
	if err != nil || rep.Changed() {
		t.Fatalf("second reconcile = %+v, %v", rep, err)
	}
}

func TestBatchWithOneBadRowLeavesZeroRows(t *testing.T) {
	s, srv := openFake(t)
	insertPort(t, srv, "nvtaken", 10, ours("taken", ""))
	br, err := s.bridge(t.Context(), "br0")
	if err != nil {
		t.Fatal(err)
	}
	mk := func(name, id string) *addRequest {
		a := Attachment{ContainerID: id, IfName: "eth0", VLAN: 10, Netns: "/x"}
		r := &addRequest{bridge: *br, done: make(chan struct{}), promote: make(chan struct{})}
		r.iface, r.port = s.rows(name, &a)
		return r
	}
	batch := []*addRequest{mk("nvgood1", "g1"), mk("nvtaken", "bad"), mk("nvgood2", "g2")}
	ops, _, err := s.commit.ops(batch)
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := s.transact(t.Context(), ops); err == nil {
		t.Fatal("a transaction with a duplicate port name succeeded")
	}
	if n := countPorts(t, s); n != 1 {
		t.Fatalf("%d ports after the failed batch, want only the one that was there", n)
	}
	// Group commit retries the good ones alone.
	s.commit.commit(t.Context(), batch)
	if batch[0].err != nil || batch[2].err != nil || !errors.Is(batch[1].err, ErrConflict) {
		t.Fatalf("errs = %v, %v, %v", batch[0].err, batch[1].err, batch[2].err)
	}
	if n := countPorts(t, s); n != 3 {
		t.Fatalf("%d ports, want 3", n)
	}
}

func countPorts(t *testing.T, s *Switch) int {
	t.Helper()
	// The cache follows the server asynchronously: wait for it to settle.
	time.Sleep(50 * time.Millisecond)
	var ports []ovsmodel.Port
	if err := s.ovs.List(t.Context(), &ports); err != nil {
		t.Fatal(err)
	}
	return len(ports)
}

func TestReconnectAfterServerRestart(t *testing.T) {
	s, srv := openFake(t)
	ctx, cancel := context.WithCancel(t.Context())
	var mu sync.Mutex
	var kinds []EventKind
	runDone := make(chan error, 1)
	go func() {
		runDone <- s.Run(ctx, func(e Event) {
			mu.Lock()
			kinds = append(kinds, e.Kind)
			mu.Unlock()
		})
	}()
	time.Sleep(20 * time.Millisecond) // let Run register
	srv.Stop(t)
	deadline := time.Now().Add(2 * time.Second)
	for s.Connected() {
		if time.Now().After(deadline) {
			t.Fatal("still connected after the server stopped")
		}
		time.Sleep(5 * time.Millisecond)
	}
	srv.Start(t)
	start := time.Now()
	tctx, tcancel := context.WithTimeout(t.Context(), 2*time.Second)
	defer tcancel()
	if _, err := s.Reconcile(tctx, nil); err != nil {
		t.Fatalf("reconcile after restart: %v", err)
	}
	// Speed is BenchmarkFirstCallAfterServerRestart's business (target
	// 0.5 s); here it is enough that the call succeeds within tctx.
	t.Logf("first call after the server was back took %v", time.Since(start))
	// The switch is usable as soon as it has connected; the reconnected
	// event follows on its own goroutine and may come after the call.
	seen := func() (disconnected, reconnected bool) {
		mu.Lock()
		defer mu.Unlock()
		return slices.Contains(kinds, EventDisconnected), slices.Contains(kinds, EventReconnected)
	}
	for deadline := time.Now().Add(5 * time.Second); time.Now().Before(deadline); time.Sleep(5 * time.Millisecond) {
		if _, re := seen(); re {
			break
		}
	}
	cancel()
	if err := <-runDone; !errors.Is(err, context.Canceled) {
		t.Errorf("Run = %v", err)
	}
	if dis, re := seen(); !dis || !re {
		mu.Lock()
		defer mu.Unlock()
		t.Errorf("events = %v, want disconnected and reconnected", kinds)
	}
}

func TestCloseIsIdempotentAndFinal(t *testing.T) {
	s, srv := openFake(t)
	// Several Close calls at once: every one returns nil once the switch is
	// closed, and the reconnecting goroutine has ended.
	var wg sync.WaitGroup
	errc := make(chan error, 4)
	for range 4 {
		wg.Go(func() { errc <- s.Close() })
	}
	wg.Wait()
	close(errc)
	for err := range errc {
		if err != nil {
			t.Fatalf("Close = %v", err)
		}
	}
	if err := s.Close(); err != nil {
		t.Fatalf("Close again = %v", err)
	}
	if s.Connected() {
		t.Error("Connected after Close")
	}
	// A server restart after Close brings nothing back to life.
	srv.Stop(t)
	srv.Start(t)
	if _, err := s.List(t.Context()); !errors.Is(err, ErrClosed) {
		t.Fatalf("List after Close = %v, want ErrClosed", err)
	}
	if _, err := s.Attach(t.Context(), Attachment{ContainerID: "c", Netns: "/x", VLAN: 10}); !errors.Is(err, ErrClosed) {
		t.Fatalf("Attach after Close = %v, want ErrClosed", err)
	}
	if err := s.Run(t.Context(), func(Event) {}); !errors.Is(err, ErrClosed) {
		t.Fatalf("Run after Close = %v, want ErrClosed", err)
	}
	if s.Connected() {
		t.Error("Connected after Close and a server restart")
	}
}

func TestHealthReportsLag(t *testing.T) {
	s, srv := openFake(t)
	srv.Transact(t, ovsdb.Operation{
		Op: ovsdb.OperationUpdate, Table: ovsmodel.OpenvSwitchTable,
		Row: ovsdb.Row{"next_cfg": 7, "cur_cfg": 4},
	})
	var h Health
	deadline := time.Now().Add(time.Second)
	for h.NextCfg != 7 && time.Now().Before(deadline) {
		var err error
		if h, err = s.Health(t.Context()); err != nil {
			t.Fatal(err)
		}
		time.Sleep(5 * time.Millisecond)
	}
	if !h.Connected || h.Lag != 3 || h.Bridges != 1 {
		t.Fatalf("health = %+v", h)
	}
}

func TestDeletesAreChunkedAndPaced(t *testing.T) {
	srv := netvlantest.StartServer(t, "br0")
	for i := range 5 {
		insertPort(t, srv, "nvdel"+strconv.Itoa(i), 10, ours("c"+strconv.Itoa(i), ""))
	}
	cfg := DefaultConfig()
	cfg.Endpoint, cfg.Bridge = srv.Endpoint, "br0"
	cfg.DeleteChunk = 2
	// No ovs-vswitchd behind the in-memory server: cur_cfg never catches
	// up, so each pause runs to PaceTimeout.
	cfg.PaceTimeout = 30 * time.Millisecond
	s, err := Open(t.Context(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	start := time.Now()
	rep, err := s.Reconcile(t.Context(), nil)
	if err != nil {
		t.Fatal(err)
	}
	if len(rep.Removed) != 5 {
		t.Fatalf("removed %d", len(rep.Removed))
	}
	// Three chunks (2+2+1), a pause after each but the last.
	if d := time.Since(start); d < 2*cfg.PaceTimeout {
		t.Errorf("took %v: the chunks were not paced", d)
	}
	var h Health
	deadline := time.Now().Add(time.Second)
	for h.NextCfg != 2 && time.Now().Before(deadline) {
		h, _ = s.Health(t.Context())
		time.Sleep(5 * time.Millisecond)
	}
	if h.NextCfg != 2 || h.Ports != 0 {
		t.Fatalf("health = %+v, want next_cfg bumped once per paced chunk and no ports", h)
	}
	if n := countPorts(t, s); n != 0 {
		t.Fatalf("%d ports left", n)
	}
}

func TestGroupCommitSharesTransactions(t *testing.T) {
	s, _ := openFake(t)
	br, err := s.bridge(t.Context(), "br0")
	if err != nil {
		t.Fatal(err)
	}
	const n = 40
	before := s.commit.txns.Load()
	reqs := make([]*addRequest, n)
	errs := make([]error, n)
	var wg sync.WaitGroup
	for i := range n {
		a := Attachment{ContainerID: "g" + strconv.Itoa(i), IfName: "eth0", VLAN: 10, Netns: "/x"}
		reqs[i] = &addRequest{bridge: *br}
		reqs[i].iface, reqs[i].port = s.rows("nvg"+strconv.Itoa(i), &a)
		wg.Go(func() { errs[i] = s.commit.add(t.Context(), reqs[i]) })
	}
	wg.Wait()
	for i, err := range errs {
		if err != nil || reqs[i].uuid == "" {
			t.Fatalf("request %d: %v (uuid %q)", i, err, reqs[i].uuid)
		}
	}
	txns := s.commit.txns.Load() - before
	t.Logf("%d ports in %d transactions", n, txns)
	if txns >= n {
		t.Errorf("%d transactions for %d concurrent requests: nothing was shared", txns, n)
	}
	if got := countPorts(t, s); got != n {
		t.Fatalf("%d ports, want %d", got, n)
	}
	// A request whose context ends while it waits is withdrawn or
	// completed, never lost in between.
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	a := Attachment{ContainerID: "late", IfName: "eth0", VLAN: 10, Netns: "/x"}
	r := &addRequest{bridge: *br}
	r.iface, r.port = s.rows("nvlate", &a)
	if err := s.commit.add(ctx, r); err != nil && r.uuid != "" {
		t.Fatalf("failed request has a port: %v", err)
	}
}
