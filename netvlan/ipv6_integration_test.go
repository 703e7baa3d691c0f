package netvlan

import (
	"net/netip"
	"strings"
	"testing"

	"github.com/shoalkit/shoal/internal/testenv"
)

// Without IPv6 on the host end and without a link-local address on the
// container end, a new port sends nothing the bridge would flood to every
// other port (duplicate address detection, router solicitations, MLD).
func TestIntegrationAttachKeepsIPv6Quiet(t *testing.T) {
	testenv.Require(t, testenv.OVS, testenv.Netns)
	sw := testenv.StartOVS(t)
	sw.AddBridge(t, "br0")
	s := openSwitch(t, sw)
	quiet, keep := testenv.NewNetns(t), testenv.NewNetns(t)
	p, err := s.Attach(t.Context(), Attachment{ContainerID: "quiet", Netns: quiet.Path, VLAN: 10, Addr: netip.MustParsePrefix("10.97.0.1/24")})
	if err != nil {
		t.Fatal(err)
	}
	if out := quiet.Run(t, "ip", "-6", "-o", "addr", "show", "dev", "eth0"); strings.Contains(out, "inet6") {
		t.Errorf("container end has an IPv6 address:\n%s", out)
	}
	if out := quiet.Run(t, "ip", "-o", "-4", "addr", "show", "dev", "eth0"); !strings.Contains(out, "10.97.0.1/24") {
		t.Errorf("container end lost its IPv4 address:\n%s", out)
	}
	if got := strings.TrimSpace(sw.Host.Run(t, "cat", "/proc/sys/net/ipv6/conf/"+p.Name+"/disable_ipv6")); got != "1" {
		t.Errorf("host end %s disable_ipv6 = %q, want 1", p.Name, got)
	}
	if out := sw.Host.Run(t, "ip", "-6", "-o", "addr", "show", "dev", p.Name); strings.Contains(out, "inet6") {
		t.Errorf("host end has an IPv6 address:\n%s", out)
	}

	s.cfg.KeepIPv6 = true
	if _, err := s.Attach(t.Context(), Attachment{ContainerID: "keep", Netns: keep.Path, VLAN: 10, Addr: netip.MustParsePrefix("10.97.0.2/24")}); err != nil {
		t.Fatal(err)
	}
	if out := keep.Run(t, "ip", "-6", "-o", "addr", "show", "dev", "eth0"); !strings.Contains(out, "inet6 fe80:") {
		t.Errorf("KeepIPv6: container end has no link-local address:\n%s", out)
	}
}
