package inspect

import (
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"strconv"
)

// The agent's stage-two endpoints, served by Agent.Handler.
const (
	// DetailsPath returns the full results of the checks that did not pass
	// (GET ?version=N): stage two, no size limit.
	DetailsPath = "/v1/inspect/details"
	// FixPath runs fixes (POST, a FixRequest body signed in SignatureHeader).
	FixPath = "/v1/inspect/fix"
	// SignatureHeader carries a fix request's HMAC-SHA256 (hex).
	SignatureHeader = "X-Shoal-Signature"
	maxFixBody      = 64 << 10
)

// Details is the body DetailsPath returns.
type Details struct {
	Node    string   `json:"node"`
	Version uint64   `json:"version"`
	Results []Result `json:"results"` // checks that failed or errored
}

// Handler returns the agent's HTTP handler for stage two (DetailsPath),
// fixes (FixPath) and, once the agent is a Node's, collection
// (CollectPath). Serve it on the node's address; the inspector finds it
// through the node's AddrTag.
func (a *Agent) Handler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET "+DetailsPath, func(w http.ResponseWriter, r *http.Request) {
		v, err := strconv.ParseUint(r.URL.Query().Get("version"), 10, 64)
		if err != nil {
			writeError(w, newError(ErrInvalid, "version %q", r.URL.Query().Get("version")))
			return
		}
		all, err := a.Details(r.Context(), v)
		if err != nil {
			writeError(w, err)
			return
		}
		d := Details{Node: a.cfg.Name, Version: v, Results: []Result{}}
		for _, res := range all {
			if res.Outcome == OutcomeFail || res.Outcome == OutcomeError {
				d.Results = append(d.Results, res)
			}
		}
		writeJSON(w, http.StatusOK, d)
	})
	mux.HandleFunc("POST "+CollectPath, a.serveCollect)
	mux.HandleFunc("POST "+FixPath, func(w http.ResponseWriter, r *http.Request) {
		body, err := io.ReadAll(io.LimitReader(r.Body, maxFixBody+1))
		if err != nil || len(body) > maxFixBody {
			writeError(w, newError(ErrInvalid, "fix request body over %d bytes or unreadable", maxFixBody))
			return
		}
		out, err := a.Fix(r.Context(), body, r.Header.Get(SignatureHeader))
		if err != nil {
			a.cfg.Logger.Warn("inspect: fix refused", "err", err)
			writeError(w, err)
			return
		}
		writeJSON(w, http.StatusOK, out)
	})
	return mux
}

func writeJSON(w http.ResponseWriter, code int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	_ = json.NewEncoder(w).Encode(v) // the client went away: nothing to do
}

// errorBody is the body of an error reply.
type errorBody struct {
	Error string `json:"error"`
}

func writeError(w http.ResponseWriter, err error) {
	code := http.StatusInternalServerError
	switch {
	case errors.Is(err, ErrInvalid):
		code = http.StatusBadRequest
	case errors.Is(err, ErrNotFound):
		code = http.StatusNotFound
	case errors.Is(err, ErrDenied):
		code = http.StatusForbidden
	case errors.Is(err, ErrRateLimited):
		code = http.StatusTooManyRequests
	}
	writeJSON(w, code, errorBody{err.Error()})
}
