package alertcorr

import (
	"fmt"
	"math/rand/v2"
	"sync"
	"testing"
	"time"
)

// Senders ingesting at once, the same alerts in different orders and
// batch sizes, leave what one sender would: each alert once, each arrival
// counted, entities found.
func TestConcurrentIngest(t *testing.T) {
	tp := testTopo(t, 2, 5)
	var alerts []Alert
	for i := range 300 {
		l := Labels{"alertname": fmt.Sprintf("A%d", i%30), "host": fmt.Sprintf("h%d-%d", i%2, i%5), "n": fmt.Sprint(i)}
		if i%7 == 0 {
			l["host"] = "unknown-host"
		}
		alerts = append(alerts, Alert{Labels: l})
	}
	c := newClock()
	e := mustEngine(t, Config{Topology: tp, Now: c.Now})
	var wg sync.WaitGroup
	for g := range 4 {
		wg.Go(func() {
			r := rand.New(rand.NewPCG(uint64(g), 3))
			mine := append([]Alert(nil), alerts...)
			r.Shuffle(len(mine), func(i, j int) { mine[i], mine[j] = mine[j], mine[i] })
			for len(mine) > 0 {
				n := min(len(mine), 1+r.IntN(20))
				if err := e.Ingest(mine[:n]...); err != nil {
					t.Error(err)
					return
				}
				mine = mine[n:]
			}
		})
	}
	wg.Wait()
	s := e.Stats()
	if got := len(e.Alerts()); got != 300 || s.Received != 1200 || s.Duplicates != 900 {
		t.Fatalf("%d alerts held, stats %+v; want 300, 1200 received, 900 duplicates", got, s)
	}
	if s.UnknownEntity != 43 { // i%7 == 0 for i < 300, each counted when first stored
		t.Fatalf("unknown entity counted %d times, want 43", s.UnknownEntity)
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	for _, st := range e.alerts {
		if want, _ := e.lookupEntity(tp, st.a.Labels); st.ent != want {
			t.Fatalf("alert %s has entity %d, want %d", st.a.Labels, st.ent, want)
		}
	}
}

// Without rounds (no Advance), what the engine notes for the next round
// stays bounded however often alerts change; without a topology it notes
// nothing.
func TestChangeNotesBounded(t *testing.T) {
	c := newClock()
	plain := mustEngine(t, Config{Now: c.Now})
	corr := mustEngine(t, Config{Now: c.Now, Topology: testTopo(t, 1, 2)})
	for i := range 5000 {
		l := Labels{"alertname": "Flap", "host": "h0-0"}
		a := Alert{Labels: l, StartsAt: c.Now()}
		if i%2 == 1 {
			a.EndsAt = c.Now() // resolved: a change each time
		}
		mustIngest(t, plain, a)
		mustIngest(t, corr, a)
		c.Add(time.Second)
	}
	if n, m := len(plain.corr.touched), len(plain.corr.timers); n != 0 || m != 0 {
		t.Fatalf("without a topology: %d changes and %d timers noted, want none", n, m)
	}
	if n, m := len(corr.corr.touched), len(corr.corr.timers); n > 1+1024+1 || m > 2+1024 {
		t.Fatalf("5,000 changes of one alert: %d changes and %d timers noted, want at most %d and %d", n, m, 1+1024+1, 2+1024)
	}
	if !corr.corr.scanAll {
		t.Fatal("past the bound the next round must look at every alert")
	}
}
