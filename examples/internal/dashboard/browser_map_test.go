package dashboard_test

import (
	"bytes"
	"flag"
	"fmt"
	"image/png"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/shoalkit/shoal/examples/internal/controller"
	"github.com/shoalkit/shoal/examples/internal/fleetinspect"
	"github.com/shoalkit/shoal/inspect"
)

var update = flag.Bool("update", false, "write docs/dashboard.png, the overview's screenshot")

// A cluster past dashboard's compact size: every node is on one of the
// map's pages, a filter and "only nodes in trouble" find nodes, and a node
// whose report stopped is among the nodes in trouble.
func TestCompactMapInBrowser(t *testing.T) {
	b := startBrowser(t)
	p := startPlatformWith(t, platformOptions{racks: 5, perRack: 60})
	p.call("POST", "/v1/apps?wait=20s", "req-cache", cacheApp, nil)
	b.run(chromedp.EmulateViewport(1366, 768), chromedp.Navigate(p.url+"/ui/#token="+p.token))
	b.wait("the compact map", `document.querySelector('.cnode') && document.querySelector('#map-page').innerText.includes('of 300')`)
	var nodes []controller.NodeView
	p.call("GET", "/v1/nodes", "", "", &nodes)
	var all []string
	for _, n := range nodes {
		all = append(all, n.Name)
	}
	var seen []string
	for page := 1; ; page++ {
		var names []string
		b.eval(`[...document.querySelectorAll('.cnode')].map((n) => n.dataset.node)`, &names)
		if len(names) > 240 {
			t.Errorf("page %d shows %d nodes, more than a page", page, len(names))
		}
		seen = append(seen, names...)
		var last bool
		b.eval(`document.getElementById('map-next').disabled`, &last)
		if last {
			break
		}
		b.click(`#map-next`)
		b.wait(fmt.Sprintf("page %d", page+1), fmt.Sprintf(`document.querySelector('#map-page').innerText.includes('page %d of')`, page+1))
	}
	slices.Sort(seen)
	slices.Sort(all)
	if !slices.Equal(seen, all) {
		t.Errorf("the pages showed %d nodes, the controller lists %d", len(seen), len(all))
	}
	var ins []controller.InstanceView
	p.call("GET", "/v1/instances?app=cache", "", "", &ins)
	node := ins[0].Desired.Node
	b.run(chromedp.SendKeys(chromedp.CSS(`#map-filter`), node))
	// The filter matches names that hold its text: n4 shows n40 to n49 too.
	b.wait(node+" and only names holding it", fmt.Sprintf(`(() => { const ns = [...document.querySelectorAll('.cnode')].map((n) => n.dataset.node); return ns.includes(%q) && ns.every((n) => n.includes(%q)); })()`, node, node))
	var squares int
	b.eval(fmt.Sprintf(`document.querySelectorAll('.cnode[data-node=%q] .ct.ok').length`, node), &squares)
	if squares != 1 {
		t.Errorf("%s shows %d running containers, want 1 (cache)", node, squares)
	}
	b.eval(`(() => { const i = document.getElementById('map-filter'); i.value = ''; i.dispatchEvent(new Event('input')); return true; })()`, new(bool))
	if err := p.fleet.Kill(t.Context(), "n7"); err != nil {
		t.Fatal(err)
	}
	b.click(`#map-problems`)
	b.wait("n7 in trouble", `[...document.querySelectorAll('.cnode')].some((n) => n.dataset.node === 'n7' && n.dataset.health === 'bad')`)
	var trouble []string
	b.eval(`[...document.querySelectorAll('.cnode')].map((n) => n.dataset.node + ' ' + n.dataset.health)`, &trouble)
	for _, s := range trouble {
		if strings.HasSuffix(s, " ok") {
			t.Errorf("a healthy node among those in trouble: %v", trouble)
			break
		}
	}
	if errs := b.consoleErrors(); len(errs) > 0 {
		t.Errorf("console errors:\n%s", strings.Join(errs, "\n"))
	}
}

// The overview at a laptop's size, as the README shows it; -update writes
// it to docs/dashboard.png.
func TestOverviewScreenshot(t *testing.T) {
	b := startBrowser(t)
	al := startAlerts(t)
	al.storm(t)
	p := startPlatformWith(t, platformOptions{racks: 3, perRack: 2, config: func(c *controller.Config) { c.AlertsURL = al.url }})
	if err := fleetinspect.StoreReport(t.Context(), p.etcd, &inspect.Report{
		Spec: 1, Started: time.Now(), Counts: map[inspect.MemberStatus]int{inspect.StatusPassed: 5, inspect.StatusFailed: 1},
		Members: []inspect.MemberReport{{Name: "n2", Status: inspect.StatusFailed, Failed: []string{"ntp-synced"}}},
	}); err != nil {
		t.Fatal(err)
	}
	p.call("PUT", "/v1/networks/10", "req-pool", pool, nil)
	p.call("POST", "/v1/apps?wait=20s", "req-web", webApp, nil)
	p.call("POST", "/v1/apps?wait=20s", "req-cache", cacheApp, nil)
	p.call("POST", "/v1/nodes/n6/cordon", "req-cordon", "", nil)
	b.run(chromedp.EmulateViewport(1366, 768), chromedp.Navigate(p.url+"/ui/#token="+p.token))
	b.wait("the overview", `document.querySelectorAll('.node').length === 6 && document.querySelectorAll('.node .ct.ok').length === 4 && document.querySelector('.node[data-node=n6]').innerText.includes('cordoned') && document.querySelector('#tile-incidents .n').innerText === '1' && document.querySelector('#tile-inspection .n').innerText === '1'`)
	var width, height int
	b.eval(`document.documentElement.clientWidth`, &width)
	b.eval(`document.documentElement.scrollHeight`, &height)
	shot, err := chromedp.Run(b.ctx, chromedp.CaptureScreenshot())
	if err != nil {
		t.Fatal(err)
	}
	img, err := png.Decode(bytes.NewReader(shot))
	if err != nil {
		t.Fatal(err)
	}
	if img.Bounds().Dx() != 1366 || img.Bounds().Dy() != 768 {
		t.Errorf("screenshot %v, want 1366x768", img.Bounds())
	}
	if width > 1366 {
		t.Errorf("the page is %d px wide in a 1366 px window: it scrolls sideways", width)
	}
	if !*update {
		return
	}
	out := filepath.Join("..", "..", "..", "docs", "dashboard.png")
	if err := os.MkdirAll(filepath.Dir(out), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(out, shot, 0o644); err != nil { //nolint:gosec // a picture for the README
		t.Fatal(err)
	}
	t.Logf("wrote %s (%d bytes)", out, len(shot))
}
