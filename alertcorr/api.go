package alertcorr

import (
	"encoding/json"
	"errors"
	"net/http"
	"time"
)

// Handler serves the parts of Alertmanager's API that senders and
// operators use, so Prometheus can send to alertcorr unchanged:
//
//	POST   /api/v2/alerts         alerts (also /api/v1/alerts)
//	GET    /api/v2/alerts         the alerts held
//	POST   /api/v2/webhook        an Alertmanager webhook payload's alerts
//	GET    /api/v2/silences       silences
//	POST   /api/v2/silences       create or update a silence → {"silenceID": id}
//	DELETE /api/v2/silence/{id}   expire a silence
//	GET    /api/v2/incidents      open and recently resolved incidents
//	GET    /-/healthy, /-/ready   200
//
// Bad input is answered 400 with the reason, and counted; it never stops
// the engine.
func (e *Engine) Handler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("POST /api/v2/alerts", e.postAlerts)
	mux.HandleFunc("POST /api/v1/alerts", e.postAlerts)
	mux.HandleFunc("GET /api/v2/alerts", e.getAlerts)
	mux.HandleFunc("POST /api/v2/webhook", e.postWebhook)
	mux.HandleFunc("GET /api/v2/silences", e.getSilences)
	mux.HandleFunc("POST /api/v2/silences", e.postSilence)
	mux.HandleFunc("DELETE /api/v2/silence/{id}", e.deleteSilence)
	mux.HandleFunc("GET /api/v2/incidents", e.getIncidents)
	ok := func(w http.ResponseWriter, _ *http.Request) { _, _ = w.Write([]byte("OK")) }
	mux.HandleFunc("GET /-/healthy", ok)
	mux.HandleFunc("GET /-/ready", ok)
	return mux
}

func (e *Engine) postAlerts(w http.ResponseWriter, r *http.Request) {
	alerts, err := DecodeAlerts(http.MaxBytesReader(w, r.Body, maxBody))
	if err != nil {
		e.countInvalid()
		httpError(w, err)
		return
	}
	if err := e.Ingest(alerts...); err != nil {
		httpError(w, err)
		return
	}
	w.WriteHeader(http.StatusOK)
}

func (e *Engine) postWebhook(w http.ResponseWriter, r *http.Request) {
	_, alerts, err := DecodeWebhook(http.MaxBytesReader(w, r.Body, maxBody))
	if err != nil {
		e.countInvalid()
		httpError(w, err)
		return
	}
	if err := e.Ingest(alerts...); err != nil {
		httpError(w, err)
		return
	}
	w.WriteHeader(http.StatusOK)
}

func (e *Engine) countInvalid() {
	e.mu.Lock()
	e.stats.Invalid++
	e.mu.Unlock()
}

// wireSilence is a silence in Alertmanager's v2 API.
type wireSilence struct {
	ID        string         `json:"id,omitempty"`
	Matchers  []wireMatcher  `json:"matchers"`
	StartsAt  time.Time      `json:"startsAt"`
	EndsAt    time.Time      `json:"endsAt"`
	CreatedBy string         `json:"createdBy"`
	Comment   string         `json:"comment"`
	UpdatedAt time.Time      `json:"updatedAt,omitzero"`
	Status    *silenceStatus `json:"status,omitempty"`
}

type silenceStatus struct {
	State SilenceState `json:"state"`
}

type wireMatcher struct {
	Name    string `json:"name"`
	Value   string `json:"value"`
	IsRegex bool   `json:"isRegex"`
	IsEqual *bool  `json:"isEqual,omitempty"`
}

func (e *Engine) getSilences(w http.ResponseWriter, r *http.Request) {
	filter, err := parseFilter(r.URL.Query()["filter"])
	if err != nil {
		httpError(w, err)
		return
	}
	now := e.cfg.Now()
	list := e.Silences()
	out := make([]wireSilence, 0, len(list))
	for i := range list {
		s := &list[i]
		if !silenceMatchesFilter(s, filter) {
			continue
		}
		ws := wireSilence{ID: s.ID, StartsAt: s.StartsAt, EndsAt: s.EndsAt, CreatedBy: s.CreatedBy, Comment: s.Comment, UpdatedAt: s.UpdatedAt, Status: &silenceStatus{State: s.State(now)}}
		for _, m := range s.Matchers {
			eq := m.Type == MatchEqual || m.Type == MatchRegexp
			ws.Matchers = append(ws.Matchers, wireMatcher{Name: m.Name, Value: m.Value, IsRegex: m.Type == MatchRegexp || m.Type == MatchNotRegexp, IsEqual: &eq})
		}
		out = append(out, ws)
	}
	writeJSON(w, out)
}

// DecodeSilence parses a silence in Alertmanager's v2 API form.
func DecodeSilence(r *http.Request) (Silence, error) {
	var ws wireSilence
	if err := decodeJSON(r.Body, &ws); err != nil {
		return Silence{}, err
	}
	s := Silence{ID: ws.ID, StartsAt: ws.StartsAt, EndsAt: ws.EndsAt, CreatedBy: ws.CreatedBy, Comment: ws.Comment}
	if len(ws.Matchers) > maxLabels {
		return Silence{}, newError(ErrInvalid, "silence has %d matchers, more than %d", len(ws.Matchers), maxLabels)
	}
	for _, wm := range ws.Matchers {
		eq := wm.IsEqual == nil || *wm.IsEqual
		t := MatchEqual
		switch {
		case wm.IsRegex && eq:
			t = MatchRegexp
		case wm.IsRegex:
			t = MatchNotRegexp
		case !eq:
			t = MatchNotEqual
		}
		m, err := NewMatcher(t, wm.Name, wm.Value)
		if err != nil {
			return Silence{}, err
		}
		s.Matchers = append(s.Matchers, m)
	}
	return s, nil
}

func (e *Engine) postSilence(w http.ResponseWriter, r *http.Request) {
	r.Body = http.MaxBytesReader(w, r.Body, 1<<20)
	s, err := DecodeSilence(r)
	if err != nil {
		httpError(w, err)
		return
	}
	id, err := e.SetSilence(r.Context(), s)
	if err != nil {
		httpError(w, err)
		return
	}
	writeJSON(w, map[string]string{"silenceID": id})
}

func (e *Engine) deleteSilence(w http.ResponseWriter, r *http.Request) {
	if err := e.ExpireSilence(r.Context(), r.PathValue("id")); err != nil {
		httpError(w, err)
		return
	}
	w.WriteHeader(http.StatusOK)
}

func (e *Engine) getIncidents(w http.ResponseWriter, _ *http.Request) {
	writeJSON(w, map[string][]Incident{"open": e.Incidents(), "resolved": e.ClosedIncidents()})
}

func writeJSON(w http.ResponseWriter, v any) {
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(v)
}

// httpError answers with the status err's kind implies.
func httpError(w http.ResponseWriter, err error) {
	code := http.StatusInternalServerError
	var tooBig *http.MaxBytesError
	switch {
	case errors.As(err, &tooBig):
		code = http.StatusRequestEntityTooLarge
	case errors.Is(err, ErrInvalid):
		code = http.StatusBadRequest
	case errors.Is(err, ErrNotFound):
		code = http.StatusNotFound
	case errors.Is(err, ErrConflict):
		code = http.StatusConflict
	case errors.Is(err, ErrClosed), errors.Is(err, ErrUnavailable):
		code = http.StatusServiceUnavailable
	}
	http.Error(w, err.Error(), code)
}
