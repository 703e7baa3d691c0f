package alertcorr

import (
	"slices"
	"testing"
	"time"
)

// The tree and cases of Alertmanager's TestRouteMatch.
func amTree(t *testing.T) *routeNode {
	t.Helper()
	tree := &Route{
		Receiver: "notify-def",
		Routes: []*Route{
			{
				Matchers: ms(t, `owner="team-A"`), Receiver: "notify-A",
				Routes: []*Route{
					{Matchers: ms(t, `env="testing"`), Receiver: "notify-testing", GroupBy: []string{GroupByAll}},
					{Matchers: ms(t, `env="production"`), Receiver: "notify-productionA", GroupWait: time.Minute, Continue: true},
					{Matchers: ms(t, `env=~"produ.*", job=~".*"`), Receiver: "notify-productionB", GroupWait: 30 * time.Second, GroupInterval: 5 * time.Minute, RepeatInterval: time.Hour, GroupBy: []string{"job"}},
				},
			},
			{Matchers: ms(t, `owner=~"team-(B|C)"`), GroupBy: []string{"foo", "bar"}, GroupWait: 2 * time.Minute, Receiver: "notify-BC"},
			{
				Matchers: ms(t, `group_by="role"`), GroupBy: []string{"role"},
				Routes: []*Route{{
					Matchers: ms(t, `env="testing"`), Receiver: "notify-testing",
					Routes: []*Route{{Matchers: ms(t, `wait="long"`), GroupWait: 2 * time.Minute}},
				}},
			},
		},
	}
	root, err := compileRoute(tree, nil, 0)
	if err != nil {
		t.Fatal(err)
	}
	return root
}

func TestRouteMatch(t *testing.T) {
	root := amTree(t)
	type want struct {
		receiver string
		groupBy  []string
		wait     time.Duration
		interval time.Duration
		repeat   time.Duration
	}
	def := want{groupBy: []string{}, wait: DefaultGroupWait, interval: DefaultGroupInterval, repeat: DefaultRepeatInterval}
	with := func(w want, f func(*want)) want { f(&w); return w }
	tests := []struct {
		in   Labels
		want []want
	}{
		{Labels{"owner": "team-A"}, []want{with(def, func(w *want) { w.receiver = "notify-A" })}},
		{Labels{"owner": "team-A", "env": "unset"}, []want{with(def, func(w *want) { w.receiver = "notify-A" })}},
		{Labels{"owner": "team-C"}, []want{with(def, func(w *want) { w.receiver, w.groupBy, w.wait = "notify-BC", []string{"bar", "foo"}, 2*time.Minute })}},
		{Labels{"owner": "team-A", "env": "testing"}, []want{with(def, func(w *want) { w.receiver, w.groupBy = "notify-testing", []string{GroupByAll} })}},
		// continue: productionA matches and lets productionB try too.
		{Labels{"owner": "team-A", "env": "production"}, []want{
			with(def, func(w *want) { w.receiver, w.wait = "notify-productionA", time.Minute }),
			with(def, func(w *want) {
				w.receiver, w.groupBy, w.repeat = "notify-productionB", []string{"job"}, time.Hour
			}),
		}},
		// Inherited receiver and group_by from the parent of the leaf.
		{Labels{"group_by": "role"}, []want{with(def, func(w *want) { w.receiver, w.groupBy = "notify-def", []string{"role"} })}},
		{Labels{"env": "testing", "group_by": "role"}, []want{with(def, func(w *want) { w.receiver, w.groupBy = "notify-testing", []string{"role"} })}},
		{Labels{"env": "testing", "group_by": "role", "wait": "long"}, []want{with(def, func(w *want) {
			w.receiver, w.groupBy, w.wait = "notify-testing", []string{"role"}, 2*time.Minute
		})}},
		// Nothing matches a child: the root takes it.
		{Labels{"owner": "team-Z"}, []want{with(def, func(w *want) { w.receiver = "notify-def" })}},
	}
	for _, tt := range tests {
		got := root.match(tt.in)
		if len(got) != len(tt.want) {
			t.Errorf("match(%s) = %d routes, want %d", tt.in, len(got), len(tt.want))
			continue
		}
		for i, r := range got {
			w := tt.want[i]
			o := r.opts
			if o.Receiver != w.receiver || !slices.Equal(o.groupByList(), w.groupBy) || o.GroupWait != w.wait || o.GroupInterval != w.interval || o.RepeatInterval != w.repeat {
				t.Errorf("match(%s)[%d] = %s %v %v/%v/%v, want %s %v %v/%v/%v", tt.in, i, o.Receiver, o.groupByList(), o.GroupWait, o.GroupInterval, o.RepeatInterval,
					w.receiver, w.groupBy, w.wait, w.interval, w.repeat)
			}
		}
	}
}

// Alerts in different groups of one route are notified separately; the
// group key names the route and the group labels.
func TestGroupsSplitByGroupBy(t *testing.T) {
	c := newClock()
	rec := &recorder{}
	e := mustEngine(t, Config{Route: &Route{Receiver: "r", GroupBy: []string{"cluster"}, GroupWait: time.Second}, Notifier: rec, Now: c.Now})
	mustIngest(t, e,
		Alert{Labels: Labels{"alertname": "A", "cluster": "x", "c": "1"}},
		Alert{Labels: Labels{"alertname": "A", "cluster": "x", "c": "2"}},
		Alert{Labels: Labels{"alertname": "A", "cluster": "y", "c": "3"}},
		Alert{Labels: Labels{"alertname": "A", "c": "4"}}, // missing group label: its own group
	)
	step(t, e, c, time.Second)
	got := rec.take()
	var keys []string
	var sizes []int
	for _, n := range got {
		keys = append(keys, n.GroupKey)
		sizes = append(sizes, len(n.Alerts))
	}
	wantKeys := []string{`{}:{cluster="x"}`, `{}:{cluster="y"}`, `{}:{}`}
	slices.Sort(keys)
	slices.Sort(wantKeys)
	if !slices.Equal(keys, wantKeys) {
		t.Fatalf("group keys %v, want %v", keys, wantKeys)
	}
	slices.Sort(sizes)
	if !slices.Equal(sizes, []int{1, 1, 2}) {
		t.Fatalf("group sizes %v, want [1 1 2]", sizes)
	}
}

func TestParseMatchers(t *testing.T) {
	tests := []struct {
		in   string
		want string
		err  bool
	}{
		{`{a="1", b=~"x.*"}`, `{a="1",b=~"x.*"}`, false},
		{`a!=1,b!~"y,z"`, `{a!="1",b!~"y,z"}`, false},
		{`a="with \"quote\""`, `{a="with \"quote\""}`, false},
		{`=1`, "", true},
		{`a=~"("`, "", true},
		{`1a="x"`, "", true},
		{`a`, "", true},
	}
	for _, tt := range tests {
		m, err := ParseMatchers(tt.in)
		if (err != nil) != tt.err {
			t.Errorf("ParseMatchers(%q) error %v, want error %v", tt.in, err, tt.err)
			continue
		}
		if err == nil && m.String() != tt.want {
			t.Errorf("ParseMatchers(%q) = %s, want %s", tt.in, m, tt.want)
		}
	}
	// Regexps are anchored and a missing label is "".
	m := MustMatcher(MatchRegexp, "env", "prod")
	if m.Matches("production") || !m.Matches("prod") {
		t.Fatal("regexp matcher is not anchored")
	}
	if !ms(t, `missing=""`).Matches(Labels{"a": "1"}) || ms(t, `a=""`).Matches(Labels{"a": "1"}) {
		t.Fatal("a missing label does not match as empty")
	}
}

// TestLiteralMatcherNeverPanics checks a Matcher made as a literal or
// decoded from JSON (no compiled pattern) matches as NewMatcher's would, and
// that an invalid pattern matches nothing instead of panicking.
func TestLiteralMatcherNeverPanics(t *testing.T) {
	for _, tt := range []struct {
		m    Matcher
		v    string
		want bool
	}{
		{Matcher{Name: "sev", Type: MatchRegexp, Value: "crit|warn"}, "warn", true},
		{Matcher{Name: "sev", Type: MatchRegexp, Value: "crit|warn"}, "warning", false},
		{Matcher{Name: "sev", Type: MatchNotRegexp, Value: "crit"}, "info", true},
		{Matcher{Name: "sev", Type: MatchRegexp, Value: "("}, "(", false},
		{Matcher{Name: "sev", Type: MatchNotRegexp, Value: "("}, "(", false},
	} {
		if got := tt.m.Matches(tt.v); got != tt.want {
			t.Errorf("%s.Matches(%q) = %v, want %v", tt.m.String(), tt.v, got, tt.want)
		}
		if built, err := NewMatcher(tt.m.Type, tt.m.Name, tt.m.Value); err == nil && built.Matches(tt.v) != tt.want {
			t.Errorf("NewMatcher's %s disagrees on %q", built, tt.v)
		}
	}
}
