package alertcorr

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/shoalkit/shoal/internal/testenv"
)

func do(t *testing.T, h http.Handler, method, path, body string) *httptest.ResponseRecorder {
	t.Helper()
	req := httptest.NewRequestWithContext(t.Context(), method, path, strings.NewReader(body))
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	return rec
}

func TestAPIAlerts(t *testing.T) {
	c := newClock()
	e := mustEngine(t, Config{Now: c.Now})
	h := e.Handler()
	body := `[{"labels":{"alertname":"HostDown","host":"h1"},"annotations":{"summary":"down"},"startsAt":"2026-01-02T03:00:00Z","generatorURL":"http://prom/graph"}]`
	if rec := do(t, h, "POST", "/api/v2/alerts", body); rec.Code != 200 {
		t.Fatalf("POST alerts: %d %s", rec.Code, rec.Body)
	}
	rec := do(t, h, "GET", "/api/v2/alerts", "")
	var got []gettableAlert
	if err := json.Unmarshal(rec.Body.Bytes(), &got); err != nil || len(got) != 1 {
		t.Fatalf("GET alerts: %v %s", err, rec.Body)
	}
	if got[0].Labels["host"] != "h1" || got[0].Status.State != "active" || !got[0].EndsAt.Equal(c.Now().Add(5*time.Minute)) ||
		len(got[0].Receivers) != 1 || got[0].Receivers[0].Name != "default" || got[0].Fingerprint != Labels(got[0].Labels).Fingerprint().String() {
		t.Fatalf("alert %+v, want h1 active for receiver default, ending at the resolve timeout", got[0])
	}
	for _, q := range []string{"?filter=host%3D%22h2%22", "?active=false", "?receiver=other"} {
		if rec := do(t, h, "GET", "/api/v2/alerts"+q, ""); strings.TrimSpace(rec.Body.String()) != "[]" {
			t.Fatalf("GET alerts%s = %s, want none", q, rec.Body)
		}
	}
	for _, q := range []string{"?filter=%3D%3D", "?active=maybe", "?receiver=("} {
		if rec := do(t, h, "GET", "/api/v2/alerts"+q, ""); rec.Code != 400 {
			t.Fatalf("GET alerts%s = %d, want 400", q, rec.Code)
		}
	}
	bad := []struct{ name, body string }{
		{"not JSON", `{`},
		{"object not array", `{"labels":{}}`},
		{"no labels", `[{"labels":{}}]`},
		{"bad label name", `[{"labels":{"0x":"y"}}]`},
		{"end before start", `[{"labels":{"a":"b"},"startsAt":"2026-01-02T03:00:00Z","endsAt":"2026-01-02T02:00:00Z"}]`},
		{"trailing data", `[] []`},
		{"bad time", `[{"labels":{"a":"b"},"startsAt":"yesterday"}]`},
	}
	for _, b := range bad {
		if rec := do(t, h, "POST", "/api/v2/alerts", b.body); rec.Code != 400 {
			t.Errorf("%s: %d %s, want 400", b.name, rec.Code, rec.Body)
		}
	}
	if s := e.Stats(); s.Invalid != uint64(len(bad)) || s.Received != 1 {
		t.Fatalf("stats %+v, want %d invalid and 1 received", s, len(bad))
	}
	// A duplicate flood is absorbed.
	for range 1000 {
		do(t, h, "POST", "/api/v2/alerts", body)
	}
	if s := e.Stats(); s.Duplicates != 1000 || len(e.Alerts()) != 1 {
		t.Fatalf("after a flood: %+v and %d alerts", s, len(e.Alerts()))
	}
}

// A payload as Debian's Alertmanager 0.25 sends it (no routeLabels, no
// notification reason).
const webhook025 = `{"receiver":"alertcorr","status":"resolved","alerts":[
 {"status":"firing","labels":{"alertname":"Load","host":"h1"},"annotations":{},"startsAt":"2026-01-02T03:00:00Z","endsAt":"0001-01-01T00:00:00Z","generatorURL":"http://prom","fingerprint":"1"},
 {"status":"resolved","labels":{"alertname":"Load","host":"h2"},"annotations":{},"startsAt":"2026-01-02T03:00:00Z","endsAt":"2026-01-02T03:03:00Z","generatorURL":"http://prom","fingerprint":"2"}],
 "groupLabels":{},"commonLabels":{"alertname":"Load"},"commonAnnotations":{},"externalURL":"http://am","version":"4","groupKey":"{}:{}","truncatedAlerts":0}`

func TestAPIWebhookInput(t *testing.T) {
	c := newClock()
	e := mustEngine(t, Config{Now: c.Now})
	h := e.Handler()
	if rec := do(t, h, "POST", "/api/v2/webhook", webhook025); rec.Code != 200 {
		t.Fatalf("POST webhook: %d %s", rec.Code, rec.Body)
	}
	al := e.Alerts()
	if len(al) != 2 {
		t.Fatalf("%d alerts, want 2", len(al))
	}
	for _, a := range al {
		want := a.Labels["host"] == "h2"
		if a.ResolvedAt(c.Now()) != want {
			t.Errorf("alert %s resolved=%v, want %v", a.Labels, a.ResolvedAt(c.Now()), want)
		}
	}
	if rec := do(t, h, "POST", "/api/v2/webhook", `{"alerts":[{"status":"exploded","labels":{"a":"b"}}]}`); rec.Code != 400 {
		t.Fatalf("bad status: %d, want 400", rec.Code)
	}
}

func TestAPISilences(t *testing.T) {
	c := newClock()
	e := mustEngine(t, Config{Now: c.Now})
	h := e.Handler()
	body := `{"matchers":[{"name":"team","value":"db","isRegex":false,"isEqual":true},{"name":"env","value":"prod.*","isRegex":true}],"startsAt":"2026-01-02T03:00:00Z","endsAt":"2026-01-02T05:00:00Z","createdBy":"ops","comment":"migration"}`
	rec := do(t, h, "POST", "/api/v2/silences", body)
	var created map[string]string
	if rec.Code != 200 || json.Unmarshal(rec.Body.Bytes(), &created) != nil || created["silenceID"] == "" {
		t.Fatalf("POST silence: %d %s", rec.Code, rec.Body)
	}
	if ids, _, _ := e.Muted(Labels{"team": "db", "env": "production"}); len(ids) != 1 {
		t.Fatalf("silence from the API does not mute")
	}
	var list []wireSilence
	if err := json.Unmarshal(do(t, h, "GET", "/api/v2/silences", "").Body.Bytes(), &list); err != nil || len(list) != 1 || list[0].Status.State != SilenceActive || len(list[0].Matchers) != 2 {
		t.Fatalf("GET silences: %v %+v", err, list)
	}
	if rec := do(t, h, "DELETE", "/api/v2/silence/"+created["silenceID"], ""); rec.Code != 200 {
		t.Fatalf("DELETE silence: %d %s", rec.Code, rec.Body)
	}
	if rec := do(t, h, "DELETE", "/api/v2/silence/nope", ""); rec.Code != 404 {
		t.Fatalf("DELETE unknown silence: %d, want 404", rec.Code)
	}
	if rec := do(t, h, "POST", "/api/v2/silences", `{"matchers":[{"name":"a","value":".*","isRegex":true}],"endsAt":"2026-01-02T05:00:00Z"}`); rec.Code != 400 {
		t.Fatalf("silence muting everything: %d, want 400", rec.Code)
	}
}

// serve runs h on 127.0.0.1 below 32768 until the test ends.
func serve(t *testing.T, h http.Handler) string {
	t.Helper()
	var lc net.ListenConfig
	l, err := lc.Listen(t.Context(), "tcp", "127.0.0.1:"+strconv.Itoa(testenv.FreePort(t)))
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: h, ReadHeaderTimeout: 5 * time.Second}
	go func() { _ = srv.Serve(l) }()
	t.Cleanup(func() { _ = srv.Close() })
	return "http://" + l.Addr().String()
}

// capture is an HTTP endpoint that keeps the bodies posted to it.
type capture struct {
	mu     sync.Mutex
	bodies []string
	paths  []string
}

func (c *capture) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	b, _ := io.ReadAll(r.Body)
	c.mu.Lock()
	c.bodies = append(c.bodies, string(b))
	c.paths = append(c.paths, r.URL.Path)
	c.mu.Unlock()
	w.WriteHeader(http.StatusOK)
}

func TestWebhookAndAlertmanagerOutput(t *testing.T) {
	hook, am := &capture{}, &capture{}
	hookURL, amURL := serve(t, hook), serve(t, am)
	c := newClock()
	e := mustEngine(t, Config{
		Now: c.Now, Route: &Route{Receiver: "hook", GroupWait: time.Second, Routes: []*Route{{Matchers: ms(t, `team="a"`), Receiver: "hook", Continue: true}, {Receiver: "am"}}},
		Notifier: Receivers{"hook": &Webhook{URL: hookURL + "/hook", ExternalURL: "http://alertcorr"}, "am": &Alertmanager{URL: amURL}},
	})
	mustIngest(t, e, Alert{Labels: Labels{"alertname": "X", "team": "a"}, Annotations: Labels{"summary": "s"}})
	step(t, e, c, time.Second)
	if len(hook.bodies) != 1 || len(am.bodies) != 1 {
		t.Fatalf("hook got %d, am got %d posts; want 1 each", len(hook.bodies), len(am.bodies))
	}
	var p WebhookPayload
	if err := json.Unmarshal([]byte(hook.bodies[0]), &p); err != nil {
		t.Fatal(err)
	}
	if p.Version != "4" || p.Status != "firing" || p.Receiver != "hook" || p.CommonLabels["team"] != "a" || p.CommonAnnotations["summary"] != "s" || len(p.Alerts) != 1 || p.Alerts[0].Fingerprint == "" || p.ExternalURL != "http://alertcorr" {
		t.Fatalf("webhook payload %+v", p)
	}
	// The webhook we send is one we accept.
	if _, alerts, err := DecodeWebhook(strings.NewReader(hook.bodies[0])); err != nil || len(alerts) != 1 {
		t.Fatalf("our own webhook does not decode: %v", err)
	}
	var fwd []wireAlert
	if err := json.Unmarshal([]byte(am.bodies[0]), &fwd); err != nil || am.paths[0] != "/api/v2/alerts" || len(fwd) != 1 || !fwd[0].EndsAt.After(c.Now()) {
		t.Fatalf("forwarded to %s: %v %+v, want one firing alert with an end in the future", am.paths[0], err, fwd)
	}
	// max_alerts: three alerts, two sent, one counted as truncated.
	capped := &Webhook{URL: hookURL + "/capped", MaxAlerts: 2}
	three := &Notification{Receiver: "hook", At: c.Now(), Alerts: []Alert{{Labels: Labels{"a": "1"}}, {Labels: Labels{"a": "2"}}, {Labels: Labels{"a": "3"}}}}
	if err := capped.Notify(context.Background(), three); err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal([]byte(hook.bodies[len(hook.bodies)-1]), &p); err != nil || len(p.Alerts) != 2 || p.TruncatedAlerts != 1 {
		t.Fatalf("capped payload: %v, %d alerts, %d truncated; want 2 and 1", err, len(p.Alerts), p.TruncatedAlerts)
	}
	if err := (Receivers{}).Notify(context.Background(), &Notification{Receiver: "x"}); !errors.Is(err, ErrNotFound) {
		t.Fatalf("unknown receiver: %v", err)
	}
}

// A restart neither forgets a silence nor notifies twice, and keeps the
// open incident.
func TestSnapshotRestart(t *testing.T) {
	path := filepath.Join(t.TempDir(), "state.json")
	c := newClock()
	rec := &recorder{}
	tp := testTopo(t, 1, 2)
	addContainer(t, tp, "c1", "h0-0", "a1")
	cfg := Config{
		Now: c.Now, Notifier: rec, SnapshotPath: path, Topology: tp,
		Route: &Route{Receiver: "r", GroupBy: []string{"incident"}, GroupWait: time.Second, GroupInterval: time.Minute},
	}
	e1, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	sid, err := e1.SetSilence(context.Background(), Silence{Matchers: ms(t, `team="db"`), EndsAt: c.Now().Add(time.Hour)})
	if err != nil {
		t.Fatal(err)
	}
	mustIngest(t, e1, Alert{Labels: Labels{"alertname": "HostDown", "host": "h0-0"}}, Alert{Labels: Labels{"alertname": "ContainerDown", "container": "c1"}})
	step(t, e1, c, 30*time.Second)
	step(t, e1, c, time.Second)
	if got := rec.take(); len(got) != 1 {
		t.Fatalf("first run: %d notifications, want 1", len(got))
	}
	inc := e1.Incidents()
	// Crash-like: no Close, the snapshot written by Advance is what survives.
	e2, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer e2.Close()
	if ids, _, _ := e2.Muted(Labels{"team": "db"}); len(ids) != 1 || ids[0] != sid {
		t.Fatalf("after restart muted by %v, want silence %s", ids, sid)
	}
	if got := e2.Incidents(); len(got) != 1 || got[0].ID != inc[0].ID {
		t.Fatalf("after restart incidents %v, want %s", rootsOf(got), inc[0].ID)
	}
	// Prometheus keeps sending; nothing new must be notified.
	mustIngest(t, e2, Alert{Labels: Labels{"alertname": "HostDown", "host": "h0-0"}}, Alert{Labels: Labels{"alertname": "ContainerDown", "container": "c1"}})
	for range 5 {
		step(t, e2, c, 30*time.Second)
	}
	if got := rec.take(); len(got) != 0 {
		t.Fatalf("after restart notified again: %v", got)
	}
	if got := e2.Incidents(); len(got) != 1 || got[0].ID != inc[0].ID {
		t.Fatalf("after restart and re-sends incidents %v, want %s only", rootsOf(got), inc[0].ID)
	}
	_ = e1.Close()
}

func FuzzDecodeAlerts(f *testing.F) {
	f.Add(`[{"labels":{"alertname":"X"},"startsAt":"2026-01-02T03:00:00Z"}]`)
	f.Add(`[{"labels":{}}]`)
	f.Add(`[]`)
	f.Fuzz(func(t *testing.T, s string) {
		alerts, err := DecodeAlerts(strings.NewReader(s))
		if err != nil {
			return
		}
		c := newClock()
		e, _ := New(Config{Now: c.Now})
		defer e.Close()
		_ = e.Ingest(alerts...)
		_ = e.Advance(context.Background(), c.Add(time.Minute))
	})
}

func FuzzDecodeWebhook(f *testing.F) {
	f.Add(webhook025)
	f.Add(`{"alerts":[{"status":"resolved","labels":{"a":"b"}}]}`)
	f.Fuzz(func(t *testing.T, s string) {
		_, alerts, err := DecodeWebhook(strings.NewReader(s))
		if err != nil {
			return
		}
		for _, a := range alerts {
			if err := a.Labels.Validate(); err != nil {
				t.Fatalf("decoded invalid labels: %v", err)
			}
		}
	})
}

func FuzzParseMatchers(f *testing.F) {
	f.Add(`{a="1", b=~"x.*"}`)
	f.Add(`a!~"y,z"`)
	f.Fuzz(func(t *testing.T, s string) {
		m, err := ParseMatchers(s)
		if err != nil {
			return
		}
		// What we print parses back to the same matchers.
		m2, err := ParseMatchers(m.String())
		if err != nil || m2.String() != m.String() {
			t.Fatalf("%q → %s → %v %v", s, m, m2, err)
		}
	})
}
