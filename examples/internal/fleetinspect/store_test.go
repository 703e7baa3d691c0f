package fleetinspect

import (
	"encoding/json"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/shoalkit/shoal/inspect"
	"github.com/shoalkit/shoal/internal/errs"
)

// TestEncodeReportBounded: a report over MaxReportBytes keeps its counts
// and the members that did not pass, without details, and says so.
func TestEncodeReportBounded(t *testing.T) {
	rep := &inspect.Report{Spec: 1, Counts: map[inspect.MemberStatus]int{}}
	detail := []inspect.Result{{ID: "x", Observed: strings.Repeat("o", 4000)}}
	for k := range 3000 {
		m := inspect.MemberReport{Name: "node-" + strconv.Itoa(k), Status: inspect.StatusPassed}
		if k%10 == 0 {
			m.Status, m.Failed, m.Details = inspect.StatusFailed, []string{"x"}, detail
		}
		rep.Members = append(rep.Members, m)
		rep.Counts[m.Status]++
	}
	b, err := encodeReport(Report{Report: rep, Written: time.Now()})
	if err != nil {
		t.Fatal(err)
	}
	var got Report
	if err := json.Unmarshal(b, &got); err != nil {
		t.Fatal(err)
	}
	if len(b) > MaxReportBytes || !got.Truncated || got.Counts[inspect.StatusPassed] != 2700 || got.Counts[inspect.StatusFailed] != 300 {
		t.Fatalf("%d bytes, truncated %v, counts %v", len(b), got.Truncated, got.Counts)
	}
	if len(got.Members) != 300 || got.Members[0].Status != inspect.StatusFailed || got.Members[0].Details != nil {
		t.Fatalf("%d members kept, first %+v", len(got.Members), got.Members[0])
	}
	small, _ := encodeReport(Report{Report: &inspect.Report{Spec: 1}})
	if strings.Contains(string(small), "truncated") {
		t.Errorf("a small report is marked truncated: %s", small)
	}
}

// TestErrorShapes runs the package's error paths through CheckShape.
func TestErrorShapes(t *testing.T) {
	var order FixOrder
	var into FixOrder
	_, inspErr := NewInspector(nil, InspectorConfig{})
	tests := map[string]error{
		"fix order id":   order.Validate(),
		"fix order spec": (&FixOrder{ID: "a"}).Validate(),
		"max nodes":      (&FixOrder{ID: "a", Spec: 1, MaxNodes: -1}).Validate(),
		"oversize value": decodeJSON(make([]byte, 100), 10, &into),
		"malformed":      decodeJSON([]byte("{"), 10, &into),
		"trailing":       decodeJSON([]byte("{} {}"), 10, &into),
		"stored spec":    func() error { _, err := decodeSpec([]byte(`{"version":0}`)); return err }(),
		"nil client":     inspErr,
	}
	for name, err := range tests {
		if e := errs.CheckShape(err, "fleetinspect", ErrInvalid, ErrNotFound, ErrConflict, ErrUnavailable); e != nil {
			t.Errorf("%s: %v", name, e)
		}
	}
}

// TestZeroConfigs: zero Configs mean the documented defaults.
func TestZeroConfigs(t *testing.T) {
	a := AgentConfig{}.withDefaults()
	if a.LeaseTTL != 10*time.Second || a.Rejoin != 2*time.Second || a.Logger == nil {
		t.Errorf("zero AgentConfig: %+v", a)
	}
	i := InspectorConfig{}.withDefaults()
	if i.Name != "inspector" || i.Interval != time.Minute || i.LeaseTTL != 10*time.Second || i.Rejoin != 2*time.Second || i.Logger == nil ||
		i.Gossip.BindPort != inspect.AnyPort {
		t.Errorf("zero InspectorConfig: %+v", i)
	}
}
