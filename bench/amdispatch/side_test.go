package amdispatch

import (
	"context"
	"fmt"
	"runtime"
	"testing"
	"time"

	"github.com/prometheus/alertmanager/types"
	"github.com/prometheus/common/model"

	"github.com/shoalkit/shoal/alertcorr"
	"github.com/shoalkit/shoal/alertcorr/storm"
)

func mixedStorm(t testing.TB, hosts, cph, apps int) *storm.Storm {
	s, err := storm.Generate(storm.Config{Seed: 1, Hosts: hosts, ContainersPerHost: cph, Apps: apps, AppFaults: 3, HostFaults: 10, SwitchFaults: 2, Noise: 40, Missing: 0.05})
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// truthOf re-keys the storm's truth by the labelled alerts' fingerprints.
func truthOf(s *storm.Storm, labelled []alertcorr.Alert) *storm.Storm {
	out := &storm.Storm{Faults: s.Faults, Truth: map[alertcorr.Fingerprint]string{}}
	for i, a := range s.Alerts {
		out.Truth[labelled[i].Fingerprint()] = s.Truth[a.Alert.Fingerprint()]
	}
	return out
}

// amIncidents turns Alertmanager's notifications into incidents: each
// notified group is one, its root the entity its group labels name; an
// inhibited alert joins the group of the alert that inhibits it.
func amIncidents(a *am, labelled []alertcorr.Alert) []alertcorr.Incident {
	a.rec.mu.Lock()
	defer a.rec.mu.Unlock()
	groupOf := map[string]string{}
	incs := map[string]*alertcorr.Incident{}
	var order []string
	for key, alerts := range a.rec.groups {
		gl := a.rec.labels[key]
		in := &alertcorr.Incident{ID: key}
		switch {
		case gl["app"] != "":
			in.Root = alertcorr.Entity{Kind: alertcorr.KindApp, ID: string(gl["app"])}
		case gl["switch"] != "":
			in.Root = alertcorr.Entity{Kind: alertcorr.KindSwitch, ID: string(gl["switch"])}
		case gl["host"] != "":
			in.Root = alertcorr.Entity{Kind: alertcorr.KindHost, ID: string(gl["host"])}
		}
		for _, al := range alerts {
			groupOf[al.Fingerprint().String()] = key
			in.Members = append(in.Members, fromAM(al.Labels).Fingerprint())
		}
		incs[key] = in
		order = append(order, key)
	}
	for _, l := range labelled {
		ls := model.LabelSet{}
		for k, v := range l.Labels {
			ls[model.LabelName(k)] = model.LabelValue(v)
		}
		st := a.marker.Status(ls.Fingerprint())
		if len(st.InhibitedBy) == 0 {
			continue
		}
		if key, ok := groupOf[st.InhibitedBy[0]]; ok {
			incs[key].Members = append(incs[key].Members, l.Fingerprint())
			continue
		}
		id := "inhibited-" + ls.Fingerprint().String()
		incs[id] = &alertcorr.Incident{ID: id, Members: []alertcorr.Fingerprint{l.Fingerprint()}}
		order = append(order, id)
	}
	out := make([]alertcorr.Incident, 0, len(order))
	for _, k := range order {
		out = append(out, *incs[k])
	}
	return out
}

func fromAM(ls model.LabelSet) alertcorr.Labels {
	l := alertcorr.Labels{}
	for k, v := range ls {
		l[string(k)] = string(v)
	}
	return l
}

// TestSideBySide feeds one mixed storm to Alertmanager (best rules) and
// to alertcorr and logs both scores; alertcorr must do at least as well.
func TestSideBySide(t *testing.T) {
	s := mixedStorm(t, 2000, 50, 1000)
	labelled := withLabels(s)
	truth := truthOf(s, labelled)

	a := startAM(t)
	now := time.Now()
	batch := make([]*types.Alert, 0, len(labelled))
	for _, l := range labelled {
		batch = append(batch, toAM(l, now))
	}
	if err := a.alerts.Put(batch...); err != nil {
		t.Fatal(err)
	}
	time.Sleep(6 * time.Second) // group_wait 3 s, and the inhibitor's cache
	amScore := truth.Score(amIncidents(a, labelled))

	tp := alertcorr.NewTopology()
	if err := tp.Load(context.Background(), s); err != nil {
		t.Fatal(err)
	}
	clock := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	e, err := alertcorr.New(alertcorr.Config{Topology: tp, Now: func() time.Time { return clock }})
	if err != nil {
		t.Fatal(err)
	}
	defer e.Close()
	if err := e.Ingest(labelled...); err != nil {
		t.Fatal(err)
	}
	clock = clock.Add(time.Minute)
	if err := e.Advance(context.Background(), clock); err != nil {
		t.Fatal(err)
	}
	ourScore := truth.Score(e.Incidents())
	t.Logf("alertmanager: %s", fmtScore(amScore))
	t.Logf("alertcorr:    %s", fmtScore(ourScore))
	if ourScore.Compression < amScore.Compression || ourScore.F1 < amScore.F1 || ourScore.Top1 < amScore.Top1 {
		t.Fatalf("alertcorr does worse than Alertmanager on the same storm")
	}
}

func fmtScore(s storm.Score) string {
	return fmt.Sprintf("%d alerts → %d incidents, compression %.2f%%, top-1 %.1f%%, pairwise P %.3f R %.3f F1 %.3f, merges %d, splits %d",
		s.Alerts, s.Incidents, 100*s.Compression, 100*s.Top1, s.Precision, s.Recall, s.F1, s.Merges, s.Splits)
}

// BenchmarkAlertmanagerPut measures Alertmanager's ingest: Put into its
// alert store with the dispatcher and inhibitor consuming, one alert per
// call, on the same storm as alertcorr's BenchmarkIngest (10,000 hosts,
// 1M containers, 5,000 apps).
func BenchmarkAlertmanagerPut(b *testing.B) {
	s := bigStorm(b)
	labelled := withLabels(s)
	a := startAM(b)
	now := time.Now()
	in := make([]*types.Alert, len(labelled))
	for i, l := range labelled {
		in[i] = toAM(l, now)
	}
	i := 0
	cpu0, _ := processCPU()
	for b.Loop() {
		if err := a.alerts.Put(in[i%len(in)]); err != nil {
			b.Fatal(err)
		}
		i++
	}
	if cpu, ok := processCPU(); ok {
		b.ReportMetric(float64(cpu-cpu0)/float64(b.N), "cpu-ns/op")
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "alerts/s")
	runtime.KeepAlive(a)
}

// BenchmarkAlertcorrIngest is alertcorr's side: the same labelled alerts,
// the 1M-entity topology loaded.
func BenchmarkAlertcorrIngest(b *testing.B) {
	s := bigStorm(b)
	labelled := withLabels(s)
	tp := alertcorr.NewTopology()
	if err := tp.Load(context.Background(), s); err != nil {
		b.Fatal(err)
	}
	now := time.Now()
	e, err := alertcorr.New(alertcorr.Config{Topology: tp, Now: func() time.Time { return now }})
	if err != nil {
		b.Fatal(err)
	}
	defer e.Close()
	i := 0
	cpu0, _ := processCPU()
	for b.Loop() {
		if err := e.Ingest(labelled[i%len(labelled)]); err != nil {
			b.Fatal(err)
		}
		i++
	}
	if cpu, ok := processCPU(); ok {
		b.ReportMetric(float64(cpu-cpu0)/float64(b.N), "cpu-ns/op")
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "alerts/s")
}

func bigStorm(b *testing.B) *storm.Storm {
	s, err := storm.Generate(storm.Config{
		Seed: 42, Hosts: 10_000, ContainersPerHost: 100, Apps: 5_000,
		AppFaults: 5, HostFaults: 50, SwitchFaults: 5, Noise: 2_000, Missing: 0.05,
	})
	if err != nil {
		b.Fatal(err)
	}
	return s
}
