package alertcorr

import "time"

// InhibitRule mutes the alerts that match Target while an alert that
// matches Source fires with the same values of the Equal labels (a missing
// label counts as the empty value). An alert that matches both sides is not
// muted by a source alert that also matches both sides, so such a rule
// cannot make two alerts mute each other.
type InhibitRule struct {
	Source Matchers
	Target Matchers
	Equal  []string
}

// inhibitKey is the values of a rule's Equal labels, joined.
func (r *InhibitRule) key(l Labels) string {
	if len(r.Equal) == 1 {
		return l[r.Equal[0]]
	}
	buf := make([]byte, 0, 64)
	for _, n := range r.Equal {
		buf = append(buf, l[n]...)
		buf = append(buf, labelSep)
	}
	return string(buf)
}

// inhibitor indexes, per rule, the firing source alerts by their Equal
// values, so Mutes costs one map lookup per rule.
type inhibitor struct {
	rules []InhibitRule
	// sources[i][key] are the source alerts of rule i with those values.
	sources []map[string]map[Fingerprint]*Alert
}

func newInhibitor(rules []InhibitRule) (*inhibitor, error) {
	for i, r := range rules {
		if len(r.Target) == 0 && len(r.Source) == 0 {
			return nil, newError(ErrInvalid, "inhibit rule %d has neither source nor target matchers", i)
		}
		for _, n := range r.Equal {
			if !validLabelName(n) {
				return nil, newError(ErrInvalid, "inhibit rule %d equal label %q is not a label name", i, truncate(n))
			}
		}
	}
	in := &inhibitor{rules: rules, sources: make([]map[string]map[Fingerprint]*Alert, len(rules))}
	for i := range in.sources {
		in.sources[i] = map[string]map[Fingerprint]*Alert{}
	}
	return in, nil
}

// observe records a (new version of an) alert in the source caches.
func (in *inhibitor) observe(a *Alert, fp Fingerprint) {
	for i := range in.rules {
		r := &in.rules[i]
		if !r.Source.Matches(a.Labels) {
			continue
		}
		k := r.key(a.Labels)
		m := in.sources[i][k]
		if m == nil {
			m = map[Fingerprint]*Alert{}
			in.sources[i][k] = m
		}
		m[fp] = a
	}
}

// forget drops an alert from the caches (it was garbage-collected).
func (in *inhibitor) forget(a *Alert, fp Fingerprint) {
	for i := range in.rules {
		r := &in.rules[i]
		k := r.key(a.Labels)
		if m := in.sources[i][k]; m != nil {
			delete(m, fp)
			if len(m) == 0 {
				delete(in.sources[i], k)
			}
		}
	}
}

// mutedBy returns the fingerprint of a firing source alert that inhibits l
// at now, and whether there is one.
func (in *inhibitor) mutedBy(l Labels, now time.Time) (Fingerprint, bool) {
	for i := range in.rules {
		r := &in.rules[i]
		if !r.Target.Matches(l) {
			continue
		}
		twoSided := r.Source.Matches(l)
		for sfp, s := range in.sources[i][r.key(l)] {
			if s.ResolvedAt(now) {
				continue
			}
			if twoSided && r.Target.Matches(s.Labels) {
				continue
			}
			return sfp, true
		}
	}
	return 0, false
}
