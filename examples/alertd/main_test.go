package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/shoalkit/shoal/alertcorr"
	"github.com/shoalkit/shoal/examples/internal/daemon"
	"github.com/shoalkit/shoal/internal/testenv"
)

// TestMain lets a test run the real binary: the test binary re-executed
// with ALERTD_MAIN=1 is alertd.
func TestMain(m *testing.M) {
	if os.Getenv("ALERTD_MAIN") == "1" {
		main()
	}
	os.Exit(m.Run())
}

// fastConfig makes a storm an incident within a second: a 300 ms
// correlation window, 100 ms group_wait, one group per incident.
const fastConfig = `{
  "Route": {"Receiver": "default", "GroupBy": ["incident"], "GroupWait": 100000000,
            "GroupInterval": 200000000, "RepeatInterval": 3600000000000},
  "Correlation": {"Window": 300000000},
  "Tick": 50000000
}`

// topologyJSON is a rack of hosts h1..hN, each with three containers
// hI-c1..3, each of an app of its own (apps spread over the failing hosts
// would be the better root: see alertcorr's app-spread rule).
func topologyJSON(hosts int) string { return topologyRange(1, hosts) }

// topologyRange is topologyJSON with hosts from..to: 1 + 7 per host entities.
func topologyRange(from, to int) string {
	parts := []string{`{"kind":"rack","id":"r1"}`}
	for h := from; h <= to; h++ {
		parts = append(parts, fmt.Sprintf(`{"kind":"host","id":"h%d","parent":"r1"}`, h))
		for c := 1; c <= 3; c++ {
			parts = append(parts, fmt.Sprintf(`{"kind":"app","id":"app-h%d-c%d"}`, h, c),
				fmt.Sprintf(`{"kind":"container","id":"h%d-c%d","parent":"h%d","app":"app-h%d-c%d"}`, h, c, h, h, c))
		}
	}
	return "[" + strings.Join(parts, ",\n") + "]"
}

// hostStorm is what Prometheus sends when host h fails: the host's own
// alert and one for each of its containers.
func hostStorm(h string) []map[string]any {
	as := []map[string]any{{"labels": map[string]string{"alertname": "HostDiskFailing", "host": h, "severity": "critical", "team": "infra"}}}
	for c := 1; c <= 3; c++ {
		as = append(as, map[string]any{"labels": map[string]string{"alertname": "ContainerDown", "container": fmt.Sprintf("%s-c%d", h, c), "severity": "warning", "team": "infra"}})
	}
	return as
}

func writeFile(t *testing.T, dir, name, content string) string {
	t.Helper()
	p := filepath.Join(dir, name)
	if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

// syncBuffer is a buffer the daemon's logger writes while the test reads.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

type alertd struct {
	url    string
	stderr *syncBuffer
	stop   func() error
}

// start runs alertd in-process on a free port and waits until it answers.
func start(t *testing.T, args ...string) *alertd {
	t.Helper()
	addr := "127.0.0.1:" + strconv.Itoa(testenv.FreePort(t))
	ctx, cancel := context.WithCancel(t.Context())
	d := &alertd{url: "http://" + addr, stderr: &syncBuffer{}}
	errc := make(chan error, 1)
	go func() { errc <- run(ctx, append([]string{"-listen", addr}, args...), io.Discard, d.stderr) }()
	var once sync.Once
	var err error
	d.stop = func() error {
		once.Do(func() { cancel(); err = <-errc })
		return err
	}
	t.Cleanup(func() { _ = d.stop() })
	waitFor(t, "alertd ready", func() bool {
		select {
		case err := <-errc:
			t.Fatalf("alertd exited: %v\n%s", err, d.stderr)
		default:
		}
		resp, err := http.Get(d.url + "/-/ready")
		if err != nil {
			return false
		}
		resp.Body.Close()
		return resp.StatusCode == http.StatusOK
	})
	return d
}

func (d *alertd) post(t *testing.T, path string, body any) []byte {
	t.Helper()
	b, err := json.Marshal(body)
	if err != nil {
		t.Fatal(err)
	}
	resp, err := http.Post(d.url+path, "application/json", bytes.NewReader(b))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	out, _ := io.ReadAll(resp.Body)
	if resp.StatusCode/100 != 2 {
		t.Fatalf("POST %s: %s: %s", path, resp.Status, out)
	}
	return out
}

func getJSON(t *testing.T, url string, v any) {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if err := json.NewDecoder(resp.Body).Decode(v); err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
}

// hook is a webhook receiver on 127.0.0.1 that records the payloads.
type hook struct {
	url      string
	mu       sync.Mutex
	payloads []alertcorr.WebhookPayload
}

func startHook(t *testing.T) *hook {
	t.Helper()
	h := &hook{}
	var lc net.ListenConfig
	l, err := lc.Listen(t.Context(), "tcp", "127.0.0.1:"+strconv.Itoa(testenv.FreePort(t)))
	if err != nil {
		t.Fatal(err)
	}
	h.url = "http://" + l.Addr().String() + "/hook"
	srv := &http.Server{ReadHeaderTimeout: time.Second, Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var p alertcorr.WebhookPayload
		if err := json.NewDecoder(r.Body).Decode(&p); err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		h.mu.Lock()
		h.payloads = append(h.payloads, p)
		h.mu.Unlock()
	})}
	go func() { _ = srv.Serve(l) }()
	t.Cleanup(func() { _ = srv.Close() })
	return h
}

// roots counts the firing incident alerts received, by root.
func (h *hook) roots() map[string]int {
	h.mu.Lock()
	defer h.mu.Unlock()
	n := map[string]int{}
	for _, p := range h.payloads {
		for _, a := range p.Alerts {
			if a.Status == "firing" && a.Labels["alertname"] == "Incident" {
				n[a.Labels["root"]]++
			}
		}
	}
	return n
}

func (h *hook) incident(root string) map[string]string {
	h.mu.Lock()
	defer h.mu.Unlock()
	for _, p := range h.payloads {
		for _, a := range p.Alerts {
			if a.Labels["root"] == root {
				return a.Annotations
			}
		}
	}
	return nil
}

func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(60 * time.Second) // real peers on a loaded machine
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func TestStormBecomesOneIncident(t *testing.T) {
	dir := t.TempDir()
	h, other := startHook(t), startHook(t)
	d := start(t, "-settings", writeFile(t, dir, "config.json", fastConfig),
		"-topology", writeFile(t, dir, "topology.json", topologyJSON(3)),
		"-webhook", "default="+h.url, "-webhook", "other="+other.url)
	d.post(t, "/api/v2/alerts", hostStorm("h2"))

	waitFor(t, "an incident at the webhook", func() bool { return len(h.roots()) > 0 })
	if got := h.roots(); len(got) != 1 || got["h2"] != 1 {
		t.Fatalf("webhook got incidents by root %v, want one with root h2", got)
	}
	ann := h.incident("h2")
	if ann["members"] != "4" || ann["rule"] != "host-alert" {
		t.Fatalf("incident annotations %v, want 4 members by rule host-alert", ann)
	}
	var incs struct{ Open []alertcorr.Incident }
	getJSON(t, d.url+"/api/v2/incidents", &incs)
	if open := incs.Open; len(open) != 1 || open[0].Root.ID != "h2" || open[0].Root.Kind != alertcorr.KindHost || len(open[0].Members) != 4 {
		t.Fatalf("/api/v2/incidents open = %+v, want one rooted at host h2 with 4 members", incs.Open)
	}
	if err := d.stop(); err != nil {
		t.Fatalf("alertd stopped with %v", err)
	}
	if got := other.roots(); len(got) != 0 {
		t.Fatalf("the webhook of receiver \"other\", which no route names, got %v", got)
	}
}

// A restart with the same snapshot keeps the silence and does not notify
// an incident again; an incident that opens after it is notified as usual.
func TestRestartKeepsSilencesAndDoesNotNotifyTwice(t *testing.T) {
	dir := t.TempDir()
	h := startHook(t)
	args := []string{
		"-settings", writeFile(t, dir, "config.json", fastConfig),
		"-topology", writeFile(t, dir, "topology.json", topologyJSON(3)),
		"-snapshot", filepath.Join(dir, "snapshot.json"), "-webhook", h.url,
	}

	d := start(t, args...)
	d.post(t, "/api/v2/alerts", hostStorm("h1"))
	waitFor(t, "h1's incident", func() bool { return h.roots()["h1"] > 0 })
	var created struct{ SilenceID string }
	if err := json.Unmarshal(d.post(t, "/api/v2/silences", map[string]any{
		"matchers":  []map[string]any{{"name": "root", "value": "h3", "isRegex": false}},
		"startsAt":  time.Now().Add(-time.Minute),
		"endsAt":    time.Now().Add(time.Hour),
		"createdBy": "test", "comment": "h3 is being replaced",
	}), &created); err != nil || created.SilenceID == "" {
		t.Fatalf("silence not created: %v %+v", err, created)
	}
	if err := d.stop(); err != nil {
		t.Fatalf("alertd stopped with %v", err)
	}

	d = start(t, args...)
	var silences []struct {
		ID     string
		Status struct{ State string }
	}
	getJSON(t, d.url+"/api/v2/silences", &silences)
	if len(silences) != 1 || silences[0].ID != created.SilenceID || silences[0].Status.State != "active" {
		t.Fatalf("after restart silences = %+v, want %s active", silences, created.SilenceID)
	}
	// Prometheus sends h1's alerts again; h2 and h3 fail now, both in the
	// same request, so h3's incident is due in the same round as h2's.
	d.post(t, "/api/v2/alerts", append(append(hostStorm("h1"), hostStorm("h2")...), hostStorm("h3")...))
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("hook: %+v\nlog:\n%s", h.payloads, d.stderr)
		}
	})
	waitFor(t, "h2's incident", func() bool { return h.roots()["h2"] > 0 })
	if got := h.roots(); got["h1"] != 1 || got["h2"] != 1 || got["h3"] != 0 {
		t.Fatalf("incidents notified by root %v, want h1 once (before the restart), h2 once, h3 never (silenced)", got)
	}
}

// The topology file is read again when it changes and on SIGHUP; a bad
// version is refused whole and the one before stays.
func TestTopologyReload(t *testing.T) {
	dir := t.TempDir()
	h := startHook(t)
	topo := writeFile(t, dir, "topology.json", topologyJSON(1))
	d := start(t, "-settings", writeFile(t, dir, "config.json", fastConfig), "-topology", topo,
		"-topology-poll", "20ms", "-webhook", h.url)
	loaded := func(n int) func() bool {
		return func() bool { return strings.Contains(d.stderr.String(), "entities="+strconv.Itoa(n)) }
	}
	writeFile(t, dir, "topology.json", topologyJSON(2))
	waitFor(t, "the topology with h2", loaded(15))
	writeFile(t, dir, "topology.json", `[{"kind":"container","id":"x","parent":"nohost"}]`)
	waitFor(t, "the bad topology refused", func() bool { return strings.Contains(d.stderr.String(), `parent \"nohost\"`) })

	// Poll off, SIGHUP only: h3 appears, h1 goes away.
	d2 := start(t, "-topology", writeFile(t, dir, "t2.json", topologyJSON(1)), "-topology-poll", "0")
	writeFile(t, dir, "t2.json", topologyRange(2, 3)) // h1's 7 entities removed
	if err := syscall.Kill(os.Getpid(), syscall.SIGHUP); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the topology reloaded on SIGHUP", func() bool { return strings.Contains(d2.stderr.String(), "entities=15") })
	_ = d2.stop()

	d.post(t, "/api/v2/alerts", hostStorm("h2"))
	waitFor(t, "h2's incident", func() bool { return h.roots()["h2"] > 0 })
	if ann := h.incident("h2"); ann["members"] != "4" || ann["rule"] != "host-alert" {
		t.Fatalf("h2's incident %v, want 4 members by host-alert (h2 came with the reload)", ann)
	}
}

func TestBadFlagsAndFilesExit2(t *testing.T) {
	dir := t.TempDir()
	topo := writeFile(t, dir, "topology.json", topologyJSON(1))
	cases := []struct {
		name string
		args []string
		want string
	}{
		{"unknown flag", []string{"-nope"}, "flag provided but not defined: -nope"},
		{"stray argument", []string{"extra"}, `unexpected argument "extra"`},
		{"webhook not a URL", []string{"-webhook", "ftp://x/hook"}, `"ftp://x/hook" is not an http(s) URL`},
		{"alertmanager without host", []string{"-alertmanager", "am=http://"}, `"http://" is not an http(s) URL`},
		{"missing topology", []string{"-topology", filepath.Join(dir, "nope.json")}, "-topology stat " + filepath.Join(dir, "nope.json") + ": no such file"},
		{"topology not JSON", []string{"-topology", writeFile(t, dir, "t1.json", "hosts: [h1]")}, "invalid character"},
		{"unknown kind", []string{"-topology", writeFile(t, dir, "t2.json", `[{"kind":"server","id":"s1"}]`)}, `entity kind "server" unknown`},
		{"container without its host", []string{"-topology", writeFile(t, dir, "t3.json", `[{"kind":"container","id":"c1","parent":"h9"}]`)}, `parent "h9"`},
		{"missing config", []string{"-settings", filepath.Join(dir, "nope.json")}, "-settings open"},
		{"unknown config field", []string{"-settings", writeFile(t, dir, "c1.json", `{"Rout": {}}`)}, `unknown field "Rout"`},
		{"bad regexp", []string{"-settings", writeFile(t, dir, "c2.json", `{"Route": {"Receiver": "r", "Routes": [{"Matchers": [{"Name": "team", "Type": 2, "Value": "("}]}]}}`)}, `matcher team=~"("`},
		{"null matcher", []string{"-settings", writeFile(t, dir, "c3.json", `{"InhibitRules": [{"Source": [null]}]}`)}, "a matcher is null"},
		{"root route without receiver", []string{"-settings", writeFile(t, dir, "c4.json", `{"Route": {"GroupWait": 1}}`)}, "root route has no receiver"},
		{"missing alertmanager config", []string{"-config", filepath.Join(dir, "nope.yml")}, "-config open"},
		{"alertmanager config not YAML", []string{"-config", writeFile(t, dir, "a1.yml", "route: [")}, "-config " + filepath.Join(dir, "a1.yml") + ": alertcorr: Alertmanager config"},
		{"undefined receiver", []string{"-config", writeFile(t, dir, "a2.yml", "route:\n  receiver: nope\nreceivers:\n- name: r\n")}, `route names receiver "nope", which is not defined`},
		{"settings route beside config", []string{"-settings", writeFile(t, dir, "c5.json", `{"Route": {"Receiver": "r"}}`), "-config", writeFile(t, dir, "a3.yml", "route:\n  receiver: r\nreceivers:\n- name: r\n")}, "-settings has Route or InhibitRules"},
		{"etcd beside a topology file", []string{"-etcd-endpoints", "http://127.0.0.1:1", "-topology", topo}, "leave out -topology and -snapshot"},
		{"corrupt snapshot", []string{"-topology", topo, "-snapshot", writeFile(t, dir, "snap.json", `{"version": 1, "silences": [{"id": "x", "matchers": ["=="]}]}`)}, "snapshot"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			var stderr bytes.Buffer
			args := append([]string{"-listen", "127.0.0.1:" + strconv.Itoa(testenv.FreePort(t))}, tc.args...)
			err := run(t.Context(), args, io.Discard, &stderr)
			if code := daemon.ExitCode(err); code != 2 {
				t.Fatalf("run %v = %v (exit %d), want exit 2", tc.args, err, code)
			}
			if !strings.Contains(stderr.String(), tc.want) {
				t.Fatalf("stderr %q does not say %q", stderr.String(), tc.want)
			}
		})
	}
}

func TestHelpPrintsFlags(t *testing.T) {
	var stderr bytes.Buffer
	err := run(t.Context(), []string{"-h"}, io.Discard, &stderr)
	if !errors.Is(err, flag.ErrHelp) || daemon.ExitCode(err) != 0 {
		t.Fatalf("-h = %v, want flag.ErrHelp (exit 0)", err)
	}
	for _, f := range []string{"-listen", "-config", "-settings", "-snapshot", "-topology", "-topology-poll", "-etcd-endpoints", "-webhook", "-alertmanager", "-external-url"} {
		if !strings.Contains(stderr.String(), "  "+f+" ") {
			t.Errorf("-h does not list %s:\n%s", f, stderr.String())
		}
	}
}

// The real binary's exit code and message for a bad file.
func TestBinaryExitCode(t *testing.T) {
	cmd := exec.CommandContext(t.Context(), os.Args[0], "-topology", filepath.Join(t.TempDir(), "missing.json"))
	cmd.Env = append(os.Environ(), "ALERTD_MAIN=1")
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	err := cmd.Run()
	var exit *exec.ExitError
	if !errors.As(err, &exit) || exit.ExitCode() != 2 {
		t.Fatalf("alertd with a missing topology: %v, want exit status 2", err)
	}
	if !strings.Contains(stderr.String(), "alertd: -topology") || !strings.Contains(stderr.String(), "no such file or directory") {
		t.Fatalf("stderr %q does not name the flag and the cause", stderr.String())
	}
}

// End to end with a real Alertmanager: alertd forwards the incident, and
// Alertmanager's API lists it with its root and members.
func TestForwardsIncidentToAlertmanager(t *testing.T) {
	testenv.Require(t, testenv.AlertmanagerServer)
	am := testenv.StartAlertmanager(t, "")
	dir := t.TempDir()
	d := start(t, "-settings", writeFile(t, dir, "config.json", fastConfig),
		"-topology", writeFile(t, dir, "topology.json", topologyJSON(2)), "-alertmanager", am.URL)
	d.post(t, "/api/v2/alerts", hostStorm("h1"))
	var got []struct{ Labels, Annotations map[string]string }
	waitFor(t, "the incident in Alertmanager", func() bool {
		getJSON(t, am.URL+"/api/v2/alerts", &got)
		return len(got) > 0
	})
	if len(got) != 1 || got[0].Labels["alertname"] != "Incident" || got[0].Labels["root"] != "h1" ||
		got[0].Labels["root_kind"] != "host" || got[0].Annotations["members"] != "4" || got[0].Labels["severity"] != "critical" {
		t.Fatalf("Alertmanager lists %+v, want one Incident rooted at host h1 with 4 members, severity critical", got)
	}
}

// The whole chain with real peers: Prometheus scrapes a node exporter,
// evaluates alert rules and sends to alertd unchanged; alertd forwards the
// one incident to Alertmanager, whose API lists it.
func TestPrometheusThroughAlertdToAlertmanager(t *testing.T) {
	testenv.Require(t, testenv.PrometheusServer, testenv.AlertmanagerServer, testenv.NodeExporterServer)
	am := testenv.StartAlertmanager(t, "")
	dir := t.TempDir()
	d := start(t, "-settings", writeFile(t, dir, "config.json", fastConfig),
		"-topology", writeFile(t, dir, "topology.json", topologyJSON(2)), "-alertmanager", am.URL)
	ne := testenv.StartNodeExporter(t)
	ne.WriteTextfile(t, "state", "host_disk_failing 1\n"+
		"container_up{container=\"h1-c1\"} 0\ncontainer_up{container=\"h1-c2\"} 0\ncontainer_up{container=\"h1-c3\"} 0\n")
	testenv.StartPrometheus(t, testenv.PrometheusConfig{
		Targets:       []string{ne.Addr},
		TargetLabels:  map[string]string{"host": "h1"},
		Rules:         "groups:\n- name: node\n  rules:\n  - alert: HostDiskFailing\n    expr: host_disk_failing == 1\n  - alert: ContainerDown\n    expr: container_up == 0\n",
		Alertmanagers: []string{strings.TrimPrefix(d.url, "http://")},
	})
	var got []struct{ Labels, Annotations map[string]string }
	waitFor(t, "the incident with its 4 members in Alertmanager", func() bool {
		getJSON(t, am.URL+"/api/v2/alerts", &got)
		return len(got) == 1 && got[0].Annotations["members"] == "4"
	})
	if l := got[0].Labels; l["alertname"] != "Incident" || l["root"] != "h1" || l["root_kind"] != "host" || got[0].Annotations["rule"] != "host-alert" {
		t.Fatalf("Alertmanager lists %+v, want the Incident rooted at host h1 by host-alert", got)
	}
}
