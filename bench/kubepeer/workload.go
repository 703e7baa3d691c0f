package kubepeer

import (
	"fmt"
	"math/rand/v2"

	"github.com/shoalkit/shoal/sched"
	"github.com/shoalkit/shoal/sched/schedtest"
)

// Mode pairs a sched mode with the kube-scheduler setting that does the
// same work.
type Mode int

const (
	// Exact is sched's Exact mode against kube-scheduler with
	// percentageOfNodesToScore 100: every node filtered, every feasible
	// node scored, for every pod.
	Exact Mode = iota
	// Sampled is sched's Sampled mode against kube-scheduler's adaptive
	// percentageOfNodesToScore (both: 50% minus 1% per 125 nodes, at least
	// 5%, at least 100 nodes; 500 feasible nodes at 10,000 nodes), each
	// window starting where the previous pod's stopped.
	Sampled
)

// String returns "exact" or "sampled".
func (m Mode) String() string {
	if m == Sampled {
		return "sampled"
	}
	return "exact"
}

// kubePercentage is the percentageOfNodesToScore that gives kube-scheduler
// the same work as sched's mode m (0 is kube's adaptive default).
func (m Mode) kubePercentage() int32 {
	if m == Sampled {
		return 0
	}
	return 100
}

// schedConfig is sched's default profile in mode m: least-allocated and
// balanced-allocation scoring, like kube-scheduler's default profile.
func (m Mode) schedConfig() sched.Config {
	cfg := sched.DefaultConfig()
	if m == Sampled {
		cfg.Mode = sched.Sampled
	}
	return cfg
}

// Scenario is one kind of request of the stream, stated once in sched's
// terms. The kube side translates it (see PodFor) or reports that it
// cannot be said to kube-scheduler.
type Scenario struct {
	// Name identifies the scenario in the output.
	Name string
	// Rules are set on every request of the scenario.
	Spread       []sched.SpreadRule
	AntiAffinity []sched.AntiAffinity
}

// Scenarios returns the request shapes of issue 19: plain replicas; at
// most one per rack; at most two per rack (which kube-scheduler cannot
// say: its required anti-affinity allows one pod per domain); a hard rack
// spread with max skew 1; and a soft rack spread.
func Scenarios() []Scenario {
	return []Scenario{
		{Name: "plain"},
		{Name: "rack-max-1", AntiAffinity: []sched.AntiAffinity{{Key: sched.KeyRack, Max: 1}}},
		{Name: "rack-max-2", AntiAffinity: []sched.AntiAffinity{{Key: sched.KeyRack, Max: 2}}},
		{Name: "hard-spread", Spread: []sched.SpreadRule{{Key: sched.KeyRack, MaxSkew: 1}}},
		{Name: "soft-spread", Spread: []sched.SpreadRule{{Key: sched.KeyRack, MaxSkew: 1, Soft: true}}},
	}
}

// replicaResources is what every replica of the stream asks for: half a
// core, 1 GiB of memory and 10 GiB of disk (ephemeral storage in kube).
func replicaResources() sched.Resources {
	return sched.Resources{MilliCPU: 500, Memory: 1 << 30, Disk: 10 << 30}
}

// Requests returns the stream of a scenario: apps requests of replicas
// each, one app after the other, every app named after the scenario so
// that no two scenarios' rules meet.
func (sc Scenario) Requests(apps, replicas int) []sched.Request {
	out := make([]sched.Request, apps)
	for i := range out {
		out[i] = sched.Request{
			App:          fmt.Sprintf("%s-%04d", sc.Name, i),
			Count:        replicas,
			Resources:    replicaResources(),
			Spread:       sc.Spread,
			AntiAffinity: sc.AntiAffinity,
		}
	}
	return out
}

// Background is one allocation made before the stream starts, the same on
// both sides.
type Background struct {
	Node      string
	Resources sched.Resources
}

// backgroundApp is the app of the background allocations (kube: their
// pods' app label); no scenario's rule counts it.
const backgroundApp = "background"

// Fleet is the one fleet both schedulers get: the nodes from schedtest's
// generator and the background occupancy.
type Fleet struct {
	Nodes      []sched.Node
	Background []Background
}

// NewFleet generates nodes nodes in racks racks behind switches switches
// with schedtest.Fleet (identical 32-core, 128 GiB, 1 TiB machines), and
// gives each a background allocation drawn from seed: 0 to 16 cores in
// steps of 2 with 4 GiB per core, 8 cores (a quarter of the fleet) on
// average. Nodes with no background allocation get none.
func NewFleet(nodes, racks, switches int, seed uint64) (*Fleet, error) {
	if nodes < 1 || racks < 1 || switches < 1 || racks > nodes || switches > racks {
		return nil, newError(ErrInvalid, "fleet of %d nodes, %d racks, %d switches: need 1 <= switches <= racks <= nodes", nodes, racks, switches)
	}
	f := &Fleet{Nodes: schedtest.Fleet(schedtest.FleetConfig{Nodes: nodes, Racks: racks, Switches: switches, Seed: seed})}
	rng := rand.New(rand.NewPCG(seed, 0xb0a7))
	for _, n := range f.Nodes {
		cores := int64(2 * rng.IntN(9))
		if cores == 0 {
			continue
		}
		f.Background = append(f.Background, Background{
			Node:      n.Name,
			Resources: sched.Resources{MilliCPU: cores * 1000, Memory: cores * 4 << 30, Disk: cores * 10 << 30},
		})
	}
	return f, nil
}

// checker returns a schedtest checker holding the fleet's background.
func (f *Fleet) checker() (*schedtest.Checker, error) {
	chk := schedtest.NewChecker(f.Nodes)
	for _, b := range f.Background {
		if err := chk.Allocate(b.Node, sched.Allocation{App: backgroundApp, Resources: b.Resources}); err != nil {
			return nil, wrapError(ErrInvalid, err, "background on node %q", b.Node)
		}
	}
	return chk, nil
}
