package sched

import (
	"errors"
	"strings"
	"testing"
)

// Issue 11.6: Count had no upper bound, and replicas without resources fit
// anywhere, so a huge Count held the inventory lock for as long as it
// took. A request above MaxCount is refused before the lock is taken.
func TestCountBounded(t *testing.T) {
	inv := newTestInventory(t, testNode("a1", "a", "r1", "s1", 2))
	s := mustScheduler(t, inv, DefaultConfig())
	for _, count := range []int{MaxCount + 1, 1_000_000_000} {
		res, err := s.Place(Request{App: "web", Count: count})
		if !errors.Is(err, ErrInvalid) || !strings.Contains(err.Error(), "request.Count") || res != nil {
			placed := 0
			if res != nil {
				placed = len(res.Placements)
			}
			t.Fatalf("Place(Count %d) = %d placements, %v; want ErrInvalid naming request.Count", count, placed, err)
		}
		if _, err := s.Explain(Request{App: "web", Count: count}); !errors.Is(err, ErrInvalid) {
			t.Fatalf("Explain(Count %d) = %v; want ErrInvalid", count, err)
		}
	}
	if got := inv.AppCount("web"); got != 0 {
		t.Fatalf("a refused request placed %d replicas", got)
	}
	res, err := s.Place(Request{App: "web", Count: MaxCount})
	if err != nil || len(res.Placements) != MaxCount {
		t.Fatalf("Place(Count MaxCount) = %d placements, %v", len(res.Placements), err)
	}
}

// Issue 11.8: count × request overflowed int64, and the why-not answer
// printed a wrapped-around amount. It now says no node set can hold it.
func TestWhyNotSaturates(t *testing.T) {
	inv := newTestInventory(t, testNode("a1", "a", "r1", "s1", 2))
	s := mustScheduler(t, inv, DefaultConfig())
	huge := Resources{MilliCPU: 1 << 50, Memory: 1 << 50, Disk: 1 << 50}
	d, err := s.Explain(Request{App: "web", Count: MaxCount, Resources: huge})
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"more cores than any node set can hold", "more memory than any node set can hold", "more disk than any node set can hold"} {
		if !hasHint(d, want) {
			t.Errorf("hints %q lack %q", d.Hints, want)
		}
	}
	// Just below the overflow the amount is still stated.
	d, err = s.Explain(Request{App: "web", Count: 1000, Resources: Resources{MilliCPU: 1 << 50}})
	if err != nil {
		t.Fatal(err)
	}
	if !hasHint(d, "1125899906842622 more cores") {
		t.Errorf("hints %q lack the exact shortfall", d.Hints)
	}
}

// The lists the filters walk for every node under the lock are bounded
// too.
func TestRequestListsBounded(t *testing.T) {
	many := make([]string, MaxListLen+1)
	sel := map[string]string{}
	tols := make([]Toleration, MaxListLen+1)
	for i := range many {
		many[i] = "z" + strings.Repeat("x", i)
		sel[many[i]] = "v"
		tols[i] = Toleration{Exists: true}
	}
	for _, tt := range []struct {
		req  Request
		want string
	}{
		{Request{App: "w", Count: 1, Zones: many}, "request.Zones"},
		{Request{App: "w", Count: 1, NodeSelector: sel}, "request.NodeSelector"},
		{Request{App: "w", Count: 1, Tolerations: tols}, "request.Tolerations"},
	} {
		if err := tt.req.Validate(); !errors.Is(err, ErrInvalid) || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("Validate = %v, want ErrInvalid naming %s", err, tt.want)
		}
	}
	ok := Request{App: "w", Count: 1, Zones: many[:MaxListLen], Tolerations: tols[:MaxListLen]}
	if err := ok.Validate(); err != nil {
		t.Errorf("Validate at the limit = %v", err)
	}
}
