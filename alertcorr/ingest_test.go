package alertcorr

import (
	"fmt"
	"math/rand/v2"
	"sync"
	"testing"
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
