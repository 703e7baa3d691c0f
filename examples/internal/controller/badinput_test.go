package controller_test

import (
	"bytes"
	"encoding/json"
	"net/http"
	"strings"
	"testing"

	"github.com/shoalkit/shoal/examples/internal/controller"
	"github.com/shoalkit/shoal/examples/internal/simnode"
	"github.com/shoalkit/shoal/examples/internal/state"
)

// TestBadInput sends every handler malformed or impossible input: each
// gets a problem with its stable code (and the field, where one is to
// blame), and nothing is written.
func TestBadInput(t *testing.T) {
	h := newHarness(t, simnode.Racks(2, 1, capacity), nil)
	k := h.start("c1")
	h.leader()
	h.must(k, "PUT", "/v1/networks/10", "", pool10, nil)
	h.must(k, "POST", "/v1/apps?wait=20s", "", webApp(2), nil)

	spec := func(edit func(*state.AppSpec)) []byte {
		s := webApp(1)
		s.Name = "new"
		edit(&s)
		b, _ := json.Marshal(s)
		return b
	}
	tests := []struct {
		name, method, path string
		body               []byte
		status             int
		code, field        string
	}{
		{"name not a label", "POST", "/v1/apps", spec(func(s *state.AppSpec) { s.Name = "New_App" }), 400, controller.CodeInvalid, "name"},
		{"no team", "POST", "/v1/apps", spec(func(s *state.AppSpec) { s.Team = "" }), 400, controller.CodeInvalid, "team"},
		{"replicas negative", "POST", "/v1/apps", spec(func(s *state.AppSpec) { s.Replicas = -1 }), 400, controller.CodeInvalid, "replicas"},
		{"replicas huge", "POST", "/v1/apps", spec(func(s *state.AppSpec) { s.Replicas = 1 << 40 }), 400, controller.CodeInvalid, "replicas"},
		{"no image", "POST", "/v1/apps", spec(func(s *state.AppSpec) { s.Image = "" }), 400, controller.CodeInvalid, "image"},
		{"memory below floor", "POST", "/v1/apps", spec(func(s *state.AppSpec) { s.Resources.MemoryBytes = 1024 }), 400, controller.CodeInvalid, "resources.memory_bytes"},
		{"vlan out of range", "POST", "/v1/apps", spec(func(s *state.AppSpec) { s.Network.VLAN = 5000 }), 400, controller.CodeInvalid, "network.vlan"},
		{"vlan without pool", "POST", "/v1/apps", spec(func(s *state.AppSpec) { s.Network.VLAN = 20 }), 400, controller.CodeInvalid, "network.vlan"},
		{"fat without network", "POST", "/v1/apps", spec(func(s *state.AppSpec) { s.Network = nil }), 400, controller.CodeInvalid, "network"},
		{"spread key", "POST", "/v1/apps", spec(func(s *state.AppSpec) { s.Placement.Spread[0].Key = "planet" }), 400, controller.CodeInvalid, "placement.spread[0].key"},
		{"anti-affinity max 0", "POST", "/v1/apps", spec(func(s *state.AppSpec) {
			s.Placement.AntiAffinity = []state.AntiAffinitySpec{{Key: "node", Max: 0}}
		}), 400, controller.CodeInvalid, "placement.anti_affinity[0].max"},
		{"autoscale without target", "POST", "/v1/apps", spec(func(s *state.AppSpec) { s.Autoscale = &state.AutoscaleSpec{Min: 1, Max: 3} }), 400, controller.CodeInvalid, "autoscale.cpu_percent"},
		{"volume at /proc", "POST", "/v1/apps", spec(func(s *state.AppSpec) { s.Volume = &state.Volume{SizeBytes: 1 << 30, Mount: "/proc/x"} }), 400, controller.CodeInvalid, "volume.mount"},
		{"unknown field", "POST", "/v1/apps", []byte(`{"name":"new","team":"t","imagee":"x"}`), 400, controller.CodeInvalid, "imagee"},
		{"wrong type", "POST", "/v1/apps", []byte(`{"name":"new","replicas":"three"}`), 400, controller.CodeInvalid, "replicas"},
		{"trailing data", "POST", "/v1/apps", append(spec(func(*state.AppSpec) {}), []byte(`{}`)...), 400, controller.CodeInvalid, ""},
		{"not json", "POST", "/v1/apps", []byte(`<xml/>`), 400, controller.CodeInvalid, ""},
		{"oversized", "POST", "/v1/apps", bytes.Repeat([]byte(" "), controller.MaxBodyBytes+10), 413, controller.CodeTooLarge, ""},
		{"duplicate", "POST", "/v1/apps", spec(func(s *state.AppSpec) { s.Name = "web" }), 409, controller.CodeConflict, "name"},
		{"impossible", "POST", "/v1/apps", spec(func(s *state.AppSpec) { s.Replicas = 40 }), 422, controller.CodeUnschedulable, ""},
		{"bad wait", "POST", "/v1/apps?wait=forever", spec(func(*state.AppSpec) {}), 400, controller.CodeInvalid, "wait"},
		{"update other name", "PUT", "/v1/apps/web", spec(func(*state.AppSpec) {}), 400, controller.CodeInvalid, "name"},
		{"update team", "PUT", "/v1/apps/web", func() []byte {
			s := webApp(2)
			s.Team = "other"
			b, _ := json.Marshal(s)
			return b
		}(), 400, controller.CodeInvalid, "team"},
		{"update unknown app", "PUT", "/v1/apps/new", spec(func(*state.AppSpec) {}), 404, controller.CodeNotFound, ""},
		{"scale without replicas", "POST", "/v1/apps/web/scale", []byte(`{}`), 400, controller.CodeInvalid, "replicas"},
		{"scale negative", "POST", "/v1/apps/web/scale", []byte(`{"replicas":-3}`), 400, controller.CodeInvalid, "replicas"},
		{"scale unknown app", "POST", "/v1/apps/nope/scale", []byte(`{"replicas":1}`), 404, controller.CodeNotFound, ""},
		{"delete unknown app", "DELETE", "/v1/apps/nope", nil, 404, controller.CodeNotFound, ""},
		{"resize unknown", "POST", "/v1/instances/nope/resize", []byte(`{"cpus":1}`), 404, controller.CodeNotFound, ""},
		{"cordon bad name", "POST", "/v1/nodes/Bad_Name/cordon", nil, 400, controller.CodeInvalid, ""},
		{"network path mismatch", "PUT", "/v1/networks/11", []byte(`{"vlan":12,"subnet":"10.1.0.0/24"}`), 400, controller.CodeInvalid, "vlan"},
		{"network /31", "PUT", "/v1/networks/12", []byte(`{"vlan":12,"subnet":"10.1.0.0/31"}`), 400, controller.CodeInvalid, "subnet"},
		{"network shrinks from used", "PUT", "/v1/networks/10", []byte(`{"vlan":10,"subnet":"10.0.11.0/24"}`), 409, controller.CodeConflict, "subnet"},
		{"quota negative", "PUT", "/v1/quotas/shop", []byte(`{"cpus":-1}`), 400, controller.CodeInvalid, "quota"},
		{"events bad since", "GET", "/v1/events?since=yesterday", nil, 400, controller.CodeInvalid, "since"},
		{"events bad limit", "GET", "/v1/events?limit=0", nil, 400, controller.CodeInvalid, "limit"},
		{"no such endpoint", "GET", "/v1/nothing", nil, 404, controller.CodeNotFound, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			before := h.count(state.Prefix)
			var body any
			if tt.body != nil {
				body = tt.body
			}
			st, p := h.call(k, tt.method, tt.path, "req-bad", body, nil)
			if st != tt.status || p.Code != tt.code || p.Field != tt.field || p.RequestID != "req-bad" || p.Detail == "" {
				t.Errorf("%d %+v, want %d %s field %q", st, p, tt.status, tt.code, tt.field)
			}
			if !strings.HasPrefix(p.Detail, "controller: ") && st != 413 {
				t.Errorf("detail %q does not read \"controller: ...\"", p.Detail)
			}
			if after := h.count(state.Prefix); after != before {
				t.Errorf("%d keys written by a refused call", after-before)
			}
		})
	}

	// A wrong token is refused before anything is read.
	req, _ := http.NewRequestWithContext(t.Context(), http.MethodDelete, k.srv.URL+"/v1/apps/web", nil)
	req.Header.Set("Authorization", "Bearer "+strings.Repeat("0", 64))
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusUnauthorized || h.count(state.AppKey("web")) != 1 {
		t.Errorf("wrong token: %d, app still there: %d", resp.StatusCode, h.count(state.AppKey("web")))
	}
}
