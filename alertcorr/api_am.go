package alertcorr

import (
	"net/http"
	"regexp"
	"strconv"
	"time"
)

// gettableAlert is an alert as Alertmanager's GET /api/v2/alerts answers
// (its OpenAPI GettableAlert), which amtool and Grafana read.
type gettableAlert struct {
	Labels       map[string]string `json:"labels"`
	Annotations  map[string]string `json:"annotations"`
	StartsAt     time.Time         `json:"startsAt"`
	EndsAt       time.Time         `json:"endsAt"`
	UpdatedAt    time.Time         `json:"updatedAt"`
	GeneratorURL string            `json:"generatorURL,omitempty"`
	Fingerprint  string            `json:"fingerprint"`
	Receivers    []receiverName    `json:"receivers"`
	Status       alertStatus       `json:"status"`
}

type receiverName struct {
	Name string `json:"name"`
}

// alertStatus is Alertmanager's AlertStatus: "active" or "suppressed"
// (silenced or inhibited), with what mutes it.
type alertStatus struct {
	State       string   `json:"state"`
	SilencedBy  []string `json:"silencedBy"`
	InhibitedBy []string `json:"inhibitedBy"`
}

// maxFilters bounds the filter matchers of one query.
const maxFilters = maxLabels

// parseFilter parses the filter query parameters: one matcher each, as
// amtool sends them (alertname="X", severity=~"crit.*").
func parseFilter(params []string) (Matchers, error) {
	if len(params) > maxFilters {
		return nil, newError(ErrInvalid, "%d filter matchers, more than %d", len(params), maxFilters)
	}
	var out Matchers
	for _, p := range params {
		ms, err := ParseMatchers(p)
		if err != nil {
			return nil, err
		}
		out = append(out, ms...)
	}
	return out, nil
}

// boolParam reads an optional boolean query parameter; absent is def.
func boolParam(r *http.Request, name string, def bool) (bool, error) {
	v := r.URL.Query().Get(name)
	if v == "" {
		return def, nil
	}
	b, err := strconv.ParseBool(v)
	if err != nil {
		return false, newError(ErrInvalid, "query parameter %s=%q is not a boolean", name, truncate(v))
	}
	return b, nil
}

// getAlerts answers GET /api/v2/alerts as Alertmanager does: the alerts
// that fire, with their receivers and whether a silence or inhibit rule
// mutes them; the query parameters filter, active, silenced, inhibited,
// unprocessed and receiver select among them as in Alertmanager.
func (e *Engine) getAlerts(w http.ResponseWriter, r *http.Request) {
	filter, err := parseFilter(r.URL.Query()["filter"])
	if err != nil {
		httpError(w, err)
		return
	}
	want := map[string]bool{}
	for _, p := range []string{"active", "silenced", "inhibited", "unprocessed"} {
		if want[p], err = boolParam(r, p, true); err != nil {
			httpError(w, err)
			return
		}
	}
	var recvRe *regexp.Regexp
	if v := r.URL.Query().Get("receiver"); v != "" {
		if recvRe, err = regexp.Compile("^(?:" + v + ")$"); err != nil {
			httpError(w, wrapError(ErrInvalid, err, "receiver %q", truncate(v)))
			return
		}
	}
	now := e.cfg.Now()
	e.mu.Lock()
	out := make([]gettableAlert, 0, len(e.alerts))
	for _, fp := range sortedFPs(e.alerts) {
		a := e.alerts[fp].a
		if a.ResolvedAt(now) || !filter.Matches(a.Labels) {
			continue
		}
		ga := gettableAlert{Labels: a.Labels, Annotations: a.Annotations, StartsAt: a.StartsAt, EndsAt: a.EndsAt, UpdatedAt: a.UpdatedAt, GeneratorURL: a.GeneratorURL, Fingerprint: fp.String()}
		if ga.Labels == nil {
			ga.Labels = map[string]string{}
		}
		if ga.Annotations == nil {
			ga.Annotations = map[string]string{}
		}
		ga.Status.SilencedBy = e.silences.mutedBy(a.Labels, now)
		ga.Status.InhibitedBy = []string{}
		if ifp, ok := e.inhibit.mutedBy(a.Labels, now); ok {
			ga.Status.InhibitedBy = append(ga.Status.InhibitedBy, ifp.String())
		}
		if ga.Status.SilencedBy == nil {
			ga.Status.SilencedBy = []string{}
		}
		silenced, inhibited := len(ga.Status.SilencedBy) > 0, len(ga.Status.InhibitedBy) > 0
		ga.Status.State = "active"
		if silenced || inhibited {
			ga.Status.State = "suppressed"
		}
		if (!want["active"] && !silenced && !inhibited) || (!want["silenced"] && silenced) || (!want["inhibited"] && inhibited) {
			continue
		}
		keep := recvRe == nil
		for _, rt := range e.route.match(a.Labels) {
			name := rt.opts.Receiver
			if recvRe != nil && recvRe.MatchString(name) {
				keep = true
			}
			if !containsReceiver(ga.Receivers, name) {
				ga.Receivers = append(ga.Receivers, receiverName{Name: name})
			}
		}
		if !keep {
			continue
		}
		if ga.Receivers == nil {
			ga.Receivers = []receiverName{}
		}
		out = append(out, ga)
	}
	e.mu.Unlock()
	writeJSON(w, out)
}

func containsReceiver(rs []receiverName, name string) bool {
	for _, r := range rs {
		if r.Name == name {
			return true
		}
	}
	return false
}

// silenceMatchesFilter is Alertmanager's silence filter: the filter
// matchers must match the label set the silence's equality matchers
// describe.
func silenceMatchesFilter(s *Silence, filter Matchers) bool {
	if len(filter) == 0 {
		return true
	}
	l := Labels{}
	for _, m := range s.Matchers {
		if m.Type == MatchEqual {
			l[m.Name] = m.Value
		}
	}
	return filter.Matches(l)
}
