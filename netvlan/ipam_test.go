package netvlan

import (
	"errors"
	"net/netip"
	"strconv"
	"strings"
	"testing"
)

func TestParsePool(t *testing.T) {
	p, err := ParsePool(10, "10.1.0.0/24", "", "10.1.0.2-10.1.0.9", "10.1.0.200")
	if err != nil {
		t.Fatal(err)
	}
	if p.Gateway.String() != "10.1.0.1" || len(p.Reserved) != 2 || p.String() != "vlan 10 10.1.0.0/24 gw 10.1.0.1" {
		t.Fatalf("pool = %+v", p)
	}
	bad := []struct {
		vlan          int
		cidr, gw, res string
		msg           string
	}{
		{0, "10.1.0.0/24", "", "", "vlan 0 out of range"},
		{4095, "10.1.0.0/24", "", "", "vlan 4095 out of range"},
		{10, "10.1.0.5/24", "", "", "host bits set"},
		{10, "10.1.0.0/31", "", "", "too small"},
		{10, "0.0.0.0/0", "", "", "cidr 0.0.0.0/0 is too large: a pool may be at most a /8"},
		{10, "16.0.0.0/4", "", "", "too large"},
		{10, "fd00::/64", "", "", "only IPv4"},
		{10, "10.1.0.0", "", "", "cidr"},
		{10, "10.1.0.0/24", "10.2.0.1", "", "not a host address"},
		{10, "10.1.0.0/24", "10.1.0.255", "", "not a host address"},
		{10, "10.1.0.0/24", "", "10.1.1.1", "not inside"},
		{10, "10.1.0.0/24", "", "10.1.0.9-10.1.0.2", "ends before"},
	}
	for _, b := range bad {
		var res []string
		if b.res != "" {
			res = []string{b.res}
		}
		_, err := ParsePool(b.vlan, b.cidr, b.gw, res...)
		if !errors.Is(err, ErrInvalid) || !strings.Contains(err.Error(), b.msg) {
			t.Errorf("ParsePool(%d, %q, %q, %q) = %v, want ErrInvalid with %q", b.vlan, b.cidr, b.gw, b.res, err, b.msg)
		}
	}
}

func TestIPAMAllocatesSkipsAndExhausts(t *testing.T) {
	p, err := ParsePool(10, "10.1.0.0/29", "10.1.0.6", "10.1.0.2-10.1.0.3")
	if err != nil {
		t.Fatal(err)
	}
	m, err := NewIPAM(p)
	if err != nil {
		t.Fatal(err)
	}
	// Hosts .1-.6; .6 is the gateway, .2-.3 reserved: .1, .4, .5 are free.
	var got []string
	for _, o := range []string{"a", "b", "c"} {
		l, err := m.Allocate(10, o)
		if err != nil {
			t.Fatal(err)
		}
		if l.Gateway.String() != "10.1.0.6" || l.VLAN != 10 {
			t.Fatalf("lease = %+v", l)
		}
		got = append(got, l.Addr.String())
	}
	if strings.Join(got, " ") != "10.1.0.1/29 10.1.0.4/29 10.1.0.5/29" {
		t.Fatalf("allocated %v", got)
	}
	if again, _ := m.Allocate(10, "b"); again.Addr.String() != "10.1.0.4/29" {
		t.Fatalf("same owner got %v", again.Addr)
	}
	if _, err := m.Allocate(10, "d"); !errors.Is(err, ErrExhausted) || !strings.Contains(err.Error(), "exhausted") {
		t.Fatalf("exhausted pool: %v", err)
	}
	m.Release(netip.MustParseAddr("10.1.0.4"), "b")
	m.Release(netip.MustParseAddr("10.1.0.4"), "b") // twice is harmless
	m.Release(netip.MustParseAddr("10.1.0.5"), "not-the-owner")
	if n := m.InUse(10); n != 2 {
		t.Fatalf("in use = %d", n)
	}
	if l, err := m.Allocate(10, "d"); err != nil || l.Addr.String() != "10.1.0.4/29" {
		t.Fatalf("after release: %v %v", l, err)
	}
	if _, err := m.Allocate(20, "x"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("vlan without pool: %v", err)
	}
	if _, err := m.Allocate(4095, "x"); !errors.Is(err, ErrInvalid) {
		t.Fatalf("bad vlan: %v", err)
	}
}

func TestIPAMClaim(t *testing.T) {
	p, _ := ParsePool(10, "10.1.0.0/24", "")
	m, _ := NewIPAM(p)
	if _, err := m.Claim(10, netip.MustParseAddr("10.1.0.50"), "a"); err != nil {
		t.Fatal(err)
	}
	if _, err := m.Claim(10, netip.MustParseAddr("10.1.0.50"), "a"); err != nil {
		t.Fatalf("claiming twice: %v", err)
	}
	if _, err := m.Claim(10, netip.MustParseAddr("10.1.0.50"), "b"); !errors.Is(err, ErrConflict) || !strings.Contains(err.Error(), "held by a") {
		t.Fatalf("claim of a held address: %v", err)
	}
	for _, a := range []string{"10.1.0.0", "10.1.0.1", "10.1.0.255"} {
		if _, err := m.Claim(10, netip.MustParseAddr(a), "c"); !errors.Is(err, ErrInvalid) {
			t.Errorf("claim %s: %v", a, err)
		}
	}
	if _, err := m.Claim(10, netip.MustParseAddr("10.2.0.5"), "c"); !errors.Is(err, ErrInvalid) {
		t.Errorf("claim outside pool: %v", err)
	}
}

// A pool is at most a /8: 0.0.0.0/0 was accepted, and Allocate then scanned
// it under the IPAM's lock for longer than 15 s.
func TestNewIPAMRefusesHugePools(t *testing.T) {
	for _, cidr := range []string{"0.0.0.0/0", "16.0.0.0/4", "10.0.0.0/7"} {
		_, err := NewIPAM(Pool{VLAN: 10, CIDR: netip.MustParsePrefix(cidr)})
		if !errors.Is(err, ErrInvalid) || !strings.Contains(err.Error(), "at most a /8") {
			t.Errorf("NewIPAM(%s) = %v, want ErrInvalid naming the /8 limit", cidr, err)
		}
	}
	if _, err := NewIPAM(Pool{VLAN: 10, CIDR: netip.MustParsePrefix("10.0.0.0/8")}); err != nil {
		t.Errorf("a /8: %v", err)
	}
}

func TestNewIPAMRefusesOverlapsAndDuplicates(t *testing.T) {
	a, _ := ParsePool(10, "10.0.0.0/16", "")
	b, _ := ParsePool(20, "10.0.128.0/24", "")
	c, _ := ParsePool(10, "10.9.0.0/24", "")
	if _, err := NewIPAM(a, b); !errors.Is(err, ErrInvalid) || !strings.Contains(err.Error(), "pools overlap: 10.0.0.0/16 (vlan 10) and 10.0.128.0/24 (vlan 20)") {
		t.Errorf("overlap: %v", err)
	}
	if _, err := NewIPAM(a, c); !errors.Is(err, ErrInvalid) || !strings.Contains(err.Error(), "two pools for vlan 10") {
		t.Errorf("duplicate vlan: %v", err)
	}
	if _, err := NewIPAM(Pool{VLAN: 10}); !errors.Is(err, ErrInvalid) {
		t.Errorf("zero cidr: %v", err)
	}
}

func TestHostnameRule(t *testing.T) {
	addr := netip.MustParseAddr("10.1.2.3")
	cases := map[string]string{
		"":                         "c-10-1-2-3",
		"c-{ip}":                   "c-10-1-2-3",
		"{d}-{c}.vlan{vlan}.dc1":   "3-2.vlan10.dc1",
		"h{hex}":                   "h0a010203",
		"app-{a}-{b}-{c}-{d}.prod": "app-10-1-2-3.prod",
	}
	for rule, want := range cases {
		var r HostnameRule
		if rule != "" {
			var err error
			if r, err = ParseHostnameRule(rule); err != nil {
				t.Fatalf("%q: %v", rule, err)
			}
			if r.String() != rule {
				t.Errorf("String() = %q, want %q", r.String(), rule)
			}
		}
		got, err := r.Hostname(addr, 10)
		if err != nil || got != want {
			t.Errorf("%q: Hostname = %q, %v; want %q", rule, got, err, want)
		}
	}
	r := MustParseHostnameRule("c-{ip}.vlan{vlan}")
	line, err := r.HostsLine(addr, 10)
	if err != nil || line != "10.1.2.3\tc-10-1-2-3.vlan10\tc-10-1-2-3\n" {
		t.Errorf("HostsLine = %q, %v", line, err)
	}
	for _, bad := range []string{"", "{ip", "ip}", "{nope}", "C-{ip}", "-{ip}", "{ip}-", "a..{ip}", "c_{ip}", strings.Repeat("a", 64) + "{ip}", "{ip}.", "é{ip}"} {
		if _, err := ParseHostnameRule(bad); !errors.Is(err, ErrInvalid) {
			t.Errorf("ParseHostnameRule(%q) = %v, want ErrInvalid", bad, err)
		}
	}
	if _, err := r.Hostname(netip.MustParseAddr("fd00::1"), 10); !errors.Is(err, ErrInvalid) {
		t.Errorf("IPv6: %v", err)
	}
	// VLAN 0, 4095 and -1 gave names ("c-10-1-2-3.vlan-1"); they are no
	// access VLAN.
	for _, vlan := range []int{0, 4095, -1, 5000} {
		name, err := r.Hostname(addr, vlan)
		if !errors.Is(err, ErrInvalid) || name != "" || !strings.Contains(err.Error(), "vlan "+strconv.Itoa(vlan)+" out of range 1..4094") {
			t.Errorf("Hostname(%v, %d) = %q, %v; want ErrInvalid naming the vlan", addr, vlan, name, err)
		}
	}
}

func FuzzHostnameRule(f *testing.F) {
	for _, s := range []string{"c-{ip}", "{d}-{c}.vlan{vlan}.dc1", "h{hex}", "{", "}", "{{ip}}", "a.{ip}", "-", "{vlan}{vlan}"} {
		f.Add(s, uint32(0x0a010203), 10)
	}
	f.Fuzz(func(t *testing.T, rule string, ip uint32, vlan int) {
		r, err := ParseHostnameRule(rule)
		if err != nil {
			if !errors.Is(err, ErrInvalid) {
				t.Fatalf("error %v is not ErrInvalid", err)
			}
			return
		}
		if vlan < MinVLAN || vlan > MaxVLAN {
			vlan = MinVLAN + (vlan%MaxVLAN+MaxVLAN)%MaxVLAN
		}
		addr := netip.AddrFrom4([4]byte{byte(ip >> 24), byte(ip >> 16), byte(ip >> 8), byte(ip)})
		name, err := r.Hostname(addr, vlan)
		if err != nil {
			t.Fatalf("rule %q parsed but Hostname(%v, %d): %v", rule, addr, vlan, err)
		}
		if err := checkDNSName(name); err != nil {
			t.Fatalf("rule %q gave invalid name %q", rule, name)
		}
		again, err := ParseHostnameRule(r.String())
		if err != nil {
			t.Fatalf("String() %q does not parse: %v", r.String(), err)
		}
		if n2, _ := again.Hostname(addr, vlan); n2 != name {
			t.Fatalf("round trip %q -> %q: %q != %q", rule, r.String(), n2, name)
		}
	})
}

func FuzzParseCIDRAndPool(f *testing.F) {
	for _, s := range []string{"10.0.0.0/24", "10.0.0.5/24", "0.0.0.0/0", "255.255.255.252/30", "fd00::/64", "1.2.3.4/33", "", "/", "10.0.0.0/08"} {
		f.Add(s, "10.0.0.1", "10.0.0.2-10.0.0.9")
	}
	f.Fuzz(func(t *testing.T, cidr, gw, reserved string) {
		p, err := ParseCIDR(cidr)
		if err != nil {
			if !errors.Is(err, ErrInvalid) {
				t.Fatalf("error %v is not ErrInvalid", err)
			}
			return
		}
		if !p.Addr().Is4() || p.Bits() > maxPoolBits || p.Masked() != p {
			t.Fatalf("ParseCIDR(%q) accepted %v", cidr, p)
		}
		pool, err := ParsePool(10, cidr, gw, reserved)
		if err != nil {
			if !errors.Is(err, ErrInvalid) {
				t.Fatalf("error %v is not ErrInvalid", err)
			}
			return
		}
		m, err := NewIPAM(pool)
		if err != nil {
			t.Fatalf("valid pool %v refused: %v", pool, err)
		}
		l, err := m.Allocate(10, "x")
		if err != nil {
			if !errors.Is(err, ErrExhausted) {
				t.Fatalf("allocate: %v", err)
			}
			return
		}
		a := l.Addr.Addr()
		if !pool.CIDR.Contains(a) || a == pool.Gateway || a == pool.CIDR.Addr() || a == broadcast(pool.CIDR) {
			t.Fatalf("allocated %v from %v", a, pool)
		}
		for _, r := range pool.Reserved {
			if r.Contains(a) {
				t.Fatalf("allocated reserved %v from %v", a, pool)
			}
		}
	})
}
