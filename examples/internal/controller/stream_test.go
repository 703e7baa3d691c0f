package controller_test

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"testing"
	"time"

	"github.com/shoalkit/shoal/examples/internal/controller"
	"github.com/shoalkit/shoal/examples/internal/simnode"
	"github.com/shoalkit/shoal/examples/internal/state"
)

// TestStreams follows the two server-sent event streams as a dashboard and
// a load balancer's template renderer would: the events of one request as
// they land, and an app's endpoint set each time it changes.
func TestStreams(t *testing.T) {
	h := newHarness(t, simnode.Racks(3, 1, capacity), nil)
	k := h.start("c1")
	h.leader()
	h.must(k, "PUT", "/v1/networks/10", "", pool10, nil)
	h.must(k, "POST", "/v1/apps?wait=20s", "", webApp(2), nil)
	cl := &controller.Client{URL: k.srv.URL, Token: h.token}

	ctx, cancel := context.WithTimeout(t.Context(), 20*time.Second)
	defer cancel()
	sets := make(chan []controller.Endpoint, 16)
	go func() {
		_ = cl.Stream(ctx, "/v1/apps/web/endpoints?watch=1", func(event string, data []byte) bool {
			var eps []controller.Endpoint
			if event == "endpoints" && json.Unmarshal(data, &eps) == nil {
				sets <- eps
			}
			return true
		})
	}()
	kinds := make(chan string, 64)
	go func() {
		_ = cl.Stream(ctx, "/v1/events/stream?request_id=req-live", func(_ string, data []byte) bool {
			var ev state.Event
			if json.Unmarshal(data, &ev) == nil && ev.RequestID == "req-live" {
				kinds <- ev.Kind
			}
			return true
		})
	}()
	if first := <-sets; len(first) != 2 {
		t.Fatalf("first endpoint set: %+v", first)
	}
	time.Sleep(200 * time.Millisecond) // both streams are open
	h.must(k, "POST", "/v1/apps/web/scale?wait=20s", "req-live", map[string]int{"replicas": 4}, nil)
	for {
		select {
		case eps := <-sets:
			if len(eps) < 4 {
				continue
			}
		case <-ctx.Done():
			t.Fatal("the endpoint stream never showed 4 endpoints")
		}
		break
	}
	seen := map[string]bool{}
	for !seen["AppScaled"] || !seen["InstanceScheduled"] {
		select {
		case k := <-kinds:
			seen[k] = true
		case <-ctx.Done():
			t.Fatalf("the event stream showed %v", seen)
		}
	}

	// A stream without the token is refused like any call.
	bad := &controller.Client{URL: k.srv.URL, Token: "nope"}
	err := bad.Stream(t.Context(), "/v1/events/stream", func(string, []byte) bool { return true })
	var p *controller.ProblemError
	if !errors.As(err, &p) || p.Status != http.StatusUnauthorized {
		t.Errorf("stream without the token: %v", err)
	}
}
