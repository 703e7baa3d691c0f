package schedtest

import (
	"strings"
	"testing"

	"github.com/shoalkit/shoal/sched"
)

// The checker must catch each kind of violation; otherwise the property
// tests built on it could not fail.
func TestCheckerCatchesViolations(t *testing.T) {
	nodes := Fleet(FleetConfig{Nodes: 8, Racks: 4, Switches: 2, Zones: 2})
	nodes[1].Cordoned = true
	nodes[2].Taints = []sched.Taint{{Key: "gpu", Effect: sched.NoSchedule}}
	one := func(node string) *sched.Result {
		return &sched.Result{Placements: []sched.Placement{{Node: node}}}
	}
	two := func(a, b string) *sched.Result {
		return &sched.Result{Placements: []sched.Placement{{Node: a}, {Node: b}}}
	}
	tests := []struct {
		name string
		req  sched.Request
		res  *sched.Result
		want string // "" when valid
	}{
		{"valid", sched.Request{App: "w", Count: 1}, one(nodes[0].Name), ""},
		{"cordoned", sched.Request{App: "w", Count: 1}, one(nodes[1].Name), "cordoned"},
		{"taint", sched.Request{App: "w", Count: 1}, one(nodes[2].Name), "taint"},
		{"taint tolerated", sched.Request{App: "w", Count: 1, Tolerations: []sched.Toleration{{Key: "gpu", Exists: true}}}, one(nodes[2].Name), ""},
		{"zone", sched.Request{App: "w", Count: 1, Zones: []string{"zone-b"}}, one(nodes[0].Name), "outside"},
		{"capacity", sched.Request{App: "w", Count: 1, Resources: sched.Resources{MilliCPU: 33000}}, one(nodes[0].Name), "over capacity"},
		{"vlan", sched.Request{App: "w", Count: 1, VLAN: 7}, one(nodes[0].Name), "no IP"},
		{"anti-affinity", sched.Request{App: "w", Count: 2, AntiAffinity: []sched.AntiAffinity{{Key: sched.KeyRack, Max: 1}}}, two(nodes[0].Name, nodes[0].Name), "anti-affinity"},
		{"spread", sched.Request{App: "w", Count: 2, Spread: []sched.SpreadRule{{Key: sched.KeyRack, MaxSkew: 1}}}, two(nodes[0].Name, nodes[0].Name), "spread"},
		{"spread ok", sched.Request{App: "w", Count: 2, Spread: []sched.SpreadRule{{Key: sched.KeyRack, MaxSkew: 1}}}, two(nodes[0].Name, nodes[2+2].Name), ""},
		{"count", sched.Request{App: "w", Count: 3}, one(nodes[0].Name), "count"},
		{"false unplaced", sched.Request{App: "w", Count: 1}, &sched.Result{Unplaced: 1}, "could take one"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := NewChecker(nodes).Apply(tt.req, tt.res)
			switch {
			case tt.want == "" && err != nil:
				t.Fatalf("Apply = %v, want nil", err)
			case tt.want != "" && (err == nil || !strings.Contains(err.Error(), tt.want)):
				t.Fatalf("Apply = %v, want an error about %q", err, tt.want)
			}
		})
	}
}
