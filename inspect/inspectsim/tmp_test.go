package inspectsim

import (
	"testing"
	"time"
)

func TestTmpSim(t *testing.T) {
	p := Loopback()
	p.Nodes, p.ReplyCost, p.Loss, p.FreshFailures, p.Failing = 10000, 2*time.Millisecond, 0.05, 0.001, 0.01
	r := Run(p, 1)
	t.Logf("%+v", r)
}
