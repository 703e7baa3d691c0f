package state

import (
	"context"
	"encoding/json"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
)

// EventWriter puts Events under EventsPrefix with a lease that expires
// after the retention time, so the message-tracking list stays bounded
// without anyone sweeping it. A new lease is taken every half retention:
// an event lives between half and the whole of it. Writing is best effort:
// the statuses and desired state are the record; events explain them.
type EventWriter struct {
	cli       *clientv3.Client
	publisher string
	retention time.Duration
	now       func() time.Time

	mu      sync.Mutex
	lease   clientv3.LeaseID
	granted time.Time
	seq     atomic.Uint64
}

// NewEventWriter returns a writer publishing as publisher ("controller",
// "agent/n1"); retention below 2 s means 24 h; now nil means time.Now.
func NewEventWriter(cli *clientv3.Client, publisher string, retention time.Duration, now func() time.Time) *EventWriter {
	if retention < 2*time.Second {
		retention = 24 * time.Hour
	}
	if now == nil {
		now = time.Now
	}
	return &EventWriter{cli: cli, publisher: publisher, retention: retention, now: now}
}

// Write stamps ev with the time and publisher and stores it. It returns the
// error for callers that care; most ignore it.
func (w *EventWriter) Write(ctx context.Context, ev Event) error {
	op, err := w.Op(ctx, ev)
	if err != nil {
		return err
	}
	_, err = w.cli.Do(ctx, op)
	return err
}

// Op returns the put that stores ev, for a transaction that records a
// change and its event together.
func (w *EventWriter) Op(ctx context.Context, ev Event) (clientv3.Op, error) {
	ev.Time, ev.Publisher = w.now(), w.publisher
	lease, err := w.currentLease(ctx)
	if err != nil {
		return clientv3.Op{}, err
	}
	val, err := json.Marshal(ev)
	if err != nil {
		return clientv3.Op{}, err
	}
	return clientv3.OpPut(EventKey(ev.Time, w.publisher, w.seq.Add(1)), string(val), clientv3.WithLease(lease)), nil
}

// EventKey is the key of an event: sorted by time, unique per publisher.
func EventKey(t time.Time, publisher string, seq uint64) string {
	return fmt.Sprintf("%s%020d-%s-%d", eventsDir, t.UnixNano(), publisher, seq)
}

func (w *EventWriter) currentLease(ctx context.Context) (clientv3.LeaseID, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.lease != 0 && w.now().Sub(w.granted) < w.retention/2 {
		return w.lease, nil
	}
	resp, err := w.cli.Grant(ctx, int64(w.retention/time.Second))
	if err != nil {
		return 0, err
	}
	w.lease, w.granted = resp.ID, w.now()
	return w.lease, nil
}
