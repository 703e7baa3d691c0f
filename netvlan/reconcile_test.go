package netvlan

import (
	"net/netip"
	"testing"

	"github.com/shoalkit/shoal/netvlan/ovsmodel"
)

func TestKeepAddressOnRepair(t *testing.T) {
	s := &Switch{}
	ports := []ovsmodel.Port{
		{Name: "nv1", ExternalIDs: map[string]string{keyContainer: "a", keyIfName: "eth0", keyAddr: "10.0.0.7/24", keyGateway: "10.0.0.1"}},
		{Name: "nv2", ExternalIDs: map[string]string{keyContainer: "b", keyIfName: "eth0", keyAddr: "10.0.0.8/24"}},
	}
	a := &Attachment{ContainerID: "a", IfName: "eth0"}
	s.keepAddress(a, ports)
	if a.Addr.String() != "10.0.0.7/24" || a.Gateway.String() != "10.0.0.1" {
		t.Fatalf("kept %v via %v", a.Addr, a.Gateway)
	}
	explicit := &Attachment{ContainerID: "b", IfName: "eth0", Addr: netip.MustParsePrefix("10.0.0.9/24")}
	s.keepAddress(explicit, ports)
	if explicit.Addr.String() != "10.0.0.9/24" {
		t.Fatalf("explicit address replaced by %v", explicit.Addr)
	}
	none := &Attachment{ContainerID: "c", IfName: "eth0"}
	s.keepAddress(none, ports)
	if none.Addr.IsValid() {
		t.Fatalf("address from another container: %v", none.Addr)
	}
}
