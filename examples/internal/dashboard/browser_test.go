package dashboard_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	clientv3 "go.etcd.io/etcd/client/v3"
	"go.uber.org/zap"

	"github.com/shoalkit/shoal/examples/internal/controller"
	"github.com/shoalkit/shoal/examples/internal/dashboard"
	"github.com/shoalkit/shoal/examples/internal/embedetcd"
	"github.com/shoalkit/shoal/examples/internal/simnode"
	"github.com/shoalkit/shoal/examples/internal/state"
	"github.com/shoalkit/shoal/internal/testenv"
)

// platform is an embedded etcd, three simulated nodes (one rack each) and a
// controller whose server carries the API and the dashboard, as the pilot
// mounts them.
type platform struct {
	t     testing.TB
	url   string
	token string
	fleet *simnode.Fleet
	etcd  *clientv3.Client
}

// platformOptions shape a platform: its racks and nodes per rack (3 of 1
// when zero), and changes to the controller's Config.
type platformOptions struct {
	racks, perRack int
	config         func(*controller.Config)
}

func startPlatform(t testing.TB) *platform {
	t.Helper()
	return startPlatformWith(t, platformOptions{})
}

func startPlatformWith(t testing.TB, o platformOptions) *platform {
	t.Helper()
	if o.racks == 0 {
		o.racks, o.perRack = 3, 1
	}
	etcd, err := embedetcd.Start(t.Context(), embedetcd.Config{Dir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(etcd.Close)
	client := func() *clientv3.Client {
		cli, err := clientv3.New(clientv3.Config{Endpoints: etcd.Endpoints(), DialTimeout: 5 * time.Second, Logger: zap.NewNop()})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = cli.Close() })
		return cli
	}
	fleet, err := simnode.Start(t.Context(), simnode.Config{
		Etcd: client(), Nodes: simnode.Racks(o.racks, o.perRack, state.Capacity{CPUs: 8, MemoryBytes: 16 << 30}), LeaseTTL: 2 * time.Second,
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = fleet.Close() })

	addr := net.JoinHostPort("127.0.0.1", strconv.Itoa(testenv.FreePort(t)))
	cfg := controller.Config{
		Etcd: client(), Name: "c1", Advertise: addr,
		SessionTTL: 2 * time.Second, NodeGrace: 2 * time.Second, Resync: 500 * time.Millisecond,
	}
	if o.config != nil {
		o.config(&cfg)
	}
	c, err := controller.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	token, err := c.EnsureToken(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- c.Run(ctx) }()

	mux := http.NewServeMux()
	mux.Handle(dashboard.Prefix, dashboard.Handler())
	mux.Handle("/", c.Handler())
	var lc net.ListenConfig
	l, err := lc.Listen(t.Context(), "tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second}
	go func() { _ = srv.Serve(l) }()
	t.Cleanup(func() {
		cancel() // ends the event streams' contexts with the controller's
		_ = srv.Close()
		if err := <-done; err != nil {
			t.Errorf("controller: %v", err)
		}
	})
	deadline := time.Now().Add(15 * time.Second)
	for !c.Leading() {
		if time.Now().After(deadline) {
			t.Fatal("the controller does not lead after 15 s")
		}
		time.Sleep(20 * time.Millisecond)
	}
	p := &platform{t: t, url: "http://" + addr, token: token, fleet: fleet, etcd: client()}
	// Every node registered and seen by the controller, or a deploy under a
	// loaded machine finds no node to place on.
	want := o.racks * o.perRack
	for {
		var nodes []controller.NodeView
		p.call("GET", "/v1/nodes", "", "", &nodes)
		live := 0
		for _, n := range nodes {
			if n.Live {
				live++
			}
		}
		if live == want {
			return p
		}
		if time.Now().After(deadline.Add(2 * time.Minute)) {
			t.Fatalf("%d of %d nodes live after 2 minutes", live, want)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// call makes an API call with the token and decodes a 2xx answer into out.
func (p *platform) call(method, path, requestID, body string, out any) {
	p.t.Helper()
	req, err := http.NewRequestWithContext(p.t.Context(), method, p.url+path, strings.NewReader(body))
	if err != nil {
		p.t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+p.token)
	if requestID != "" {
		req.Header.Set("X-Request-Id", requestID)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		p.t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	if resp.StatusCode >= 300 {
		p.t.Fatalf("%s %s: %d %s", method, path, resp.StatusCode, raw)
	}
	if out != nil {
		if err := json.Unmarshal(raw, out); err != nil {
			p.t.Fatalf("%s %s: %v", method, path, err)
		}
	}
}

// browser is a headless Chromium tab.
type browser struct {
	t   testing.TB
	ctx context.Context //nolint:containedctx // the tab's lifetime, for the test's helpers

	// close closes a tab opened by tab.
	close func()

	mu      sync.Mutex
	console []chromedp.ConsoleMessage // errors and exceptions the page wrote
}

// watchConsole keeps the errors and uncaught exceptions of the tab.
func (b *browser) watchConsole() {
	msgs := chromedp.Console(b.ctx)
	go func() {
		for m, err := range msgs {
			if err != nil {
				return
			}
			if m.Type == chromedp.ConsoleError || m.IsException() {
				b.mu.Lock()
				b.console = append(b.console, m)
				b.mu.Unlock()
			}
		}
	}()
}

// consoleErrors returns what the page wrote as errors so far, but the
// 404 of an app's scaling proposal when it has none and the 503 of
// /v1/incidents when no alert correlation is configured (the API's way to
// say so, which the browser logs as a failed load).
func (b *browser) consoleErrors() []string {
	b.mu.Lock()
	defer b.mu.Unlock()
	var out []string
	for _, m := range b.console {
		if m.Source == "network" && (strings.Contains(m.Text, "404") && strings.HasSuffix(m.URL, "/proposal") ||
			strings.Contains(m.Text, "503") && strings.HasSuffix(m.URL, "/v1/incidents")) {
			continue
		}
		out = append(out, m.String()+" "+m.URL)
	}
	return out
}

func startBrowser(t testing.TB) *browser {
	t.Helper()
	c := testenv.FindChromium(t)
	opts := []chromedp.ExecAllocatorOption{chromedp.ExecPath(c.Path)}
	for _, a := range c.Args {
		name, value, ok := strings.Cut(strings.TrimPrefix(a, "--"), "=")
		if ok {
			opts = append(opts, chromedp.Flag(name, value))
		} else {
			opts = append(opts, chromedp.Flag(name, true))
		}
	}
	actx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	ctx, cancelTab := chromedp.NewContext(actx)
	t.Cleanup(func() {
		cancelTab()
		cancelAlloc() // stops the browser (by its pid) and waits for it
	})
	if err := chromedp.Do(ctx); err != nil {
		t.Fatalf("starting %s: %v", c.Path, err)
	}
	b := &browser{t: t, ctx: ctx}
	b.watchConsole()
	return b
}

// tab opens another tab of the same browser: its own sessionStorage.
func (b *browser) tab() *browser {
	ctx, cancel := chromedp.NewContext(b.ctx)
	b.t.Cleanup(cancel)
	// The first run opens the tab, which lives as long as that run's
	// context: never one with a timeout.
	if err := chromedp.Do(ctx); err != nil {
		b.t.Fatalf("opening a tab: %v", err)
	}
	tab := &browser{t: b.t, ctx: ctx, close: cancel}
	tab.watchConsole()
	return tab
}

func (b *browser) run(actions ...chromedp.Action[chromedp.Void]) {
	b.t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, 15*time.Second)
	defer cancel()
	if err := chromedp.Do(ctx, actions...); err != nil {
		b.t.Fatalf("browser: %v\npage: %s", err, b.text())
	}
}

// text is what the page shows, for failure messages.
func (b *browser) text() string {
	ctx, cancel := context.WithTimeout(b.ctx, 2*time.Second)
	defer cancel()
	s, _ := chromedp.Run(ctx, chromedp.Evaluate[string](`document.body.innerText`))
	return s
}

// eval evaluates a JavaScript expression (awaiting a promise) into out.
func (b *browser) eval(js string, out any) {
	b.t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, 15*time.Second)
	defer cancel()
	v, err := chromedp.Run(ctx, chromedp.Evaluate[json.RawMessage](js, chromedp.EvalAwaitPromise))
	if err != nil {
		b.t.Fatalf("browser: %s: %v\npage: %s", js, err, b.text())
	}
	if err := json.Unmarshal(v, out); err != nil {
		b.t.Fatalf("browser: %s: %v (%s)", js, err, v)
	}
}

// wait polls a JavaScript expression until it is true.
func (b *browser) wait(what, js string) {
	b.t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, 15*time.Second)
	defer cancel()
	for {
		ok, err := chromedp.Run(ctx, chromedp.Evaluate[bool]("!!("+js+")"))
		if err == nil && ok {
			return
		}
		if ctx.Err() != nil || (err != nil && !errors.Is(err, context.DeadlineExceeded) && strings.Contains(err.Error(), "target closed")) {
			b.t.Fatalf("waiting for %s: %v\npage: %s", what, err, b.text())
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// rows returns the text of the rows of a table body, by selector.
func (b *browser) rows(sel string) []string {
	b.t.Helper()
	var out []string
	b.eval(fmt.Sprintf(`[...document.querySelectorAll(%q)].map((r) => r.innerText)`, sel), &out)
	return out
}

const (
	pool     = `{"vlan":10,"subnet":"10.0.10.0/24","gateway":"10.0.10.1"}`
	webApp   = `{"name":"web","team":"shop","image":"127.0.0.1:5000/web:1","resources":{"cpus":1,"memory_bytes":268435456},"replicas":3,"network":{"vlan":10,"port":80},"placement":{"spread":[{"key":"rack","max_skew":1}]}}`
	cacheApp = `{"name":"cache","team":"shop","image":"127.0.0.1:5000/cache:1","kind":"thin","resources":{"cpus":2,"memory_bytes":1073741824},"replicas":1}`
)

func TestDashboardInBrowser(t *testing.T) {
	b := startBrowser(t) // first: it skips when chromium is missing
	p := startPlatform(t)
	p.call("PUT", "/v1/networks/10", "req-pool", pool, nil)
	p.call("POST", "/v1/apps", "req-cache", cacheApp, nil)

	// The token comes in the fragment and leaves the address bar.
	b.run(chromedp.Navigate(p.url + "/ui/#token=" + p.token))
	b.wait("three nodes", `document.querySelectorAll('.node').length === 3`)
	var href string
	b.eval(`location.href`, &href)
	if strings.Contains(href, p.token) {
		t.Errorf("the token stays in the address bar: %s", href)
	}
	for _, n := range []string{"n1", "n2", "n3"} {
		var card string
		b.eval(fmt.Sprintf(`document.querySelector('.node[data-node=%q]').innerText`, n), &card)
		if !strings.Contains(card, "SIMULATED") || !strings.Contains(card, "live") {
			t.Errorf("node %s shows %q, want SIMULATED and live", n, card)
		}
	}
	var racks []string
	b.eval(`[...document.querySelectorAll('.rack')].map((r) => r.dataset.rack)`, &racks)
	if strings.Join(racks, ",") != "r1,r2,r3" {
		t.Errorf("racks %v, want r1,r2,r3", racks)
	}
	b.wait("the cache app", `document.querySelector('tr[data-app=cache] .ready')?.innerText === '1 / 1'`)

	// A deploy shows on the open page, without a reload.
	var before float64
	b.eval(`performance.timeOrigin`, &before)
	p.call("POST", "/v1/apps", "req-web", webApp, nil)
	b.wait("web 3 of 3 ready", `document.querySelector('tr[data-app=web] .ready')?.innerText === '3 / 3'`)
	b.wait("5 CPUs allocated on the nodes (cache 2, web 3)", `[...document.querySelectorAll('.node')].map((n) => parseFloat(n.querySelector('.meter .v').innerText)).reduce((a, b) => a + b, 0) === 5`)
	var after float64
	b.eval(`performance.timeOrigin`, &after)
	if after != before {
		t.Fatal("the page reloaded")
	}

	// The app's page lists its instances with node, address and phase, and
	// follows a scale-out live.
	b.run(chromedp.Click(chromedp.CSS(`tr[data-app=web] a`)))
	b.wait("3 instances of web", `document.querySelectorAll('tr[data-instance]').length === 3`)
	for _, row := range b.rows(`tr[data-instance]`) {
		if !strings.Contains(row, "SIMULATED") || !strings.Contains(row, "10.0.10.") || !strings.Contains(row, "Running") {
			t.Errorf("instance row %q lacks SIMULATED, its address or Running", row)
		}
	}
	b.wait("3 endpoints", `[...document.querySelectorAll('td')].filter((td) => /^10\.0\.10\.\d+$/.test(td.innerText)).length === 3`)
	p.call("POST", "/v1/apps/web/scale", "req-scale", `{"replicas":4}`, nil)
	b.wait("4 instances of web, live", `document.querySelectorAll('tr[data-instance]').length === 4`)
	b.wait("4 endpoints, live", `[...document.querySelectorAll('td')].filter((td) => /^10\.0\.10\.\d+$/.test(td.innerText)).length === 4`)

	// An instance's page: desired and reported, on its SIMULATED node.
	b.run(chromedp.Click(chromedp.CSS(`tr[data-instance] a`)))
	b.wait("the instance's page", `document.querySelector('h1.mono')?.innerText.startsWith('web-')`)
	var detail string
	b.eval(`document.querySelector('main').innerText`, &detail)
	for _, want := range []string{"Running", "SIMULATED", "10.0.10.", "Reported by the agent", "InstanceScheduled"} {
		if !strings.Contains(detail, want) {
			t.Errorf("the instance's page lacks %q:\n%s", want, detail)
		}
	}

	// The message-tracking list: a request id filters it.
	b.run(chromedp.Click(chromedp.CSS(`a[data-nav=events]`)))
	b.wait("events of both deploys", `['req-cache', 'req-web', 'req-scale'].every((id) => document.querySelector('#events tr[data-request="' + id + '"]'))`)
	var webEvents []state.Event
	p.call("GET", "/v1/events?request_id=req-web", "", "", &webEvents)
	b.run(chromedp.Click(chromedp.CSS(`#events tr[data-request="req-web"] a.reqid`)))
	b.wait("only req-web's events", fmt.Sprintf(`location.hash === '#/events?request_id=req-web' && document.querySelectorAll('#events tr').length === %d && [...document.querySelectorAll('#events tr')].every((r) => r.dataset.request === 'req-web')`, len(webEvents)))
	if len(webEvents) < 4 { // the app deployed, three instances scheduled
		t.Errorf("req-web has %d events", len(webEvents))
	}

	// The instance filter, typed into the form.
	var ins []controller.InstanceView
	p.call("GET", "/v1/instances?app=web", "", "", &ins)
	id := ins[0].Desired.ID
	b.run(
		chromedp.Clear(chromedp.CSS(`input[name=request_id]`)),
		chromedp.SendKeys(chromedp.CSS(`input[name=instance]`), id),
		chromedp.Click(chromedp.CSS(`form.filters button[type=submit]`)),
	)
	b.wait("only "+id+"'s events", fmt.Sprintf(`location.hash === '#/events?instance=%s' && document.querySelectorAll('#events tr').length > 0 && [...document.querySelectorAll('#events tr')].every((r) => r.innerText.includes(%q))`, id, id))

	// A node that stops reporting: "data report timed out".
	b.run(chromedp.Click(chromedp.CSS(`a[data-nav=overview]`)))
	if err := p.fleet.Kill(t.Context(), "n3"); err != nil {
		t.Fatal(err)
	}
	b.wait("n3 timed out", `document.querySelector('.node[data-node=n3]')?.innerText.includes('data report timed out')`)
	var card string
	b.eval(`document.querySelector('.node[data-node=n3]').innerText`, &card)
	if !strings.Contains(card, "SIMULATED") {
		t.Errorf("lost n3 shows %q, want it still SIMULATED (its last report)", card)
	}

	if errs := b.consoleErrors(); len(errs) > 0 {
		t.Errorf("console errors:\n%s", strings.Join(errs, "\n"))
	}

	// No alert correlation configured: the incidents page says so.
	b.click(`a[data-nav=incidents]`)
	b.wait("incidents unavailable", `document.querySelector('#unavailable')?.innerText.includes('no alert correlation configured')`)
	var tileText string
	b.click(`a[data-nav=overview]`)
	time.Sleep(5500 * time.Millisecond) // a refresh of the overview at least
	var asked int
	b.eval(`performance.getEntriesByType('resource').filter((r) => r.name.endsWith('/v1/incidents')).length`, &asked)
	if asked != 2 { // the incidents page's, and the overview's first
		t.Errorf("/v1/incidents asked %d times, want 2: once by its page, once by the overview", asked)
	}
	b.wait("the incidents tile", `document.querySelector('#tile-incidents .n')?.innerText === '—'`)
	b.eval(`document.querySelector('#tile-incidents').title`, &tileText)
	if !strings.Contains(tileText, "no alert correlation configured") {
		t.Errorf("the incidents tile's title %q does not say why it has no figure", tileText)
	}

	// A wrong token: the refusal screen, and the token forgotten.
	b.run(chromedp.Navigate(p.url + "/ui/#token=wrong"))
	b.wait("the refusal", `!document.getElementById('gate').hidden && document.getElementById('shell').hidden && document.getElementById('gate-title').innerText === 'Token refused'`)
	var stored string
	b.eval(`sessionStorage.getItem('shoal.token') || ''`, &stored)
	if stored != "" {
		t.Errorf("the refused token stays in sessionStorage: %q", stored)
	}

	// No token at all (a new tab has its own sessionStorage).
	other := b.tab()
	other.run(chromedp.Navigate(p.url + "/ui/"))
	other.wait("the no-token screen", `!document.getElementById('gate').hidden && document.getElementById('gate-title').innerText === 'No token'`)
}

// The SSE parser handles what the controller sends and what the standard
// allows, fed in arbitrary pieces.
func TestSSEParserInBrowser(t *testing.T) {
	b := startBrowser(t)
	openPageAlone(t, b)

	stream := "event: endpoints\ndata: [1,\ndata: 2]\n\n: a comment\r\nevent: event\r\ndata:{\"a\":1}\r\n\r\ndata: no event name\n\nretry: 5\nid: 7\n\n"
	var got []string
	for _, size := range []int{1, 3, 7, len(stream)} {
		var chunks []string
		for i := 0; i < len(stream); i += size {
			chunks = append(chunks, stream[i:min(i+size, len(stream))])
		}
		js, _ := json.Marshal(chunks)
		var out []string
		b.eval(fmt.Sprintf(`import('./js/api.js').then((m) => {
			const out = [];
			const p = new m.SSEParser((e) => out.push(e.event + '=' + e.data));
			for (const c of %s) p.push(c);
			return out;
		})`, js), &out)
		if got == nil {
			got = out
		}
		if !bytes.Equal([]byte(strings.Join(out, "|")), []byte(strings.Join(got, "|"))) {
			t.Errorf("pieces of %d: %q, want %q", size, out, got)
		}
	}
	want := []string{"endpoints=[1,\n2]", `event={"a":1}`, "message=no event name"}
	if strings.Join(got, "|") != strings.Join(want, "|") {
		t.Errorf("parsed %q, want %q", got, want)
	}
}

// The instance timeline's states and the chart's scaling decisions, from
// events as the controller and the agents record them.
func TestTimelineAndDecisionsInBrowser(t *testing.T) {
	b := startBrowser(t)
	openPageAlone(t, b)

	ev := func(sec int, kind, reason, msg string) map[string]string {
		return map[string]string{"time": time.Date(2026, 12, 4, 10, 0, sec, 0, time.UTC).Format(time.RFC3339Nano), "kind": kind, "reason": reason, "message": msg}
	}
	// Out of order, as a merge of two publishers may be.
	events := []map[string]string{
		ev(5, "Started", "", "pid 42"),
		ev(0, "InstanceScheduled", "AppDeployed", "vlan 10 10.0.10.2/24"),
		ev(2, "Creating", "", ""),
		ev(9, "Resized", "", "2 CPUs"),
		ev(12, "Restarted", "OOMKilled", "restart 1"),
		ev(13, "Started", "", "pid 43"),
	}
	status := map[string]string{"phase": "CrashLoop", "updated_at": time.Date(2026, 12, 4, 10, 0, 20, 0, time.UTC).Format(time.RFC3339Nano), "reason": "BackOff"}
	js, _ := json.Marshal([]any{events, status})
	var got struct {
		States []struct {
			State, Health, Kind, Why string
			From                     float64
		}
		Marks []struct{ Kind string }
	}
	b.eval(fmt.Sprintf(`import('./js/timeline.js').then((m) => { const [e, s] = %s; const r = m.transitions(e, s);
		return { States: r.states.map((x) => ({ State: x.state, Health: x.health, Kind: x.kind, Why: x.why, From: x.from })), Marks: r.marks.map((x) => ({ Kind: x.kind })) }; })`, js), &got)
	var states []string
	for _, s := range got.States {
		states = append(states, s.State+"/"+s.Health)
	}
	want := "Scheduled/info,Creating/info,Running/ok,Restarting/warn,Running/ok,CrashLoop/bad"
	if strings.Join(states, ",") != want {
		t.Errorf("states %v, want %s", states, want)
	}
	if len(got.Marks) != 1 || got.Marks[0].Kind != "Resized" {
		t.Errorf("marks %+v, want the resize", got.Marks)
	}
	if len(got.States) == 6 && (got.States[3].Why != "OOMKilled: restart 1" || got.States[5].Why != "BackOff" || got.States[5].From != float64(time.Date(2026, 12, 4, 10, 0, 20, 0, time.UTC).UnixMilli())) {
		t.Errorf("the restart %+v or the crash loop %+v lost its reason or time", got.States[3], got.States[5])
	}

	// One autoscale decision is two events under one request id: the
	// decision with its reason, and the change it made.
	scale := []map[string]string{
		{"time": "2026-12-04T10:00:10Z", "kind": "AutoScaled", "request_id": "req-a", "reason": "max-rate", "message": "2 → 4: cpu 200% over 50%"},
		{"time": "2026-12-04T10:00:10.01Z", "kind": "AutoScaled", "request_id": "req-a", "message": "generation 1, 4 replica(s): 2 created, 0 removed"},
		{"time": "2026-12-04T10:00:01Z", "kind": "AppScaled", "request_id": "req-m", "message": "generation 1, 2 replica(s): 1 created, 0 removed"},
		{"time": "2026-12-04T10:00:05Z", "kind": "InstanceScheduled", "request_id": "req-m"},
	}
	js, _ = json.Marshal(scale)
	var decisions []struct {
		Kind, Reason, RequestID string
		Messages                []string
	}
	b.eval(fmt.Sprintf(`import('./js/chart.js').then((m) => m.scaleDecisions(%s).map((d) => ({ Kind: d.kind, Reason: d.reason, RequestID: d.request_id, Messages: d.messages })))`, js), &decisions)
	if len(decisions) != 2 || decisions[0].Kind != "AppScaled" || decisions[1].Kind != "AutoScaled" || decisions[1].Reason != "max-rate" ||
		len(decisions[1].Messages) != 2 || decisions[1].RequestID != "req-a" {
		t.Errorf("decisions %+v: want AppScaled, then one AutoScaled (max-rate) with both messages", decisions)
	}
	if errs := b.consoleErrors(); len(errs) > 0 {
		t.Errorf("console errors:\n%s", strings.Join(errs, "\n"))
	}
}

// openPageAlone serves the dashboard's files alone (no controller) and
// opens the page, which without a token shows its gate: for tests of the
// page's own modules.
func openPageAlone(t *testing.T, b *browser) {
	t.Helper()
	srv := &http.Server{Handler: dashboard.Handler(), ReadHeaderTimeout: 5 * time.Second}
	var lc net.ListenConfig
	l, err := lc.Listen(t.Context(), "tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(testenv.FreePort(t))))
	if err != nil {
		t.Fatal(err)
	}
	go func() { _ = srv.Serve(l) }()
	t.Cleanup(func() { _ = srv.Close() })
	b.run(chromedp.Navigate("http://" + l.Addr().String() + "/ui/"))
	b.wait("the page", `document.getElementById('gate-title').innerText === 'No token'`)
}
