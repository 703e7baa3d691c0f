package platform

import (
	"context"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"

	"github.com/shoalkit/shoal/examples/internal/daemon"
)

// prometheusRules are the pilot's alert rules: what the agents' metrics
// say about a container or a node, labelled with the container or host
// alertcorr's topology knows.
const prometheusRules = `groups:
- name: shoal-pilot
  rules:
  - alert: ContainerCPUHigh
    expr: label_replace(rate(container_cpu_usage_seconds_total{name!=""}[20s]), "container", "$1", "name", "(.*)") > 0.1
    labels: {severity: warning}
    annotations: {summary: "a container uses more than a tenth of a core"}
  - alert: ContainerCPUNearLimit
    expr: label_replace(rate(container_cpu_usage_seconds_total{name!=""}[10s]) / ignoring(cpu) (container_spec_cpu_quota{name!=""} / container_spec_cpu_period{name!=""} > 0), "container", "$1", "name", "(.*)") > 0.8
    labels: {severity: warning}
    annotations: {summary: "a container uses more than 80 % of its CPU quota"}
  - alert: ContainerCPUThrottled
    expr: label_replace(rate(container_cpu_cfs_throttled_periods_total{name!=""}[10s]) / (rate(container_cpu_cfs_periods_total{name!=""}[10s]) > 0), "container", "$1", "name", "(.*)") > 0.5
    labels: {severity: warning}
    annotations: {summary: "a container is held back by its CPU quota in most periods"}
  - alert: ContainerMemoryNearLimit
    expr: label_replace(container_memory_working_set_bytes{name!=""} / (container_spec_memory_limit_bytes{name!=""} > 0), "container", "$1", "name", "(.*)") > 0.9
    labels: {severity: warning}
`

// startPrometheus runs Debian's prometheus, when installed, scraping every
// agent's /metrics every 2 s and sending what its rules raise to the
// platform's alertcorr, as a team's own Prometheus would.
func (p *Platform) startPrometheus(ctx context.Context, agents []string) error {
	bin, err := exec.LookPath("prometheus")
	if err != nil {
		return nil // not installed: the pilot runs without it and says so
	}
	dir := filepath.Join(p.cfg.Dir, "prometheus")
	if err := os.MkdirAll(filepath.Join(dir, "data"), 0o700); err != nil {
		return err
	}
	addr, err := daemon.FreeLocalAddr(ctx)
	if err != nil {
		return err
	}
	conf := fmt.Sprintf(`global: {scrape_interval: 2s, evaluation_interval: 2s}
rule_files: [rules.yml]
alerting:
  alertmanagers:
  - static_configs: [{targets: [%q]}]
scrape_configs:
- job_name: shoal-agents
  static_configs: [{targets: [%s]}]
`, strings.TrimPrefix(p.AlertsURL, "http://"), quoteAll(agents))
	if err := os.WriteFile(filepath.Join(dir, "prometheus.yml"), []byte(conf), 0o600); err != nil {
		return err
	}
	if err := os.WriteFile(filepath.Join(dir, "rules.yml"), []byte(prometheusRules), 0o600); err != nil {
		return err
	}
	cmd, err := startDaemon(dir, os.Environ(), bin, "--config.file="+filepath.Join(dir, "prometheus.yml"),
		"--storage.tsdb.path="+filepath.Join(dir, "data"), "--web.listen-address="+addr,
		"--rules.alert.resend-delay=2s", "--log.level=warn")
	if err != nil {
		return err
	}
	p.closers = append(p.closers, func() { stopDaemon(cmd) })
	p.PrometheusURL = "http://" + addr
	deadline := time.Now().Add(30 * time.Second)
	for {
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, p.PrometheusURL+"/-/ready", nil)
		resp, err := http.DefaultClient.Do(req)
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("platform: prometheus not ready after 30 s (see %s)", dir)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

func quoteAll(ss []string) string {
	q := make([]string, len(ss))
	for i, s := range ss {
		q[i] = fmt.Sprintf("%q", s)
	}
	return strings.Join(q, ", ")
}
