package alertcorr

import (
	"encoding/json"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
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

// saveLocked writes the snapshot atomically (temp file, fsync, rename);
// the lock is held.
func (e *Engine) saveLocked() error {
	s := snapshot{Version: snapshotVersion, SavedAt: e.cfg.Now(), Log: e.disp.nflog, Suppress: e.suppress}
	for _, si := range e.silences.list() {
		ms := make([]string, len(si.Matchers))
		for i, m := range si.Matchers {
			ms[i] = m.String()
		}
		s.Silences = append(s.Silences, snapSilence{ID: si.ID, Matchers: ms, StartsAt: si.StartsAt, EndsAt: si.EndsAt, UpdatedAt: si.UpdatedAt, CreatedBy: si.CreatedBy, Comment: si.Comment})
	}
	for _, fp := range sortedFPs(e.alerts) {
		st := e.alerts[fp]
		s.Alerts = append(s.Alerts, snapAlert{Alert: *st.a, FirstSeen: st.firstSeen})
	}
	for _, key := range sortedKeysEntity(e.incidents) {
		s.Incidents = append(s.Incidents, *e.incidents[key])
	}
	data, err := json.Marshal(&s)
	if err != nil {
		return wrapError(ErrInvalid, err, "encoding snapshot")
	}
	path := e.cfg.SnapshotPath
	tmp, err := os.CreateTemp(filepath.Dir(path), filepath.Base(path)+".tmp*")
	if err != nil {
		return wrapError(ErrUnavailable, err, "snapshot %s", path)
	}
	defer os.Remove(tmp.Name()) // gone after the rename; an error means it is
	if _, err := tmp.Write(data); err != nil {
		_ = tmp.Close() // the write error is the one to report
		return wrapError(ErrUnavailable, err, "writing snapshot %s", tmp.Name())
	}
	if err := tmp.Sync(); err != nil {
		_ = tmp.Close() // the sync error is the one to report
		return wrapError(ErrUnavailable, err, "syncing snapshot %s", tmp.Name())
	}
	if err := tmp.Close(); err != nil {
		return wrapError(ErrUnavailable, err, "closing snapshot %s", tmp.Name())
	}
	if err := os.Rename(tmp.Name(), path); err != nil {
		return wrapError(ErrUnavailable, err, "snapshot %s", path)
	}
	if d, err := os.Open(filepath.Dir(path)); err == nil {
		_ = d.Sync()
		_ = d.Close()
	}
	return nil
}

// restore loads the snapshot at path, if there is one; the engine is not
// yet shared.
func (e *Engine) restore(path string) error {
	f, err := os.Open(path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return wrapError(ErrUnavailable, err, "snapshot %s", path)
	}
	defer f.Close() // read only
	var s snapshot
	dec := json.NewDecoder(&limitedReader{r: f, n: maxSnapshot})
	if err := dec.Decode(&s); err != nil {
		return wrapError(ErrInvalid, err, "snapshot %s", path)
	}
	if s.Version != snapshotVersion {
		return newError(ErrInvalid, "snapshot %s has version %d, want %d", path, s.Version, snapshotVersion)
	}
	now := e.cfg.Now()
	for _, ss := range s.Silences {
		si := &Silence{ID: ss.ID, StartsAt: ss.StartsAt, EndsAt: ss.EndsAt, UpdatedAt: ss.UpdatedAt, CreatedBy: ss.CreatedBy, Comment: ss.Comment}
		for _, m := range ss.Matchers {
			pm, err := ParseMatcher(m)
			if err != nil {
				return wrapError(ErrInvalid, err, "snapshot %s silence %s", path, ss.ID)
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
			return wrapError(ErrInvalid, err, "snapshot %s alert %d", path, i)
		}
		fp := a.Fingerprint()
		st := &storedAlert{a: &a, fp: fp, ent: -1, firstSeen: s.Alerts[i].FirstSeen, unreachable: e.unreach[a.Labels["alertname"]]}
		if e.cfg.Topology != nil {
			st.ent = e.entityOf(a.Labels)
		} else {
			e.disp.insert(&a, fp, now)
		}
		e.alerts[fp] = st
		e.inhibit.observe(&a, fp)
	}
	for i := range s.Incidents {
		in := s.Incidents[i]
		e.incidents[entityKey{in.Root.Kind, in.Root.ID}] = &in
		e.emit(&in, now)
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
