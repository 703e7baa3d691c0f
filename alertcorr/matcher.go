package alertcorr

import (
	"regexp"
	"strconv"
	"strings"
)

// MatchType is how a Matcher compares a label value.
type MatchType int

// The four match types of Alertmanager and PromQL.
const (
	MatchEqual     MatchType = iota // =
	MatchNotEqual                   // !=
	MatchRegexp                     // =~ (anchored at both ends)
	MatchNotRegexp                  // !~
)

// String returns the operator: "=", "!=", "=~" or "!~".
func (t MatchType) String() string {
	switch t {
	case MatchEqual:
		return "="
	case MatchNotEqual:
		return "!="
	case MatchRegexp:
		return "=~"
	case MatchNotRegexp:
		return "!~"
	}
	return "?"
}

// Matcher tests one label of a label set. A missing label has the value "",
// so foo="" matches sets without foo and foo!="" those with it.
type Matcher struct {
	Name  string
	Type  MatchType
	Value string
	re    *regexp.Regexp
}

// NewMatcher returns a matcher, compiling a regular expression anchored at
// both ends for the regexp types.
func NewMatcher(t MatchType, name, value string) (*Matcher, error) {
	if !validLabelName(name) {
		return nil, newError(ErrInvalid, "matcher label name %q is not [a-zA-Z_][a-zA-Z0-9_]*", truncate(name))
	}
	m := &Matcher{Name: name, Type: t, Value: value}
	switch t {
	case MatchEqual, MatchNotEqual:
	case MatchRegexp, MatchNotRegexp:
		re, err := regexp.Compile("^(?:" + value + ")$")
		if err != nil {
			return nil, wrapError(ErrInvalid, err, "matcher %s%s%q", name, t, truncate(value))
		}
		m.re = re
	default:
		return nil, newError(ErrInvalid, "match type %d unknown", int(t))
	}
	return m, nil
}

// MustMatcher is NewMatcher for matchers written in code; it panics on an
// invalid one, so it must never see outside input.
func MustMatcher(t MatchType, name, value string) *Matcher {
	m, err := NewMatcher(t, name, value)
	if err != nil {
		panic(err)
	}
	return m
}

// Matches reports whether v, the label's value ("" when absent), matches.
func (m *Matcher) Matches(v string) bool {
	switch m.Type {
	case MatchEqual:
		return v == m.Value
	case MatchNotEqual:
		return v != m.Value
	case MatchRegexp, MatchNotRegexp:
		re := m.re
		if re == nil {
			// A Matcher built as a literal (or decoded from JSON) rather
			// than by NewMatcher: compile here; an invalid pattern matches
			// nothing, never panics.
			var err error
			if re, err = regexp.Compile("^(?:" + m.Value + ")$"); err != nil {
				return false
			}
		}
		return re.MatchString(v) == (m.Type == MatchRegexp)
	}
	return false
}

// String renders the matcher as name="value" with the operator.
func (m *Matcher) String() string {
	return m.Name + m.Type.String() + strconv.Quote(m.Value)
}

// Matchers match a label set when every one of them matches it.
type Matchers []*Matcher

// Matches reports whether all matchers match l; no matchers match anything.
func (ms Matchers) Matches(l Labels) bool {
	for _, m := range ms {
		if !m.Matches(l[m.Name]) {
			return false
		}
	}
	return true
}

// String renders the matchers as {a="1",b=~"x.*"}.
func (ms Matchers) String() string {
	parts := make([]string, len(ms))
	for i, m := range ms {
		parts[i] = m.String()
	}
	return "{" + strings.Join(parts, ",") + "}"
}

// ParseMatcher parses one matcher as Alertmanager's configuration writes
// it: name, an operator (=, !=, =~, !~), and a value that is either
// double-quoted (Go escapes) or bare.
func ParseMatcher(s string) (*Matcher, error) {
	s = strings.TrimSpace(s)
	i := strings.IndexAny(s, "=!")
	if i <= 0 {
		return nil, newError(ErrInvalid, "matcher %q has no operator", truncate(s))
	}
	name := strings.TrimSpace(s[:i])
	rest := s[i:]
	var t MatchType
	switch {
	case strings.HasPrefix(rest, "=~"):
		t, rest = MatchRegexp, rest[2:]
	case strings.HasPrefix(rest, "!~"):
		t, rest = MatchNotRegexp, rest[2:]
	case strings.HasPrefix(rest, "!="):
		t, rest = MatchNotEqual, rest[2:]
	case strings.HasPrefix(rest, "="):
		t, rest = MatchEqual, rest[1:]
	default:
		return nil, newError(ErrInvalid, "matcher %q has no operator", truncate(s))
	}
	value := strings.TrimSpace(rest)
	if strings.HasPrefix(value, `"`) {
		v, err := strconv.Unquote(value)
		if err != nil {
			return nil, wrapError(ErrInvalid, err, "matcher %q value", truncate(s))
		}
		value = v
	}
	return NewMatcher(t, name, value)
}

// ParseMatchers parses a list of matchers, either "{a="1", b=~"x"}" or the
// same without braces.
func ParseMatchers(s string) (Matchers, error) {
	s = strings.TrimSpace(s)
	s = strings.TrimSuffix(strings.TrimPrefix(s, "{"), "}")
	var out Matchers
	for _, part := range splitMatchers(s) {
		if strings.TrimSpace(part) == "" {
			continue
		}
		m, err := ParseMatcher(part)
		if err != nil {
			return nil, err
		}
		out = append(out, m)
	}
	return out, nil
}

// splitMatchers splits at commas outside double quotes.
func splitMatchers(s string) []string {
	var parts []string
	inQuote, escaped, start := false, false, 0
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case escaped:
			escaped = false
		case c == '\\' && inQuote:
			escaped = true
		case c == '"':
			inQuote = !inQuote
		case c == ',' && !inQuote:
			parts = append(parts, s[start:i])
			start = i + 1
		}
	}
	return append(parts, s[start:])
}
