package scenario_test

import (
	"bytes"
	"io"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/shoalkit/shoal/examples/internal/container"
	"github.com/shoalkit/shoal/examples/internal/platform"
	"github.com/shoalkit/shoal/examples/internal/scenario"
	"github.com/shoalkit/shoal/internal/testenv"
)

// TestMain is also the containers' init: TestReal's agents start their
// containers by running this binary again with "init".
func TestMain(m *testing.M) {
	container.Init()
	os.Exit(m.Run())
}

// TestSimulated plays the story on simulated nodes, as the pilot does
// without root: every step holds but the one that needs containers, which
// says it was skipped and why.
func TestSimulated(t *testing.T) {
	p, err := platform.Start(t.Context(), platform.Config{
		Dir: t.TempDir(), Agents: 3, NodeGrace: 2 * time.Second, AutoscaleInterval: 500 * time.Millisecond, InspectInterval: time.Second, AlertWindow: 2 * time.Second,
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(p.Close)
	var out bytes.Buffer
	// Also streamed, so a story cut short by the test's timeout still
	// shows how far it got.
	res := scenario.Run(t.Context(), p, io.MultiWriter(&out, os.Stderr))
	if !res.OK() {
		t.Fatalf("the story did not hold:\n%s", out.String())
	}
	skipped := 0
	for _, s := range res.Steps {
		if s.Skipped != "" {
			skipped++
		}
	}
	if skipped != 1 || !strings.Contains(out.String(), "summary:") || !strings.Contains(out.String(), "2 → ") {
		t.Errorf("%d skipped steps, output:\n%s", skipped, out.String())
	}
	t.Log("\n" + out.String())
}

// TestReal plays the story as the pilot does as root: real containers on
// OVS VLANs, Debian's prometheus raising the storm from the agents'
// metrics; every step must hold, none skipped.
func TestReal(t *testing.T) {
	testenv.Require(t, testenv.Root, testenv.Runc, testenv.Cgroups, testenv.OVS, testenv.Netns, testenv.OCIRegistry, testenv.PrometheusServer)
	reg := testenv.StartRegistry(t)
	p, err := platform.Start(t.Context(), platform.Config{Dir: t.TempDir(), Agents: 3, Real: true, Registry: reg.Addr})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(p.Close)
	if p.PrometheusURL == "" {
		t.Fatal("prometheus is installed but the platform did not start it")
	}
	var out bytes.Buffer
	// Also streamed, so a story cut short by the test's timeout still
	// shows how far it got.
	res := scenario.Run(t.Context(), p, io.MultiWriter(&out, os.Stderr))
	if !res.OK() {
		t.Fatalf("the story did not hold:\n%s", out.String())
	}
	for _, s := range res.Steps {
		if s.Skipped != "" {
			t.Errorf("step %q skipped on real nodes: %s", s.Name, s.Skipped)
		}
	}
	if !strings.Contains(out.String(), "raised by Prometheus's rules") {
		t.Errorf("the storm was not raised by Prometheus:\n%s", out.String())
	}
	if err := container.SeccompNotifySupported(); err == nil && !strings.Contains(out.String(), "free (BusyBox, sysinfo(2)) total 98304 KiB") {
		t.Errorf("sysinfo(2) is supported here, but free inside the container did not show its 96 MiB:\n%s", out.String())
	}
	t.Log("\n" + out.String())
}
