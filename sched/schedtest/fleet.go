package schedtest

import (
	"fmt"
	"math/rand/v2"

	"github.com/shoalkit/shoal/sched"
)

// FleetConfig describes a generated fleet. Zero fields take the defaults
// noted.
type FleetConfig struct {
	// Nodes is the number of nodes (default 100).
	Nodes int
	// Racks and Switches group the nodes round-robin by index blocks:
	// node i is in rack i*Racks/Nodes, and racks are shared out evenly
	// over switches (defaults 10 and 2).
	Racks    int
	Switches int
	// Zones and NetZones are assigned by switch (defaults 2 and 2).
	Zones    int
	NetZones int
	// Seed drives the random parts: capacities, labels, images, taints.
	Seed uint64
	// Random, when set, gives nodes varied capacities, some missing
	// topology keys, levels, labels, taints, cordons, VLAN IPs and images.
	// Otherwise every node is the same 32-core, 128 GiB, 1 TiB machine with
	// 64 IPs on VLAN 100.
	Random bool
}

// Fleet returns node descriptions for cfg, deterministic for cfg.Seed.
func Fleet(cfg FleetConfig) []sched.Node {
	if cfg.Nodes <= 0 {
		cfg.Nodes = 100
	}
	if cfg.Racks <= 0 {
		cfg.Racks = 10
	}
	if cfg.Switches <= 0 {
		cfg.Switches = 2
	}
	if cfg.Zones <= 0 {
		cfg.Zones = 2
	}
	if cfg.NetZones <= 0 {
		cfg.NetZones = 2
	}
	rng := rand.New(rand.NewPCG(cfg.Seed, 0x5eed))
	nodes := make([]sched.Node, cfg.Nodes)
	for i := range nodes {
		rack := i * cfg.Racks / cfg.Nodes
		sw := rack * cfg.Switches / cfg.Racks
		n := sched.Node{
			Name:       fmt.Sprintf("n%05d", i),
			Datacenter: "dc1",
			Room:       fmt.Sprintf("room%d", sw%2),
			Zone:       fmt.Sprintf("zone-%c", 'a'+sw%cfg.Zones),
			NetZone:    fmt.Sprintf("net%d", sw%cfg.NetZones),
			Switch:     fmt.Sprintf("sw%02d", sw),
			Rack:       fmt.Sprintf("r%03d", rack),
			Level:      "general",
			Capacity:   sched.Resources{MilliCPU: 32000, Memory: 128 << 30, Disk: 1 << 40},
			VLANs:      map[int]int{100: 64},
		}
		if cfg.Random {
			n.Capacity = sched.Resources{
				MilliCPU: int64(1+rng.IntN(16)) * 1000,
				Memory:   int64(1+rng.IntN(32)) << 30,
				Disk:     int64(1+rng.IntN(8)) << 30,
			}
			n.VLANs = map[int]int{100: rng.IntN(4), 200: rng.IntN(3)}
			if rng.IntN(10) == 0 {
				n.Rack = ""
			}
			if rng.IntN(12) == 0 {
				n.Switch = ""
			}
			if rng.IntN(4) == 0 {
				n.Level = "critical"
			}
			n.Labels = map[string]string{"disk": []string{"ssd", "hdd"}[rng.IntN(2)]}
			if rng.IntN(8) == 0 {
				n.Taints = []sched.Taint{{Key: "dedicated", Value: "db", Effect: sched.NoSchedule}}
			}
			if rng.IntN(8) == 0 {
				n.Taints = append(n.Taints, sched.Taint{Key: "old", Effect: sched.PreferNoSchedule})
			}
			n.Cordoned = rng.IntN(20) == 0
			if rng.IntN(3) == 0 {
				n.Images = map[string]int64{"app:v1": 400 << 20}
			}
		} else if i%7 == 0 {
			n.Images = map[string]int64{"app:v1": 400 << 20}
		}
		nodes[i] = n
	}
	return nodes
}

// Inventory returns a new inventory holding nodes.
func Inventory(nodes []sched.Node) (*sched.Inventory, error) {
	inv := sched.NewInventory()
	for _, n := range nodes {
		if err := inv.AddNode(n); err != nil {
			return nil, err
		}
	}
	return inv, nil
}
