package controller

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/subtle"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"reflect"
	"strconv"
	"strings"
	"time"

	"github.com/shoalkit/shoal/examples/internal/state"
)

// MaxBodyBytes bounds a request body.
const MaxBodyBytes = 1 << 20

// MaxWait bounds the ?wait= of a deploy or scale.
const MaxWait = 10 * time.Minute

// Problem is an API error (RFC 9457): Code is stable for scripts, Detail is
// for people, Field names the input that was wrong.
type Problem struct {
	Status    int    `json:"status"`
	Code      string `json:"code"`
	Title     string `json:"title"`
	Detail    string `json:"detail"`
	Field     string `json:"field,omitempty"`
	RequestID string `json:"request_id,omitempty"`
	// Leader is the leader's API address, for a not_leader problem.
	Leader string `json:"leader,omitempty"`
}

// The stable problem codes.
const (
	CodeInvalid       = "invalid"
	CodeNotFound      = "not_found"
	CodeConflict      = "conflict"
	CodeUnschedulable = "unschedulable"
	CodeQuota         = "quota_exceeded"
	CodeNotLeader     = "not_leader"
	CodeUnavailable   = "unavailable"
	CodeUnauthorized  = "unauthorized"
	CodeTooLarge      = "too_large"
	CodeInternal      = "internal"
)

var kinds = []struct {
	err    error
	status int
	code   string
}{
	{ErrInvalid, http.StatusBadRequest, CodeInvalid},
	{ErrNotFound, http.StatusNotFound, CodeNotFound},
	{ErrConflict, http.StatusConflict, CodeConflict},
	{ErrUnschedulable, http.StatusUnprocessableEntity, CodeUnschedulable},
	{ErrQuota, http.StatusUnprocessableEntity, CodeQuota},
	{ErrNotLeader, http.StatusServiceUnavailable, CodeNotLeader},
	{ErrUnavailable, http.StatusServiceUnavailable, CodeUnavailable},
}

type ctxKey struct{}

// RequestID returns the request id of an API call's context.
func RequestID(ctx context.Context) string {
	id, _ := ctx.Value(ctxKey{}).(string)
	return id
}

const requestIDChars = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_."

// validRequestID accepts what a caller may send in X-Request-Id.
func validRequestID(s string) bool {
	if len(s) == 0 || len(s) > 64 {
		return false
	}
	for i := range len(s) {
		if c := s[i]; !strings.ContainsRune(requestIDChars, rune(c)) {
			return false
		}
	}
	return true
}

func newRequestID() string {
	var b [8]byte
	_, _ = rand.Read(b[:])
	return "req-" + hex.EncodeToString(b[:])
}

// Handler serves the API. Every call needs the cluster's bearer token but
// /healthz; every answer carries X-Request-Id (the caller's, when valid, or
// a new one), which every change records in etcd.
func (c *Controller) Handler() http.Handler {
	mux := http.NewServeMux()
	h := func(pattern string, f func(w http.ResponseWriter, r *http.Request) error) {
		mux.Handle(pattern, c.authed(f))
	}
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) {
		_ = writeJSON(w, http.StatusOK, map[string]any{"ok": true, "leading": c.Leading()})
	})
	h("GET /v1/leader", func(w http.ResponseWriter, r *http.Request) error {
		return writeJSON(w, http.StatusOK, map[string]any{"leader": c.Leader(r.Context()), "this_leads": c.Leading()})
	})
	h("GET /v1/apps", func(w http.ResponseWriter, _ *http.Request) error { return writeJSON(w, http.StatusOK, c.Apps()) })
	h("POST /v1/apps", c.changeHandler(http.StatusCreated, c.deploy))
	h("GET /v1/apps/{name}", func(w http.ResponseWriter, r *http.Request) error {
		a, err := c.App(r.PathValue("name"))
		if err != nil {
			return err
		}
		return writeJSON(w, http.StatusOK, a)
	})
	h("PUT /v1/apps/{name}", c.changeHandler(http.StatusOK, c.update))
	h("DELETE /v1/apps/{name}", func(w http.ResponseWriter, r *http.Request) error {
		ch, err := c.Delete(r.Context(), RequestID(r.Context()), r.PathValue("name"))
		if err != nil {
			return err
		}
		return writeJSON(w, http.StatusOK, ch)
	})
	h("POST /v1/apps/{name}/scale", c.changeHandler(http.StatusOK, c.scale))
	h("GET /v1/apps/{name}/endpoints", c.handleEndpoints)
	h("GET /v1/apps/{name}/proposal", func(w http.ResponseWriter, r *http.Request) error {
		p, err := c.Proposal(r.PathValue("name"))
		if err != nil {
			return err
		}
		return writeJSON(w, http.StatusOK, p)
	})
	h("POST /v1/apps/{name}/proposal/approve", func(w http.ResponseWriter, r *http.Request) error {
		ch, err := c.Approve(r.Context(), RequestID(r.Context()), r.PathValue("name"))
		if err != nil {
			return err
		}
		return writeJSON(w, http.StatusOK, ch)
	})
	h("GET /v1/instances", func(w http.ResponseWriter, r *http.Request) error {
		return writeJSON(w, http.StatusOK, c.Instances(r.URL.Query().Get("app"), r.URL.Query().Get("node")))
	})
	h("GET /v1/instances/{id}", func(w http.ResponseWriter, r *http.Request) error {
		v, err := c.Instance(r.PathValue("id"))
		if err != nil {
			return err
		}
		return writeJSON(w, http.StatusOK, v)
	})
	h("POST /v1/instances/{id}/resize", func(w http.ResponseWriter, r *http.Request) error {
		var res state.Resources
		if err := decodeBody(r, &res); err != nil {
			return err
		}
		in, err := c.Resize(r.Context(), RequestID(r.Context()), r.PathValue("id"), res)
		if err != nil {
			return err
		}
		return writeJSON(w, http.StatusOK, in)
	})
	h("POST /v1/instances/{id}/migrate", func(w http.ResponseWriter, r *http.Request) error {
		var req MigrateRequest
		if err := decodeBody(r, &req); err != nil {
			return err
		}
		in, err := c.Migrate(r.Context(), RequestID(r.Context()), r.PathValue("id"), req)
		if err != nil {
			return err
		}
		return writeJSON(w, http.StatusOK, in)
	})
	h("GET /v1/nodes", func(w http.ResponseWriter, _ *http.Request) error { return writeJSON(w, http.StatusOK, c.Nodes()) })
	for verb, mode := range map[string]string{"cordon": "cordon", "drain": "drain", "uncordon": ""} {
		h("POST /v1/nodes/{name}/"+verb, func(w http.ResponseWriter, r *http.Request) error {
			if err := c.SetCordon(r.Context(), RequestID(r.Context()), r.PathValue("name"), mode); err != nil {
				return err
			}
			return writeJSON(w, http.StatusOK, map[string]string{"node": r.PathValue("name"), "cordon": mode})
		})
	}
	h("GET /v1/events", func(w http.ResponseWriter, r *http.Request) error {
		f, err := eventFilter(r)
		if err != nil {
			return err
		}
		return writeJSON(w, http.StatusOK, c.Events(f))
	})
	h("GET /v1/events/stream", c.handleEventStream)
	h("GET /v1/networks", func(w http.ResponseWriter, _ *http.Request) error { return writeJSON(w, http.StatusOK, c.Networks()) })
	h("PUT /v1/networks/{vlan}", func(w http.ResponseWriter, r *http.Request) error {
		var p state.NetworkPool
		if err := decodeBody(r, &p); err != nil {
			return err
		}
		if v, err := strconv.Atoi(r.PathValue("vlan")); err != nil || v != p.VLAN {
			return &fieldError{field: "vlan", err: newError(ErrInvalid, "vlan: body says %d, path %q", p.VLAN, r.PathValue("vlan"))}
		}
		if err := c.PutNetwork(r.Context(), RequestID(r.Context()), p); err != nil {
			return err
		}
		return writeJSON(w, http.StatusOK, p)
	})
	h("GET /v1/usage", func(w http.ResponseWriter, _ *http.Request) error { return writeJSON(w, http.StatusOK, c.Showback()) })
	c.inspectionRoutes(h)
	c.activityRoutes(h)
	h("GET /v1/quotas", func(w http.ResponseWriter, _ *http.Request) error { return writeJSON(w, http.StatusOK, c.Usage()) })
	h("PUT /v1/quotas/{team}", func(w http.ResponseWriter, r *http.Request) error {
		var q state.Quota
		if err := decodeBody(r, &q); err != nil {
			return err
		}
		if err := c.PutQuota(r.Context(), RequestID(r.Context()), r.PathValue("team"), q); err != nil {
			return err
		}
		return writeJSON(w, http.StatusOK, q)
	})
	h("/", func(_ http.ResponseWriter, r *http.Request) error {
		return newError(ErrNotFound, "no such endpoint: %s %.100q", r.Method, r.URL.Path)
	})
	return mux
}

// authed checks the token, assigns the request id and turns errors into
// problems.
func (c *Controller) authed(f func(w http.ResponseWriter, r *http.Request) error) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		id := r.Header.Get("X-Request-Id")
		if !validRequestID(id) {
			id = newRequestID()
		}
		w.Header().Set("X-Request-Id", id)
		ctx := context.WithValue(r.Context(), ctxKey{}, id)
		r = r.WithContext(ctx)
		c.cache.mu.RLock()
		tok := c.cache.token
		c.cache.mu.RUnlock()
		got, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
		if tok == "" || !ok || subtle.ConstantTimeCompare([]byte(got), []byte(tok)) != 1 {
			w.Header().Set("WWW-Authenticate", `Bearer realm="shoal"`)
			c.problem(w, r, &Problem{
				Status: http.StatusUnauthorized, Code: CodeUnauthorized, Title: "Unauthorized",
				Detail: "a valid bearer token is required (the controller's token file)",
			})
			return
		}
		r.Body = http.MaxBytesReader(w, r.Body, MaxBodyBytes)
		sw := &startedWriter{ResponseWriter: w}
		if err := f(sw, r); err != nil {
			if sw.started {
				// The answer is on its way (a stream, or a body the
				// client stopped reading): too late for a problem.
				c.log.Debug("api: answer cut short", "method", r.Method, "path", r.URL.Path, "request_id", id, "err", err)
				return
			}
			c.problem(w, r, c.toProblem(ctx, err))
		}
	})
}

// startedWriter notes whether a handler has begun its answer, after which
// an error can no longer become a problem document.
type startedWriter struct {
	http.ResponseWriter
	started bool
}

// WriteHeader notes the start and passes on.
func (w *startedWriter) WriteHeader(status int) {
	w.started = true
	w.ResponseWriter.WriteHeader(status)
}

// Write notes the start and passes on.
func (w *startedWriter) Write(b []byte) (int, error) {
	w.started = true
	return w.ResponseWriter.Write(b)
}

// Flush passes on to the connection's writer, for event streams.
func (w *startedWriter) Flush() {
	w.started = true
	if fl, ok := w.ResponseWriter.(http.Flusher); ok {
		fl.Flush()
	}
}

// Unwrap lets http.ResponseController reach the connection's deadlines.
func (w *startedWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

func (c *Controller) toProblem(ctx context.Context, err error) *Problem {
	p := &Problem{Status: http.StatusInternalServerError, Code: CodeInternal, Title: "Internal Server Error", Detail: err.Error()}
	var mbe *http.MaxBytesError
	if errors.As(err, &mbe) {
		p.Status, p.Code = http.StatusRequestEntityTooLarge, CodeTooLarge
		p.Detail = fmt.Sprintf("request body over %d bytes", MaxBodyBytes)
	}
	for _, k := range kinds {
		if errors.Is(err, k.err) {
			p.Status, p.Code = k.status, k.code
			break
		}
	}
	p.Title = http.StatusText(p.Status)
	var fe *fieldError
	if errors.As(err, &fe) {
		p.Field = fe.field
	}
	if p.Code == CodeNotLeader {
		p.Leader = c.Leader(ctx)
	}
	return p
}

func (c *Controller) problem(w http.ResponseWriter, r *http.Request, p *Problem) {
	p.RequestID = RequestID(r.Context())
	if p.Status >= 500 {
		c.log.Warn("api", "method", r.Method, "path", r.URL.Path, "request_id", p.RequestID, "err", p.Detail)
	}
	w.Header().Set("Content-Type", "application/problem+json")
	w.WriteHeader(p.Status)
	_ = json.NewEncoder(w).Encode(p)
}

func writeJSON(w http.ResponseWriter, status int, v any) error {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	if rv := reflect.ValueOf(v); rv.Kind() == reflect.Slice && rv.IsNil() {
		// An empty list is [], not null: clients range over it.
		_, err := io.WriteString(w, "[]\n")
		return err
	}
	return json.NewEncoder(w).Encode(v)
}

// decodeBody reads one JSON value, refusing unknown fields (a typo in
// app.json is an error, not a silent default) and trailing data.
func decodeBody(r *http.Request, v any) error {
	body, err := io.ReadAll(r.Body)
	if err != nil {
		return err
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		field := ""
		var ute *json.UnmarshalTypeError
		if errors.As(err, &ute) {
			field = ute.Field
		} else if f, ok := strings.CutPrefix(err.Error(), "json: unknown field "); ok {
			field = strings.Trim(f, `"`)
		}
		return &fieldError{field: field, err: wrapError(ErrInvalid, err, "request body")}
	}
	if dec.More() {
		return newError(ErrInvalid, "request body: trailing data after the JSON value")
	}
	return nil
}

func waitParam(r *http.Request) (time.Duration, error) {
	s := r.URL.Query().Get("wait")
	if s == "" {
		return 0, nil
	}
	d, err := time.ParseDuration(s)
	if err != nil || d < 0 || d > MaxWait {
		return 0, &fieldError{field: "wait", err: newError(ErrInvalid, "wait=%.20q, want a duration up to %v", s, MaxWait)}
	}
	return d, nil
}

// Deployed is the answer to a deploy or scale: the change and, when the
// caller waited, how long until every new instance ran.
type Deployed struct {
	Change
	// Running is true when every created instance ran within the wait.
	Running bool `json:"running"`
	// TimeToRunning is from the call to the last created instance running.
	TimeToRunning state.Duration `json:"time_to_running,omitzero"`
}

// changeHandler serves a call that places or removes instances: the wait
// parameter is checked first, then do makes the change, then the answer
// waits for the created instances as asked.
func (c *Controller) changeHandler(status int, do func(r *http.Request) (*Change, error)) func(http.ResponseWriter, *http.Request) error {
	return func(w http.ResponseWriter, r *http.Request) error {
		wait, err := waitParam(r)
		if err != nil {
			return err
		}
		start := c.cfg.Now()
		ch, err := do(r)
		if err != nil {
			return err
		}
		return c.answerChange(w, r, ch, start, wait, status)
	}
}

func (c *Controller) deploy(r *http.Request) (*Change, error) {
	var spec state.AppSpec
	if err := decodeBody(r, &spec); err != nil {
		return nil, err
	}
	return c.Deploy(r.Context(), RequestID(r.Context()), spec)
}

func (c *Controller) update(r *http.Request) (*Change, error) {
	var spec state.AppSpec
	if err := decodeBody(r, &spec); err != nil {
		return nil, err
	}
	if spec.Name != r.PathValue("name") {
		return nil, &fieldError{field: "name", err: newError(ErrInvalid, "name: body says %q, path %q", spec.Name, r.PathValue("name"))}
	}
	return c.Update(r.Context(), RequestID(r.Context()), spec)
}

func (c *Controller) scale(r *http.Request) (*Change, error) {
	var body struct {
		Replicas *int `json:"replicas"`
	}
	if err := decodeBody(r, &body); err != nil {
		return nil, err
	}
	if body.Replicas == nil {
		return nil, &fieldError{field: "replicas", err: newError(ErrInvalid, "replicas: required")}
	}
	return c.Scale(r.Context(), RequestID(r.Context()), r.PathValue("name"), *body.Replicas)
}

// answerChange waits, if asked, for the created instances to run and
// records the time to running as an event.
func (c *Controller) answerChange(w http.ResponseWriter, r *http.Request, ch *Change, start time.Time, wait time.Duration, status int) error {
	out := Deployed{Change: *ch}
	if wait > 0 && len(ch.Created) > 0 {
		ctx, cancel := context.WithTimeout(r.Context(), wait)
		defer cancel()
		out.Running = c.waitRunning(ctx, ch.Created)
		if out.Running {
			out.TimeToRunning = state.Duration(c.cfg.Now().Sub(start))
			c.event(r.Context(), RequestID(r.Context()), state.Event{
				Kind: "AppRunning", Priority: state.Info, App: ch.App.Spec.Name,
				Message: fmt.Sprintf("%d instance(s) running %v after the call", len(ch.Created), time.Duration(out.TimeToRunning).Round(time.Millisecond)),
			})
		}
	}
	return writeJSON(w, status, out)
}

// waitRunning reports whether every instance runs before ctx ends.
func (c *Controller) waitRunning(ctx context.Context, ins []state.Instance) bool {
	for {
		changed := c.cache.wait()
		c.cache.mu.RLock()
		all := true
		for i := range ins {
			if in := c.cache.desired[ins[i].ID]; in == nil || !c.running(in) {
				all = false
				break
			}
		}
		c.cache.mu.RUnlock()
		if all {
			return true
		}
		select {
		case <-ctx.Done():
			return false
		case <-changed:
		}
	}
}

func eventFilter(r *http.Request) (EventFilter, error) {
	q := r.URL.Query()
	f := EventFilter{RequestID: q.Get("request_id"), Instance: q.Get("instance"), App: q.Get("app"), Node: q.Get("node")}
	if s := q.Get("since"); s != "" {
		t, err := time.Parse(time.RFC3339Nano, s)
		if err != nil {
			d, derr := time.ParseDuration(s)
			if derr != nil || d < 0 {
				return f, &fieldError{field: "since", err: newError(ErrInvalid, "since=%.40q, want RFC 3339 time or a duration ago", s)}
			}
			t = time.Now().Add(-d)
		}
		f.Since = t
	}
	if s := q.Get("limit"); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil || n < 1 || n > 100000 {
			return f, &fieldError{field: "limit", err: newError(ErrInvalid, "limit=%.20q, want 1..100000", s)}
		}
		f.Limit = n
	}
	return f, nil
}

// sse starts a server-sent event stream.
func sse(w http.ResponseWriter) (http.Flusher, error) {
	fl, ok := w.(http.Flusher)
	if !ok {
		return nil, newError(ErrUnavailable, "streaming is not supported on this connection")
	}
	w.Header().Set("Content-Type", "text/event-stream")
	w.Header().Set("Cache-Control", "no-cache")
	w.WriteHeader(http.StatusOK)
	fl.Flush()
	return fl, nil
}

func writeEvent(w io.Writer, fl http.Flusher, name string, v any) error {
	b, err := json.Marshal(v)
	if err != nil {
		return err
	}
	if _, err := fmt.Fprintf(w, "event: %s\ndata: %s\n\n", name, b); err != nil {
		return err
	}
	fl.Flush()
	return nil
}

// handleEventStream streams the matching events: those held first (as
// GET /v1/events answers), then each new one as it lands.
func (c *Controller) handleEventStream(w http.ResponseWriter, r *http.Request) error {
	f, err := eventFilter(r)
	if err != nil {
		return err
	}
	fl, err := sse(w)
	if err != nil {
		return err
	}
	from := ""
	for {
		changed := c.cache.wait()
		evs, last := c.eventsAfter(from, f)
		for i := range evs {
			if err := writeEvent(w, fl, "event", &evs[i]); err != nil {
				return nil //nolint:nilerr // the client went away
			}
		}
		from = last
		select {
		case <-r.Context().Done():
			return nil
		case <-changed:
		}
	}
}

// handleEndpoints answers an app's endpoints, or with ?watch=1 streams
// them: the whole set again whenever it changes.
func (c *Controller) handleEndpoints(w http.ResponseWriter, r *http.Request) error {
	name := r.PathValue("name")
	eps, err := c.Endpoints(name)
	if err != nil {
		return err
	}
	if r.URL.Query().Get("watch") == "" {
		return writeJSON(w, http.StatusOK, eps)
	}
	fl, err := sse(w)
	if err != nil {
		return err
	}
	var last []byte
	for {
		changed := c.cache.wait()
		eps, err := c.Endpoints(name)
		if err != nil {
			_ = writeEvent(w, fl, "deleted", map[string]string{"app": name})
			return nil
		}
		b, _ := json.Marshal(eps)
		if !bytes.Equal(b, last) {
			if err := writeEvent(w, fl, "endpoints", eps); err != nil {
				return nil //nolint:nilerr // the client went away
			}
			last = b
		}
		select {
		case <-r.Context().Done():
			return nil
		case <-changed:
		}
	}
}
