package netvlan

import (
	"context"
	"net/netip"
	"testing"
	"time"

	"github.com/shoalkit/shoal/internal/errs"
)

// Every error path returns one shape: "netvlan: " once, what was wrong with
// its value, then the cause; one of the package's kinds; never a kind's own
// text.
func TestErrorShape(t *testing.T) {
	s, srv := openFake(t)
	insertPort(t, srv, s.portName("dup", "eth0"), 10, ours("dup", ""))
	pool, err := ParsePool(10, "10.9.0.0/30", "")
	if err != nil {
		t.Fatal(err)
	}
	m, err := NewIPAM(pool)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := m.Allocate(10, "a"); err != nil { // the only host address left
		t.Fatal(err)
	}
	closed, _ := openFake(t)
	_ = closed.Close()
	shortCtx := func() context.Context {
		ctx, cancel := context.WithTimeout(t.Context(), 100*time.Millisecond)
		t.Cleanup(cancel)
		return ctx
	}

	cases := []struct {
		name string
		err  func() error
	}{
		{"vlan", func() error { return checkVLAN(5000) }},
		{"range", func() error { _, err := ParseRange("10.0.0.x"); return err }},
		{"range order", func() error { _, err := ParseRange("10.0.0.9-10.0.0.1"); return err }},
		{"range v6", func() error { _, err := ParseRange("fd00::1"); return err }},
		{"cidr", func() error { _, err := ParseCIDR("nope"); return err }},
		{"cidr too large", func() error { _, err := ParseCIDR("0.0.0.0/0"); return err }},
		{"cidr host bits", func() error { _, err := ParseCIDR("10.0.0.1/24"); return err }},
		{"pool gateway", func() error { _, err := ParsePool(10, "10.0.0.0/24", "x"); return err }},
		{"pool reserved", func() error { _, err := ParsePool(10, "10.0.0.0/24", "", "10.1.0.1"); return err }},
		{"ipam overlap", func() error { _, err := NewIPAM(pool, pool); return err }},
		{"allocate no pool", func() error { _, err := m.Allocate(20, "a"); return err }},
		{"allocate exhausted", func() error { _, err := m.Allocate(10, "b"); return err }},
		{"claim conflict", func() error { _, err := m.Claim(10, netip.MustParseAddr("10.9.0.2"), "b"); return err }},
		{"claim gateway", func() error { _, err := m.Claim(10, netip.MustParseAddr("10.9.0.1"), "b"); return err }},
		{"hostname rule", func() error { _, err := ParseHostnameRule("C-{ip}"); return err }},
		{"hostname rule label", func() error { _, err := ParseHostnameRule("{ip}-"); return err }},
		{"hostname vlan", func() error { _, err := HostnameRule{}.Hostname(netip.MustParseAddr("10.0.0.1"), 0); return err }},
		{"rate limit", func() error { _, err := ParseRateLimit("egress=fast"); return err }},
		{"config", func() error { _, err := Open(t.Context(), Config{MTU: 1}); return err }},
		{"open unreachable", func() error {
			_, err := Open(t.Context(), Config{Endpoint: "unix:" + t.TempDir() + "/none.sock", ConnectTimeout: 50 * time.Millisecond})
			return err
		}},
		{"open host netns", func() error { _, err := Open(t.Context(), Config{HostNetns: "/run/netns/shoal-none"}); return err }},
		{"attach id", func() error {
			_, err := s.Attach(t.Context(), Attachment{ContainerID: "a\nb", Netns: "/x", VLAN: 10})
			return err
		}},
		{"attach vlan", func() error {
			_, err := s.Attach(t.Context(), Attachment{ContainerID: "a", Netns: "/x", VLAN: 4095})
			return err
		}},
		{"attach trunk", func() error {
			_, err := s.Attach(t.Context(), Attachment{ContainerID: "a", Netns: "/x", Trunks: []int{0}})
			return err
		}},
		{"attach bridge", func() error {
			_, err := s.Attach(t.Context(), Attachment{ContainerID: "a", Netns: "/x", VLAN: 10, Bridge: "br-none"})
			return err
		}},
		{"attach duplicate", func() error {
			_, err := s.Attach(t.Context(), Attachment{ContainerID: "dup", Netns: "/x", VLAN: 10})
			return err
		}},
		{"attach netns", func() error {
			_, err := s.Attach(t.Context(), Attachment{ContainerID: "a", Netns: "/run/netns/shoal-none", VLAN: 10})
			return err
		}},
		{"attach closed", func() error {
			_, err := closed.Attach(t.Context(), Attachment{ContainerID: "a", Netns: "/x", VLAN: 10})
			return err
		}},
		{"detach id", func() error { return s.Detach(t.Context(), "") }},
		{"detach closed", func() error { return closed.Detach(t.Context(), "a") }},
		{"reconcile twice desired", func() error {
			a := Attachment{ContainerID: "a", Netns: "/x", VLAN: 10}
			_, err := s.Reconcile(t.Context(), []Attachment{a, a})
			return err
		}},
		{"run closed", func() error { return closed.Run(shortCtx(), func(Event) {}) }},
		{"list closed", func() error { _, err := closed.List(t.Context()); return err }},
	}
	kinds := []error{ErrInvalid, ErrNotFound, ErrConflict, ErrExhausted, ErrUnavailable, ErrClosed}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			err := tc.err()
			if shapeErr := errs.CheckShape(err, "netvlan", kinds...); shapeErr != nil {
				t.Error(shapeErr)
			}
		})
	}
}
