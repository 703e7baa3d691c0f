// Package scenario is the pilot's scripted story: it drives a running
// platform through every piece — an image built and pre-distributed, an app
// spread over racks, a load spike scaled out and in, a drifted kernel
// parameter found and fixed, a node killed and its instances placed
// elsewhere, a container's own /proc — checks each step, and ends with
// what it measured. A step that does not hold fails the run.
//
//	res := scenario.Run(ctx, p, os.Stdout)
//	if !res.OK() { os.Exit(1) }
package scenario

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/shoalkit/shoal/alertcorr"
	"github.com/shoalkit/shoal/examples/internal/controller"
	"github.com/shoalkit/shoal/examples/internal/fleetinspect"
	"github.com/shoalkit/shoal/examples/internal/platform"
	"github.com/shoalkit/shoal/examples/internal/state"
	"github.com/shoalkit/shoal/inspect"
)

// Step is one step's outcome.
type Step struct {
	Name     string
	Measured string
	Skipped  string // why, when the platform cannot show it (simulated)
	Err      error
	Took     time.Duration
}

// Result is the whole run.
type Result struct{ Steps []Step }

// OK reports whether every step held.
func (r *Result) OK() bool {
	for _, s := range r.Steps {
		if s.Err != nil {
			return false
		}
	}
	return true
}

// story is what the steps share.
type story struct {
	p     *platform.Platform
	cl    *controller.Client
	out   io.Writer
	image string
	web   []state.Instance
}

// Run plays the story on p, printing each step as it ends and a summary.
func Run(ctx context.Context, p *platform.Platform, out io.Writer) *Result {
	s := &story{p: p, cl: p.Client(), out: out}
	res := &Result{}
	steps := []struct {
		name string
		run  func(ctx context.Context) (string, error)
	}{
		{"image built and pre-distributed, app spread over racks", s.deploy},
		{"load spike → scale out; spike ends → slow, sustained-low scale in", s.spike},
		{"a bug in one app → an alert storm → one incident rooted at the app", s.storm},
		{"drifted kernel parameter found by inspection, fixed on request", s.drift},
		{"container's own /proc: meminfo shows its memory limit", s.procView},
		{"node killed → its instances rescheduled", s.killNode},
	}
	for _, st := range steps {
		start := time.Now()
		measured, err := st.run(ctx)
		step := Step{Name: st.name, Measured: measured, Err: err, Took: time.Since(start)}
		if skip, ok := err.(skipped); ok { //nolint:errorlint // our own marker, never wrapped
			step.Err, step.Skipped = nil, string(skip)
		}
		res.Steps = append(res.Steps, step)
		switch {
		case step.Err != nil:
			fmt.Fprintf(out, "✘ %s: %v\n", st.name, step.Err)
		case step.Skipped != "":
			fmt.Fprintf(out, "– %s: skipped (%s)\n", st.name, step.Skipped)
		default:
			fmt.Fprintf(out, "✔ %s: %s\n", st.name, measured)
		}
	}
	fmt.Fprintln(out, "\nsummary:")
	for _, st := range res.Steps {
		mark, what := "✔", st.Measured
		switch {
		case st.Err != nil:
			mark, what = "✘", st.Err.Error()
		case st.Skipped != "":
			mark, what = "–", "skipped: "+st.Skipped
		}
		fmt.Fprintf(out, "  %s %-66s %8v  %s\n", mark, st.Name, st.Took.Round(100*time.Millisecond), what)
	}
	return res
}

// skipped marks a step the platform cannot show.
type skipped string

func (s skipped) Error() string { return string(s) }

func (s *story) do(ctx context.Context, method, path, reqID string, body, out any) error {
	_, err := s.cl.Do(ctx, method, path, reqID, body, out)
	return err
}

// waitFor polls cond until it holds or limit passes.
func waitFor(ctx context.Context, limit time.Duration, cond func() (bool, error)) error {
	ctx, cancel := context.WithTimeout(ctx, limit)
	defer cancel()
	for {
		ok, err := cond()
		if err != nil || ok {
			return err
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("not within %v", limit)
		case <-time.After(200 * time.Millisecond):
		}
	}
}

func (s *story) deploy(ctx context.Context) (string, error) {
	img, err := s.p.BuildImage(ctx, "story:1", map[string]string{"/etc/story": "shoal pilot\n"})
	if err != nil {
		return "", err
	}
	s.image = img
	if err := s.do(ctx, http.MethodPut, "/v1/networks/10", "", state.NetworkPool{VLAN: 10, Subnet: mustPrefix("10.10.0.0/24"), Gateway: mustAddr("10.10.0.1")}, nil); err != nil {
		return "", err
	}
	spec := state.AppSpec{
		Name: "web", Team: "story", Image: img, Replicas: len(s.p.Nodes),
		Command:   []string{"/bin/sh", "-c", "exec sleep 1000000"},
		Resources: state.Resources{CPUs: 0.1, MemoryBytes: 32 << 20},
		Network:   &state.AppNetwork{VLAN: 10, Port: 80},
		Placement: state.PlacementSpec{Spread: []state.SpreadSpec{{Key: "rack", MaxSkew: 1}}},
	}
	var d controller.Deployed
	if err := s.do(ctx, http.MethodPost, "/v1/apps?wait=2m", "story-deploy", spec, &d); err != nil {
		return "", err
	}
	if !d.Running {
		return "", fmt.Errorf("not all %d instances running after 2 min", len(d.Created))
	}
	s.web = d.Created
	nodes := map[string]bool{}
	for _, in := range d.Created {
		nodes[in.Node] = true
	}
	if len(nodes) != len(s.p.Nodes) {
		return "", fmt.Errorf("%d instances on %d nodes, want one per rack", len(d.Created), len(nodes))
	}
	var evs []state.Event
	if err := s.do(ctx, http.MethodGet, "/v1/events?request_id=story-deploy", "", nil, &evs); err != nil {
		return "", err
	}
	pre := "pre-distribution skipped (simulated nodes hold no images)"
	for _, ev := range evs {
		if ev.Kind == "ImagePredistributed" {
			pre = "image pre-distributed: " + ev.Message
		}
	}
	return fmt.Sprintf("%d instances, one per rack, running %v after the call; %s",
		len(d.Created), time.Duration(d.TimeToRunning).Round(time.Millisecond), pre), nil
}

func (s *story) replicas(ctx context.Context, app string) (int, error) {
	var a controller.AppView
	err := s.do(ctx, http.MethodGet, "/v1/apps/"+app, "", nil, &a)
	return a.Spec.Replicas, err
}

func (s *story) spike(ctx context.Context) (string, error) {
	spin := "while :; do if [ -e /export/spin ]; then :; else sleep 1; fi; done"
	spec := state.AppSpec{
		Name: "shop", Team: "story", Image: s.image, Replicas: 2,
		Command:   []string{"/bin/sh", "-c", spin},
		Resources: state.Resources{CPUs: 0.2, MemoryBytes: 32 << 20},
		Network:   &state.AppNetwork{VLAN: 10, Port: 80},
		Volume:    &state.Volume{SizeBytes: 4 << 20, Mount: "/export"},
		Autoscale: &state.AutoscaleSpec{
			Min: 2, Max: 6, CPUPercent: 50,
			SustainedLow: state.Duration(10 * time.Second), ScaleInWindow: state.Duration(10 * time.Second),
		},
	}
	var d controller.Deployed
	if err := s.do(ctx, http.MethodPost, "/v1/apps?wait=2m", "story-shop", spec, &d); err != nil {
		return "", err
	}
	start := time.Now()
	s.load(d.Created, true)
	if err := waitFor(ctx, 2*time.Minute, func() (bool, error) {
		n, err := s.replicas(ctx, "shop")
		return n > 2, err
	}); err != nil {
		return "", fmt.Errorf("no scale out under load: %w", err)
	}
	react := time.Since(start)
	var peak int
	_ = waitFor(ctx, 6*time.Second, func() (bool, error) {
		n, err := s.replicas(ctx, "shop")
		peak = max(peak, n)
		return n >= 6, err
	})
	var all []controller.InstanceView
	_ = s.do(ctx, http.MethodGet, "/v1/instances?app=shop", "", nil, &all)
	var ins []state.Instance
	for _, v := range all {
		ins = append(ins, v.Desired)
	}
	s.load(ins, false)
	end := time.Now()
	if err := waitFor(ctx, 3*time.Minute, func() (bool, error) {
		n, err := s.replicas(ctx, "shop")
		return n == 2, err
	}); err != nil {
		return "", fmt.Errorf("no scale in after the spike: %w", err)
	}
	return fmt.Sprintf("2 → %d in %v after the spike began; back to 2 %v after it ended (sustained-low 10 s, window 10 s)",
		peak, react.Round(100*time.Millisecond), time.Since(end).Round(100*time.Millisecond)), nil
}

// load starts or ends the spike: on real nodes a file in each instance's
// volume makes its loop spin; simulated nodes are told the load.
func (s *story) load(ins []state.Instance, on bool) {
	if s.p.Simulated {
		cores := 0.01
		if on {
			cores = 0.2
		}
		s.p.SetLoad("shop", cores)
		return
	}
	for _, in := range ins {
		f := filepath.Join(s.p.VolumeDir(in.Node, in.ID), "spin")
		if on {
			_ = os.WriteFile(f, nil, 0o644)
		} else {
			_ = os.Remove(f)
		}
	}
}

func (s *story) drift(ctx context.Context) (string, error) {
	spec := inspect.Spec{Version: uint64(time.Now().Unix()), Checks: []inspect.Check{{
		ID: "ip-forward", Kind: inspect.KindSysctl, Key: "net.ipv4.ip_forward", Want: "1", Op: inspect.OpEq,
		Fix: &inspect.Fix{Sysctl: "1"},
	}}}
	for _, n := range s.p.Nodes {
		if err := os.WriteFile(filepath.Join(s.p.HostDir(n), "proc/sys/net/ipv4/ip_forward"), []byte("1\n"), 0o644); err != nil {
			return "", err
		}
	}
	victim := s.p.Nodes[len(s.p.Nodes)/2]
	if err := os.WriteFile(filepath.Join(s.p.HostDir(victim), "proc/sys/net/ipv4/ip_forward"), []byte("0\n"), 0o644); err != nil {
		return "", err
	}
	start := time.Now()
	if err := s.do(ctx, http.MethodPut, "/v1/inspection/spec", "story-spec", spec, nil); err != nil {
		return "", err
	}
	var rep *fleetinspect.Report
	if err := waitFor(ctx, time.Minute, func() (bool, error) {
		var in controller.Inspection
		err := s.do(ctx, http.MethodGet, "/v1/inspection", "", nil, &in)
		rep = in.Report
		if err != nil || rep == nil || rep.Report == nil || rep.Spec != spec.Version {
			return false, err
		}
		m, ok := rep.Member(victim)
		return ok && slices.Contains(m.Failed, "ip-forward"), nil
	}); err != nil {
		return "", fmt.Errorf("the drift on %s was not reported: %w", victim, err)
	}
	found := time.Since(start)
	round := time.Duration(rep.Took)
	if err := s.do(ctx, http.MethodPost, "/v1/inspection/fix", "story-fix", fleetinspect.FixOrder{Spec: spec.Version, Nodes: []string{victim}}, nil); err != nil {
		return "", err
	}
	if err := waitFor(ctx, time.Minute, func() (bool, error) {
		b, err := os.ReadFile(filepath.Join(s.p.HostDir(victim), "proc/sys/net/ipv4/ip_forward"))
		return strings.TrimSpace(string(b)) == "1", err
	}); err != nil {
		return "", fmt.Errorf("the fix did not land on %s: %w", victim, err)
	}
	return fmt.Sprintf("net.ipv4.ip_forward=0 on %s found %v after the spec (round of %d members in %v), fixed on request",
		victim, found.Round(100*time.Millisecond), rep.Accounted(), round.Round(time.Millisecond)), nil
}

func (s *story) procView(ctx context.Context) (string, error) {
	if s.p.Simulated {
		return "", skipped("simulated nodes run no containers")
	}
	spec := state.AppSpec{
		Name: "probe", Team: "story", Image: s.image, Replicas: 1,
		Command:   []string{"/bin/sh", "-c", "head -1 /proc/meminfo > /export/meminfo; head -1 /proc/uptime > /export/uptime; exec sleep 1000000"},
		Resources: state.Resources{CPUs: 0.1, MemoryBytes: 48 << 20},
		Network:   &state.AppNetwork{VLAN: 10},
		Volume:    &state.Volume{SizeBytes: 4 << 20, Mount: "/export"},
	}
	var d controller.Deployed
	if err := s.do(ctx, http.MethodPost, "/v1/apps?wait=2m", "story-probe", spec, &d); err != nil {
		return "", err
	}
	in := d.Created[0]
	f := filepath.Join(s.p.VolumeDir(in.Node, in.ID), "meminfo")
	var got string
	if err := waitFor(ctx, 30*time.Second, func() (bool, error) {
		b, _ := os.ReadFile(f)
		got = strings.TrimSpace(string(b))
		return got != "", nil
	}); err != nil {
		return "", err
	}
	if !strings.Contains(got, "49152 kB") {
		return "", fmt.Errorf("/proc/meminfo inside a 48 MiB container: %q", got)
	}
	up, _ := os.ReadFile(filepath.Join(s.p.VolumeDir(in.Node, in.ID), "uptime"))
	return fmt.Sprintf("inside: %q; /proc/uptime %q (the container's, not the host's)", got, strings.TrimSpace(string(up))), nil
}

func (s *story) killNode(ctx context.Context) (string, error) {
	victim := s.p.Nodes[0]
	var before []controller.InstanceView
	if err := s.do(ctx, http.MethodGet, "/v1/instances?node="+victim, "", nil, &before); err != nil {
		return "", err
	}
	start := time.Now()
	if err := s.p.KillNode(ctx, victim); err != nil {
		return "", err
	}
	if err := waitFor(ctx, 3*time.Minute, func() (bool, error) {
		var ins []controller.InstanceView
		if err := s.do(ctx, http.MethodGet, "/v1/instances", "", nil, &ins); err != nil {
			return false, err
		}
		for _, v := range ins {
			if v.Desired.Node == victim || !v.Ready {
				return false, nil
			}
		}
		return true, nil
	}); err != nil {
		return "", fmt.Errorf("%s's instances not running elsewhere: %w", victim, err)
	}
	return fmt.Sprintf("%d instance(s) of %s running elsewhere %v after the kill (lease + grace)", len(before), victim, time.Since(start).Round(100*time.Millisecond)), nil
}

// storm sends, as Prometheus would, what a bug in web raises: its
// containers throttled, their hosts loaded, the other containers on those
// hosts slow; alertcorr, its topology following the platform, must make one
// incident of it, rooted at the app.
func (s *story) storm(ctx context.Context) (string, error) {
	var all []controller.InstanceView
	if err := s.do(ctx, http.MethodGet, "/v1/instances", "", nil, &all); err != nil {
		return "", err
	}
	hosts := map[string]bool{}
	for _, v := range all {
		if v.Desired.App == "web" {
			hosts[v.Desired.Node] = true
		}
	}
	var alerts []map[string]any
	add := func(labels map[string]string) {
		alerts = append(alerts, map[string]any{"labels": labels, "startsAt": time.Now().UTC().Format(time.RFC3339Nano)})
	}
	for _, v := range all {
		switch {
		case v.Desired.App == "web":
			add(map[string]string{"alertname": "ContainerCPUThrottled", "container": v.Desired.ID, "severity": "warning"})
		case hosts[v.Desired.Node]:
			add(map[string]string{"alertname": "LatencyHigh", "container": v.Desired.ID, "severity": "warning"})
		}
	}
	for h := range hosts {
		add(map[string]string{"alertname": "HostLoadHigh", "host": h, "severity": "warning"})
	}
	// The topology follows etcd: wait until it holds every container.
	if err := waitFor(ctx, 30*time.Second, func() (bool, error) {
		for _, v := range all {
			if c, ok := s.p.AlertTopology.Get(alertcorr.KindContainer, v.Desired.ID); !ok || c.Parent != v.Desired.Node {
				return false, nil
			}
		}
		return true, nil
	}); err != nil {
		return "", fmt.Errorf("alertcorr's topology does not hold the fleet's containers: %w", err)
	}
	if err := s.postAlerts(ctx, alerts); err != nil {
		return "", err
	}
	start := time.Now()
	var inc []alertcorr.Incident
	if err := waitFor(ctx, time.Minute, func() (bool, error) {
		inc = s.p.Alerts.Incidents()
		return len(inc) > 0 && len(inc[0].Members) == len(alerts), nil
	}); err != nil {
		return "", fmt.Errorf("no incident holding all %d alerts: %+v", len(alerts), inc)
	}
	if len(inc) != 1 || inc[0].Root.Kind != alertcorr.KindApp || inc[0].Root.ID != "web" {
		return "", fmt.Errorf("incidents %+v, want one rooted at app web", inc)
	}
	return fmt.Sprintf("%d alerts in → 1 incident out, rooted at app web (rule %s) %v after they were sent",
		len(alerts), inc[0].Rule, time.Since(start).Round(100*time.Millisecond)), nil
}

// postAlerts sends alerts to alertcorr's Alertmanager API.
func (s *story) postAlerts(ctx context.Context, alerts []map[string]any) error {
	b, _ := json.Marshal(alerts)
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, s.p.AlertsURL+"/api/v2/alerts", bytes.NewReader(b))
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("POST /api/v2/alerts: %s", resp.Status)
	}
	return nil
}
