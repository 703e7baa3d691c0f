package alertcorr

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"net/url"
	"slices"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"
)

// AlertmanagerConfig is what alertcorr takes from an Alertmanager
// configuration file (alertmanager.yml), so a team moves its file over
// unchanged. Supported:
//
//   - global.resolve_timeout;
//   - route: receiver, matchers, match, match_re, continue, group_by
//     (including '...'), group_wait, group_interval, repeat_interval and
//     routes, with Alertmanager's inheritance;
//   - inhibit_rules: source_matchers, target_matchers, source_match,
//     source_match_re, target_match, target_match_re, equal;
//   - receivers by name with webhook_configs (url, send_resolved,
//     max_alerts).
//
// Everything else the file holds — other receiver kinds (email, Slack,
// PagerDuty, ...), templates, time intervals, http_config, the other
// global settings — is listed in Unsupported, never dropped silently;
// a receiver with only such configs still exists (its notifications are
// counted and go nowhere).
type AlertmanagerConfig struct {
	// Route is the routing tree.
	Route *Route
	// InhibitRules are the inhibit rules in file order.
	InhibitRules []InhibitRule
	// Receivers are the receivers in file order.
	Receivers []ReceiverConfig
	// ResolveTimeout is global.resolve_timeout, or 0 when the file has
	// none (Config's default, 5 min, which is also Alertmanager's).
	ResolveTimeout time.Duration
	// Unsupported names, by their path in the file, each setting alertcorr
	// does not act on, e.g. "receivers[ops].email_configs".
	Unsupported []string
}

// ReceiverConfig is one receiver of the file.
type ReceiverConfig struct {
	Name     string
	Webhooks []WebhookConfig
}

// WebhookConfig is one of a receiver's webhook_configs.
type WebhookConfig struct {
	URL string
	// SendResolved is send_resolved; Alertmanager's default for webhooks
	// is true.
	SendResolved bool
	// MaxAlerts is max_alerts: at most this many alerts per payload (the
	// rest counted in truncatedAlerts); 0 means all.
	MaxAlerts int
}

// Apply sets cfg's Route, InhibitRules, ResolveTimeout (when the file has
// one) and WithoutResolved (the receivers none of whose webhooks want
// resolved alerts) from the file.
func (c *AlertmanagerConfig) Apply(cfg *Config) {
	cfg.Route, cfg.InhibitRules = c.Route, c.InhibitRules
	if c.ResolveTimeout > 0 {
		cfg.ResolveTimeout = c.ResolveTimeout
	}
	cfg.WithoutResolved = nil
	for _, r := range c.Receivers {
		if len(r.Webhooks) > 0 && !slices.ContainsFunc(r.Webhooks, func(w WebhookConfig) bool { return w.SendResolved }) {
			cfg.WithoutResolved = append(cfg.WithoutResolved, r.Name)
		}
	}
}

// maxConfigBytes bounds an Alertmanager configuration read.
const maxConfigBytes = 4 << 20

// The file's shape. Each level keeps what it does not know in an inline
// map, which becomes Unsupported.
type amFile struct {
	Global       amGlobal        `yaml:"global"`
	Route        *amRoute        `yaml:"route"`
	InhibitRules []amInhibitRule `yaml:"inhibit_rules"`
	Receivers    []amReceiver    `yaml:"receivers"`
	Rest         map[string]any  `yaml:",inline"`
}

type amGlobal struct {
	ResolveTimeout string         `yaml:"resolve_timeout"`
	Rest           map[string]any `yaml:",inline"`
}

type amRoute struct {
	Receiver       string            `yaml:"receiver"`
	GroupBy        []string          `yaml:"group_by"`
	Continue       bool              `yaml:"continue"`
	Match          map[string]string `yaml:"match"`
	MatchRE        map[string]string `yaml:"match_re"`
	Matchers       []string          `yaml:"matchers"`
	GroupWait      string            `yaml:"group_wait"`
	GroupInterval  string            `yaml:"group_interval"`
	RepeatInterval string            `yaml:"repeat_interval"`
	Routes         []*amRoute        `yaml:"routes"`
	Rest           map[string]any    `yaml:",inline"`
}

type amInhibitRule struct {
	SourceMatch    map[string]string `yaml:"source_match"`
	SourceMatchRE  map[string]string `yaml:"source_match_re"`
	SourceMatchers []string          `yaml:"source_matchers"`
	TargetMatch    map[string]string `yaml:"target_match"`
	TargetMatchRE  map[string]string `yaml:"target_match_re"`
	TargetMatchers []string          `yaml:"target_matchers"`
	Equal          []string          `yaml:"equal"`
	Rest           map[string]any    `yaml:",inline"`
}

type amReceiver struct {
	Name     string            `yaml:"name"`
	Webhooks []amWebhookConfig `yaml:"webhook_configs"`
	Rest     map[string]any    `yaml:",inline"`
}

type amWebhookConfig struct {
	URL          string         `yaml:"url"`
	SendResolved *bool          `yaml:"send_resolved"`
	MaxAlerts    int            `yaml:"max_alerts"`
	Rest         map[string]any `yaml:",inline"`
}

// ParseAlertmanagerConfig reads an Alertmanager configuration file (YAML)
// and checks it as Alertmanager does: the root route has a receiver and
// no matchers and does not continue, every receiver a route names exists,
// receiver names are unique, matchers and regular expressions compile,
// durations parse. The error names what was wrong and where.
func ParseAlertmanagerConfig(r io.Reader) (*AlertmanagerConfig, error) {
	data, err := io.ReadAll(io.LimitReader(r, maxConfigBytes+1))
	if err != nil {
		return nil, wrapError(ErrUnavailable, err, "reading Alertmanager config")
	}
	if len(data) > maxConfigBytes {
		return nil, newError(ErrInvalid, "Alertmanager config larger than %d bytes", maxConfigBytes)
	}
	var f amFile
	dec := yaml.NewDecoder(bytes.NewReader(data))
	if err := dec.Decode(&f); err != nil {
		if errors.Is(err, io.EOF) {
			return nil, newError(ErrInvalid, "Alertmanager config is empty")
		}
		return nil, wrapError(ErrInvalid, err, "Alertmanager config")
	}
	p := &amParser{out: &AlertmanagerConfig{}}
	p.unsupported("", f.Rest)
	p.unsupported("global.", f.Global.Rest)
	if f.Global.ResolveTimeout != "" {
		if p.out.ResolveTimeout, err = parseAMDuration(f.Global.ResolveTimeout); err != nil {
			return nil, wrapError(ErrInvalid, err, "global.resolve_timeout")
		}
	}
	names := map[string]bool{}
	for i, rc := range f.Receivers {
		if rc.Name == "" {
			return nil, newError(ErrInvalid, "receivers[%d] has no name", i)
		}
		if names[rc.Name] {
			return nil, newError(ErrInvalid, "receiver %q is defined twice", truncate(rc.Name))
		}
		names[rc.Name] = true
		where := fmt.Sprintf("receivers[%s].", rc.Name)
		p.unsupported(where, rc.Rest)
		out := ReceiverConfig{Name: rc.Name}
		for j, w := range rc.Webhooks {
			at := fmt.Sprintf("%swebhook_configs[%d]", where, j)
			p.unsupported(at+".", w.Rest)
			u, err := url.Parse(w.URL)
			if w.URL == "" || err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
				return nil, newError(ErrInvalid, "%s.url %q is not an http(s) URL", at, truncate(w.URL))
			}
			if w.MaxAlerts < 0 {
				return nil, newError(ErrInvalid, "%s.max_alerts %d is negative", at, w.MaxAlerts)
			}
			out.Webhooks = append(out.Webhooks, WebhookConfig{URL: w.URL, SendResolved: w.SendResolved == nil || *w.SendResolved, MaxAlerts: w.MaxAlerts})
		}
		p.out.Receivers = append(p.out.Receivers, out)
	}
	if f.Route == nil {
		return nil, newError(ErrInvalid, "Alertmanager config has no route")
	}
	if f.Route.Receiver == "" {
		return nil, newError(ErrInvalid, "root route has no receiver")
	}
	if len(f.Route.Match)+len(f.Route.MatchRE)+len(f.Route.Matchers) > 0 {
		return nil, newError(ErrInvalid, "root route has matchers; it must take every alert")
	}
	if f.Route.Continue {
		return nil, newError(ErrInvalid, "root route has continue")
	}
	if p.out.Route, err = p.route(f.Route, "route", names, 0); err != nil {
		return nil, err
	}
	for i, ir := range f.InhibitRules {
		at := fmt.Sprintf("inhibit_rules[%d]", i)
		p.unsupported(at+".", ir.Rest)
		src, err := amMatchers(at+".source", ir.SourceMatch, ir.SourceMatchRE, ir.SourceMatchers)
		if err != nil {
			return nil, err
		}
		tgt, err := amMatchers(at+".target", ir.TargetMatch, ir.TargetMatchRE, ir.TargetMatchers)
		if err != nil {
			return nil, err
		}
		for _, n := range ir.Equal {
			if !validLabelName(n) {
				return nil, newError(ErrInvalid, "%s.equal label %q is not a label name", at, truncate(n))
			}
		}
		p.out.InhibitRules = append(p.out.InhibitRules, InhibitRule{Source: src, Target: tgt, Equal: ir.Equal})
	}
	if _, err := compileRoute(p.out.Route, nil, 0); err != nil {
		return nil, err
	}
	if _, err := newInhibitor(p.out.InhibitRules); err != nil {
		return nil, err
	}
	slices.Sort(p.out.Unsupported)
	return p.out, nil
}

type amParser struct{ out *AlertmanagerConfig }

// unsupported records the keys of rest, each under prefix.
func (p *amParser) unsupported(prefix string, rest map[string]any) {
	for k, v := range rest {
		if v == nil {
			continue // an empty section acts on nothing
		}
		p.out.Unsupported = append(p.out.Unsupported, prefix+truncate(k))
	}
}

// route converts one route and its children; depth bounds the recursion
// on a file from outside.
func (p *amParser) route(r *amRoute, at string, receivers map[string]bool, depth int) (*Route, error) {
	if depth > 64 {
		return nil, newError(ErrInvalid, "%s: route tree deeper than 64", at)
	}
	if r == nil {
		return nil, newError(ErrInvalid, "%s is empty", at)
	}
	p.unsupported(at+".", r.Rest)
	if r.Receiver != "" && !receivers[r.Receiver] {
		return nil, newError(ErrNotFound, "%s names receiver %q, which is not defined", at, truncate(r.Receiver))
	}
	ms, err := amMatchers(at, r.Match, r.MatchRE, r.Matchers)
	if err != nil {
		return nil, err
	}
	out := &Route{Receiver: r.Receiver, Matchers: ms, GroupBy: r.GroupBy, Continue: r.Continue}
	for _, d := range []struct {
		name string
		s    string
		v    *time.Duration
	}{{"group_wait", r.GroupWait, &out.GroupWait}, {"group_interval", r.GroupInterval, &out.GroupInterval}, {"repeat_interval", r.RepeatInterval, &out.RepeatInterval}} {
		if d.s == "" {
			continue
		}
		if *d.v, err = parseAMDuration(d.s); err != nil {
			return nil, wrapError(ErrInvalid, err, "%s.%s", at, d.name)
		}
		if *d.v == 0 && d.name != "group_wait" {
			return nil, newError(ErrInvalid, "%s.%s is zero", at, d.name)
		}
		out.NoGroupWait = out.NoGroupWait || (*d.v == 0 && d.name == "group_wait")
	}
	for i, c := range r.Routes {
		child, err := p.route(c, fmt.Sprintf("%s.routes[%d]", at, i), receivers, depth+1)
		if err != nil {
			return nil, err
		}
		out.Routes = append(out.Routes, child)
	}
	return out, nil
}

// amMatchers joins the three ways Alertmanager spells matchers: match
// (equality), match_re (anchored regular expressions) and matchers (its
// matcher strings), sorted by name as Alertmanager sorts them.
func amMatchers(at string, match, matchRE map[string]string, matchers []string) (Matchers, error) {
	var out Matchers
	for _, n := range sortedStrings(match) {
		m, err := NewMatcher(MatchEqual, n, match[n])
		if err != nil {
			return nil, wrapError(ErrInvalid, err, "%s match", at)
		}
		out = append(out, m)
	}
	for _, n := range sortedStrings(matchRE) {
		m, err := NewMatcher(MatchRegexp, n, matchRE[n])
		if err != nil {
			return nil, wrapError(ErrInvalid, err, "%s match_re", at)
		}
		out = append(out, m)
	}
	for _, s := range matchers {
		ms, err := ParseMatchers(s)
		if err != nil {
			return nil, wrapError(ErrInvalid, err, "%s matchers", at)
		}
		out = append(out, ms...)
	}
	if len(out) > maxLabels {
		return nil, newError(ErrInvalid, "%s has %d matchers, more than %d", at, len(out), maxLabels)
	}
	return out, nil
}

func sortedStrings(m map[string]string) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	slices.Sort(out)
	return out
}

// parseAMDuration parses a duration as Prometheus and Alertmanager write
// them: units y, w, d, h, m, s, ms, largest first, each at most once
// ("1h30m", "5m", "2d"), or "0".
func parseAMDuration(s string) (time.Duration, error) {
	if s == "0" {
		return 0, nil
	}
	units := []struct {
		name string
		d    time.Duration
	}{{"y", 365 * 24 * time.Hour}, {"w", 7 * 24 * time.Hour}, {"d", 24 * time.Hour}, {"h", time.Hour}, {"ms", time.Millisecond}, {"m", time.Minute}, {"s", time.Second}}
	rest, total, last := s, time.Duration(0), -1
	if rest == "" {
		return 0, newError(ErrInvalid, "empty duration")
	}
	for rest != "" {
		i := 0
		for i < len(rest) && rest[i] >= '0' && rest[i] <= '9' {
			i++
		}
		if i == 0 || i > 12 {
			return 0, newError(ErrInvalid, "duration %q is not like 30s, 5m, 4h, 1d", truncate(s))
		}
		n := int64(0)
		for _, c := range rest[:i] {
			n = n*10 + int64(c-'0')
		}
		rest = rest[i:]
		u := -1
		for j, unit := range units {
			if strings.HasPrefix(rest, unit.name) && (unit.name != "m" || !strings.HasPrefix(rest, "ms")) {
				u = j
				break
			}
		}
		order := []int{0, 1, 2, 3, 5, 6, 4} // y w d h m s ms
		rank := func(j int) int { return slices.Index(order, j) }
		if u < 0 || rank(u) <= last {
			return 0, newError(ErrInvalid, "duration %q is not like 30s, 5m, 4h, 1d", truncate(s))
		}
		last = rank(u)
		rest = rest[len(units[u].name):]
		if n > int64(1<<62)/int64(units[u].d) || total+time.Duration(n)*units[u].d < total {
			return 0, newError(ErrInvalid, "duration %q is too long", truncate(s))
		}
		total += time.Duration(n) * units[u].d
	}
	return total, nil
}
