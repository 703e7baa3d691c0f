package sched

import (
	"errors"
	"strings"
	"testing"

	"github.com/shoalkit/shoal/internal/errs"
)

func TestRequestValidate(t *testing.T) {
	ok := func() Request { return Request{App: "web", Count: 1} }
	tests := []struct {
		name  string
		edit  func(r *Request)
		field string // "" for a valid request
	}{
		{"valid", func(r *Request) {}, ""},
		{"valid with everything", func(r *Request) {
			r.Resources = Resources{MilliCPU: 1, Memory: 2, Disk: 3}
			r.Zones = []string{"a", "b"}
			r.VLAN = 4094
			r.Spread = []SpreadRule{{Key: KeyRack, MaxSkew: 1, MinDomains: 3}, {Key: KeySwitch, MaxSkew: 2, Soft: true}}
			r.AntiAffinity = []AntiAffinity{{Key: KeyNode, Max: 1}, {Key: KeyRack, Max: 2}}
			r.Tolerations = []Toleration{{Exists: true}}
		}, ""},
		{"empty app", func(r *Request) { r.App = "" }, "request.App"},
		{"count zero", func(r *Request) { r.Count = 0 }, "request.Count"},
		{"count negative", func(r *Request) { r.Count = -3 }, "request.Count"},
		{"negative cpu", func(r *Request) { r.Resources.MilliCPU = -1 }, "request.Resources.MilliCPU"},
		{"negative memory", func(r *Request) { r.Resources.Memory = -1 }, "request.Resources.Memory"},
		{"negative disk", func(r *Request) { r.Resources.Disk = -1 }, "request.Resources.Disk"},
		{"vlan out of range", func(r *Request) { r.VLAN = 4095 }, "request.VLAN"},
		{"empty zone", func(r *Request) { r.Zones = []string{""} }, "request.Zones[0]"},
		{"zone twice", func(r *Request) { r.Zones = []string{"a", "a"} }, "request.Zones[1]"},
		{"empty selector key", func(r *Request) { r.NodeSelector = map[string]string{"": "x"} }, "request.NodeSelector"},
		{"toleration without key", func(r *Request) { r.Tolerations = []Toleration{{Value: "x"}} }, "request.Tolerations[0].Key"},
		{"toleration bad effect", func(r *Request) { r.Tolerations = []Toleration{{Key: "k", Effect: "Evict"}} }, "request.Tolerations[0].Effect"},
		{"unknown spread key", func(r *Request) { r.Spread = []SpreadRule{{Key: "hostname", MaxSkew: 1}} }, "request.Spread[0].Key"},
		{"zero skew", func(r *Request) { r.Spread = []SpreadRule{{Key: KeyRack}} }, "request.Spread[0].MaxSkew"},
		{"negative min domains", func(r *Request) { r.Spread = []SpreadRule{{Key: KeyRack, MaxSkew: 1, MinDomains: -1}} }, "request.Spread[0].MinDomains"},
		{"min domains on a soft rule", func(r *Request) {
			r.Spread = []SpreadRule{{Key: KeyRack, MaxSkew: 1, MinDomains: 2, Soft: true}}
		}, "contradictory"},
		{"two spread rules on one key", func(r *Request) {
			r.Spread = []SpreadRule{{Key: KeyRack, MaxSkew: 1}, {Key: KeyRack, MaxSkew: 2, Soft: true}}
		}, "request.Spread[1].Key: contradictory"},
		{"unknown anti-affinity key", func(r *Request) { r.AntiAffinity = []AntiAffinity{{Key: "row", Max: 1}} }, "request.AntiAffinity[0].Key"},
		{"zero anti-affinity max", func(r *Request) { r.AntiAffinity = []AntiAffinity{{Key: KeyNode}} }, "request.AntiAffinity[0].Max"},
		{"two anti-affinity rules on one key", func(r *Request) {
			r.AntiAffinity = []AntiAffinity{{Key: KeyNode, Max: 1}, {Key: KeyNode, Max: 2}}
		}, "request.AntiAffinity[1].Key: contradictory"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := ok()
			tt.edit(&r)
			err := r.Validate()
			if tt.field == "" {
				if err != nil {
					t.Fatalf("Validate() = %v, want nil", err)
				}
				return
			}
			if !errors.Is(err, ErrInvalid) {
				t.Fatalf("Validate() = %v, want ErrInvalid", err)
			}
			if !strings.HasPrefix(err.Error(), "sched: ") || !strings.Contains(err.Error(), tt.field) {
				t.Fatalf("Validate() = %q, want it to name %q", err, tt.field)
			}
		})
	}
}

func TestPlaceRejectsBadInput(t *testing.T) {
	inv := newTestInventory(t, topoNodes()...)
	s, err := New(inv, DefaultConfig(), nil)
	if err != nil {
		t.Fatal(err)
	}
	res, err := s.Place(Request{App: "web"})
	if !errors.Is(err, ErrInvalid) || res != nil {
		t.Fatalf("Place(count 0) = %v, %v; want nil, ErrInvalid", res, err)
	}
	if _, err := s.Explain(Request{App: "web", Count: 1, Spread: []SpreadRule{{Key: "host", MaxSkew: 1}}}); !errors.Is(err, ErrInvalid) {
		t.Fatalf("Explain(unknown key) = %v, want ErrInvalid", err)
	}
}

// FuzzRequestValidate feeds arbitrary field values to Validate and to
// Place on a small inventory: nothing may panic, every error must wrap
// ErrInvalid or ErrUnschedulable and start with "sched: ".
func FuzzRequestValidate(f *testing.F) {
	f.Add("web", 1, int64(100), int64(1<<20), int64(0), 0, "rack", 1, 0, false, "node", 1, "a")
	f.Add("", 0, int64(-1), int64(0), int64(-5), 5000, "hostname", 0, -1, true, "row", 0, "")
	f.Add("db", 3, int64(0), int64(0), int64(0), 100, "switch", 2, 4, false, "rack", 2, "zz")
	f.Fuzz(func(t *testing.T, app string, count int, cpu, mem, disk int64, vlan int, skey string, skew, minDom int, soft bool, akey string, amax int, zone string) {
		if count > 50 {
			count = 50
		}
		r := Request{
			App: app, Count: count, Resources: Resources{MilliCPU: cpu, Memory: mem, Disk: disk}, VLAN: vlan,
			Spread:       []SpreadRule{{Key: TopologyKey(skey), MaxSkew: skew, MinDomains: minDom, Soft: soft}},
			AntiAffinity: []AntiAffinity{{Key: TopologyKey(akey), Max: amax}},
		}
		if zone != "" {
			r.Zones = []string{zone}
		}
		err := r.Validate()
		if err != nil {
			if !errors.Is(err, ErrInvalid) || errs.CheckShape(err, "sched", ErrInvalid) != nil {
				t.Fatalf("Validate() = %v", err)
			}
		}
		inv := newTestInventory(t, topoNodes()...)
		s, serr := New(inv, DefaultConfig(), nil)
		if serr != nil {
			t.Fatal(serr)
		}
		res, perr := s.Place(r)
		switch {
		case err != nil:
			if !errors.Is(perr, ErrInvalid) || res != nil {
				t.Fatalf("Place of an invalid request = %v, %v", res, perr)
			}
		case perr != nil:
			if !errors.Is(perr, ErrUnschedulable) || res == nil || res.WhyNot == nil {
				t.Fatalf("Place = %v, %v", res, perr)
			}
		}
	})
}
