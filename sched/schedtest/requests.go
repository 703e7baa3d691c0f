package schedtest

import (
	"math/rand/v2"

	"github.com/shoalkit/shoal/sched"
)

// RandomRequest draws a request of 1..maxCount replicas over the keys,
// zones, levels, labels and VLANs that Fleet(Random) generates: what
// property tests and the conformance suite place.
func RandomRequest(rng *rand.Rand, app string, maxCount int) sched.Request {
	keys := []sched.TopologyKey{sched.KeyNode, sched.KeyRack, sched.KeySwitch, sched.KeyZone, sched.KeyNetZone, sched.KeyRoom}
	r := sched.Request{
		App:   app,
		Count: 1 + rng.IntN(maxCount),
		Resources: sched.Resources{
			MilliCPU: int64(rng.IntN(4000)),
			Memory:   int64(rng.IntN(8)) << 30,
			Disk:     int64(rng.IntN(3)) << 30,
		},
		AllOrNothing: rng.IntN(6) == 0,
	}
	if rng.IntN(3) == 0 {
		r.Zones = []string{"zone-a"}
	}
	if rng.IntN(4) == 0 {
		r.Level = []string{"general", "critical"}[rng.IntN(2)]
	}
	if rng.IntN(4) == 0 {
		r.NetZone = "net1"
	}
	if rng.IntN(3) == 0 {
		r.VLAN = []int{100, 200}[rng.IntN(2)]
	}
	if rng.IntN(4) == 0 {
		r.NodeSelector = map[string]string{"disk": "ssd"}
	}
	if rng.IntN(4) == 0 {
		r.Tolerations = []sched.Toleration{{Key: "dedicated", Exists: true}}
	}
	if rng.IntN(3) == 0 {
		r.Image = "app:v1"
	}
	perm := rng.Perm(len(keys))
	for i := range rng.IntN(3) {
		r.Spread = append(r.Spread, sched.SpreadRule{
			Key: keys[perm[i]], MaxSkew: 1 + rng.IntN(2), Soft: rng.IntN(3) == 0,
		})
		if !r.Spread[i].Soft && rng.IntN(3) == 0 {
			r.Spread[i].MinDomains = 1 + rng.IntN(8)
		}
	}
	perm = rng.Perm(len(keys))
	for i := range rng.IntN(3) {
		r.AntiAffinity = append(r.AntiAffinity, sched.AntiAffinity{Key: keys[perm[i]], Max: 1 + rng.IntN(3)})
	}
	return r
}

// variant returns r with one field changed: the app, image, zones, level,
// network zone, VLAN, selector, tolerations, cpu, spread or anti-affinity.
func variant(rng *rand.Rand, r sched.Request) sched.Request {
	switch rng.IntN(11) {
	case 0:
		r.App = map[string]string{"web": "db", "db": "web"}[r.App]
	case 1:
		r.Image = map[string]string{"": "app:v1", "app:v1": ""}[r.Image]
	case 2:
		if r.Zones == nil {
			r.Zones = []string{"zone-a"}
		} else {
			r.Zones = nil
		}
	case 3:
		r.Level = map[string]string{"": "general", "general": "", "critical": "general"}[r.Level]
	case 4:
		r.NetZone = map[string]string{"": "net1", "net1": ""}[r.NetZone]
	case 5:
		r.VLAN = map[int]int{0: 100, 100: 0, 200: 100}[r.VLAN]
	case 6:
		if r.NodeSelector == nil {
			r.NodeSelector = map[string]string{"disk": "ssd"}
		} else {
			r.NodeSelector = nil
		}
	case 7:
		if r.Tolerations == nil {
			r.Tolerations = []sched.Toleration{{Key: "dedicated", Exists: true}}
		} else {
			r.Tolerations = nil
		}
	case 8:
		r.Resources.MilliCPU += 500
	case 9:
		if r.Spread == nil {
			r.Spread = []sched.SpreadRule{{Key: sched.KeyRack, MaxSkew: 1}}
		} else {
			r.Spread = nil
		}
	default:
		if r.AntiAffinity == nil {
			r.AntiAffinity = []sched.AntiAffinity{{Key: sched.KeyNode, Max: 1}}
		} else {
			r.AntiAffinity = nil
		}
	}
	return r
}
