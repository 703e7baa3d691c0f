package alertcorr

import (
	"encoding/json"
	"os/exec"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/shoalkit/shoal/internal/testenv"
)

// amtool runs the real amtool (Debian's, from prometheus-alertmanager)
// against url and returns its output.
func amtool(t *testing.T, url string, args ...string) string {
	t.Helper()
	bin, err := exec.LookPath("amtool")
	if err != nil {
		t.Fatalf("amtool: %v", err)
	}
	cmd := exec.CommandContext(t.Context(), bin, append([]string{"--alertmanager.url=" + url}, args...)...)
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("amtool %v: %v\n%s", args, err, out)
	}
	return string(out)
}

// The real amtool reads our GET /api/v2/alerts and /api/v2/silences as it
// reads Alertmanager's: alerts with their state and receivers, filters,
// silences made with amtool itself.
func TestAmtoolReadsAlertsAndSilences(t *testing.T) {
	testenv.Require(t, testenv.AlertmanagerServer)
	e := mustEngine(t, Config{Route: &Route{Receiver: "default", Routes: []*Route{
		{Receiver: "pager", Matchers: ms(t, `severity="critical"`), Continue: true},
	}}})
	url := serve(t, e.Handler())
	mustIngest(t, e,
		Alert{Labels: Labels{"alertname": "HostDown", "host": "h1", "severity": "critical"}, Annotations: Labels{"summary": "h1 is down"}},
		Alert{Labels: Labels{"alertname": "DiskFull", "host": "h2", "severity": "warning"}},
	)

	var alerts []struct {
		Labels    map[string]string
		Receivers []struct{ Name string }
		Status    struct{ State string }
	}
	if err := json.Unmarshal([]byte(amtool(t, url, "alert", "query", "-o", "json")), &alerts); err != nil {
		t.Fatal(err)
	}
	if len(alerts) != 2 {
		t.Fatalf("amtool alert query lists %d alerts, want 2: %+v", len(alerts), alerts)
	}
	for _, a := range alerts {
		want := []string{"default"}
		if a.Labels["severity"] == "critical" {
			want = []string{"pager"}
		}
		var got []string
		for _, r := range a.Receivers {
			got = append(got, r.Name)
		}
		if a.Status.State != "active" || !slices.Equal(got, want) {
			t.Fatalf("alert %v: state %q receivers %v, want active %v", a.Labels, a.Status.State, got, want)
		}
	}
	if out := amtool(t, url, "alert", "query", "alertname=HostDown"); !strings.Contains(out, "HostDown") || strings.Contains(out, "DiskFull") || !strings.Contains(out, "h1 is down") {
		t.Fatalf("amtool alert query alertname=HostDown:\n%s", out)
	}

	// A silence made with amtool mutes DiskFull: amtool's default query
	// leaves it out, --silenced shows it as suppressed.
	id := strings.TrimSpace(amtool(t, url, "silence", "add", "alertname=DiskFull", "--duration=1h", "--author=test", "--comment=disk replaced"))
	if id == "" {
		t.Fatal("amtool silence add printed no id")
	}
	if out := amtool(t, url, "alert", "query"); strings.Contains(out, "DiskFull") || !strings.Contains(out, "HostDown") {
		t.Fatalf("amtool alert query after the silence:\n%s", out)
	}
	if out := amtool(t, url, "alert", "query", "--silenced", "-o", "extended"); !strings.Contains(out, "DiskFull") {
		t.Fatalf("amtool alert query --silenced:\n%s", out)
	}
	var silences []struct {
		ID      string
		Comment string
		Status  struct{ State string }
	}
	if err := json.Unmarshal([]byte(amtool(t, url, "silence", "query", "-o", "json")), &silences); err != nil {
		t.Fatal(err)
	}
	if len(silences) != 1 || silences[0].ID != id || silences[0].Status.State != "active" || silences[0].Comment != "disk replaced" {
		t.Fatalf("amtool silence query: %+v, want %s active", silences, id)
	}
	if out := amtool(t, url, "silence", "query", "alertname=HostDown", "-q"); strings.TrimSpace(out) != "" {
		t.Fatalf("amtool silence query alertname=HostDown lists %q, want none", out)
	}
	amtool(t, url, "silence", "expire", id)
	if s := e.Silences(); len(s) != 1 || s[0].State(time.Now()) != SilenceExpired {
		t.Fatalf("after amtool silence expire: %+v", s)
	}
}
