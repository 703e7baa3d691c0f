package testenv

import (
	"context"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

// Prometheus is a prometheus server a test started on 127.0.0.1 with its
// own configuration and temp storage.
type Prometheus struct {
	URL  string // http://127.0.0.1:port
	proc *Process
}

// PrometheusConfig is what a test's Prometheus scrapes, evaluates and
// sends. Intervals are 1 s so that alert tests stay short.
type PrometheusConfig struct {
	// Targets are scraped as job "node": host:port each, with the labels
	// of TargetLabels added to every series.
	Targets      []string
	TargetLabels map[string]string
	// Rules is the content of one rule file (Prometheus's YAML).
	Rules string
	// Alertmanagers are host:port addresses Prometheus sends alerts to
	// (POST /api/v2/alerts).
	Alertmanagers []string
}

// StartPrometheus writes the configuration, starts prometheus, waits
// until /-/ready answers and stops it by pid in t.Cleanup.
func StartPrometheus(t testing.TB, cfg PrometheusConfig) *Prometheus {
	t.Helper()
	Require(t, PrometheusServer)
	dir := t.TempDir()
	var b strings.Builder
	b.WriteString("global:\n  scrape_interval: 1s\n  evaluation_interval: 1s\n")
	if cfg.Rules != "" {
		rules := filepath.Join(dir, "rules.yml")
		writeFile(t, rules, cfg.Rules)
		fmt.Fprintf(&b, "rule_files: [%q]\n", rules)
	}
	if len(cfg.Alertmanagers) > 0 {
		fmt.Fprintf(&b, "alerting:\n  alertmanagers:\n  - api_version: v2\n    timeout: 2s\n    static_configs:\n    - targets: [%s]\n", quoteList(cfg.Alertmanagers))
	}
	if len(cfg.Targets) > 0 {
		fmt.Fprintf(&b, "scrape_configs:\n- job_name: node\n  static_configs:\n  - targets: [%s]\n", quoteList(cfg.Targets))
		if len(cfg.TargetLabels) > 0 {
			b.WriteString("    labels:\n")
			for k, v := range cfg.TargetLabels {
				fmt.Fprintf(&b, "      %s: %q\n", k, v)
			}
		}
	}
	conf := filepath.Join(dir, "prometheus.yml")
	writeFile(t, conf, b.String())
	addr := "127.0.0.1:" + strconv.Itoa(FreePort(t))
	p := &Prometheus{URL: "http://" + addr}
	p.proc = StartProcess(t, path(t, "prometheus"),
		"--config.file="+conf,
		"--storage.tsdb.path="+filepath.Join(dir, "data"),
		"--web.listen-address="+addr,
		"--rules.alert.resend-delay=1s",
		"--log.level=warn")
	waitHTTP(t, p.proc, p.URL+"/-/ready")
	return p
}

// Pid is the prometheus process's pid.
func (p *Prometheus) Pid() int { return p.proc.Pid }

// Alertmanager is a prometheus-alertmanager a test started on 127.0.0.1
// with its own configuration and temp storage, clustering off.
type Alertmanager struct {
	URL  string // http://127.0.0.1:port
	Addr string // 127.0.0.1:port
	proc *Process
}

// StartAlertmanager starts prometheus-alertmanager with config (its YAML;
// "" means one route to a receiver that sends nothing), waits until
// /-/ready answers and stops it by pid in t.Cleanup.
func StartAlertmanager(t testing.TB, config string) *Alertmanager {
	t.Helper()
	Require(t, AlertmanagerServer)
	if config == "" {
		config = "route:\n  receiver: none\nreceivers:\n- name: none\n"
	}
	dir := t.TempDir()
	conf := filepath.Join(dir, "alertmanager.yml")
	writeFile(t, conf, config)
	addr := "127.0.0.1:" + strconv.Itoa(FreePort(t))
	am := &Alertmanager{URL: "http://" + addr, Addr: addr}
	am.proc = StartProcess(t, path(t, "prometheus-alertmanager"),
		"--config.file="+conf,
		"--storage.path="+filepath.Join(dir, "data"),
		"--web.listen-address="+addr,
		"--cluster.listen-address=",
		"--log.level=warn")
	waitHTTP(t, am.proc, am.URL+"/-/ready")
	return am
}

// Pid is the alertmanager process's pid.
func (am *Alertmanager) Pid() int { return am.proc.Pid }

// NodeExporter is a prometheus-node-exporter on 127.0.0.1 with only the
// textfile collector, whose directory the test writes *.prom files into.
type NodeExporter struct {
	Addr     string // 127.0.0.1:port
	Textfile string // the collector's directory
	proc     *Process
}

// StartNodeExporter starts the exporter and waits until /metrics answers.
func StartNodeExporter(t testing.TB) *NodeExporter {
	t.Helper()
	Require(t, NodeExporterServer)
	dir := t.TempDir()
	addr := "127.0.0.1:" + strconv.Itoa(FreePort(t))
	ne := &NodeExporter{Addr: addr, Textfile: dir}
	ne.proc = StartProcess(t, path(t, "prometheus-node-exporter"),
		"--web.listen-address="+addr,
		"--collector.disable-defaults",
		"--collector.textfile",
		"--collector.textfile.directory="+dir)
	waitHTTP(t, ne.proc, "http://"+addr+"/metrics")
	return ne
}

// WriteTextfile replaces the metrics file name.prom atomically.
func (ne *NodeExporter) WriteTextfile(t testing.TB, name, metrics string) {
	t.Helper()
	tmp := filepath.Join(ne.Textfile, "."+name+".tmp")
	writeFile(t, tmp, metrics)
	if err := os.Rename(tmp, filepath.Join(ne.Textfile, name+".prom")); err != nil {
		t.Fatalf("testenv: %v", err)
	}
}

// Stop stops the exporter (SIGTERM).
func (ne *NodeExporter) Stop(t testing.TB) { t.Helper(); ne.proc.Stop(t) }

func writeFile(t testing.TB, name, content string) {
	t.Helper()
	if err := os.WriteFile(name, []byte(content), 0o600); err != nil {
		t.Fatalf("testenv: %v", err)
	}
}

func quoteList(ss []string) string {
	q := make([]string, len(ss))
	for i, s := range ss {
		q[i] = strconv.Quote(s)
	}
	return strings.Join(q, ", ")
}

// waitHTTP polls url until it answers 200, the process exits or
// readyTimeout passes.
func waitHTTP(t testing.TB, proc *Process, url string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), readyTimeout)
	defer cancel()
	for {
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
		if err != nil {
			t.Fatalf("testenv: %v", err)
		}
		resp, err := http.DefaultClient.Do(req)
		if err == nil {
			_ = resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return
			}
		}
		select {
		case <-proc.Done():
			t.Fatalf("testenv: %s exited before answering %s: %v\n%s", proc.Name, url, proc.Err(), proc.Output())
		case <-ctx.Done():
			t.Fatalf("testenv: %s not answering %s after %v: %v\n%s", proc.Name, url, readyTimeout, err, proc.Output())
		case <-time.After(50 * time.Millisecond):
		}
	}
}
