package inspectsim

import (
	"testing"
	"time"
)

func TestRunAccountsForAll(t *testing.T) {
	for _, n := range []int{50, 100, 1000} {
		p := LocalProfile()
		p.Nodes, p.Loss, p.FreshFailures = n, 0.05, 0.01
		r := Run(p, 7)
		if r.Accounted != n || r.Answered+r.Silent != n {
			t.Errorf("%d nodes: %+v", n, r)
		}
		t.Logf("simulated %d nodes: round %v, silent %d (healthy %d)", n, r.Round, r.Silent, r.FalseDead)
	}
}

func TestNoLossAllAnswer(t *testing.T) {
	p := LocalProfile()
	p.Nodes = 500
	r := Run(p, 1)
	if r.Answered != 500 || r.Silent != 0 || r.Round > 3*time.Second {
		t.Errorf("%+v", r)
	}
}

// TestCollectorsAccountForAll: a round whose first attempt goes through
// collectors accounts for every member under loss and fresh failures,
// leaves no healthy member silent, and is faster than every member
// answering the inspector at the calibrated reply cost.
func TestCollectorsAccountForAll(t *testing.T) {
	p := Loopback()
	p.Nodes, p.Loss, p.FreshFailures, p.GroupSize = 1000, 0.05, 0.002, 100
	r := Run(p, 3)
	if r.Accounted != p.Nodes || r.Answered+r.Silent != p.Nodes || r.FalseDead != 0 {
		t.Errorf("collected: %+v", r)
	}
	p.GroupSize = 0
	direct := Run(p, 3)
	if r.Round >= direct.Round || r.InspectorReplies*4 > direct.InspectorReplies {
		t.Errorf("collected round %v handling %d, direct %v handling %d: collection should be faster, and the inspector handle a quarter or less",
			r.Round, r.InspectorReplies, direct.Round, direct.InspectorReplies)
	}
	t.Logf("simulated 1,000 members: collected %v, direct %v", r.Round, direct.Round)
}
