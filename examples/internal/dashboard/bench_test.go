package dashboard_test

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/shoalkit/shoal/examples/internal/controller"
)

// The size of the cluster the dashboard must stay quick with (issue 18).
const (
	benchNodes     = 1000 // 20 racks of 50
	benchApps      = 100
	benchInstances = 20000 // 100 apps of 200
)

// BenchmarkOverview1000Nodes opens the dashboard's overview in headless
// Chromium against a real controller holding 1,000 simulated nodes and
// 20,000 instances (placed through the API), each iteration in a fresh
// tab. Reported, from the page's own Performance API: first contentful
// paint (fcp-ms), the overview drawn with the map of every node (drawn-ms:
// nodes and apps read, the first page of the map made), the map's
// containers drawn (containers-ms: 20,000 instances read and parsed), the
// JSON the overview reads (api-MiB), and the time to draw the map's next
// page (flip-ms, to the next frame: how responsive it stays; flip-script-ms
// of it in the page's script).
func BenchmarkOverview1000Nodes(b *testing.B) {
	br := startBrowser(b)
	p := startPlatformWith(b, platformOptions{racks: 20, perRack: 50, config: func(c *controller.Config) {
		c.SessionTTL, c.NodeGrace = 10*time.Second, 30*time.Second
	}})
	start := time.Now()
	for i := range benchApps {
		spec := fmt.Sprintf(`{"name":"app%d","team":"t%d","image":"127.0.0.1:5000/app:1","kind":"thin","resources":{"cpus":0.1,"memory_bytes":67108864},"replicas":%d}`,
			i, i%10, benchInstances/benchApps)
		p.call("POST", "/v1/apps", "", spec, nil)
	}
	var ins []controller.InstanceView
	for {
		p.call("GET", "/v1/instances", "", "", &ins)
		ready := 0
		for _, v := range ins {
			if v.Ready {
				ready++
			}
		}
		if len(ins) == benchInstances && ready == benchInstances {
			break
		}
		if time.Since(start) > 5*time.Minute {
			b.Fatalf("%d instances, %d ready after 5 minutes", len(ins), ready)
		}
		time.Sleep(500 * time.Millisecond)
	}
	b.Logf("%d instances on %d nodes placed and running in %v", len(ins), benchNodes, time.Since(start).Round(time.Millisecond))

	var fcp, drawn, containers, flip, flipScript, apiBytes float64
	for b.Loop() {
		tab := br.tab()
		tab.run(chromedp.EmulateViewport(1366, 768), chromedp.Navigate(p.url+"/ui/#token="+p.token))
		tab.wait("the map's first page with its containers", fmt.Sprintf(`document.querySelector('#map-page')?.innerText.includes('of %d') && performance.getEntriesByName('shoal:containers').length`, benchNodes))
		var t struct {
			FCP, Drawn, Containers, API float64
		}
		tab.eval(`(() => {
			const fcp = performance.getEntriesByName('first-contentful-paint')[0];
			const drawn = performance.getEntriesByName('shoal:drawn')[0];
			const cts = performance.getEntriesByName('shoal:containers')[0];
			const api = performance.getEntriesByType('resource').filter((r) => /\/v1\/(nodes|apps|instances)$/.test(r.name))
				.reduce((s, r) => s + r.decodedBodySize, 0);
			return { FCP: fcp ? fcp.startTime : -1, Drawn: drawn ? drawn.startTime : -1, Containers: cts.startTime, API: api };
		})()`, &t)
		if t.FCP < 0 || t.Drawn < 0 {
			b.Fatalf("no first contentful paint or drawn mark: %+v", t)
		}
		var f [2]float64
		tab.eval(`new Promise((resolve) => {
			const t0 = performance.now();
			document.getElementById('map-next').click();
			const t1 = performance.now();
			requestAnimationFrame(() => setTimeout(() => resolve([t1 - t0, performance.now() - t0])));
		})`, &f)
		var page string
		tab.eval(`document.querySelector('#map-page').innerText`, &page)
		if !strings.HasPrefix(page, "nodes 241–480 of 1000") {
			b.Fatalf("after Next the map shows %q", page)
		}
		var squares int
		tab.eval(`document.querySelectorAll('.cnode .ct').length`, &squares)
		if squares == 0 {
			b.Fatal("the map's page shows no containers")
		}
		flipScript += f[0]
		fcp, drawn, containers, flip, apiBytes = fcp+t.FCP, drawn+t.Drawn, containers+t.Containers, flip+f[1], t.API
		tab.close()
	}
	n := float64(b.N)
	b.ReportMetric(fcp/n, "fcp-ms")
	b.ReportMetric(drawn/n, "drawn-ms")
	b.ReportMetric(containers/n, "containers-ms")
	b.ReportMetric(flip/n, "flip-ms")
	b.ReportMetric(flipScript/n, "flip-script-ms")
	b.ReportMetric(apiBytes/(1<<20), "api-MiB")
	b.ReportMetric(0, "ns/op") // the figures above are the page's own
}
