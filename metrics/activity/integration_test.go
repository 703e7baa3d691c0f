package activity_test

import (
	"context"
	"testing"
	"time"

	"github.com/shoalkit/shoal/internal/testenv"
	"github.com/shoalkit/shoal/metrics"
	"github.com/shoalkit/shoal/metrics/activity"
)

// TestRealContainersRanked ranks three real containers of one app: one
// spinning, one asleep, one whose cgroup goes away (stale, not idle).
func TestRealContainersRanked(t *testing.T) {
	busy, idle, gone := testenv.NewCgroup(t), testenv.NewCgroup(t), testenv.NewCgroup(t)
	busy.Start(t, "sh", "-c", "while :; do :; done")
	idle.Start(t, "sleep", "1000")
	gone.Start(t, "sleep", "1000")
	tr, err := activity.New(activity.Config{StaleAfter: 2})
	if err != nil {
		t.Fatal(err)
	}
	c, err := metrics.New(context.Background(), metrics.Config{})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	for id, cg := range map[string]*testenv.Cgroup{"busy": busy, "idle": idle, "gone": gone} {
		if err := c.Add(metrics.Target{ID: id, App: "shop", Cgroup: "/" + cg.Name}); err != nil {
			t.Fatal(err)
		}
	}
	observe := func() {
		s, err := c.Sample(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		tr.Observe(s)
	}
	observe()
	time.Sleep(300 * time.Millisecond)
	observe()
	// gone's container stops: its cgroup is removed.
	removeAll(t, gone)
	for range 2 {
		time.Sleep(300 * time.Millisecond)
		observe()
	}
	rep := tr.Report()
	if len(rep.Apps) != 1 {
		t.Fatalf("apps %+v", rep.Apps)
	}
	a := rep.Apps[0]
	if a.Containers != 2 || a.Busiest[0].ID != "busy" || a.Idlest[0].ID != "idle" {
		t.Fatalf("ranking %+v", a)
	}
	if a.Busiest[0].Usage.CPUPercent < 10 || a.Idlest[0].Usage.CPUPercent > 1 || a.Busiest[0].Score <= a.Idlest[0].Score {
		t.Errorf("busy %+v, idle %+v", a.Busiest[0], a.Idlest[0])
	}
	if len(a.Stale) != 1 || a.Stale[0].ID != "gone" || a.Stale[0].Missed != 2 {
		t.Errorf("stale %+v, want gone after 2 missed samples", a.Stale)
	}
}
