package netvlan_test

import (
	"context"
	"fmt"
	"net/netip"

	"github.com/shoalkit/shoal/netvlan"
)

// Addresses come from a per-VLAN pool; the gateway, the network and
// broadcast addresses and reserved ranges are never handed out.
func ExampleIPAM() {
	pool, err := netvlan.ParsePool(10, "10.10.0.0/24", "10.10.0.1", "10.10.0.2-10.10.0.9")
	if err != nil {
		fmt.Println(err)
		return
	}
	ipam, err := netvlan.NewIPAM(pool)
	if err != nil {
		fmt.Println(err)
		return
	}
	web, _ := ipam.Allocate(10, "web-1/eth0")
	db, _ := ipam.Allocate(10, "db-1/eth0")
	fmt.Println(web.Addr, web.Gateway)
	fmt.Println(db.Addr)
	_, err = ipam.Allocate(4095, "x/eth0")
	fmt.Println(err)
	// Output:
	// 10.10.0.10/24 10.10.0.1
	// 10.10.0.11/24
	// netvlan: vlan 4095 out of range 1..4094
}

// Overlapping pools are refused with an error that names both.
func ExampleNewIPAM_overlap() {
	a, _ := netvlan.ParsePool(10, "10.0.0.0/16", "")
	b, _ := netvlan.ParsePool(20, "10.0.8.0/24", "")
	_, err := netvlan.NewIPAM(a, b)
	fmt.Println(err)
	// Output:
	// netvlan: pools overlap: 10.0.0.0/16 (vlan 10) and 10.0.8.0/24 (vlan 20)
}

// A hostname rule derives the name from the address, so name and address
// never disagree; HostsLine gives the /etc/hosts entry.
func ExampleHostnameRule() {
	rule, err := netvlan.ParseHostnameRule("c-{ip}.vlan{vlan}.dc1")
	if err != nil {
		fmt.Println(err)
		return
	}
	addr := netip.MustParseAddr("10.10.0.10")
	name, _ := rule.Hostname(addr, 10)
	line, _ := rule.HostsLine(addr, 10)
	fmt.Println(name)
	fmt.Print(line)
	_, err = netvlan.ParseHostnameRule("C_{ip}")
	fmt.Println(err)
	// Output:
	// c-10-10-0-10.vlan10.dc1
	// 10.10.0.10	c-10-10-0-10.vlan10.dc1	c-10-10-0-10
	// netvlan: hostname rule "C_{ip}": character 'C' is not allowed in a hostname (lowercase letters, digits, '-', '.')
}

// Wiring a container: Open once per host, Attach when the container's
// namespace exists, Detach when it stops.
func ExampleSwitch_Attach() {
	ctx := context.Background()
	cfg := netvlan.DefaultConfig()
	cfg.Bridge = "br0"
	pool, _ := netvlan.ParsePool(10, "10.10.0.0/16", "")
	cfg.Pools = []netvlan.Pool{pool}
	sw, err := netvlan.Open(ctx, cfg)
	if err != nil {
		fmt.Println(err)
		return
	}
	defer sw.Close()
	port, err := sw.Attach(ctx, netvlan.Attachment{
		ContainerID: "web-1",
		Netns:       "/proc/4242/ns/net",
		VLAN:        10,
	})
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println(port.Addr, port.Hostname, port.Ofport)
	_ = sw.Detach(ctx, "web-1")
}

// After a restart, Reconcile brings OVS back to what should be attached.
func ExampleSwitch_Reconcile() {
	ctx := context.Background()
	sw, err := netvlan.Open(ctx, netvlan.DefaultConfig())
	if err != nil {
		fmt.Println(err)
		return
	}
	defer sw.Close()
	rep, err := sw.Reconcile(ctx, []netvlan.Attachment{
		{ContainerID: "web-1", Netns: "/proc/4242/ns/net", VLAN: 10},
	})
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println(len(rep.Added), len(rep.Removed), len(rep.Retagged), rep.Unchanged)
}
