package netvlan

import (
	"context"
	"net/netip"
	"os/exec"
	"slices"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/shoalkit/shoal/internal/testenv"
)

// benchEnv is a real switch with bridge br0, a Switch on it, and a few
// container namespaces that the benchmarks' interfaces share (creating a
// namespace is the runtime's work, not netvlan's).
type benchEnv struct {
	sw  *testenv.Switch
	s   *Switch
	nss []*testenv.Namespace
	seq int
}

func newBenchEnv(b *testing.B) *benchEnv {
	b.Helper()
	testenv.Require(b, testenv.OVS, testenv.Netns)
	sw := testenv.StartOVS(b)
	sw.AddBridge(b, "br0")
	e := &benchEnv{sw: sw, s: openSwitch(b, sw)}
	// Remove the ports while ovs-vswitchd runs: closing each port's
	// AF_PACKET socket waits for an RCU grace period in the kernel, so an
	// ovs-vswitchd that exits holding a thousand ports takes longer to die
	// than testenv waits for it.
	b.Cleanup(func() { e.detachAllPorts(b) })
	for range 8 {
		e.nss = append(e.nss, testenv.NewNetns(b))
	}
	return e
}

// detachAllPorts removes every port the benchmark attached, in paced
// chunks.
func (e *benchEnv) detachAllPorts(b *testing.B) {
	b.Helper()
	ctx := context.WithoutCancel(b.Context())
	ports, err := e.s.List(ctx)
	if err != nil {
		b.Error(err)
		return
	}
	ids := make([]string, len(ports))
	for i, p := range ports {
		ids[i] = p.ContainerID
	}
	if err := e.s.detachAll(ctx, ids); err != nil {
		b.Error(err)
	}
}

// next returns a fresh attachment: an interface in one of the namespaces,
// with its own address.
func (e *benchEnv) next() Attachment {
	e.seq++
	i := e.seq
	return Attachment{
		ContainerID: "bench" + strconv.Itoa(i),
		Netns:       e.nss[i%len(e.nss)].Path,
		IfName:      "e" + strconv.Itoa(i),
		VLAN:        10,
		Addr:        netip.PrefixFrom(netip.AddrFrom4([4]byte{10, 90, byte(i >> 8), byte(i)}), 16),
	}
}

// fill attaches n ports through group commit.
func (e *benchEnv) fill(b *testing.B, n int) {
	b.Helper()
	as := make([]*Attachment, n)
	for i := range as {
		a := e.next()
		as[i] = &a
	}
	e.attach(b, as)
}

func (e *benchEnv) attach(b *testing.B, as []*Attachment) {
	b.Helper()
	_, failed := e.s.attachAll(b.Context(), as)
	if len(failed) > 0 {
		b.Fatalf("%d of %d attachments failed, first: %v", len(failed), len(as), failed[0].Err)
	}
}

func percentile(d []time.Duration, p float64) float64 {
	if len(d) == 0 {
		return 0
	}
	s := slices.Clone(d)
	slices.Sort(s)
	return float64(s[min(len(s)-1, int(float64(len(s))*p))].Microseconds()) / 1000
}

// BenchmarkAttach wires one container at a time (namespace to ofport) onto
// a bridge holding 150 to 200 ports, and reports p50 and p99 latency.
func BenchmarkAttach(b *testing.B) {
	e := newBenchEnv(b)
	e.fill(b, 150)
	var lat []time.Duration
	for b.Loop() {
		if len(lat) == 50 { // keep the bridge at <= 200 ports
			b.StopTimer()
			e.detachNewest(b, 50)
			b.StartTimer()
		}
		start := time.Now()
		if _, err := e.s.Attach(b.Context(), e.next()); err != nil {
			b.Fatal(err)
		}
		lat = append(lat, time.Since(start))
	}
	b.ReportMetric(percentile(lat, 0.5), "p50-ms")
	b.ReportMetric(percentile(lat, 0.99), "p99-ms")
}

// BenchmarkAttachVsctl is the same wiring with the OVS part done by
// `ovs-vsctl add-port` (which also waits for ovs-vswitchd), as scripts and
// ovs-docker do: the veth is made by the same netlink code.
func BenchmarkAttachVsctl(b *testing.B) {
	e := newBenchEnv(b)
	e.fill(b, 150)
	var lat []time.Duration
	for b.Loop() {
		start := time.Now()
		a := e.next()
		e.vsctlAttach(b, a)
		lat = append(lat, time.Since(start))
	}
	b.ReportMetric(percentile(lat, 0.5), "p50-ms")
	b.ReportMetric(percentile(lat, 0.99), "p99-ms")
}

func (e *benchEnv) detachNewest(b *testing.B, n int) {
	b.Helper()
	ports, err := e.s.List(b.Context())
	if err != nil {
		b.Fatal(err)
	}
	slices.SortFunc(ports, func(x, y Port) int {
		xi, _ := strconv.Atoi(x.ContainerID[len("bench"):])
		yi, _ := strconv.Atoi(y.ContainerID[len("bench"):])
		return yi - xi
	})
	var wg sync.WaitGroup
	for _, p := range ports[:min(n, len(ports))] {
		wg.Go(func() {
			if err := e.s.Detach(b.Context(), p.ContainerID); err != nil {
				b.Error(err)
			}
		})
	}
	wg.Wait()
}

func (e *benchEnv) vsctlAttach(b *testing.B, a Attachment) {
	b.Helper()
	if err := e.s.normalize(&a); err != nil {
		b.Fatal(err)
	}
	a.MAC = macFor(a.Addr.Addr())
	name := e.s.portName(a.ContainerID, a.IfName)
	cns, err := openContainerNetns(a.Netns)
	if err != nil {
		b.Fatal(err)
	}
	defer cns.close()
	if err := e.s.createVeth(cns, name, &a); err != nil {
		b.Fatal(err)
	}
	if err := e.s.setupContainer(cns, &a); err != nil {
		b.Fatal(err)
	}
	e.sw.Vsctl(b, "--timeout=30", "add-port", "br0", name, "tag=10",
		"--", "set", "Interface", name, "external_ids:container_id="+a.ContainerID)
}

// BenchmarkGroupCommit attaches 100 containers at once onto a bridge that
// already holds 900 ports (1,000 after), then removes them again through
// chunked deletes; ports/s is the attach rate.
func BenchmarkGroupCommit(b *testing.B) {
	e := newBenchEnv(b)
	e.fill(b, 900)
	var attach time.Duration
	var ports int
	for b.Loop() {
		as := make([]*Attachment, 100)
		ids := make([]string, len(as))
		for i := range as {
			a := e.next()
			as[i], ids[i] = &a, a.ContainerID
		}
		start := time.Now()
		_, failed := e.s.attachAll(b.Context(), as)
		attach += time.Since(start)
		ports += len(as)
		if len(failed) > 0 {
			b.Fatalf("%d failed, first: %v", len(failed), failed[0].Err)
		}
		if err := e.s.detachAll(b.Context(), ids); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(ports)/attach.Seconds(), "ports/s")
}

// BenchmarkGroupCommitVsctl adds 5 ports with one `ovs-vsctl add-port`
// each onto the same 900-port bridge, as a script would; ports/s compares
// with BenchmarkGroupCommit.
func BenchmarkGroupCommitVsctl(b *testing.B) {
	e := newBenchEnv(b)
	e.fill(b, 900)
	var attach time.Duration
	var ports int
	for b.Loop() {
		var names []string
		start := time.Now()
		for range 5 {
			a := e.next()
			e.vsctlAttach(b, a)
			names = append(names, e.s.portName(a.ContainerID, a.IfName))
		}
		attach += time.Since(start)
		ports += 5
		for _, n := range names {
			e.sw.Vsctl(b, "--timeout=30", "del-port", "br0", n)
			e.s.deleteLink(n)
		}
	}
	b.ReportMetric(float64(ports)/attach.Seconds(), "ports/s")
}

// BenchmarkReconcileNoop reconciles 1,000 ports that are already right.
func BenchmarkReconcileNoop(b *testing.B) {
	e := newBenchEnv(b)
	desired := make([]Attachment, 1000)
	as := make([]*Attachment, len(desired))
	for i := range desired {
		desired[i] = e.next()
		as[i] = &desired[i]
	}
	e.attach(b, as)
	for b.Loop() {
		rep, err := e.s.Reconcile(b.Context(), desired)
		if err != nil || rep.Changed() || rep.Unchanged != len(desired) {
			b.Fatalf("no-op reconcile: %d added, %d removed, %d retagged, %d unchanged, %d failed, err %v",
				len(rep.Added), len(rep.Removed), len(rep.Retagged), rep.Unchanged, len(rep.Failed), err)
		}
	}
}

// BenchmarkRestartRecovery kills ovs-vswitchd under 1,000 ports, starts it
// again, reconciles, and measures until traffic flows between two of the
// ports again.
func BenchmarkRestartRecovery(b *testing.B) {
	testenv.Require(b, testenv.Ping)
	e := newBenchEnv(b)
	desired := make([]Attachment, 998)
	as := make([]*Attachment, len(desired))
	for i := range desired {
		desired[i] = e.next()
		as[i] = &desired[i]
	}
	// Two probes with their own namespaces and default interfaces.
	pa, pb := testenv.NewNetns(b), testenv.NewNetns(b)
	desired = append(desired,
		Attachment{ContainerID: "probe-a", Netns: pa.Path, VLAN: 10, Addr: netip.MustParsePrefix("10.91.0.1/16")},
		Attachment{ContainerID: "probe-b", Netns: pb.Path, VLAN: 10, Addr: netip.MustParsePrefix("10.91.0.2/16")})
	as = append(as, &desired[len(desired)-2], &desired[len(desired)-1])
	e.attach(b, as)
	for b.Loop() {
		e.sw.KillSwitch(b)
		start := time.Now()
		e.sw.StartSwitch(b)
		if _, err := e.s.Reconcile(b.Context(), desired); err != nil {
			b.Fatal(err)
		}
		if !waitPingCtx(b.Context(), pa, "10.91.0.2", 60*time.Second) {
			b.Fatalf("no forwarding %v after restart", time.Since(start))
		}
		b.ReportMetric(time.Since(start).Seconds(), "s-to-forwarding")
	}
}

func waitPingCtx(ctx context.Context, ns *testenv.Namespace, addr string, timeout time.Duration) bool {
	deadline := time.Now().Add(timeout)
	for time.Now().Before(deadline) && ctx.Err() == nil {
		cmd := exec.CommandContext(ctx, "ip", "netns", "exec", ns.Name, "ping", "-c", "1", "-W", "1", "-i", "0.2", addr)
		if cmd.Run() == nil {
			return true
		}
	}
	return false
}

// BenchmarkFirstCallAfterServerRestart stops the real ovsdb-server, starts it
// again and times from the moment it accepts connections until the Switch's
// first call (a no-op Reconcile) succeeds: the reconnect backoff plus the
// monitor's resync. Target ≤ 0.5 s.
func BenchmarkFirstCallAfterServerRestart(b *testing.B) {
	testenv.Require(b, testenv.OVS, testenv.Netns)
	sw := testenv.StartOVS(b)
	sw.AddBridge(b, "br0")
	s := openSwitch(b, sw)
	var lat []time.Duration
	for b.Loop() {
		b.StopTimer()
		sw.StopServer(b)
		deadline := time.Now().Add(5 * time.Second)
		for s.Connected() && time.Now().Before(deadline) {
			time.Sleep(time.Millisecond)
		}
		sw.StartServer(b) // returns once the socket accepts connections
		b.StartTimer()
		start := time.Now()
		ctx, cancel := context.WithTimeout(b.Context(), 5*time.Second)
		_, err := s.Reconcile(ctx, nil)
		cancel()
		if err != nil {
			b.Fatalf("first call after restart: %v", err)
		}
		lat = append(lat, time.Since(start))
	}
	b.ReportMetric(percentile(lat, 0.5), "p50-ms")
	b.ReportMetric(percentile(lat, 0.99), "p99-ms")
}
