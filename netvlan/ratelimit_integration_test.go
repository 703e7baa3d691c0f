package netvlan

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/shoalkit/shoal/internal/testenv"
)

// throughput sends from the namespace at from to a listener at addr in
// the namespace at to for d, and returns the goodput the receiver saw in
// bits per second.
func throughput(t *testing.T, from, to, addr string, d time.Duration) float64 {
	t.Helper()
	var l net.Listener
	var err error
	inNs(t, to, func() {
		var lc net.ListenConfig
		l, err = lc.Listen(context.Background(), "tcp", addr)
	})
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	type result struct {
		n   int64
		dur time.Duration
		err error
	}
	res := make(chan result, 1)
	go func() {
		c, err := l.Accept()
		if err != nil {
			res <- result{err: err}
			return
		}
		defer c.Close()
		buf := make([]byte, 64<<10)
		var n int64
		var first time.Time
		for {
			k, err := c.Read(buf)
			if k > 0 && first.IsZero() {
				first = time.Now()
			}
			n += int64(k)
			if err != nil {
				if errors.Is(err, io.EOF) {
					err = nil
				}
				res <- result{n: n, dur: time.Since(first), err: err}
				return
			}
		}
	}()
	c, err := dialIn(t, from, addr, 2*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 64<<10)
	_ = c.SetWriteDeadline(time.Now().Add(d))
	for {
		if _, err := c.Write(buf); err != nil {
			break // the deadline
		}
	}
	_ = c.Close()
	r := <-res
	if r.err != nil {
		t.Fatal(r.err)
	}
	return float64(r.n*8) / r.dur.Seconds()
}

func TestIntegrationRateLimits(t *testing.T) {
	testenv.Require(t, testenv.OVS, testenv.Netns)
	sw := testenv.StartOVS(t)
	sw.AddBridge(t, "br0")
	s := openSwitch(t, sw)
	limited, peer := testenv.NewNetns(t), testenv.NewNetns(t)
	const egress, ingress = 20_000_000, 30_000_000
	p, err := s.Attach(t.Context(), Attachment{
		ContainerID: "limited", Netns: limited.Path, VLAN: 10, Addr: netip.MustParsePrefix("10.89.0.1/24"),
		Rate: RateLimit{Egress: egress, Ingress: ingress},
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("egress enforced by %s, ingress by %s", p.RateEgress, p.RateIngress)
	if p.RateEgress == RateUnlimited || p.RateIngress == RateUnlimited {
		t.Fatalf("modes = %q %q", p.RateEgress, p.RateIngress)
	}
	if _, err := s.Attach(t.Context(), Attachment{ContainerID: "peer", Netns: peer.Path, VLAN: 10, Addr: netip.MustParsePrefix("10.89.0.2/24")}); err != nil {
		t.Fatal(err)
	}
	if !waitPing(peer, netip.MustParseAddr("10.89.0.1"), 3*time.Second) {
		t.Fatal("no connectivity")
	}
	// A limiter must never let more through than its rate; noise on a
	// shared machine (other tests, the race detector) only ever makes a
	// transfer slower. So: any run above +10 % fails at once, and the rate
	// must be reached within 10 % in one of three runs.
	check := func(name, from, to, host string, port int, limit float64) {
		t.Helper()
		var best float64
		for attempt := range 3 {
			got := throughput(t, from, to, fmt.Sprintf("%s:%d", host, port+attempt), 2*time.Second)
			t.Logf("%s run %d: %.1f Mbit/s against a limit of %.1f", name, attempt+1, got/1e6, limit/1e6)
			if got > 1.1*limit {
				t.Errorf("%s: %.1f Mbit/s exceeds the limit of %.1f by more than 10%%", name, got/1e6, limit/1e6)
				return
			}
			if best = max(best, got); best >= 0.9*limit {
				return
			}
		}
		t.Errorf("%s: best of 3 runs %.1f Mbit/s, want within 10%% of %.1f", name, best/1e6, limit/1e6)
	}
	check("egress", limited.Path, peer.Path, "10.89.0.2", 7101, egress)
	check("ingress", peer.Path, limited.Path, "10.89.0.1", 7111, ingress)
	// An unlimited pair on the same bridge runs well above both limits, or
	// the measurement above would prove nothing.
	a, b := testenv.NewNetns(t), testenv.NewNetns(t)
	for i, ns := range []*testenv.Namespace{a, b} {
		if _, err := s.Attach(t.Context(), Attachment{ContainerID: ns.Name, Netns: ns.Path, VLAN: 11, Addr: netip.PrefixFrom(netip.AddrFrom4([4]byte{10, 89, 1, byte(i + 1)}), 24)}); err != nil {
			t.Fatal(err)
		}
	}
	unlimited := throughput(t, a.Path, b.Path, "10.89.1.2:7103", time.Second)
	t.Logf("unlimited: %.1f Mbit/s", unlimited/1e6)
	if unlimited < 2*ingress {
		t.Errorf("unlimited path only %.1f Mbit/s: too slow to tell a limit from the path", unlimited/1e6)
	}
	// Detach removes the QoS rows too (QoS and Queue are root tables).
	if err := s.Detach(t.Context(), "limited"); err != nil {
		t.Fatal(err)
	}
	for _, table := range []string{"QoS", "Queue"} {
		if out := sw.Vsctl(t, "--columns=_uuid", "list", table); strings.TrimSpace(out) != "" {
			t.Errorf("%s rows left after detach:\n%s", table, out)
		}
	}
}

func TestRateLimitParse(t *testing.T) {
	r, err := ParseRateLimit("egress=1000000,ingress=2000000")
	if err != nil || r.Egress != 1_000_000 || r.Ingress != 2_000_000 || r.String() != "egress=1000000,ingress=2000000" {
		t.Fatalf("%+v %v", r, err)
	}
	for _, bad := range []string{"egress", "egress=x", "up=5", "egress=10"} {
		if _, err := ParseRateLimit(bad); err == nil {
			t.Errorf("ParseRateLimit(%q) accepted", bad)
		}
	}
}
