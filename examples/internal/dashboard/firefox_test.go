package dashboard_test

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"os/exec"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/shoalkit/shoal/examples/internal/controller"
	"github.com/shoalkit/shoal/internal/testenv"
)

// marionette is a client of Firefox's Marionette protocol: each message is
// its length in decimal, a colon and a JSON array; a command is
// [0, id, name, params], its answer [1, id, error, result].
type marionette struct {
	t    testing.TB
	conn net.Conn
	r    *bufio.Reader
	id   int
}

// startFirefox starts headless Firefox ESR with a fresh profile, opens a
// Marionette session and stops the browser by its pid when t ends.
func startFirefox(t testing.TB) *marionette {
	t.Helper()
	f := testenv.FindFirefox(t)
	cmd := exec.CommandContext(context.WithoutCancel(t.Context()), f.Path, f.Args...) //nolint:gosec // the browser testenv found
	cmd.Env = append(cmd.Environ(), "MOZ_CRASHREPORTER_DISABLE=1", "HOME="+f.ProfileDir)
	if err := cmd.Start(); err != nil {
		t.Fatalf("starting %s: %v", f.Path, err)
	}
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
	})
	addr := net.JoinHostPort("127.0.0.1", strconv.Itoa(f.Port))
	deadline := time.Now().Add(60 * time.Second)
	var conn net.Conn
	for {
		var d net.Dialer
		c, err := d.DialContext(t.Context(), "tcp", addr)
		if err == nil {
			conn = c
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("Firefox's Marionette on %s: %v", addr, err)
		}
		time.Sleep(200 * time.Millisecond)
	}
	t.Cleanup(func() { _ = conn.Close() })
	m := &marionette{t: t, conn: conn, r: bufio.NewReader(conn)}
	var hello struct {
		ApplicationType string `json:"applicationType"`
		Protocol        int    `json:"marionetteProtocol"`
	}
	if err := json.Unmarshal(m.read(), &hello); err != nil || hello.ApplicationType != "gecko" {
		t.Fatalf("Marionette handshake: %v %+v", err, hello)
	}
	m.call("WebDriver:NewSession", map[string]any{"capabilities": map[string]any{"alwaysMatch": map[string]any{"acceptInsecureCerts": true}}}, nil)
	return m
}

func (m *marionette) read() []byte {
	m.t.Helper()
	_ = m.conn.SetReadDeadline(time.Now().Add(60 * time.Second))
	n, err := m.r.ReadString(':')
	if err != nil {
		m.t.Fatalf("marionette: %v", err)
	}
	size, err := strconv.Atoi(strings.TrimSuffix(n, ":"))
	if err != nil || size < 0 || size > 64<<20 {
		m.t.Fatalf("marionette: message length %q", n)
	}
	b := make([]byte, size)
	if _, err := io.ReadFull(m.r, b); err != nil {
		m.t.Fatalf("marionette: %v", err)
	}
	return b
}

// call sends a command and decodes its result into out (when not nil).
func (m *marionette) call(name string, params, out any) {
	m.t.Helper()
	if err := m.try(name, params, out); err != nil {
		m.t.Fatalf("marionette %s: %v", name, err)
	}
}

func (m *marionette) try(name string, params, out any) error {
	m.id++
	msg, err := json.Marshal([]any{0, m.id, name, params})
	if err != nil {
		return err
	}
	_ = m.conn.SetWriteDeadline(time.Now().Add(10 * time.Second))
	if _, err := fmt.Fprintf(m.conn, "%d:%s", len(msg), msg); err != nil {
		return err
	}
	for {
		var resp []json.RawMessage
		if err := json.Unmarshal(m.read(), &resp); err != nil {
			return fmt.Errorf("answer: %w", err)
		}
		if len(resp) != 4 {
			return fmt.Errorf("answer of %d parts, want 4", len(resp))
		}
		var id int
		_ = json.Unmarshal(resp[1], &id)
		if id != m.id {
			continue // an answer to a command given up on
		}
		if string(resp[2]) != "null" {
			return errors.New(string(resp[2]))
		}
		if out != nil {
			return json.Unmarshal(resp[3], out)
		}
		return nil
	}
}

// eval runs a script's body (it returns the value) and decodes the value.
func (m *marionette) eval(script string, out any) {
	m.t.Helper()
	var res struct {
		Value json.RawMessage `json:"value"`
	}
	m.call("WebDriver:ExecuteScript", map[string]any{"script": script, "args": []any{}}, &res)
	if out != nil {
		if err := json.Unmarshal(res.Value, out); err != nil {
			m.t.Fatalf("marionette: %s: %v (%s)", script, err, res.Value)
		}
	}
}

// wait polls a JavaScript expression until it is true.
func (m *marionette) wait(what, js string) {
	m.t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for {
		var res struct {
			Value bool `json:"value"`
		}
		err := m.try("WebDriver:ExecuteScript", map[string]any{"script": "return !!(" + js + ")", "args": []any{}}, &res)
		if err == nil && res.Value {
			return
		}
		if time.Now().After(deadline) {
			var text string
			m.eval(`return document.body.innerText`, &text)
			m.t.Fatalf("Firefox: waiting for %s: %v\npage: %s", what, err, text)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// The dashboard in Firefox ESR: the overview's map, an app's chart with a
// scaling mark, the ranking's figures, an instance's timeline, and no
// error on any page.
func TestDashboardInFirefox(t *testing.T) {
	ff := startFirefox(t)
	ld := &load{cores: map[string]float64{"web": 0.5}, mem: map[string]float64{"web": 32 << 20}}
	p := startPlatformWith(t, platformOptions{config: func(c *controller.Config) {
		c.Metrics, c.ActivityInterval = ld, 200*time.Millisecond
	}})
	p.call("PUT", "/v1/networks/10", "req-pool", pool, nil)
	p.call("POST", "/v1/apps?wait=20s", "req-web", webApp, nil)
	ff.call("WebDriver:SetWindowRect", map[string]any{"width": 1366, "height": 768}, nil)
	ff.call("WebDriver:Navigate", map[string]any{"url": p.url + "/ui/#token=" + p.token}, nil)
	ff.wait("three nodes with their 3 containers", `document.querySelectorAll('.node').length === 3 && document.querySelectorAll('.node .ct.ok').length === 3`)
	var href string
	ff.eval(`return location.href`, &href)
	if strings.Contains(href, p.token) {
		t.Errorf("the token stays in the address bar: %s", href)
	}

	ff.call("WebDriver:Navigate", map[string]any{"url": p.url + "/ui/#/apps/web"}, nil)
	ff.wait("the chart", `(() => { const c = document.querySelector('#app-chart canvas'); return c && c.width > 0 && c.height > 0; })()`)
	p.call("POST", "/v1/apps/web/scale", "req-ff-scale", `{"replicas":4}`, nil)
	ff.wait("the AppScaled mark, live", `document.querySelector('#app-chart .scale-mark[data-kind=AppScaled]')`)

	ff.call("WebDriver:Navigate", map[string]any{"url": p.url + "/ui/#/ranking?by=memory&n=5"}, nil)
	ff.wait("the ranking", `document.querySelector('#busiest-apps tr[data-name=web] td.mem')`)
	var rk controller.Ranking
	p.call("GET", "/v1/ranking?by=memory&n=5", "", "", &rk)
	var mem string
	ff.eval(`return document.querySelector('#busiest-apps tr[data-name=web] td.mem').dataset.v`, &mem)
	if len(rk.Apps.Busiest) == 0 || number(mem) != rk.Apps.Busiest[0].MemoryBytes {
		t.Errorf("web's memory on the page %s, the API %+v", mem, rk.Apps.Busiest)
	}

	var ins []controller.InstanceView
	p.call("GET", "/v1/instances?app=web", "", "", &ins)
	ff.call("WebDriver:Navigate", map[string]any{"url": p.url + "/ui/#/instances/" + ins[0].Desired.ID}, nil)
	ff.wait("the timeline", `document.querySelector('#timeline .seg[data-state=Running]')`)

	ff.call("WebDriver:Navigate", map[string]any{"url": p.url + "/ui/#/events?request_id=req-ff-scale"}, nil)
	ff.wait("the scale's events", `document.querySelectorAll('#events tr').length > 0 && [...document.querySelectorAll('#events tr')].every((r) => r.dataset.request === 'req-ff-scale')`)
	var errs []string
	ff.eval(`return [...document.querySelectorAll('.error')].map((e) => e.innerText)`, &errs)
	if len(errs) > 0 {
		t.Errorf("errors on the page: %v", errs)
	}
}
