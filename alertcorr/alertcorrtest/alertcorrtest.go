package alertcorrtest

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/shoalkit/shoal/alertcorr"
)

// TopologySource checks src: it yields at least one entity, each with a
// known kind and an id unique within its kind, every parent, switch and
// app before the entities that name it, so that the whole topology loads;
// and with a cancelled context it stops with an error.
func TopologySource(t *testing.T, src alertcorr.TopologySource) {
	t.Helper()
	seen := map[alertcorr.Kind]map[string]bool{}
	has := func(k alertcorr.Kind, id string) bool { return seen[k][id] }
	n := 0
	err := src.Entities(t.Context(), func(e alertcorr.Entity) error {
		n++
		if e.Kind == alertcorr.KindUnknown || e.Kind > alertcorr.KindApp {
			t.Errorf("entity %q has kind %d", e.ID, e.Kind)
		}
		if has(e.Kind, e.ID) {
			t.Errorf("%s %q yielded twice", e.Kind, e.ID)
		}
		if e.Parent != "" {
			found := false
			for k := alertcorr.KindDatacenter; k <= alertcorr.KindApp; k++ {
				found = found || has(k, e.Parent)
			}
			if !found {
				t.Errorf("%s %q yielded before its parent %q", e.Kind, e.ID, e.Parent)
			}
		}
		if e.Switch != "" && !has(alertcorr.KindSwitch, e.Switch) {
			t.Errorf("%s %q yielded before its switch %q", e.Kind, e.ID, e.Switch)
		}
		if e.App != "" && !has(alertcorr.KindApp, e.App) {
			t.Errorf("%s %q yielded before its app %q", e.Kind, e.ID, e.App)
		}
		if seen[e.Kind] == nil {
			seen[e.Kind] = map[string]bool{}
		}
		seen[e.Kind][e.ID] = true
		return nil
	})
	if err != nil {
		t.Fatalf("Entities: %v", err)
	}
	if n == 0 {
		t.Fatal("Entities yielded nothing")
	}
	tp := alertcorr.NewTopology()
	if err := tp.Load(t.Context(), src); err != nil {
		t.Fatalf("the topology does not load: %v", err)
	}
	if tp.Len() != n {
		t.Errorf("loaded %d entities of %d yielded", tp.Len(), n)
	}
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	stop := errors.New("yield called after cancellation")
	if err := src.Entities(ctx, func(alertcorr.Entity) error { return stop }); err == nil {
		t.Error("Entities with a cancelled context returned nil")
	}
}

// Notifier checks n by sending it one firing notification for receiver
// and then the same alert resolved; both must succeed.
func Notifier(t *testing.T, n alertcorr.Notifier, receiver string) {
	t.Helper()
	now := time.Now()
	a := alertcorr.Alert{Labels: alertcorr.Labels{"alertname": "ConformanceCheck"}, Annotations: alertcorr.Labels{"summary": "alertcorrtest"}, StartsAt: now.Add(-time.Minute)}
	note := &alertcorr.Notification{Receiver: receiver, GroupKey: "{}:{}", GroupLabels: alertcorr.Labels{}, Alerts: []alertcorr.Alert{a}, At: now}
	if err := n.Notify(t.Context(), note); err != nil {
		t.Fatalf("firing notification: %v", err)
	}
	a.EndsAt = now
	note.Alerts = []alertcorr.Alert{a}
	if err := n.Notify(t.Context(), note); err != nil {
		t.Fatalf("resolved notification: %v", err)
	}
}
