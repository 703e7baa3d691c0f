package main

import (
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"os/exec"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/shoalkit/shoal/internal/testenv"
)

// alertmanagerYML is a team's alertmanager.yml: incidents page through two
// webhooks (one of them hangs), everything else goes to mail, which alertd
// does not send; a critical alert inhibits warnings of its host.
func alertmanagerYML(hook, hanging string) string {
	return fmt.Sprintf(`global:
  resolve_timeout: 5m
  smtp_smarthost: 'localhost:25'
  smtp_from: 'alerts@example.org'
route:
  receiver: mails
  group_by: ['alertname']
  group_wait: 100ms
  group_interval: 200ms
  repeat_interval: 1h
  routes:
  - matchers: [alertname="Incident"]
    receiver: pager
    group_by: [incident]
inhibit_rules:
- source_matchers: [severity="critical"]
  target_matchers: [severity="warning"]
  equal: [host]
receivers:
- name: mails
  email_configs:
  - to: 'team@example.org'
- name: pager
  webhook_configs:
  - url: '%s'
  - url: '%s'
    send_resolved: false
`, hanging, hook)
}

// startHanging is a webhook receiver that never answers.
func startHanging(t *testing.T) string {
	t.Helper()
	var lc net.ListenConfig
	l, err := lc.Listen(t.Context(), "tcp", "127.0.0.1:"+strconv.Itoa(testenv.FreePort(t)))
	if err != nil {
		t.Fatal(err)
	}
	block := make(chan struct{})
	srv := &http.Server{ReadHeaderTimeout: time.Second, Handler: http.HandlerFunc(func(http.ResponseWriter, *http.Request) { <-block })}
	go func() { _ = srv.Serve(l) }()
	t.Cleanup(func() { close(block); _ = srv.Close() })
	return "http://" + l.Addr().String() + "/hook"
}

// alertd runs on an unchanged alertmanager.yml that the real Alertmanager
// accepts: the incident reaches the pager's webhook although the pager's
// other webhook hangs, unsupported settings are reported, and the real
// amtool reads alertd's alerts and silences.
func TestAlertmanagerConfigAndAmtool(t *testing.T) {
	testenv.Require(t, testenv.AlertmanagerServer)
	dir := t.TempDir()
	h := startHook(t)
	conf := writeFile(t, dir, "alertmanager.yml", alertmanagerYML(h.url, startHanging(t)))
	if out, err := exec.CommandContext(t.Context(), "amtool", "check-config", conf).CombinedOutput(); err != nil {
		t.Fatalf("the real amtool refuses the config: %v\n%s", err, out)
	}
	d := start(t, "-config", conf, "-settings", writeFile(t, dir, "settings.json", `{"Correlation": {"Window": 300000000}, "Tick": 50000000}`),
		"-topology", writeFile(t, dir, "topology.json", topologyJSON(3)))
	d.post(t, "/api/v2/alerts", hostStorm("h2"))
	waitFor(t, "the incident at the pager", func() bool { return h.roots()["h2"] > 0 })
	if got := h.roots(); len(got) != 1 {
		t.Fatalf("pager got incidents by root %v, want only h2", got)
	}
	for _, want := range []string{"settings not acted on", "global.smtp_from", "receivers[mails].email_configs"} {
		if !strings.Contains(d.stderr.String(), want) {
			t.Fatalf("alertd's log does not report %q:\n%s", want, d.stderr)
		}
	}

	// amtool against alertd: the storm's four alerts, each for the
	// receiver alertmanager.yml's routes give it; a silence made with
	// amtool is listed by amtool.
	amtool := func(args ...string) string {
		out, err := exec.CommandContext(t.Context(), "amtool", append([]string{"--alertmanager.url=" + d.url}, args...)...).CombinedOutput()
		if err != nil {
			t.Fatalf("amtool %v: %v\n%s", args, err, out)
		}
		return string(out)
	}
	var alerts []struct {
		Labels    map[string]string
		Receivers []struct{ Name string }
	}
	if err := json.Unmarshal([]byte(amtool("alert", "query", "-o", "json")), &alerts); err != nil {
		t.Fatal(err)
	}
	if len(alerts) != 4 {
		t.Fatalf("amtool lists %d alerts, want the storm's 4: %+v", len(alerts), alerts)
	}
	for _, a := range alerts {
		if len(a.Receivers) != 1 || a.Receivers[0].Name != "mails" {
			t.Fatalf("alert %v has receivers %+v, want mails (alertmanager.yml's root)", a.Labels, a.Receivers)
		}
	}
	if out := amtool("alert", "query", "alertname=HostDiskFailing"); !strings.Contains(out, "HostDiskFailing") || strings.Contains(out, "ContainerDown") {
		t.Fatalf("amtool alert query alertname=HostDiskFailing:\n%s", out)
	}
	id := strings.TrimSpace(amtool("silence", "add", "alertname=ContainerDown", "--duration=1h", "--comment=rollout", "--author=test"))
	if out := amtool("silence", "query", "-q"); strings.TrimSpace(out) != id {
		t.Fatalf("amtool silence query -q = %q, want %s", out, id)
	}
}
