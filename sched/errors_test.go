package sched

import (
	"errors"
	"testing"

	"github.com/shoalkit/shoal/internal/errs"
)

// TestErrorShape runs the package's error paths and checks each error's
// shape: the prefix once, no sentinel text, a kind errors.Is matches.
func TestErrorShape(t *testing.T) {
	kinds := []error{ErrInvalid, ErrNotFound, ErrConflict, ErrUnschedulable}
	inv := newTestInventory(t, testNode("a1", "a", "r1", "s1", 2))
	badFactory := func() (Plugin, error) { return nil, errors.New("no licence") }
	reg := NewRegistry()
	_ = reg.Register("Broken", badFactory)
	place := func(req Request) error {
		s, err := New(inv, DefaultConfig(), nil)
		if err != nil {
			return err
		}
		_, err = s.Place(req)
		return err
	}
	newWith := func(edit func(*Config), reg *Registry) error {
		cfg := DefaultConfig()
		edit(&cfg)
		_, err := New(inv, cfg, reg)
		return err
	}
	tests := []struct {
		name string
		err  error
		kind error
	}{
		{"add duplicate", inv.AddNode(testNode("a1", "a", "r1", "s1", 1)), ErrConflict},
		{"add invalid", inv.AddNode(Node{Name: "n", VLANs: map[int]int{0: 1}}), ErrInvalid},
		{"add bad taint", inv.AddNode(Node{Name: "n", Taints: []Taint{{Key: "k"}}}), ErrInvalid},
		{"cordon unknown", inv.Cordon("zz"), ErrNotFound},
		{"release unknown", inv.Release(999), ErrNotFound},
		{"image unknown", inv.RemoveImage("a1", "nope"), ErrNotFound},
		{"image empty", inv.AddImage("a1", "", 1), ErrInvalid},
		{"vlan range", inv.SetVLANIPs("a1", 5000, 1), ErrInvalid},
		{"allocate unknown node", func() error { _, err := inv.Allocate("zz", Allocation{App: "w"}); return err }(), ErrNotFound},
		{"allocate too big", func() error {
			_, err := inv.Allocate("a1", Allocation{App: "w", Resources: Resources{MilliCPU: 1 << 40}})
			return err
		}(), ErrConflict},
		{"allocation lookup", func() error { _, err := inv.Allocation(77); return err }(), ErrNotFound},
		{"node lookup", func() error { _, err := inv.Node("zz"); return err }(), ErrNotFound},
		{"request invalid", place(Request{App: "w"}), ErrInvalid},
		{"request count too large", place(Request{App: "w", Count: MaxCount + 1}), ErrInvalid},
		{"unschedulable", place(Request{App: "w", Count: 1, Resources: Resources{MilliCPU: 1 << 40}}), ErrUnschedulable},
		{"nil inventory", func() error { _, err := New(nil, DefaultConfig(), nil); return err }(), ErrInvalid},
		{"config mode", newWith(func(c *Config) { c.Mode = 9 }, nil), ErrInvalid},
		{"config unknown filter", newWith(func(c *Config) { c.Filters = []string{"Nope"} }, nil), ErrNotFound},
		{"config broken factory", newWith(func(c *Config) { c.Filters = []string{"Broken"} }, reg), ErrInvalid},
		{"config weight", newWith(func(c *Config) { c.Scores[0].Weight = -1 }, nil), ErrInvalid},
		{"register empty", reg.Register("", badFactory), ErrInvalid},
		{"register twice", reg.Register("Broken", badFactory), ErrConflict},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if err := errs.CheckShape(tt.err, "sched", kinds...); err != nil {
				t.Fatal(err)
			}
			if !errors.Is(tt.err, tt.kind) {
				t.Fatalf("%v is not %v", tt.err, tt.kind)
			}
		})
	}
}
