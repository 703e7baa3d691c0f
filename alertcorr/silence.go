package alertcorr

import (
	"crypto/rand"
	"encoding/hex"
	"slices"
	"time"
)

// Silence mutes the alerts its matchers match between StartsAt and EndsAt.
type Silence struct {
	// ID is assigned by SetSilence when empty.
	ID string
	// Matchers select the muted alerts; at least one must not match the
	// empty string, so a silence never mutes everything.
	Matchers Matchers
	// StartsAt and EndsAt bound when the silence is active: from StartsAt
	// (inclusive) to EndsAt (exclusive).
	StartsAt, EndsAt time.Time
	// CreatedBy and Comment say who and why.
	CreatedBy, Comment string
	// UpdatedAt is when it was last set or expired.
	UpdatedAt time.Time
}

// SilenceState is where a silence is in its life.
type SilenceState string

// The states of a silence, as Alertmanager names them.
const (
	SilencePending SilenceState = "pending"
	SilenceActive  SilenceState = "active"
	SilenceExpired SilenceState = "expired"
)

// State returns the silence's state at t.
func (s *Silence) State(t time.Time) SilenceState {
	switch {
	case t.Before(s.StartsAt):
		return SilencePending
	case t.Before(s.EndsAt):
		return SilenceActive
	}
	return SilenceExpired
}

// validate checks the silence as Alertmanager's validateSilence does.
func (s *Silence) validate() error {
	if len(s.Matchers) == 0 {
		return newError(ErrInvalid, "silence has no matchers")
	}
	if len(s.Matchers) > maxLabels {
		return newError(ErrInvalid, "silence has %d matchers, more than %d", len(s.Matchers), maxLabels)
	}
	allEmpty := true
	for _, m := range s.Matchers {
		if m == nil {
			return newError(ErrInvalid, "silence has a nil matcher")
		}
		if !m.Matches("") {
			allEmpty = false
		}
	}
	if allEmpty {
		return newError(ErrInvalid, "silence matchers %s all match the empty string, so it would mute every alert", s.Matchers)
	}
	if s.StartsAt.IsZero() || s.EndsAt.IsZero() {
		return newError(ErrInvalid, "silence has no start or end time")
	}
	if !s.EndsAt.After(s.StartsAt) {
		return newError(ErrInvalid, "silence ends at %s, not after it starts at %s", s.EndsAt.Format(time.RFC3339), s.StartsAt.Format(time.RFC3339))
	}
	if len(s.Comment) > maxAnnotation || len(s.CreatedBy) > maxValueLen {
		return newError(ErrInvalid, "silence comment or author longer than allowed")
	}
	return nil
}

// silences holds silences by id. Not safe for concurrent use; the Engine
// locks around it.
type silences struct {
	byID map[string]*Silence
	// retention is how long an expired silence is kept before GC.
	retention time.Duration
}

func newSilences(retention time.Duration) *silences {
	return &silences{byID: map[string]*Silence{}, retention: retention}
}

// set adds or updates s at now, as Alertmanager's Silences.Set: an active
// silence can be changed in place only by extending it or changing its
// comment; any other change to an active silence expires it and creates a
// new one. It returns the id the silence got.
func (ss *silences) set(s Silence, now time.Time) (string, error) {
	if s.StartsAt.IsZero() {
		s.StartsAt = now
	}
	if err := s.validate(); err != nil {
		return "", err
	}
	if s.EndsAt.Before(now) {
		return "", newError(ErrInvalid, "silence ends at %s, in the past", s.EndsAt.Format(time.RFC3339))
	}
	s.UpdatedAt = now
	if s.ID != "" {
		old, ok := ss.byID[s.ID]
		if !ok {
			return "", newError(ErrNotFound, "silence %s", s.ID)
		}
		if canUpdate(old, &s, now) {
			cp := s
			ss.byID[s.ID] = &cp
			return s.ID, nil
		}
		// Expire the old one and create a new silence with a new id.
		if old.State(now) != SilenceExpired {
			ss.expireAt(old, now)
		}
	}
	s.ID = newSilenceID()
	if s.StartsAt.Before(now) {
		s.StartsAt = now
	}
	cp := s
	ss.byID[s.ID] = &cp
	return s.ID, nil
}

// canUpdate reports whether b may replace a in place at now.
func canUpdate(a, b *Silence, now time.Time) bool {
	if !slices.EqualFunc(a.Matchers, b.Matchers, func(x, y *Matcher) bool { return x.String() == y.String() }) {
		return false
	}
	switch a.State(now) {
	case SilencePending:
		return !b.StartsAt.Before(now) || b.StartsAt.Equal(a.StartsAt)
	case SilenceActive:
		return b.StartsAt.Equal(a.StartsAt) && !b.EndsAt.Before(now)
	}
	return false
}

// expire ends the silence id at now.
func (ss *silences) expire(id string, now time.Time) error {
	s, ok := ss.byID[id]
	if !ok {
		return newError(ErrNotFound, "silence %s", id)
	}
	if s.State(now) == SilenceExpired {
		return newError(ErrConflict, "silence %s already expired", id)
	}
	ss.expireAt(s, now)
	return nil
}

func (ss *silences) expireAt(s *Silence, now time.Time) {
	if s.State(now) == SilencePending {
		s.StartsAt = now
	}
	s.EndsAt, s.UpdatedAt = now, now
}

// mutedBy returns the ids of the active silences that match l, sorted.
func (ss *silences) mutedBy(l Labels, now time.Time) []string {
	var ids []string
	for id, s := range ss.byID {
		if s.State(now) == SilenceActive && s.Matchers.Matches(l) {
			ids = append(ids, id)
		}
	}
	slices.Sort(ids)
	return ids
}

// gc drops silences expired longer than the retention ago.
func (ss *silences) gc(now time.Time) {
	for id, s := range ss.byID {
		if s.EndsAt.Add(ss.retention).Before(now) {
			delete(ss.byID, id)
		}
	}
}

// list returns copies of all silences, sorted by id.
func (ss *silences) list() []Silence {
	out := make([]Silence, 0, len(ss.byID))
	for _, s := range ss.byID {
		out = append(out, *s)
	}
	slices.SortFunc(out, func(a, b Silence) int { return compareStrings(a.ID, b.ID) })
	return out
}

func compareStrings(a, b string) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

// newSilenceID returns a random 128-bit id in hex.
func newSilenceID() string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}
