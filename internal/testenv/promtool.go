package testenv

import (
	"bytes"
	"os/exec"
	"testing"
)

// CheckMetrics runs `promtool check metrics` (Debian prometheus) over a
// scrape in the text exposition format and returns what it reports: ""
// when the metrics are clean.
func CheckMetrics(t testing.TB, exposition []byte) string {
	t.Helper()
	Require(t, Promtool)
	cmd := exec.Command(path(t, "promtool"), "check", "metrics") //nolint:noctx // a short check
	cmd.Stdin = bytes.NewReader(exposition)
	out, err := cmd.CombinedOutput()
	if err != nil && len(out) == 0 {
		t.Fatalf("testenv: promtool check metrics: %v", err)
	}
	if err == nil {
		return ""
	}
	return string(out)
}
