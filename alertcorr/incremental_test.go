package alertcorr

import (
	"context"
	"fmt"
	"math/rand/v2"
	"reflect"
	"testing"
	"time"
)

// randomStormTopo is a small fleet where every rule can fire: a datacenter,
// a room, racks with a switch each, hosts, containers of a few apps.
func randomStormTopo(t *testing.T, r *rand.Rand) *Topology {
	tp := testTopo(t, 3, 4)
	for h := range 12 {
		host := fmt.Sprintf("h%d-%d", h/4, h%4)
		for c := range 5 {
			addContainer(t, tp, fmt.Sprintf("c%d-%d", h, c), host, fmt.Sprintf("app%d", r.IntN(6)))
		}
	}
	return tp
}

// randomAlert is one alert on a random entity of randomStormTopo, from a
// small label space so that repeats, merges and resolutions happen.
func randomAlert(r *rand.Rand) Labels {
	host := fmt.Sprintf("h%d-%d", r.IntN(3), r.IntN(4))
	switch k := r.IntN(20); {
	case k < 10:
		h := r.IntN(12)
		return Labels{"alertname": []string{"ContainerDown", "Latency"}[r.IntN(2)], "container": fmt.Sprintf("c%d-%d", h, r.IntN(5)), "severity": "warning"}
	case k < 13:
		return Labels{"alertname": []string{"HostDown", "HostLoadHigh"}[r.IntN(2)], "host": host, "severity": "critical"}
	case k < 15:
		return Labels{"alertname": "AppErrors", "app": fmt.Sprintf("app%d", r.IntN(6))}
	case k < 16:
		return Labels{"alertname": "SwitchPortErrors", "switch": fmt.Sprintf("sw%d", r.IntN(3))}
	case k < 17:
		return Labels{"alertname": "RackPower", "rack": fmt.Sprintf("rack%d", r.IntN(3))}
	case k < 18:
		return Labels{"alertname": "DCCooling", "datacenter": "dc1"}
	case k < 19:
		return Labels{"alertname": "Mystery", "instance": fmt.Sprintf("x%d:9100", r.IntN(3))}
	}
	return Labels{"alertname": "ContainerDown", "container": fmt.Sprintf("moved-%d", r.IntN(4))}
}

// TestIncrementalMatchesFullRecompute drives two engines over the same
// random storms (arrivals, repeats, resolutions, silences, containers that
// come, go and move), one re-solving only what changed, the other
// everything each round, and requires the same open and closed incidents,
// evidence included, after every round.
func TestIncrementalMatchesFullRecompute(t *testing.T) {
	var solvedInc, solvedFull uint64
	for seed := range 40 {
		r := rand.New(rand.NewPCG(uint64(seed), 16))
		tp := randomStormTopo(t, r)
		c := newClock()
		cfg := Config{Topology: tp, Now: c.Now, ResolveTimeout: 40 * time.Second, Correlation: Correlation{Window: 5 * time.Second}}
		inc, full := mustEngine(t, cfg), mustEngine(t, cfg)
		full.corr.full = true
		var sent []Labels
		for round := range 60 {
			var batch []Alert
			for range r.IntN(12) {
				l := randomAlert(r)
				sent = append(sent, l)
				batch = append(batch, Alert{Labels: l})
			}
			for range r.IntN(3) { // resolve a few
				if len(sent) > 0 {
					batch = append(batch, Alert{Labels: sent[r.IntN(len(sent))], EndsAt: c.Now()})
				}
			}
			_ = inc.Ingest(batch...) // unknown entities are accepted
			_ = full.Ingest(batch...)
			switch r.IntN(12) {
			case 0:
				s := Silence{Matchers: ms(t, fmt.Sprintf(`alertname="%s"`, []string{"Latency", "HostLoadHigh", "AppErrors"}[r.IntN(3)])), EndsAt: c.Now().Add(time.Duration(1+r.IntN(30)) * time.Second)}
				if _, err := inc.SetSilence(context.Background(), s); err != nil {
					t.Fatal(err)
				}
				if _, err := full.SetSilence(context.Background(), s); err != nil {
					t.Fatal(err)
				}
			case 1: // a container comes or moves
				id := fmt.Sprintf("moved-%d", r.IntN(4))
				host := fmt.Sprintf("h%d-%d", r.IntN(3), r.IntN(4))
				addContainer(t, tp, id, host, fmt.Sprintf("app%d", r.IntN(6)))
			case 2: // or goes
				_ = tp.Remove(KindContainer, fmt.Sprintf("moved-%d", r.IntN(4)))
			}
			now := c.Add(time.Duration(1+r.IntN(8)) * time.Second)
			for _, e := range []*Engine{inc, full} {
				if err := e.Advance(t.Context(), now); err != nil {
					t.Fatal(err)
				}
			}
			if a, b := inc.Incidents(), full.Incidents(); !reflect.DeepEqual(a, b) {
				t.Fatalf("seed %d round %d: open incidents differ\nincremental: %s\nfull:        %s", seed, round, describe(a), describe(b))
			}
			if a, b := inc.ClosedIncidents(), full.ClosedIncidents(); !reflect.DeepEqual(a, b) {
				t.Fatalf("seed %d round %d: closed incidents differ\nincremental: %s\nfull:        %s", seed, round, describe(a), describe(b))
			}
		}
		solvedInc += inc.corr.solved
		solvedFull += full.corr.solved
	}
	if solvedInc >= solvedFull {
		t.Fatalf("incremental rounds solved %d members, full rounds %d: nothing saved", solvedInc, solvedFull)
	}
	t.Logf("members solved: incremental %d, full %d", solvedInc, solvedFull)
}

func describe(ins []Incident) string {
	s := ""
	for _, in := range ins {
		s += fmt.Sprintf("\n  %s %s/%s %s members=%d ev=%q reason=%q", in.ID, in.Root.Kind, in.Root.ID, in.Rule, len(in.Members), in.Evidence, in.Reason)
	}
	return s
}
