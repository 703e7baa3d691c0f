package platform_test

import (
	"encoding/json"
	"fmt"
	"net/http"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"github.com/shoalkit/shoal/examples/internal/controller"
	"github.com/shoalkit/shoal/examples/internal/platform"
	"github.com/shoalkit/shoal/examples/internal/state"
	"github.com/shoalkit/shoal/internal/testenv"
)

// TestPrometheus: with Debian's prometheus installed the pilot runs it over
// the real agents; a container spinning past its rule's threshold raises
// an alert that Prometheus sends, unchanged, to the platform's alertcorr,
// whose topology knows the container.
func TestPrometheus(t *testing.T) {
	testenv.Require(t, testenv.Root, testenv.Runc, testenv.Cgroups, testenv.OVS, testenv.Netns, testenv.OCIRegistry, testenv.PrometheusServer, testenv.Promtool)
	reg := testenv.StartRegistry(t)
	dir := t.TempDir()
	p, err := platform.Start(t.Context(), platform.Config{Dir: dir, Agents: 2, Real: true, Registry: reg.Addr})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(p.Close)
	if p.PrometheusURL == "" {
		t.Fatal("prometheus is installed but the platform did not start it")
	}
	if out, err := exec.CommandContext(t.Context(), "promtool", "check", "rules", filepath.Join(dir, "prometheus", "rules.yml")).CombinedOutput(); err != nil {
		t.Fatalf("promtool check rules: %v\n%s", err, out)
	}
	img, err := p.BuildImage(t.Context(), "busybox:1", nil)
	if err != nil {
		t.Fatal(err)
	}
	cl := p.Client()
	if _, err := cl.Do(t.Context(), http.MethodPut, "/v1/networks/10", "", state.NetworkPool{VLAN: 10, Subnet: mustPrefix("10.10.0.0/24")}, nil); err != nil {
		t.Fatal(err)
	}
	spin := state.AppSpec{
		Name: "spin", Team: "t", Image: img, Replicas: 1, Command: []string{"/bin/sh", "-c", "while :; do :; done"},
		Resources: state.Resources{CPUs: 0.3}, Network: &state.AppNetwork{VLAN: 10},
	}
	var d controller.Deployed
	if _, err := cl.Do(t.Context(), http.MethodPost, "/v1/apps?wait=60s", "", spin, &d); err != nil || !d.Running {
		t.Fatalf("deploy: %v (running %v)", err, d.Running)
	}
	id := d.Created[0].ID
	want := []string{"ContainerCPUHigh", "ContainerCPUNearLimit", "ContainerCPUThrottled"}
	waitFor(t, fmt.Sprintf("Prometheus's %v for %s in alertcorr", want, id), 90*time.Second, func() (bool, string) {
		req, _ := http.NewRequestWithContext(t.Context(), http.MethodGet, p.AlertsURL+"/api/v2/alerts", nil)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			return false, err.Error()
		}
		defer resp.Body.Close()
		var alerts []struct {
			Labels map[string]string `json:"labels"`
		}
		if err := json.NewDecoder(resp.Body).Decode(&alerts); err != nil {
			return false, err.Error()
		}
		got := map[string]bool{}
		for _, a := range alerts {
			if a.Labels["container"] == id {
				got[a.Labels["alertname"]] = true
			}
		}
		for _, w := range want {
			if !got[w] {
				return false, fmt.Sprintf("has %v", got)
			}
		}
		return true, ""
	})
	if st := p.Alerts.Stats(); st.UnknownEntity != 0 {
		t.Errorf("alertcorr did not know %d alerts' entities", st.UnknownEntity)
	}
}
