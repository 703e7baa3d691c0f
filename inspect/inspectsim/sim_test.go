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
