package alertcorr

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"
)

// memSnapshot is a SnapshotStore in memory that counts its writes.
type memSnapshot struct {
	mu     sync.Mutex
	data   []byte
	writes int
}

func (m *memSnapshot) Load(context.Context) ([]byte, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.data, nil
}

func (m *memSnapshot) Save(_ context.Context, data []byte) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.data, m.writes = data, m.writes+1
	return nil
}

// A storm that changes incidents every tick writes the snapshot at most
// once per SnapshotInterval; one larger than MaxSnapshotBytes is written
// without its alerts, and the incidents it restores stay open until the
// senders had a resolve timeout to send their alerts again.
func TestSnapshotWritesBoundedAndTrimmed(t *testing.T) {
	c := newClock()
	tp := testTopo(t, 2, 5)
	store := &memSnapshot{}
	cfg := Config{
		Now: c.Now, Topology: tp, Snapshot: store, MaxSnapshotBytes: 64 << 10,
		Route:       &Route{Receiver: "r", GroupWait: time.Hour},
		Correlation: Correlation{Window: time.Second},
	}
	e := mustEngine(t, cfg)
	for tick := range 60 {
		h := fmt.Sprintf("h%d-%d", tick%2, tick%5)
		for k := range 3 {
			mustIngest(t, e, Alert{Labels: Labels{"alertname": fmt.Sprintf("Load%d", tick*3+k), "host": h}, Annotations: Labels{"description": fmt.Sprintf("%02000d", tick)}})
		}
		step(t, e, c, time.Second)
	}
	if store.writes == 0 || store.writes > 60/10+1 {
		t.Fatalf("%d snapshot writes in 60 ticks of 1 s, want 1..%d (SnapshotInterval 10 s)", store.writes, 60/10+1)
	}
	var s snapshot
	if err := json.Unmarshal(store.data, &s); err != nil {
		t.Fatal(err)
	}
	if len(store.data) > 64<<10 || len(s.Alerts) != 0 || s.AlertsLeftOut == 0 || e.Stats().SnapshotTrimmed == 0 || len(s.Incidents) != 10 {
		t.Fatalf("snapshot of %d bytes with %d alerts (%d left out, trimmed %d times) and %d incidents; want ≤ 64 KiB, alerts left out, 10 incidents",
			len(store.data), len(s.Alerts), s.AlertsLeftOut, e.Stats().SnapshotTrimmed, len(s.Incidents))
	}
	open := e.Incidents()
	if err := e.Close(); err != nil {
		t.Fatal(err)
	}

	e2 := mustEngine(t, cfg)
	// h0-0 is sent again; the others are not. Within the resolve timeout
	// every incident stays open; after it, only h0-0's.
	mustIngest(t, e2, Alert{Labels: Labels{"alertname": "Load0", "host": "h0-0"}, Annotations: Labels{"description": fmt.Sprintf("%02000d", 0)}})
	for range 4 {
		step(t, e2, c, time.Minute)
		if got := e2.Incidents(); len(got) != len(open) {
			t.Fatalf("during the hold: %d incidents open, want %d", len(got), len(open))
		}
		mustIngest(t, e2, Alert{Labels: Labels{"alertname": "Load0", "host": "h0-0"}, Annotations: Labels{"description": fmt.Sprintf("%02000d", 0)}})
	}
	step(t, e2, c, 2*time.Minute)
	got := e2.Incidents()
	if len(got) != 1 || got[0].Root.ID != "h0-0" || got[0].ID != open[0].ID && got[0].ID != idOf(open, "h0-0") {
		t.Fatalf("after the hold: %v, want only h0-0's incident, same id", rootsOf(got))
	}
}

func idOf(ins []Incident, root string) string {
	for _, in := range ins {
		if in.Root.ID == root {
			return in.ID
		}
	}
	return ""
}

func TestSnapshotConfig(t *testing.T) {
	if _, err := New(Config{SnapshotPath: "x", Snapshot: &memSnapshot{}}); !errors.Is(err, ErrInvalid) {
		t.Fatalf("both SnapshotPath and Snapshot: %v, want ErrInvalid", err)
	}
	if _, err := New(Config{MaxSnapshotBytes: -1}); !errors.Is(err, ErrInvalid) {
		t.Fatalf("negative MaxSnapshotBytes: %v", err)
	}
	// A snapshot too large even without alerts is an error, counted.
	e := mustEngine(t, Config{Snapshot: &memSnapshot{}, MaxSnapshotBytes: 10})
	if _, err := e.SetSilence(context.Background(), Silence{Matchers: ms(t, `a="b"`), EndsAt: time.Now().Add(time.Hour)}); !errors.Is(err, ErrInvalid) {
		t.Fatalf("SetSilence with a 10-byte limit: %v, want ErrInvalid", err)
	}
	if e.Stats().SnapshotErrors != 1 {
		t.Fatalf("stats %+v", e.Stats())
	}
}
