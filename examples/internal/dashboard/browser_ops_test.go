package dashboard_test

import (
	"context"
	"encoding/json"
	"fmt"
	"math"
	"net"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/shoalkit/shoal/alertcorr"
	"github.com/shoalkit/shoal/examples/internal/controller"
	"github.com/shoalkit/shoal/examples/internal/fleetinspect"
	"github.com/shoalkit/shoal/examples/internal/state"
	"github.com/shoalkit/shoal/inspect"
	"github.com/shoalkit/shoal/internal/testenv"
)

// load is a MetricsSource: each app's instances use the CPU and memory the
// test sets.
type load struct {
	mu    sync.Mutex
	cores map[string]float64
	mem   map[string]float64
}

func (l *load) Read(_ context.Context, _ map[string]*state.App, ins []controller.InstanceView, _ map[string]*state.Node) map[string]controller.InstanceMetrics {
	l.mu.Lock()
	defer l.mu.Unlock()
	out := map[string]controller.InstanceMetrics{}
	for _, v := range ins {
		out[v.Desired.ID] = controller.InstanceMetrics{CPUCores: l.cores[v.Desired.App], MemoryBytes: l.mem[v.Desired.App], Requests: math.NaN(), At: time.Now()}
	}
	return out
}

// alerts is a real alertcorr engine on a loopback port, with a clock the
// test moves, over a topology of the platform's three nodes.
type alerts struct {
	mu  sync.Mutex
	now time.Time
	e   *alertcorr.Engine
	url string
}

func startAlerts(t *testing.T) *alerts {
	t.Helper()
	tp := alertcorr.NewTopology()
	for _, n := range []string{"n1", "n2", "n3"} {
		_ = tp.Upsert(alertcorr.Entity{Kind: alertcorr.KindHost, ID: n})
	}
	for _, c := range []string{"c1", "c2"} {
		_ = tp.Upsert(alertcorr.Entity{Kind: alertcorr.KindContainer, ID: c, Parent: "n2"})
	}
	a := &alerts{now: time.Now()}
	e, err := alertcorr.New(alertcorr.Config{Topology: tp, Now: func() time.Time { a.mu.Lock(); defer a.mu.Unlock(); return a.now }})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = e.Close() })
	a.e = e
	var lc net.ListenConfig
	l, err := lc.Listen(t.Context(), "tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(testenv.FreePort(t))))
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: e.Handler(), ReadHeaderTimeout: 5 * time.Second}
	go func() { _ = srv.Serve(l) }()
	t.Cleanup(func() { _ = srv.Close() })
	a.url = "http://" + l.Addr().String()
	return a
}

// storm sends a host's and two of its containers' alerts and lets a minute
// pass, so alertcorr opens one incident rooted at the host.
func (a *alerts) storm(t *testing.T) {
	t.Helper()
	if err := a.e.Ingest(
		alertcorr.Alert{Labels: alertcorr.Labels{"alertname": "HostDown", "host": "n2", "severity": "critical"}},
		alertcorr.Alert{Labels: alertcorr.Labels{"alertname": "ContainerDown", "container": "c1"}},
		alertcorr.Alert{Labels: alertcorr.Labels{"alertname": "ContainerDown", "container": "c2"}},
	); err != nil {
		t.Fatal(err)
	}
	a.mu.Lock()
	a.now = a.now.Add(time.Minute)
	now := a.now
	a.mu.Unlock()
	if err := a.e.Advance(t.Context(), now.Add(time.Minute)); err != nil {
		t.Fatal(err)
	}
}

const autoscaled = `{"name":"cache","team":"core","image":"127.0.0.1:5000/cache:1","resources":{"cpus":1,"memory_bytes":134217728},"replicas":2,"network":{"vlan":10},` +
	`"autoscale":{"min":2,"max":8,"cpu_percent":50,"approve":true}}`

// TestOperatorPagesInBrowser drives the pages beyond the overview against
// a real controller with measured load, a real alertcorr engine and an
// inspection report in etcd, and checks that each shows what the API says.
func TestOperatorPagesInBrowser(t *testing.T) {
	b := startBrowser(t)
	al := startAlerts(t)
	ld := &load{cores: map[string]float64{"web": 0.25, "cache": 1}, mem: map[string]float64{"web": 64 << 20, "cache": 32 << 20}}
	p := startPlatformWith(t, platformOptions{config: func(c *controller.Config) {
		c.Metrics, c.AlertsURL = ld, al.url
		c.ActivityInterval, c.AutoscaleInterval, c.AccountInterval = 200*time.Millisecond, 200*time.Millisecond, 3*time.Second
	}})
	p.call("PUT", "/v1/networks/10", "req-pool", pool, nil)
	p.call("POST", "/v1/apps?wait=20s", "req-web", webApp, nil)
	p.call("PUT", "/v1/quotas/shop", "req-quota", `{"cpus":6,"memory_bytes":2147483648,"instances":10}`, nil)
	p.call("POST", "/v1/apps?wait=20s", "req-cache", autoscaled, nil)
	b.run(chromedp.EmulateViewport(1366, 768), chromedp.Navigate(p.url+"/ui/#token="+p.token))

	// The map: every node, each with its containers as squares.
	b.wait("three nodes with 5 containers", `document.querySelectorAll('.node').length === 3 && document.querySelectorAll('.node .ct').length === 5`)
	var ins []controller.InstanceView
	p.call("GET", "/v1/instances", "", "", &ins)
	for _, v := range ins {
		var health string
		b.eval(fmt.Sprintf(`document.querySelector('.node[data-node=%q] a.ct[data-instance=%q]')?.className || ''`, v.Desired.Node, v.Desired.ID), &health)
		if health != "ct ok" {
			t.Errorf("instance %s on %s: square %q, want ct ok (running, ready)", v.Desired.ID, v.Desired.Node, health)
		}
	}

	// The app's chart: replicas and load, and a scale made now marked on
	// it, live, with its request.
	b.run(chromedp.Navigate(p.url + "/ui/#/apps/web"))
	b.wait("the chart drawn", `(() => { const c = document.querySelector('#app-chart canvas'); return c && c.width > 0 && c.height > 0 && c.getBoundingClientRect().width > 300; })()`)
	p.call("POST", "/v1/apps/web/scale", "req-scale-web", `{"replicas":4}`, nil)
	b.wait("the AppScaled mark on the chart", `document.querySelector('#app-chart .scale-mark[data-kind=AppScaled]')`)
	b.fitsLaptop("app")
	b.wait("the decision listed", `[...document.querySelectorAll('#scale-decisions tr[data-kind=AppScaled]')].some((r) => r.innerText.includes('req-scale-web') && r.innerText.includes('4 replica(s)'))`)
	var mark string
	b.eval(`document.querySelector('#app-chart .scale-mark[data-kind=AppScaled]').title`, &mark)
	if !strings.Contains(mark, "scaled by request") || !strings.Contains(mark, "4 replica(s)") {
		t.Errorf("the mark explains %q", mark)
	}
	b.wait("the chart's series", `['Replicas', 'Ready', 'CPU cores'].every((s) => document.querySelector('#app-chart .u-legend')?.textContent.includes(s))`)

	// The autoscaler's proposal for cache (100% CPU of 1 core, target 50%),
	// approved from the page.
	b.run(chromedp.Navigate(p.url + "/ui/#/apps/cache"))
	var prop controller.Proposal
	deadline := time.Now().Add(15 * time.Second)
	for {
		req, _ := http.NewRequestWithContext(t.Context(), http.MethodGet, p.url+"/v1/apps/cache/proposal", nil)
		req.Header.Set("Authorization", "Bearer "+p.token)
		resp, err := http.DefaultClient.Do(req)
		if err == nil && resp.StatusCode == http.StatusOK {
			err = json.NewDecoder(resp.Body).Decode(&prop)
			resp.Body.Close()
			if err == nil {
				break
			}
		} else if err == nil {
			resp.Body.Close()
		}
		if time.Now().After(deadline) {
			t.Fatal("no proposal for cache after 15 s")
		}
		time.Sleep(100 * time.Millisecond)
	}
	want := fmt.Sprintf("The autoscaler proposes %d → %d replicas", prop.Current, prop.Desired)
	b.wait("the proposal", fmt.Sprintf(`document.querySelector('#proposal')?.innerText.includes(%q)`, want))
	b.click(`#approve`)
	b.wait("the confirm dialog", `document.querySelector('dialog.confirm[open]')?.innerText.includes('Scale cache from 2 to 4')`)
	b.click(`dialog.confirm button[data-confirm]`)
	b.wait("the approval marked", `document.querySelector('#app-chart .scale-mark[data-kind=ScaleApproved]') && !document.querySelector('#proposal')`)
	var cache controller.AppView
	p.call("GET", "/v1/apps/cache", "", "", &cache)
	if cache.Spec.Replicas != prop.Desired {
		t.Errorf("cache has %d replicas after the approval, want %d", cache.Spec.Replicas, prop.Desired)
	}

	// An instance's states over time.
	id := ins[0].Desired.ID
	b.run(chromedp.Navigate(p.url + "/ui/#/instances/" + id))
	b.wait("the timeline", `document.querySelector('#timeline .seg[data-state=Scheduled]') && document.querySelector('#timeline .seg[data-state=Running]')`)

	// Incidents: none, then a storm that shows up without a reload.
	b.run(chromedp.Navigate(p.url + "/ui/#/incidents"))
	b.wait("no open incident", `document.querySelector('main').innerText.includes('No open incident')`)
	al.storm(t)
	var incs struct {
		Open []alertcorr.Incident `json:"open"`
	}
	p.call("GET", "/v1/incidents", "", "", &incs)
	if len(incs.Open) != 1 {
		t.Fatalf("alertcorr has %d open incidents, want 1", len(incs.Open))
	}
	b.wait("the incident, live", fmt.Sprintf(`document.querySelector('.incident[data-incident=%q]')`, incs.Open[0].ID))
	b.click(`a[data-nav=overview]`)
	b.wait("one open incident on the overview", `document.querySelector('#tile-incidents .n')?.innerText === '1'`)
	b.click(`a[data-nav=incidents]`)
	b.wait("the incident again", fmt.Sprintf(`document.querySelector('.incident[data-incident=%q]')`, incs.Open[0].ID))
	b.fitsLaptop("incidents")
	var card string
	b.eval(fmt.Sprintf(`document.querySelector('.incident[data-incident=%q]').innerText`, incs.Open[0].ID), &card)
	for _, w := range append([]string{"host n2", incs.Open[0].Rule, "3 member alerts", "HostDown", "ContainerDown", "critical"}, incs.Open[0].Evidence...) {
		if !strings.Contains(card, w) {
			t.Errorf("the incident's card lacks %q:\n%s", w, card)
		}
	}

	// The ranking: the API's figures, once cache's new instances are
	// measured (the figures then hold still: the load is fixed).
	var rk controller.Ranking
	for deadline := time.Now().Add(15 * time.Second); ; {
		p.call("GET", "/v1/ranking?by=cpu&n=5", "", "", &rk)
		if len(rk.Apps.Busiest) > 0 && rk.Apps.Busiest[0].Name == "cache" && rk.Apps.Busiest[0].Instances == prop.Desired {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("ranking %+v: cache's %d instances not measured after 15 s", rk.Apps, prop.Desired)
		}
		time.Sleep(100 * time.Millisecond)
	}
	b.run(chromedp.Navigate(p.url + "/ui/#/ranking?by=cpu&n=5"))
	b.wait("the ranking", `document.querySelector('#busiest-apps tr[data-name]')`)
	for kind, rows := range map[string][]controller.RankRow{"busiest-apps": rk.Apps.Busiest, "idlest-apps": rk.Apps.Idlest, "busiest-nodes": rk.Nodes.Busiest, "busiest-instances": rk.Instances.Busiest} {
		var got [][3]string
		b.eval(fmt.Sprintf(`[...document.querySelectorAll('#%s tr[data-name]')].map((r) => [r.dataset.name, r.querySelector('td.cpu').dataset.v, r.querySelector('td.mem').dataset.v])`, kind), &got)
		if len(got) != len(rows) {
			t.Errorf("%s: %d rows, want %d", kind, len(got), len(rows))
			continue
		}
		for i, r := range rows {
			if got[i][0] != r.Name || number(got[i][1]) != r.CPUCores || number(got[i][2]) != r.MemoryBytes {
				t.Errorf("%s row %d: %v, want %s %v %v", kind, i, got[i], r.Name, r.CPUCores, r.MemoryBytes)
			}
		}
	}
	b.fitsLaptop("ranking")
	if rk.Apps.Busiest[0].Name != "cache" {
		t.Errorf("busiest app %q, want cache", rk.Apps.Busiest[0].Name)
	}

	// Inspection: a round as the inspector stores it, and a dry run of the
	// fixes of the one failed node, confirmed.
	rep := &inspect.Report{
		Spec: 3, Inspector: "insp-1", Started: time.Now().Add(-2 * time.Second), Took: inspect.Duration(1500 * time.Millisecond),
		Members: []inspect.MemberReport{
			{Name: "n1", Addr: "127.0.0.1:7946", Status: inspect.StatusPassed, HeldSpec: "3:ab"},
			{
				Name: "n2", Addr: "127.0.0.1:7947", Status: inspect.StatusFailed, HeldSpec: "3:ab", Failed: []string{"ntp-synced"},
				Details: []inspect.Result{{ID: "ntp-synced", Outcome: inspect.OutcomeFail, Observed: "no", Want: "yes"}},
			},
			{Name: "n3", Addr: "127.0.0.1:7948", Status: inspect.StatusDead, HeldSpec: "3:ab", Reason: "serf declared it failed"},
		},
		Counts: map[inspect.MemberStatus]int{inspect.StatusPassed: 1, inspect.StatusFailed: 1, inspect.StatusDead: 1},
		Health: inspect.Health{Attempts: 1, SerfHealthScore: 0},
	}
	if err := fleetinspect.StoreReport(t.Context(), p.etcd, rep); err != nil {
		t.Fatal(err)
	}
	b.run(chromedp.Navigate(p.url + "/ui/#/inspection"))
	b.wait("the round", `document.querySelector('tr[data-member=n2]')`)
	b.click(`a[data-nav=overview]`)
	b.wait("two members in trouble on the overview (n2 failed, n3 dead)", `document.querySelector('#tile-inspection .n')?.innerText === '2'`)
	b.click(`#tile-inspection`)
	b.wait("the round again", `document.querySelector('tr[data-member=n2]')`)
	var counts map[string]string
	b.eval(`Object.fromEntries([...document.querySelectorAll('#inspection-counts .tile')].map((t) => [t.dataset.status, t.querySelector('.n').innerText]))`, &counts)
	if counts["passed"] != "1" || counts["failed"] != "1" || counts["dead"] != "1" || counts["silent"] != "0" {
		t.Errorf("counts %v, want passed 1, failed 1, dead 1", counts)
	}
	var members []string
	b.eval(`[...document.querySelectorAll('tr[data-member]')].map((r) => r.dataset.member + ' ' + r.dataset.status)`, &members)
	if strings.Join(members, ",") != "n2 failed,n3 dead" {
		t.Errorf("members shown %v, want those that did not pass: n2 failed, n3 dead", members)
	}
	var row string
	b.eval(`document.querySelector('tr[data-member=n2]').innerText`, &row)
	if !strings.Contains(row, "ntp-synced: fail observed no, want yes") {
		t.Errorf("n2's row %q lacks its failed check's detail", row)
	}
	b.fitsLaptop("inspection")
	b.click(`tr[data-member=n2] input.pick`)
	b.click(`#dry-run`)
	b.wait("the confirm dialog", `document.querySelector('dialog.confirm[open]')?.innerText.includes('n2')`)
	b.click(`dialog.confirm button[data-confirm]`)
	b.wait("the order sent", `document.querySelector('#fix-ordered a.reqid')`)
	var orderID string
	b.eval(`document.querySelector('#fix-ordered a.reqid').innerText`, &orderID)
	resp, err := p.etcd.Get(t.Context(), fleetinspect.FixKey)
	if err != nil || len(resp.Kvs) != 1 {
		t.Fatalf("the fix order in etcd: %v", err)
	}
	var order fleetinspect.FixOrder
	if err := json.Unmarshal(resp.Kvs[0].Value, &order); err != nil {
		t.Fatal(err)
	}
	if order.ID != orderID || order.Spec != 3 || !order.DryRun || !slices.Equal(order.Nodes, []string{"n2"}) {
		t.Errorf("fix order %+v, want %s: spec 3, dry run, n2 only", order, orderID)
	}

	// Usage: the quota and the showback figures the API gives.
	b.run(chromedp.Navigate(p.url + "/ui/#/usage"))
	b.wait("the quota of shop", `document.querySelector('tr[data-team=shop] td[data-field=cpus]')`)
	var quota map[string]string
	b.eval(`Object.fromEntries([...document.querySelectorAll('tr[data-team=shop] td[data-field]')].map((c) => [c.dataset.field, c.dataset.used + '/' + c.dataset.limit + ' ' + c.innerText]))`, &quota)
	if quota["cpus"] != "4/6 4 / 6" || quota["instances"] != "4/10 4 / 10" || !strings.HasPrefix(quota["memory_bytes"], "1073741824/2147483648 1.0 GiB / 2.0 GiB") {
		t.Errorf("shop's quota cells %q: want 4 of 6 CPUs, 1 of 2 GiB, 4 of 10 instances", quota)
	}
	b.fitsLaptop("usage")
	// Accounting adds up every 3 s: compare the page with the API between
	// two passes.
	b.wait("web accounted", `parseFloat(document.querySelector('tr.app-row[data-app=web] td[data-field=allocated_core_hours]')?.dataset.v) > 0`)
	matched := false
	for try := 0; try < 10 && !matched; try++ {
		b.run(chromedp.Navigate(p.url + "/ui/#/"))
		b.run(chromedp.Navigate(p.url + "/ui/#/usage"))
		b.wait("usage", `document.querySelector('tr.app-row[data-app=web]')`)
		var page map[string]string
		b.eval(`Object.fromEntries([...document.querySelectorAll('tr.app-row[data-app=web] td[data-field]')].map((c) => [c.dataset.field, c.dataset.v]))`, &page)
		var show []controller.TeamShowback
		p.call("GET", "/v1/usage", "", "", &show)
		for _, tb := range show {
			for _, u := range tb.Apps {
				if u.App == "web" {
					matched = number(page["allocated_core_hours"]) == u.AllocCoreHours && number(page["used_core_hours"]) == u.UsedCoreHours &&
						number(page["allocated_gib_hours"]) == u.AllocGiBHours && number(page["used_gib_hours"]) == u.UsedGiBHours
					if !matched {
						t.Logf("try %d: page %v, API %+v", try, page, u)
					}
				}
			}
		}
	}
	if !matched {
		t.Error("the usage page never showed web's figures as the API gave them")
	}

	// Node actions behind a confirmation: cancel does nothing, cordon
	// cordons.
	b.run(chromedp.Navigate(p.url + "/ui/#/nodes/n1"))
	b.wait("n1's actions", `document.querySelector('button[data-action=cordon]')`)
	b.click(`button[data-action=cordon]`)
	b.wait("the confirm dialog", `document.querySelector('dialog.confirm[open]')`)
	b.click(`dialog.confirm button.cancel`)
	b.wait("the dialog gone", `!document.querySelector('dialog.confirm')`)
	var nodes []controller.NodeView
	p.call("GET", "/v1/nodes", "", "", &nodes)
	if nodes[0].Name != "n1" || nodes[0].Cordon != "" {
		t.Fatalf("n1 after a cancel: %+v", nodes[0])
	}
	b.click(`button[data-action=cordon]`)
	b.wait("the confirm dialog", `document.querySelector('dialog.confirm[open]')`)
	b.click(`dialog.confirm button[data-confirm]`)
	b.wait("n1 cordoned on the page", `document.querySelector('main h1').innerText.includes('cordoned') && document.querySelector('button[data-action=cordon]').disabled`)
	p.call("GET", "/v1/nodes", "", "", &nodes)
	if nodes[0].Cordon != "cordon" {
		t.Errorf("n1 after cordon: %+v", nodes[0])
	}
	b.click(`button[data-action=uncordon]`)
	b.wait("the confirm dialog", `document.querySelector('dialog.confirm[open]')`)
	b.click(`dialog.confirm button[data-confirm]`)
	b.wait("n1 live again", `document.querySelector('main h1').innerText.includes('live')`)

	if errs := b.consoleErrors(); len(errs) > 0 {
		t.Errorf("console errors:\n%s", strings.Join(errs, "\n"))
	}
}

// number parses a figure the page keeps in a data attribute (JavaScript's
// shortest form of the float64 it was sent); NaN when it is none.
func number(s string) float64 {
	f, err := strconv.ParseFloat(s, 64)
	if err != nil {
		return math.NaN()
	}
	return f
}

// click clicks an element in the page's own script: the pages render again
// on every event, and a click through the protocol can aim at a node just
// replaced.
func (b *browser) click(sel string) {
	b.t.Helper()
	b.wait(sel, fmt.Sprintf(`(() => { const el = document.querySelector(%q); if (!el) return false; el.click(); return true; })()`, sel))
}

// fitsLaptop fails the test when the page is wider than the 1366 px window
// (it would scroll sideways on a laptop).
func (b *browser) fitsLaptop(page string) {
	b.t.Helper()
	var width int
	b.eval(`document.documentElement.scrollWidth`, &width)
	if width > 1366 {
		b.t.Errorf("the %s page is %d px wide in a 1366 px window", page, width)
	}
}
