package alertcorr

import (
	"slices"
	"strings"
	"time"
	"unicode/utf8"
)

// Labels identify an alert, as in Prometheus and Alertmanager: two alerts
// with the same label set are the same alert.
type Labels map[string]string

// Fingerprint is the 64-bit identity of a label set: equal sets have equal
// fingerprints whatever the order they were built in.
type Fingerprint uint64

// String returns the fingerprint as 16 hex digits, as Alertmanager prints it.
func (f Fingerprint) String() string {
	const hex = "0123456789abcdef"
	var b [16]byte
	for i := 15; i >= 0; i-- {
		b[i] = hex[f&0xf]
		f >>= 4
	}
	return string(b[:])
}

// labelSep separates names and values in the hash; it cannot occur in valid
// UTF-8, so {"a":"bc"} and {"ab":"c"} hash apart.
const labelSep = 0xff

// Fingerprint returns the label set's identity. Labels with an empty value
// count as absent, as in Prometheus.
func (l Labels) Fingerprint() Fingerprint {
	// FNV-1a over the sorted names and values, without allocating for the
	// usual label set.
	var stack [32]string
	names := stack[:0]
	if len(l) > len(stack) {
		names = make([]string, 0, len(l))
	}
	for n, v := range l {
		if v != "" {
			names = append(names, n)
		}
	}
	for i := 1; i < len(names); i++ {
		for j := i; j > 0 && names[j] < names[j-1]; j-- {
			names[j], names[j-1] = names[j-1], names[j]
		}
	}
	const (
		offset = 14695981039346656037
		prime  = 1099511628211
	)
	h := uint64(offset)
	add := func(s string) {
		for i := 0; i < len(s); i++ {
			h ^= uint64(s[i])
			h *= prime
		}
		h ^= labelSep
		h *= prime
	}
	for _, n := range names {
		add(n)
		add(l[n])
	}
	return Fingerprint(h)
}

// names returns the names with a non-empty value, sorted.
func (l Labels) names() []string {
	names := make([]string, 0, len(l))
	for n, v := range l {
		if v != "" {
			names = append(names, n)
		}
	}
	slices.Sort(names)
	return names
}

// String renders the set as {a="1", b="2"}, sorted by name.
func (l Labels) String() string {
	var b strings.Builder
	b.WriteByte('{')
	for i, n := range l.names() {
		if i > 0 {
			b.WriteString(", ")
		}
		b.WriteString(n)
		b.WriteString(`="`)
		b.WriteString(strings.ReplaceAll(l[n], `"`, `\"`))
		b.WriteByte('"')
	}
	b.WriteByte('}')
	return b.String()
}

// Clone returns a copy without the empty values (nil for none).
func (l Labels) Clone() Labels {
	if len(l) == 0 {
		return nil
	}
	out := make(Labels, len(l))
	for n, v := range l {
		if v != "" {
			out[n] = v
		}
	}
	return out
}

// Limits on what an alert may carry; input beyond them is refused.
const (
	maxLabels     = 64
	maxNameLen    = 256
	maxValueLen   = 4096
	maxAnnotation = 16 << 10
)

// validLabelName reports whether n is a Prometheus label name:
// [a-zA-Z_][a-zA-Z0-9_]*.
func validLabelName(n string) bool {
	if n == "" || len(n) > maxNameLen {
		return false
	}
	for i := 0; i < len(n); i++ {
		c := n[i]
		letter := c == '_' || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z')
		if !letter && (i == 0 || c < '0' || c > '9') {
			return false
		}
	}
	return true
}

// Validate reports the first label that Prometheus would not accept.
func (l Labels) Validate() error {
	if len(l) > maxLabels {
		return newError(ErrInvalid, "alert has %d labels, more than %d", len(l), maxLabels)
	}
	for n, v := range l {
		if !validLabelName(n) {
			return newError(ErrInvalid, "label name %q is not [a-zA-Z_][a-zA-Z0-9_]*", truncate(n))
		}
		if len(v) > maxValueLen || !utf8.ValidString(v) {
			return newError(ErrInvalid, "label %s has a value that is not UTF-8 or longer than %d bytes", n, maxValueLen)
		}
	}
	return nil
}

// truncate shortens s for an error message.
func truncate(s string) string {
	if len(s) > 64 {
		return s[:64] + "…"
	}
	return s
}

// Alert is one alert as Prometheus sends it to Alertmanager.
type Alert struct {
	// Labels identify the alert; "alertname" names its rule.
	Labels Labels
	// Annotations carry text that does not identify it (summary, runbook).
	Annotations Labels
	// StartsAt is when it started firing; zero means when it was received.
	StartsAt time.Time
	// EndsAt is when it resolved, or when it will count as resolved unless
	// renewed; zero means the receive time plus Config.ResolveTimeout.
	EndsAt time.Time
	// GeneratorURL links to the expression that raised it.
	GeneratorURL string

	// UpdatedAt is when alertcorr last received it (set on ingest).
	UpdatedAt time.Time
	// Timeout is true when EndsAt was set by the resolve timeout rather
	// than by the sender.
	Timeout bool
}

// Fingerprint is the alert's identity, its labels' fingerprint.
func (a *Alert) Fingerprint() Fingerprint { return a.Labels.Fingerprint() }

// Name is the alert's alertname label.
func (a *Alert) Name() string { return a.Labels["alertname"] }

// ResolvedAt reports whether the alert is resolved at t: it has an end
// time that is not after t.
func (a *Alert) ResolvedAt(t time.Time) bool {
	return !a.EndsAt.IsZero() && !a.EndsAt.After(t)
}

// Status is "resolved" or "firing" at t, as webhook payloads say.
func (a *Alert) Status(t time.Time) string {
	if a.ResolvedAt(t) {
		return "resolved"
	}
	return "firing"
}

// merge combines the stored alert a with the newer arrival o as
// Alertmanager does: the younger update wins, the earliest start is kept,
// and an explicit end time is not overridden by a resolve timeout.
func merge(a, o *Alert) *Alert {
	if o.UpdatedAt.Before(a.UpdatedAt) {
		return merge(o, a)
	}
	res := *o
	if a.StartsAt.Before(o.StartsAt) {
		res.StartsAt = a.StartsAt
	}
	resolved := o.ResolvedAt(o.UpdatedAt)
	switch {
	case resolved:
		if a.ResolvedAt(a.UpdatedAt) && a.EndsAt.After(o.EndsAt) {
			res.EndsAt = a.EndsAt
		}
	case a.EndsAt.After(o.EndsAt) && !a.Timeout:
		res.EndsAt = a.EndsAt
	}
	return &res
}
