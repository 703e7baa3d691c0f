package activity_test

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"mime"
	"mime/multipart"
	"mime/quotedprintable"
	"net/mail"
	"strings"
	"testing"
	"time"

	"github.com/shoalkit/shoal/internal/errs"
	"github.com/shoalkit/shoal/metrics"
	"github.com/shoalkit/shoal/metrics/activity"
)

func TestScore(t *testing.T) {
	cfg := activity.DefaultConfig()
	tests := []struct {
		name string
		u    activity.Usage
		want float64
	}{
		{"asleep", activity.Usage{}, 0},
		{"everything full", activity.Usage{CPUPercent: 100, MemPercent: 100, DiskPercent: 100, TCPConns: 1000, NetInMBps: 1, NetOutMBps: 1}, 100},
		{"past full counts as full", activity.Usage{CPUPercent: 400, TCPConns: 1e6}, 100 * (3 + 2) / 10.0},
		{"half the CPU", activity.Usage{CPUPercent: 50}, 100 * 3 * 0.5 / 10},
		// JD's line: cpu:2.79%;mem:58.39%;disk:6.0%;tcpconns:687.0;net-in:0.01MB/s net-out:0.0MB/s
		{"JD's example", activity.Usage{CPUPercent: 2.79, MemPercent: 58.39, DiskPercent: 6, TCPConns: 687, NetInMBps: 0.01}, 100 * (3*0.0279 + 2*0.5839 + 1*0.06 + 2*0.687 + 1*0.01) / 10},
	}
	for _, tt := range tests {
		if got := activity.Score(tt.u, cfg); abs(got-tt.want) > 1e-9 {
			t.Errorf("%s: score %v, want %v", tt.name, got, tt.want)
		}
	}
	// Weights are configurable: CPU alone.
	cpuOnly := activity.Config{Weights: activity.Weights{CPU: 1}, ConnsFull: 1000, NetFull: 1 << 20}
	if got := activity.Score(activity.Usage{CPUPercent: 20, TCPConns: 1000}, cpuOnly); got != 20 {
		t.Errorf("cpu-only score %v, want 20", got)
	}
}

func abs(x float64) float64 {
	if x < 0 {
		return -x
	}
	return x
}

func TestConfigErrors(t *testing.T) {
	for name, cfg := range map[string]activity.Config{
		"negative weight": {Weights: activity.Weights{CPU: -1, Memory: 1}},
		"negative top":    {TopN: -1},
	} {
		_, err := activity.New(cfg)
		if shape := errs.CheckShape(err, "activity", activity.ErrInvalid, activity.ErrWrite); shape != nil || !errors.Is(err, activity.ErrInvalid) {
			t.Errorf("%s: %v (%v)", name, err, shape)
		}
	}
	err := activity.Report{}.WriteMail(io.Discard, activity.Mail{From: "not an address", To: []string{"a@b.c"}})
	if shape := errs.CheckShape(err, "activity", activity.ErrInvalid, activity.ErrWrite); shape != nil {
		t.Error(shape)
	}
	err = activity.Report{}.WriteMail(io.Discard, activity.Mail{From: "ops@b.c"})
	if !errors.Is(err, activity.ErrInvalid) {
		t.Errorf("no recipient: %v", err)
	}
}

// container is a sample with rates: cpu% of its CPUs, working set of a
// 1 GiB limit, tcp connections.
func container(id, app string, cpu float64, memMiB uint64, conns uint64, at time.Time) metrics.ContainerSample {
	return metrics.ContainerSample{
		Target: metrics.Target{ID: id, Name: id, App: app},
		Time:   at,
		Memory: metrics.MemoryStats{WorkingSet: memMiB << 20, Limit: 1 << 30},
		TCP:    metrics.TCPStats{InUse: conns},
		Disks:  []metrics.DiskStats{{MountPoint: "/", Total: 100, Used: 6}},
		Rates:  metrics.Rates{Valid: true, CPUPercent: cpu, NetRx: 10485.76},
	}
}

func TestRankingAndStale(t *testing.T) {
	tr, err := activity.New(activity.Config{TopN: 2, StaleAfter: 2})
	if err != nil {
		t.Fatal(err)
	}
	t0 := time.Date(2026, 12, 3, 10, 0, 0, 0, time.UTC)
	snap := func(at time.Time, cs ...metrics.ContainerSample) *metrics.Snapshot {
		return &metrics.Snapshot{Time: at, Containers: cs}
	}
	tr.Observe(snap(t0,
		container("web-1", "web", 90, 900, 900, t0),
		container("web-2", "web", 2.79, 598, 687, t0),
		container("web-3", "web", 0, 10, 0, t0),
		container("web-4", "web", 0, 20, 0, t0),
		container("db-1", "db", 50, 500, 10, t0),
	))
	// web-4 stops reporting; a new container has no rates yet.
	young := container("web-5", "web", 0, 0, 0, t0)
	young.Rates = metrics.Rates{}
	for i := 1; i <= 2; i++ {
		at := t0.Add(time.Duration(i) * 10 * time.Second)
		tr.Observe(snap(at,
			container("web-1", "web", 90, 900, 900, at),
			container("web-2", "web", 2.79, 598, 687, at),
			container("web-3", "web", 0, 10, 0, at),
			container("db-1", "db", 50, 500, 10, at),
			young,
		))
	}
	rep := tr.Report()
	if len(rep.Apps) != 2 || rep.Apps[0].App != "db" || rep.Apps[1].App != "web" {
		t.Fatalf("apps %+v", rep.Apps)
	}
	web := rep.Apps[1]
	ids := func(es []activity.Entry) string {
		var s []string
		for _, e := range es {
			s = append(s, e.ID)
		}
		return strings.Join(s, ",")
	}
	if ids(web.Busiest) != "web-1,web-2" || ids(web.Idlest) != "web-3,web-2" || web.Containers != 3 {
		t.Errorf("busiest %s, idlest %s, %d ranked", ids(web.Busiest), ids(web.Idlest), web.Containers)
	}
	if ids(web.Stale) != "web-4" || web.Stale[0].Missed != 2 || !web.Stale[0].LastSeen.Equal(t0) {
		t.Errorf("stale %+v, want web-4 missing 2 intervals since %v", web.Stale, t0)
	}

	var text bytes.Buffer
	if err := rep.WriteText(&text); err != nil {
		t.Fatal(err)
	}
	wantLine := "web-2  score 27.0  cpu:2.79%;mem:58.40%;disk:6.0%;tcpconns:687.0;net-in:0.01MB/s net-out:0.00MB/s"
	if !strings.Contains(text.String(), wantLine) || !strings.Contains(text.String(), "data report timed out:\n    web-4") {
		t.Errorf("text report lacks %q or web-4 stale:\n%s", wantLine, text.String())
	}

	var js bytes.Buffer
	if err := rep.WriteJSON(&js); err != nil {
		t.Fatal(err)
	}
	var back activity.Report
	if err := json.Unmarshal(js.Bytes(), &back); err != nil || len(back.Apps) != 2 || back.Apps[1].Busiest[0].Usage.TCPConns != 900 {
		t.Errorf("JSON round trip: %v %+v", err, back)
	}
}

func TestMailParses(t *testing.T) {
	tr, _ := activity.New(activity.Config{})
	at := time.Date(2026, 12, 3, 10, 0, 0, 0, time.UTC)
	tr.Observe(&metrics.Snapshot{Time: at, Containers: []metrics.ContainerSample{container("<b>x</b>", "web&co", 10, 100, 5, at)}})
	var buf bytes.Buffer
	if err := tr.Report().WriteMail(&buf, activity.Mail{From: "Ops <ops@example.com>", To: []string{"owner@example.com"}, Subject: "Aktivität"}); err != nil {
		t.Fatal(err)
	}
	msg, err := mail.ReadMessage(&buf)
	if err != nil {
		t.Fatal(err)
	}
	if subj, err := new(mime.WordDecoder).DecodeHeader(msg.Header.Get("Subject")); err != nil || subj != "Aktivität" {
		t.Errorf("subject %q %v", subj, err)
	}
	if msg.Header.Get("To") != "<owner@example.com>" || msg.Header.Get("Message-Id") == "" {
		t.Errorf("headers %v", msg.Header)
	}
	mt, params, err := mime.ParseMediaType(msg.Header.Get("Content-Type"))
	if err != nil || mt != "multipart/alternative" {
		t.Fatalf("content type %s %v", mt, err)
	}
	r := multipart.NewReader(msg.Body, params["boundary"])
	var types []string
	for {
		p, err := r.NextPart()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		body, err := io.ReadAll(quotedprintable.NewReader(p))
		if err != nil {
			t.Fatal(err)
		}
		ct := p.Header.Get("Content-Type")
		types = append(types, ct)
		if strings.HasPrefix(ct, "text/html") {
			if strings.Contains(string(body), "<b>x</b>") || !strings.Contains(string(body), "&lt;b&gt;x&lt;/b&gt;") {
				t.Errorf("container id not escaped in HTML:\n%s", body)
			}
		} else if !strings.Contains(string(body), "cpu:10.00%") {
			t.Errorf("text part:\n%s", body)
		}
	}
	if len(types) != 2 {
		t.Errorf("parts %v, want text and HTML", types)
	}
}
