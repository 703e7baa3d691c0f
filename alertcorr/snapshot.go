package alertcorr

import (
	"bytes"
	"context"
	"encoding/json"
	"time"
)

// snapshotVersion is the format of the snapshot file.
const snapshotVersion = 1

// maxSnapshot bounds the snapshot file read back (it is our own output,
// but a damaged file must not exhaust memory).
const maxSnapshot = 4 << 30

// snapshot is what survives a restart: silences, the notification log,
// the alerts held and the open incidents, so a restarted engine neither
// forgets a silence nor notifies twice.
type snapshot struct {
	Version   int                   `json:"version"`
	SavedAt   time.Time             `json:"savedAt"`
	Silences  []snapSilence         `json:"silences"`
	Log       map[string]nflogEntry `json:"notificationLog"`
	Alerts    []snapAlert           `json:"alerts"`
	Incidents []Incident            `json:"incidents"`
	Suppress  map[Fingerprint]time.Time
	// AlertsLeftOut counts the alerts left out to keep the snapshot
	// within Config.MaxSnapshotBytes.
	AlertsLeftOut int `json:"alertsLeftOut,omitempty"`
}

type snapSilence struct {
	ID        string    `json:"id"`
	Matchers  []string  `json:"matchers"`
	StartsAt  time.Time `json:"startsAt"`
	EndsAt    time.Time `json:"endsAt"`
	UpdatedAt time.Time `json:"updatedAt"`
	CreatedBy string    `json:"createdBy"`
	Comment   string    `json:"comment"`
}

type snapAlert struct {
	Alert     Alert     `json:"alert"`
	FirstSeen time.Time `json:"firstSeen"`
}

// encodeLocked renders the snapshot, leaving the alerts out when it
// would be larger than Config.MaxSnapshotBytes (Prometheus sends firing
// alerts again within its evaluation interval; silences, the notification
// log and the incidents must not be lost); the lock is held.
func (e *Engine) encodeLocked() ([]byte, error) {
	s := snapshot{Version: snapshotVersion, SavedAt: e.cfg.Now(), Log: e.disp.nflog, Suppress: e.suppress}
	for _, si := range e.silences.list() {
		ms := make([]string, len(si.Matchers))
		for i, m := range si.Matchers {
			ms[i] = m.String()
		}
		s.Silences = append(s.Silences, snapSilence{ID: si.ID, Matchers: ms, StartsAt: si.StartsAt, EndsAt: si.EndsAt, UpdatedAt: si.UpdatedAt, CreatedBy: si.CreatedBy, Comment: si.Comment})
	}
	for _, key := range sortedKeysEntity(e.incidents) {
		s.Incidents = append(s.Incidents, *e.incidents[key])
	}
	for _, fp := range sortedFPs(e.alerts) {
		st := e.alerts[fp]
		s.Alerts = append(s.Alerts, snapAlert{Alert: *st.a, FirstSeen: st.firstSeen})
	}
	data, err := json.Marshal(&s)
	if err != nil {
		return nil, wrapError(ErrInvalid, err, "encoding snapshot")
	}
	if len(data) > e.cfg.MaxSnapshotBytes && len(s.Alerts) > 0 {
		e.stats.SnapshotTrimmed++
		s.Alerts, s.AlertsLeftOut = nil, len(s.Alerts)
		if data, err = json.Marshal(&s); err != nil {
			return nil, wrapError(ErrInvalid, err, "encoding snapshot")
		}
	}
	if len(data) > e.cfg.MaxSnapshotBytes {
		return nil, newError(ErrInvalid, "snapshot is %d bytes without its alerts, more than MaxSnapshotBytes %d", len(data), e.cfg.MaxSnapshotBytes)
	}
	return data, nil
}

// save writes the snapshot to the store, outside the engine's lock: it is
// encoded under the lock with a sequence number, and a save that comes
// after a newer one has been written is skipped, so concurrent saves never
// put an older state back.
func (e *Engine) save(ctx context.Context) error {
	if e.store == nil {
		return nil
	}
	e.mu.Lock()
	data, err := e.encodeLocked()
	e.saveSeq++
	seq := e.saveSeq
	if err == nil {
		e.persist, e.persistNow = false, false
		e.lastSave = e.cfg.Now()
	}
	e.mu.Unlock()
	if err == nil {
		e.saveMu.Lock()
		if seq > e.savedSeq {
			if err = e.store.Save(ctx, data); err == nil {
				e.savedSeq = seq
			}
		}
		e.saveMu.Unlock()
	}
	if err != nil {
		e.mu.Lock()
		e.stats.SnapshotErrors++
		e.persist = true
		e.mu.Unlock()
	}
	return err
}

// restore loads the snapshot from the store, if there is one; the engine
// is not yet shared.
func (e *Engine) restore(ctx context.Context) error {
	data, err := e.store.Load(ctx)
	if err != nil {
		return err
	}
	if data == nil {
		return nil
	}
	var s snapshot
	dec := json.NewDecoder(&limitedReader{r: bytes.NewReader(data), n: maxSnapshot})
	if err := dec.Decode(&s); err != nil {
		return wrapError(ErrInvalid, err, "snapshot %s", e.store)
	}
	if s.Version != snapshotVersion {
		return newError(ErrInvalid, "snapshot %s has version %d, want %d", e.store, s.Version, snapshotVersion)
	}
	now := e.cfg.Now()
	for _, ss := range s.Silences {
		si := &Silence{ID: ss.ID, StartsAt: ss.StartsAt, EndsAt: ss.EndsAt, UpdatedAt: ss.UpdatedAt, CreatedBy: ss.CreatedBy, Comment: ss.Comment}
		for _, m := range ss.Matchers {
			pm, err := ParseMatcher(m)
			if err != nil {
				return wrapError(ErrInvalid, err, "snapshot %s silence %s", e.store, ss.ID)
			}
			si.Matchers = append(si.Matchers, pm)
		}
		e.silences.byID[si.ID] = si
	}
	if s.Log != nil {
		e.disp.nflog = s.Log
	}
	if s.Suppress != nil {
		e.suppress = s.Suppress
	}
	for i := range s.Alerts {
		a := s.Alerts[i].Alert
		if err := a.Labels.Validate(); err != nil {
			return wrapError(ErrInvalid, err, "snapshot %s alert %d", e.store, i)
		}
		fp := a.Fingerprint()
		st := &storedAlert{a: &a, fp: fp, ent: -1, firstSeen: s.Alerts[i].FirstSeen, unreachable: e.unreach[a.Labels["alertname"]]}
		if e.cfg.Topology != nil {
			st.ent = e.entityOf(a.Labels)
		} else {
			e.disp.insert(&a, fp, now)
		}
		e.alerts[fp] = st
		e.trackTime(st, now)
		e.inhibit.observe(&a, fp)
	}
	for i := range s.Incidents {
		in := s.Incidents[i]
		key := entityKey{in.Root.Kind, in.Root.ID}
		e.incidents[key] = &in
		e.setMembers(key, &in, in.Members)
		e.emit(&in, now)
	}
	if s.AlertsLeftOut > 0 {
		// The alerts were left out to keep the snapshot small: hold the
		// open incidents until the senders have sent them again (a
		// resolve timeout, as Alertmanager waits for a silent alert).
		e.holdUntil = now.Add(e.cfg.ResolveTimeout)
	}
	e.dirty = true
	return nil
}

// limitedReader fails, rather than truncating silently, past n bytes.
type limitedReader struct {
	r interface{ Read([]byte) (int, error) }
	n int64
}

func (l *limitedReader) Read(p []byte) (int, error) {
	if l.n <= 0 {
		return 0, newError(ErrInvalid, "snapshot larger than %d bytes", int64(maxSnapshot))
	}
	if int64(len(p)) > l.n {
		p = p[:l.n]
	}
	n, err := l.r.Read(p)
	l.n -= int64(n)
	return n, err
}
