package alertcorr

import (
	"fmt"
	"math/rand/v2"
	"testing"
	"time"
)

// testTopo builds dc1 → room1 → racks r0..r(R-1), one switch per rack,
// hostsPerRack hosts each; apps get containers placed by place.
func testTopo(t *testing.T, racks, hostsPerRack int) *Topology {
	t.Helper()
	tp := NewTopology()
	must := func(e Entity) {
		if err := tp.Upsert(e); err != nil {
			t.Fatal(err)
		}
	}
	must(Entity{Kind: KindDatacenter, ID: "dc1"})
	must(Entity{Kind: KindRoom, ID: "room1", Parent: "dc1"})
	for r := range racks {
		must(Entity{Kind: KindRack, ID: fmt.Sprintf("rack%d", r), Parent: "room1"})
		must(Entity{Kind: KindSwitch, ID: fmt.Sprintf("sw%d", r), Parent: fmt.Sprintf("rack%d", r)})
		for h := range hostsPerRack {
			must(Entity{Kind: KindHost, ID: fmt.Sprintf("h%d-%d", r, h), Parent: fmt.Sprintf("rack%d", r), Switch: fmt.Sprintf("sw%d", r)})
		}
	}
	return tp
}

func addContainer(t *testing.T, tp *Topology, id, host, app string) {
	t.Helper()
	if _, ok := tp.Get(KindApp, app); !ok {
		if err := tp.Upsert(Entity{Kind: KindApp, ID: app}); err != nil {
			t.Fatal(err)
		}
	}
	if err := tp.Upsert(Entity{Kind: KindContainer, ID: id, Parent: host, App: app}); err != nil {
		t.Fatal(err)
	}
}

// storm5100 is the scenario: an app with 50 containers on 50
// hosts, each host with 100 containers of other apps; the app's bug
// overloads its containers and their hosts, which starves the others:
// 50 + 50 + 100×50 = 5,100 alerts.
func storm5100(t *testing.T) (*Topology, []Alert) {
	tp := testTopo(t, 5, 10) // 50 hosts on 5 switches
	var alerts []Alert
	for r := range 5 {
		for h := range 10 {
			host := fmt.Sprintf("h%d-%d", r, h)
			addContainer(t, tp, "bad-"+host, host, "checkout")
			alerts = append(alerts,
				Alert{Labels: Labels{"alertname": "ContainerCPUThrottled", "container": "bad-" + host, "host": host, "app": "checkout"}},
				Alert{Labels: Labels{"alertname": "HostLoadHigh", "host": host}})
			for c := range 100 {
				id := fmt.Sprintf("c-%s-%d", host, c)
				addContainer(t, tp, id, host, fmt.Sprintf("app%d", (r*1000+h*100+c)%700))
				alerts = append(alerts, Alert{Labels: Labels{"alertname": "ContainerLatencyHigh", "container": id, "host": host}})
			}
		}
	}
	if len(alerts) != 5100 {
		t.Fatalf("scenario has %d alerts, want 5100", len(alerts))
	}
	return tp, alerts
}

// correlateOnce ingests alerts in the given order and returns the open
// incidents after the correlation window.
func correlateOnce(t *testing.T, tp *Topology, alerts []Alert) []Incident {
	t.Helper()
	c := newClock()
	e := mustEngine(t, Config{Topology: tp, Now: c.Now})
	mustIngest(t, e, alerts...)
	step(t, e, c, DefaultCorrelation().Window)
	return e.Incidents()
}

func TestAppStormIsOneIncidentInAnyOrder(t *testing.T) {
	tp, alerts := storm5100(t)
	var first string
	for seed := range 5 {
		r := rand.New(rand.NewPCG(uint64(seed), 7))
		r.Shuffle(len(alerts), func(i, j int) { alerts[i], alerts[j] = alerts[j], alerts[i] })
		inc := correlateOnce(t, tp, alerts)
		if len(inc) != 1 {
			t.Fatalf("order %d: %d incidents, want 1: %v", seed, len(inc), rootsOf(inc))
		}
		in := inc[0]
		if in.Root.Kind != KindApp || in.Root.ID != "checkout" || in.Rule != "app-spread" || len(in.Members) != 5100 {
			t.Fatalf("order %d: incident root %s %s rule %s with %d members, want app checkout app-spread 5100", seed, in.Root.Kind, in.Root.ID, in.Rule, len(in.Members))
		}
		ev := fmt.Sprint(in.Evidence)
		if first == "" {
			first = ev
		} else if ev != first {
			t.Fatalf("order %d: evidence differs:\n%s\n%s", seed, ev, first)
		}
	}
	t.Logf("evidence: %s", first)
}

func TestHostFailureRootsAtHost(t *testing.T) {
	tp := testTopo(t, 2, 4)
	var alerts []Alert
	for c := range 30 {
		id := fmt.Sprintf("c%d", c)
		addContainer(t, tp, id, "h1-2", fmt.Sprintf("app%d", c))
		alerts = append(alerts, Alert{Labels: Labels{"alertname": "ContainerDown", "container": id}})
		// Each app has containers elsewhere that are fine.
		addContainer(t, tp, id+"-b", "h0-1", fmt.Sprintf("app%d", c))
	}
	alerts = append(alerts, Alert{Labels: Labels{"alertname": "HostDown", "host": "h1-2"}})
	for seed := range 3 {
		r := rand.New(rand.NewPCG(uint64(seed), 1))
		r.Shuffle(len(alerts), func(i, j int) { alerts[i], alerts[j] = alerts[j], alerts[i] })
		inc := correlateOnce(t, tp, alerts)
		if len(inc) != 1 || inc[0].Root.Kind != KindHost || inc[0].Root.ID != "h1-2" || len(inc[0].Members) != 31 {
			t.Fatalf("incidents %v, want one rooted at host h1-2 with 31 members", rootsOf(inc))
		}
	}
}

func TestSwitchFailureRootsAtSwitchThatNeverAlerted(t *testing.T) {
	tp := testTopo(t, 3, 8)
	var alerts []Alert
	for h := range 8 {
		host := fmt.Sprintf("h1-%d", h)
		alerts = append(alerts, Alert{Labels: Labels{"alertname": "HostDown", "host": host}})
		for c := range 5 {
			id := fmt.Sprintf("c-%s-%d", host, c)
			addContainer(t, tp, id, host, fmt.Sprintf("app%d", c))
			alerts = append(alerts, Alert{Labels: Labels{"alertname": "ContainerDown", "container": id}})
		}
	}
	// Noise elsewhere: one container on another rack.
	addContainer(t, tp, "noise", "h2-0", "app9")
	alerts = append(alerts, Alert{Labels: Labels{"alertname": "ContainerOOM", "container": "noise"}})
	inc := correlateOnce(t, tp, alerts)
	if len(inc) != 2 {
		t.Fatalf("incidents %v, want the switch and the noise", rootsOf(inc))
	}
	for _, in := range inc {
		switch in.Root.ID {
		case "sw1":
			if in.Root.Kind != KindSwitch || len(in.Members) != 48 || in.Rule != "switch-unreachable" {
				t.Fatalf("switch incident %s %s rule %s members %d, want switch sw1 switch-unreachable 48", in.Root.Kind, in.Root.ID, in.Rule, len(in.Members))
			}
		case "noise":
			if len(in.Members) != 1 || in.Rule != "self" {
				t.Fatalf("noise incident rule %s members %d", in.Rule, len(in.Members))
			}
		default:
			t.Fatalf("unexpected root %s %s", in.Root.Kind, in.Root.ID)
		}
	}
}

// Late alerts join the open incident, and when the root resolves its
// members resolve with it.
func TestLateJoinAndRootResolves(t *testing.T) {
	tp := testTopo(t, 1, 2)
	for c := range 4 {
		addContainer(t, tp, fmt.Sprintf("c%d", c), "h0-0", fmt.Sprintf("app%d", c))
	}
	c := newClock()
	rec := &recorder{}
	e := mustEngine(t, Config{Topology: tp, Now: c.Now, Notifier: rec, Route: &Route{Receiver: "r", GroupBy: []string{"incident"}, GroupWait: time.Second, GroupInterval: 10 * time.Second}})
	host := Alert{Labels: Labels{"alertname": "HostDown", "host": "h0-0"}}
	mustIngest(t, e, host, Alert{Labels: Labels{"alertname": "ContainerDown", "container": "c0"}})
	step(t, e, c, 30*time.Second)
	inc := e.Incidents()
	if len(inc) != 1 || len(inc[0].Members) != 2 {
		t.Fatalf("incidents %v, want one with 2 members", rootsOf(inc))
	}
	id := inc[0].ID
	mustIngest(t, e, Alert{Labels: Labels{"alertname": "ContainerDown", "container": "c1"}})
	step(t, e, c, 30*time.Second)
	inc = e.Incidents()
	if len(inc) != 1 || inc[0].ID != id || len(inc[0].Members) != 3 {
		t.Fatalf("after a late alert: %v, want incident %s with 3 members", rootsOf(inc), id)
	}
	got := rec.take()
	if len(got) == 0 || got[len(got)-1].Alerts[0].Annotations["members"] != "3" {
		t.Fatalf("notifications %v, want the incident with 3 members", got)
	}
	// The host recovers; the containers' alerts still fire, but resolve
	// with their root.
	host.StartsAt, host.EndsAt = c.Now().Add(-time.Minute), c.Now()
	mustIngest(t, e, host)
	step(t, e, c, 10*time.Second)
	if inc := e.Incidents(); len(inc) != 0 {
		t.Fatalf("after the root resolved: %v open, want none", rootsOf(inc))
	}
	closed := e.ClosedIncidents()
	if len(closed) != 1 || closed[0].Reason != "root resolved" {
		t.Fatalf("closed %v, want the incident resolved with its root", closed)
	}
	step(t, e, c, 10*time.Second)
	got = rec.take()
	if len(got) == 0 || got[len(got)-1].Firing() != 0 {
		t.Fatalf("notifications %v, want the incident resolved", got)
	}
}

// An alert naming no known entity is its own incident, counted, not lost.
func TestUnknownEntityIsNotLost(t *testing.T) {
	tp := testTopo(t, 1, 1)
	c := newClock()
	e := mustEngine(t, Config{Topology: tp, Now: c.Now})
	mustIngest(t, e, Alert{Labels: Labels{"alertname": "X", "host": "ghost"}}, Alert{Labels: Labels{"alertname": "Y"}})
	step(t, e, c, time.Minute)
	if inc := e.Incidents(); len(inc) != 2 || inc[0].Rule != "unknown-entity" {
		t.Fatalf("incidents %v, want two unknown-entity ones", rootsOf(inc))
	}
	if s := e.Stats(); s.UnknownEntity != 1 {
		t.Fatalf("UnknownEntity = %d, want 1", s.UnknownEntity)
	}
}

func rootsOf(inc []Incident) []string {
	var out []string
	for _, in := range inc {
		out = append(out, fmt.Sprintf("%s/%s(%s,%d)", in.Root.Kind, in.Root.ID, in.Rule, len(in.Members)))
	}
	return out
}

// A member resolved with its root is kept out until it fires anew; then
// it is correlated again.
func TestMemberFiresAgainAfterRootResolved(t *testing.T) {
	tp := testTopo(t, 1, 1)
	addContainer(t, tp, "c1", "h0-0", "a1")
	c := newClock()
	e := mustEngine(t, Config{Topology: tp, Now: c.Now})
	host := Alert{Labels: Labels{"alertname": "HostDown", "host": "h0-0"}}
	cont := Alert{Labels: Labels{"alertname": "ContainerDown", "container": "c1"}, StartsAt: c.Now()}
	mustIngest(t, e, host, cont)
	step(t, e, c, 30*time.Second)
	host.StartsAt, host.EndsAt = c.Now().Add(-time.Minute), c.Now()
	mustIngest(t, e, host)
	step(t, e, c, time.Second)
	mustIngest(t, e, cont) // still sent by Prometheus with its old start
	step(t, e, c, time.Minute)
	if inc := e.Incidents(); len(inc) != 0 {
		t.Fatalf("member of a resolved root reopened %v", rootsOf(inc))
	}
	// It resolves, then fires again later: a new incident.
	cont.EndsAt = c.Now()
	mustIngest(t, e, cont)
	step(t, e, c, time.Minute)
	cont.StartsAt, cont.EndsAt = c.Now(), time.Time{}
	mustIngest(t, e, cont)
	step(t, e, c, time.Minute)
	if inc := e.Incidents(); len(inc) != 1 || inc[0].Root.ID != "c1" {
		t.Fatalf("after firing anew: %v, want one incident on c1", rootsOf(inc))
	}
}

// An incident carries what its members share (team) and their highest
// severity, so routes and silences on them work.
func TestIncidentCarriesCommonLabels(t *testing.T) {
	tp := testTopo(t, 1, 1)
	addContainer(t, tp, "c1", "h0-0", "a1")
	addContainer(t, tp, "c2", "h0-0", "a2")
	c := newClock()
	rec := &recorder{}
	e := mustEngine(t, Config{Topology: tp, Now: c.Now, Notifier: rec, Route: &Route{
		Receiver: "default", GroupWait: time.Second,
		Routes: []*Route{{Matchers: ms(t, `team="infra", severity="critical"`), Receiver: "infra-pager"}},
	}})
	mustIngest(t, e,
		Alert{Labels: Labels{"alertname": "HostDown", "host": "h0-0", "team": "infra", "severity": "critical"}},
		Alert{Labels: Labels{"alertname": "ContainerDown", "container": "c1", "host": "h0-0", "team": "infra", "severity": "warning"}},
		Alert{Labels: Labels{"alertname": "ContainerDown", "container": "c2", "host": "h0-0", "team": "infra", "severity": "warning", "zone": "a"}})
	step(t, e, c, 30*time.Second)
	step(t, e, c, time.Second)
	got := rec.take()
	if len(got) != 1 || got[0].Receiver != "infra-pager" {
		t.Fatalf("notifications %v, want one to infra-pager", got)
	}
	l := got[0].Alerts[0].Labels
	if l["team"] != "infra" || l["severity"] != "critical" || l["zone"] != "" || l["container"] != "" || l["host"] != "h0-0" {
		t.Fatalf("incident labels %s", l)
	}
}

// Ingest goes on while a storm is correlated (the solver runs without the
// engine's lock); the race detector watches, and the result is the same.
func TestIngestDuringCorrelation(t *testing.T) {
	tp, alerts := storm5100(t)
	c := newClock()
	e := mustEngine(t, Config{Topology: tp, Now: c.Now})
	mustIngest(t, e, alerts[:2550]...)
	done := make(chan error, 1)
	go func() {
		for _, a := range alerts[2550:] {
			if err := e.Ingest(a); err != nil {
				done <- err
				return
			}
		}
		done <- nil
	}()
	for range 5 {
		if err := e.Advance(t.Context(), c.Add(10*time.Second)); err != nil {
			t.Fatal(err)
		}
	}
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	step(t, e, c, time.Minute)
	if inc := e.Incidents(); len(inc) != 1 || inc[0].Root.ID != "checkout" || len(inc[0].Members) != 5100 {
		t.Fatalf("incidents %v, want the app with 5100 members", rootsOf(inc))
	}
}
