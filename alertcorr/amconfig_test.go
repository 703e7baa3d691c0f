package alertcorr

import (
	"bytes"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/shoalkit/shoal/internal/errs"
	"github.com/shoalkit/shoal/internal/testenv"
)

func parseAMFile(t *testing.T, path string) *AlertmanagerConfig {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	c, err := ParseAlertmanagerConfig(f)
	if err != nil {
		t.Fatalf("ParseAlertmanagerConfig(%s): %v", path, err)
	}
	return c
}

func TestParseAlertmanagerConfig(t *testing.T) {
	c := parseAMFile(t, "testdata/alertmanager.yml")
	if c.ResolveTimeout != 3*time.Minute {
		t.Errorf("ResolveTimeout %v, want 3m", c.ResolveTimeout)
	}
	wantUnsupported := []string{
		"global.smtp_from", "global.smtp_smarthost",
		"receivers[incidents].webhook_configs[0].http_config",
		"receivers[team-DB-pager].pagerduty_configs",
		"receivers[team-X-mails].email_configs", "receivers[team-Y-mails].email_configs",
		"templates",
	}
	if !slices.Equal(c.Unsupported, wantUnsupported) {
		t.Errorf("Unsupported\n%q\nwant\n%q", c.Unsupported, wantUnsupported)
	}
	var names []string
	for _, r := range c.Receivers {
		names = append(names, r.Name)
	}
	if !slices.Equal(names, []string{"team-X-mails", "team-X-pager", "team-Y-mails", "team-Y-pager", "team-DB-pager", "incidents"}) {
		t.Errorf("receivers %v", names)
	}
	if w := c.Receivers[1].Webhooks; len(w) != 2 || w[1] != (WebhookConfig{URL: "http://127.0.0.1:5002/pager/x", SendResolved: true, MaxAlerts: 10}) {
		t.Errorf("team-X-pager webhooks %+v", w)
	}
	root, err := compileRoute(c.Route, nil, 0)
	if err != nil {
		t.Fatal(err)
	}
	inc := root.children[3]
	if inc.opts.Receiver != "incidents" || !inc.opts.GroupByAll || inc.opts.GroupWait != 0 || inc.opts.GroupInterval != 5*time.Minute || inc.opts.RepeatInterval != 36*time.Hour {
		t.Errorf("incidents route %+v, want group_by ..., group_wait 0 (given), group_interval 5m (inherited), repeat 1d12h", inc.opts)
	}
	db := root.children[2]
	if got := db.opts.groupByList(); !slices.Equal(got, []string{"alertname", "cluster", "database"}) || db.opts.RepeatInterval != 3*time.Hour {
		t.Errorf("database route group_by %v repeat %v", got, db.opts.RepeatInterval)
	}
	if len(c.InhibitRules) != 2 || c.InhibitRules[1].Source.String() != `{alertname="HostDown"}` || c.InhibitRules[1].Target.String() != `{alertname=~"Container.*"}` || !slices.Equal(c.InhibitRules[0].Equal, []string{"alertname", "cluster", "service"}) {
		t.Errorf("inhibit rules %+v", c.InhibitRules)
	}
	var cfg Config
	c.Apply(&cfg)
	if !slices.Equal(cfg.WithoutResolved, []string{"team-Y-pager"}) || cfg.ResolveTimeout != 3*time.Minute {
		t.Errorf("Apply: WithoutResolved %v ResolveTimeout %v", cfg.WithoutResolved, cfg.ResolveTimeout)
	}
	e := mustEngine(t, cfg)
	// The second rule: HostDown on h1 mutes ContainerDown on h1, not h2.
	mustIngest(t, e, Alert{Labels: Labels{"alertname": "HostDown", "host": "h1"}})
	if _, _, inh := e.Muted(Labels{"alertname": "ContainerDown", "host": "h1"}); !inh {
		t.Error("ContainerDown on h1 not inhibited by HostDown on h1")
	}
	if _, _, inh := e.Muted(Labels{"alertname": "ContainerDown", "host": "h2"}); inh {
		t.Error("ContainerDown on h2 inhibited by HostDown on h1")
	}
}

// The file is one real Alertmanager accepts, and for every label set our
// routing tree picks the receivers Alertmanager's own does (amtool config
// routes test, in the tree's order).
func TestAlertmanagerConfigRoutesAsAlertmanager(t *testing.T) {
	testenv.Require(t, testenv.AlertmanagerServer)
	path, _ := filepath.Abs("testdata/alertmanager.yml")
	amtoolOut(t, "check-config", path)
	root, err := compileRoute(parseAMFile(t, path).Route, nil, 0)
	if err != nil {
		t.Fatal(err)
	}
	var sets [][]string
	for _, service := range []string{"", "foo1", "baz", "files", "database", "other"} {
		for _, severity := range []string{"", "critical", "warning"} {
			for _, extra := range []string{"", "owner=team-X", "owner=team-Z", "alertname=Incident"} {
				var l []string
				for _, kv := range []string{"service=" + service, "severity=" + severity, extra} {
					if kv != "" && !strings.HasSuffix(kv, "=") {
						l = append(l, kv)
					}
				}
				if len(l) > 0 {
					sets = append(sets, l)
				}
			}
		}
	}
	for _, l := range sets {
		want := strings.TrimSpace(amtoolOut(t, append([]string{"config", "routes", "test", "--config.file=" + path}, l...)...))
		labels := Labels{}
		for _, kv := range l {
			k, v, _ := strings.Cut(kv, "=")
			labels[k] = v
		}
		var got []string
		for _, r := range root.match(labels) {
			got = append(got, r.opts.Receiver)
		}
		if strings.Join(got, ",") != want {
			t.Errorf("%v: we route to %v, Alertmanager to %q", l, got, want)
		}
	}
	t.Logf("%d label sets routed as Alertmanager routes them", len(sets))
}

func amtoolOut(t *testing.T, args ...string) string {
	t.Helper()
	bin, err := exec.LookPath("amtool")
	if err != nil {
		t.Fatal(err)
	}
	var out, stderr bytes.Buffer
	cmd := exec.CommandContext(t.Context(), bin, args...)
	cmd.Stdout, cmd.Stderr = &out, &stderr
	if err := cmd.Run(); err != nil {
		t.Fatalf("amtool %v: %v\n%s%s", args, err, out.String(), stderr.String())
	}
	return out.String()
}

const amBase = "route:\n  receiver: r\nreceivers:\n- name: r\n"

// Configurations Alertmanager refuses, with what our error says.
var amConfigErrorCases = []struct {
	name, yaml, want string
	kind             error
}{
	{"not YAML", "route: [", "Alertmanager config", ErrInvalid},
	{"no route", "receivers:\n- name: r\n", "has no route", ErrInvalid},
	{"root without receiver", "route:\n  group_wait: 1s\nreceivers:\n- name: r\n", "root route has no receiver", ErrInvalid},
	{"root with matchers", "route:\n  receiver: r\n  matchers: [a=\"b\"]\nreceivers:\n- name: r\n", "root route has matchers", ErrInvalid},
	{"root continues", "route:\n  receiver: r\n  continue: true\nreceivers:\n- name: r\n", "root route has continue", ErrInvalid},
	{"undefined receiver", "route:\n  receiver: r\n  routes:\n  - receiver: nope\nreceivers:\n- name: r\n", `route.routes[0] names receiver "nope"`, ErrNotFound},
	{"receiver twice", amBase + "- name: r\n", `receiver "r" is defined twice`, ErrInvalid},
	{"receiver without name", amBase + "- webhook_configs: []\n", "receivers[1] has no name", ErrInvalid},
	{"bad matcher", amBase + "inhibit_rules:\n- source_matchers: ['a=~\"(\"']\n", "inhibit_rules[0].source matchers", ErrInvalid},
	{"bad match_re", "route:\n  receiver: r\n  routes:\n  - match_re: {a: '('}\nreceivers:\n- name: r\n", "route.routes[0] match_re", ErrInvalid},
	{"bad label in match", "route:\n  receiver: r\n  routes:\n  - match: {1a: x}\nreceivers:\n- name: r\n", "route.routes[0] match", ErrInvalid},
	{"bad duration", "route:\n  receiver: r\n  group_wait: 5 minutes\nreceivers:\n- name: r\n", "route.group_wait", ErrInvalid},
	{"zero interval", "route:\n  receiver: r\n  group_interval: 0s\nreceivers:\n- name: r\n", "route.group_interval is zero", ErrInvalid},
	{"bad resolve timeout", "global:\n  resolve_timeout: soon\n" + amBase, "global.resolve_timeout", ErrInvalid},
	{"webhook without url", amBase + "  webhook_configs:\n  - send_resolved: true\n", "receivers[r].webhook_configs[0].url", ErrInvalid},
	{"webhook url not http", amBase + "  webhook_configs:\n  - url: ftp://x/\n", `"ftp://x/" is not an http(s) URL`, ErrInvalid},
	{"group_by mixes ...", "route:\n  receiver: r\n  group_by: ['...', a]\nreceivers:\n- name: r\n", "group_by", ErrInvalid},
	{"bad equal label", amBase + "inhibit_rules:\n- target_matchers: [a=b]\n  equal: ['1x']\n", "equal label", ErrInvalid},
}

// They are refused, saying what and where.
func TestParseAlertmanagerConfigErrors(t *testing.T) {
	for _, tc := range amConfigErrorCases {
		t.Run(tc.name, func(t *testing.T) {
			_, err := ParseAlertmanagerConfig(strings.NewReader(tc.yaml))
			if err == nil || !strings.Contains(err.Error(), tc.want) || !errors.Is(err, tc.kind) {
				t.Fatalf("error %v, want %v saying %q", err, tc.kind, tc.want)
			}
			if err := errs.CheckShape(err, "alertcorr", ErrInvalid, ErrNotFound); err != nil {
				t.Fatal(err)
			}
		})
	}
}

// The real amtool check-config refuses each of them too: we refuse
// nothing Alertmanager accepts.
func TestAlertmanagerRefusesWhatWeRefuse(t *testing.T) {
	testenv.Require(t, testenv.AlertmanagerServer)
	for _, tc := range amConfigErrorCases {
		path := filepath.Join(t.TempDir(), "am.yml")
		if err := os.WriteFile(path, []byte(tc.yaml), 0o600); err != nil {
			t.Fatal(err)
		}
		if out, err := exec.CommandContext(t.Context(), "amtool", "check-config", path).CombinedOutput(); err == nil {
			t.Errorf("%s: the real amtool accepts what we refuse:\n%s", tc.name, out)
		}
	}
}

func TestParseAMDuration(t *testing.T) {
	for in, want := range map[string]time.Duration{
		"0": 0, "30s": 30 * time.Second, "5m": 5 * time.Minute, "4h": 4 * time.Hour, "1d12h": 36 * time.Hour,
		"1w": 7 * 24 * time.Hour, "1y": 365 * 24 * time.Hour, "1h30m15s": time.Hour + 30*time.Minute + 15*time.Second, "100ms": 100 * time.Millisecond, "1m500ms": time.Minute + 500*time.Millisecond,
	} {
		if got, err := parseAMDuration(in); err != nil || got != want {
			t.Errorf("parseAMDuration(%q) = %v, %v; want %v", in, got, err, want)
		}
	}
	for _, bad := range []string{"", "5", "m", "1m1h", "1s1s", "-1s", "1.5h", "5 m", "999999999999y", "1000000000000s"} {
		if d, err := parseAMDuration(bad); !errors.Is(err, ErrInvalid) {
			t.Errorf("parseAMDuration(%q) = %v, %v; want ErrInvalid", bad, d, err)
		}
	}
}

// FuzzParseAlertmanagerConfig: any input is parsed or refused with
// ErrInvalid/ErrNotFound, never a panic; what is accepted builds an engine.
func FuzzParseAlertmanagerConfig(f *testing.F) {
	if b, err := os.ReadFile("testdata/alertmanager.yml"); err == nil {
		f.Add(b)
	}
	f.Add([]byte(amBase))
	f.Add([]byte("route:\n  receiver: r\n  routes:\n  - {matchers: ['a=~\"x|y\"'], continue: true, group_by: ['...']}\nreceivers:\n- name: r\n  webhook_configs: [{url: 'http://h/'}]\ninhibit_rules:\n- {source_match: {a: b}, equal: [c]}\n"))
	f.Add([]byte("a: &a [*a, *a]\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		c, err := ParseAlertmanagerConfig(bytes.NewReader(data))
		if err != nil {
			if !errors.Is(err, ErrInvalid) && !errors.Is(err, ErrNotFound) {
				t.Fatalf("error of an unexpected kind: %v", err)
			}
			return
		}
		var cfg Config
		c.Apply(&cfg)
		e, err := New(cfg)
		if err != nil {
			t.Fatalf("accepted config does not build an engine: %v", err)
		}
		_ = e.Close()
	})
}
