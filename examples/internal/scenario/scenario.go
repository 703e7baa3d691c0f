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
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/shoalkit/shoal/examples/internal/agent"
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

// Figure is one number the story measured, for the summary.
type Figure struct{ Name, Value string }

// Result is the whole run.
type Result struct {
	Steps   []Step
	Figures []Figure
}

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
	res   *Result
}

// figure records a number for the summary.
func (s *story) figure(name, value string) {
	s.res.Figures = append(s.res.Figures, Figure{name, value})
}

// Run plays the story on p, printing each step as it ends and a summary.
func Run(ctx context.Context, p *platform.Platform, out io.Writer) *Result {
	res := &Result{}
	s := &story{p: p, cl: p.Client(), out: out, res: res}
	steps := []struct {
		name string
		run  func(ctx context.Context) (string, error)
	}{
		{"image built and pre-distributed, app spread over racks", s.deploy},
		{"load spike → scale out; spike ends → slow, sustained-low scale in", s.spike},
		{"a bug in one app → an alert storm → one incident rooted at the app", s.storm},
		{"busiest/idlest ranking: the buggy app's containers on top", s.ranking},
		{"drifted kernel parameter found by inspection, fixed on request", s.drift},
		{"free and uptime inside a container show its own memory and uptime", s.procView},
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
	if len(res.Figures) > 0 {
		fmt.Fprintln(out, "\nmeasured:")
		for _, f := range res.Figures {
			fmt.Fprintf(out, "  %-40s %s\n", f.Name, f.Value)
		}
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
	// 64 MiB: a container's memory limit holds from before its init
	// execs the command, and the init is the agent's own binary (over
	// 32 MiB when built with the race detector, as in TestReal).
	spec := state.AppSpec{
		Name: "web", Team: "story", Image: img, Replicas: len(s.p.Nodes),
		Command:   []string{"/bin/sh", "-c", spinWhile("bug")},
		Resources: state.Resources{CPUs: 0.1, MemoryBytes: 64 << 20},
		Network:   &state.AppNetwork{VLAN: 10, Port: 80},
		Volume:    &state.Volume{SizeBytes: 4 << 20, Mount: "/export"},
		Placement: state.PlacementSpec{Spread: []state.SpreadSpec{{Key: "rack", MaxSkew: 1}}},
	}
	var d controller.Deployed
	if err := s.do(ctx, http.MethodPost, "/v1/apps?wait=2m", "story-deploy", spec, &d); err != nil {
		return "", err
	}
	if !d.Running {
		return "", fmt.Errorf("not all %d instances running after 2 min", len(d.Created))
	}
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
	ttr := time.Duration(d.TimeToRunning)
	s.figure("time to running", fmt.Sprintf("%v for %d containers (%v per container)", ttr.Round(time.Millisecond), len(d.Created), (ttr/time.Duration(len(d.Created))).Round(time.Millisecond)))
	return fmt.Sprintf("%d instances, one per rack, running %v after the call; %s",
		len(d.Created), time.Duration(d.TimeToRunning).Round(time.Millisecond), pre), nil
}

func (s *story) replicas(ctx context.Context, app string) (int, error) {
	var a controller.AppView
	err := s.do(ctx, http.MethodGet, "/v1/apps/"+app, "", nil, &a)
	return a.Spec.Replicas, err
}

func (s *story) spike(ctx context.Context) (string, error) {
	spec := state.AppSpec{
		Name: "shop", Team: "story", Image: s.image, Replicas: 2,
		Command:   []string{"/bin/sh", "-c", spinWhile("spin")},
		Resources: state.Resources{CPUs: 0.2, MemoryBytes: 64 << 20},
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
	s.load("shop", "spin", d.Created, true)
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
	s.load("shop", "spin", ins, false)
	end := time.Now()
	if err := waitFor(ctx, 3*time.Minute, func() (bool, error) {
		n, err := s.replicas(ctx, "shop")
		return n == 2, err
	}); err != nil {
		return "", fmt.Errorf("no scale in after the spike: %w", err)
	}
	s.figure("scale reaction", fmt.Sprintf("out %v after the spike began; in %v after it ended", react.Round(100*time.Millisecond), time.Since(end).Round(100*time.Millisecond)))
	return fmt.Sprintf("2 → %d in %v after the spike began; back to 2 %v after it ended (sustained-low 10 s, window 10 s)",
		peak, react.Round(100*time.Millisecond), time.Since(end).Round(100*time.Millisecond)), nil
}

// spinWhile is a container's command that spins while the file named
// exists in its volume (at /export) and sleeps otherwise.
func spinWhile(file string) string {
	return "while :; do if [ -e /export/" + file + " ]; then :; else sleep 1; fi; done"
}

// load starts or ends a load on app's instances: on real nodes the file in
// each instance's volume makes its loop spin (spinWhile); simulated nodes
// are told the load.
func (s *story) load(app, file string, ins []state.Instance, on bool) {
	if s.p.Simulated {
		cores := 0.01
		if on {
			cores = 0.2
		}
		s.p.SetLoad(app, cores)
		return
	}
	for _, in := range ins {
		f := filepath.Join(s.p.VolumeDir(in.Node, in.ID), file)
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
	s.figure("inspection round", fmt.Sprintf("%d nodes in %v", rep.Accounted(), round.Round(time.Millisecond)))
	return fmt.Sprintf("net.ipv4.ip_forward=0 on %s found %v after the spec (round of %d members in %v), fixed on request",
		victim, found.Round(100*time.Millisecond), rep.Accounted(), round.Round(time.Millisecond)), nil
}

// procView runs free and uptime (BusyBox's, which call sysinfo(2)) and
// reads /proc/meminfo inside a 96 MiB container: the live /proc's files
// must show its limit, and sysinfo too where its node answers it (the
// node's label shoal.sysinfo is "seccomp").
func (s *story) procView(ctx context.Context) (string, error) {
	if s.p.Simulated {
		return "", skipped("simulated nodes run no containers")
	}
	spec := state.AppSpec{
		Name: "probe", Team: "story", Image: s.image, Replicas: 1,
		Command: []string{"/bin/sh", "-c", "head -1 /proc/meminfo > /export/meminfo.tmp; free > /export/free; uptime > /export/uptime; " +
			"mv /export/meminfo.tmp /export/meminfo; exec sleep 1000000"},
		Resources: state.Resources{CPUs: 0.1, MemoryBytes: 96 << 20},
		Network:   &state.AppNetwork{VLAN: 10},
		Volume:    &state.Volume{SizeBytes: 4 << 20, Mount: "/export"},
	}
	var d controller.Deployed
	if err := s.do(ctx, http.MethodPost, "/v1/apps?wait=2m", "story-probe", spec, &d); err != nil {
		return "", err
	}
	in := d.Created[0]
	vol := s.p.VolumeDir(in.Node, in.ID)
	var meminfo string
	if err := waitFor(ctx, 30*time.Second, func() (bool, error) {
		b, _ := os.ReadFile(filepath.Join(vol, "meminfo"))
		meminfo = strings.TrimSpace(string(b))
		return meminfo != "", nil
	}); err != nil {
		return "", err
	}
	if !strings.Contains(meminfo, "98304 kB") {
		return "", fmt.Errorf("/proc/meminfo inside a 96 MiB container: %q", meminfo)
	}
	freeOut, _ := os.ReadFile(filepath.Join(vol, "free"))
	upOut, _ := os.ReadFile(filepath.Join(vol, "uptime"))
	total, err := freeTotal(string(freeOut))
	if err != nil {
		return "", err
	}
	var nodes []controller.NodeView
	if err := s.do(ctx, http.MethodGet, "/v1/nodes", "", nil, &nodes); err != nil {
		return "", err
	}
	label := "unknown"
	for _, n := range nodes {
		if n.Name == in.Node && n.Node != nil {
			label = n.Node.Labels[agent.SysinfoLabel]
		}
	}
	uptime := strings.TrimSpace(string(upOut))
	if label != "seccomp" {
		return fmt.Sprintf("/proc/meminfo %q; BusyBox free and uptime show the host (sysinfo(2) %s on %s: %d KiB, %q)",
			meminfo, label, in.Node, total, uptime), nil
	}
	if total != 96<<10 {
		return "", fmt.Errorf("BusyBox free inside a 96 MiB container: total %d KiB (sysinfo answered by %s):\n%s", total, in.Node, freeOut)
	}
	if !strings.Contains(uptime, "up 0 min") && !strings.Contains(uptime, "up 1 min") {
		return "", fmt.Errorf("BusyBox uptime inside a container started just now: %q", uptime)
	}
	return fmt.Sprintf("/proc/meminfo %q; free (BusyBox, sysinfo(2)) total %d KiB; uptime %q — the container's own", meminfo, total, uptime), nil
}

// freeTotal is the total of free's "Mem:" line, in KiB.
func freeTotal(out string) (int64, error) {
	for line := range strings.Lines(out) {
		f := strings.Fields(line)
		if len(f) >= 2 && f[0] == "Mem:" {
			return strconv.ParseInt(f[1], 10, 64)
		}
	}
	return 0, fmt.Errorf("no Mem: line in free's output %q", out)
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
	s.figure("node lost → instances running elsewhere", time.Since(start).Round(100*time.Millisecond).String())
	return fmt.Sprintf("%d instance(s) of %s running elsewhere %v after the kill (lease + grace)", len(before), victim, time.Since(start).Round(100*time.Millisecond)), nil
}

// instances returns app's desired instances, every app's when app is "".
func (s *story) instances(ctx context.Context, app string) ([]state.Instance, error) {
	var vs []controller.InstanceView
	if err := s.do(ctx, http.MethodGet, "/v1/instances?app="+app, "", nil, &vs); err != nil {
		return nil, err
	}
	out := make([]state.Instance, len(vs))
	for i, v := range vs {
		out[i] = v.Desired
	}
	return out, nil
}

// ranking reads the busiest/idlest report while web's bug spins: web's
// containers must be the busiest, then ends the bug.
func (s *story) ranking(ctx context.Context) (string, error) {
	webIns, err := s.instances(ctx, "web")
	if err != nil {
		return "", err
	}
	defer s.load("web", "bug", webIns, false)
	var rk controller.Ranking
	n := len(webIns)
	if err := waitFor(ctx, time.Minute, func() (bool, error) {
		err := s.do(ctx, http.MethodGet, fmt.Sprintf("/v1/ranking?by=cpu&n=%d", n), "", nil, &rk)
		if err != nil || len(rk.Instances.Busiest) < n || len(rk.Apps.Busiest) == 0 {
			return false, nil //nolint:nilerr // not measured yet: wait
		}
		for _, r := range rk.Instances.Busiest {
			if r.App != "web" {
				return false, nil
			}
		}
		return rk.Apps.Busiest[0].Name == "web", nil
	}); err != nil {
		return "", fmt.Errorf("web's spinning containers are not the busiest: %+v: %w", rk.Instances, err)
	}
	row := func(r controller.RankRow) string {
		return fmt.Sprintf("%s %.2f cores", r.Name, r.CPUCores)
	}
	var b strings.Builder
	fmt.Fprintf(&b, "busiest instance %s, app %s, node %s", row(rk.Instances.Busiest[0]), row(rk.Apps.Busiest[0]), row(rk.Nodes.Busiest[0]))
	if len(rk.Instances.Idlest) > 0 {
		fmt.Fprintf(&b, "; idlest instance %s", row(rk.Instances.Idlest[0]))
	}
	return b.String(), nil
}
