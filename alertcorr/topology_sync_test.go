package alertcorr

import (
	"context"
	"encoding/json"
	"errors"
	"slices"
	"testing"
)

type entityList []Entity

func (l entityList) Entities(_ context.Context, yield func(Entity) error) error {
	for _, e := range l {
		if err := yield(e); err != nil {
			return err
		}
	}
	return nil
}

func dump(tp *Topology) []Entity {
	tp.mu.RLock()
	defer tp.mu.RUnlock()
	var out []Entity
	for _, i := range tp.byKey {
		out = append(out, tp.entity(i))
	}
	slices.SortFunc(out, func(a, b Entity) int {
		if a.Kind != b.Kind {
			return int(a.Kind) - int(b.Kind)
		}
		return compareStrings(a.ID, b.ID)
	})
	return out
}

func TestTopologySync(t *testing.T) {
	v1 := entityList{
		{Kind: KindRack, ID: "r1"},
		{Kind: KindSwitch, ID: "s1", Parent: "r1"},
		{Kind: KindHost, ID: "h1", Parent: "r1", Switch: "s1"},
		{Kind: KindHost, ID: "h2", Parent: "r1"},
		{Kind: KindApp, ID: "shop"},
		{Kind: KindApp, ID: "cart"},
		{Kind: KindContainer, ID: "c1", Parent: "h1", App: "shop"},
		{Kind: KindContainer, ID: "c2", Parent: "h2", App: "cart"},
	}
	tp := NewTopology()
	res, err := tp.Sync(t.Context(), v1)
	if err != nil || res != (SyncResult{Added: 8}) {
		t.Fatalf("first Sync = %+v, %v; want 8 added", res, err)
	}
	gen := tp.generation()
	if res, err := tp.Sync(t.Context(), v1); err != nil || res.Changed() || tp.generation() != gen {
		t.Fatalf("same source again = %+v, %v, generation %d → %d; want no change", res, err, gen, tp.generation())
	}
	// c1 moves to h2, h1 and cart go (c2 with it), c3 comes.
	v2 := entityList{
		{Kind: KindRack, ID: "r1"},
		{Kind: KindSwitch, ID: "s1", Parent: "r1"},
		{Kind: KindHost, ID: "h2", Parent: "r1", Switch: "s1"},
		{Kind: KindApp, ID: "shop"},
		{Kind: KindContainer, ID: "c1", Parent: "h2", App: "shop"},
		{Kind: KindContainer, ID: "c3", Parent: "h2", App: "shop"},
	}
	res, err = tp.Sync(t.Context(), v2)
	if err != nil || res != (SyncResult{Added: 1, Updated: 2, Removed: 3}) {
		t.Fatalf("Sync to v2 = %+v, %v; want 1 added (c3), 2 updated (h2 switch, c1 host), 3 removed (h1, cart, c2)", res, err)
	}
	if got, want := dump(tp), dump(mustLoad(t, v2)); !slices.Equal(got, want) {
		t.Fatalf("after Sync:\n%v\nwant\n%v", got, want)
	}
	if n := len(tp.nodes[tp.byKey[entityKey{KindHost, "h2"}]].children); n != 2 {
		t.Fatalf("h2 has %d children, want 2", n)
	}
	// A source that is inconsistent or fails changes nothing.
	before := dump(tp)
	for name, bad := range map[string]TopologySource{
		"dangling parent": entityList{{Kind: KindHost, ID: "h9", Parent: "nope"}},
		"duplicate":       entityList{{Kind: KindApp, ID: "a"}, {Kind: KindApp, ID: "a"}},
		"failing":         failingSource{},
	} {
		if _, err := tp.Sync(t.Context(), bad); err == nil {
			t.Fatalf("%s: Sync accepted it", name)
		}
		if got := dump(tp); !slices.Equal(got, before) {
			t.Fatalf("%s: topology changed to %v", name, got)
		}
	}
}

type failingSource struct{}

func (failingSource) Entities(_ context.Context, yield func(Entity) error) error {
	if err := yield(Entity{Kind: KindApp, ID: "half"}); err != nil {
		return err
	}
	return errors.New("source broke")
}

func mustLoad(t *testing.T, src TopologySource) *Topology {
	t.Helper()
	tp := NewTopology()
	if err := tp.Load(t.Context(), src); err != nil {
		t.Fatal(err)
	}
	return tp
}

func TestKindText(t *testing.T) {
	for k := KindUnknown; k <= KindApp; k++ {
		b, err := k.MarshalText()
		if err != nil {
			t.Fatal(err)
		}
		var back Kind
		if err := back.UnmarshalText(b); err != nil || back != k {
			t.Fatalf("%v → %q → %v, %v", k, b, back, err)
		}
		j, _ := json.Marshal(Entity{Kind: k, ID: "x"})
		var e Entity
		if err := json.Unmarshal(j, &e); err != nil || e.Kind != k {
			t.Fatalf("JSON %s → %v, %v", j, e.Kind, err)
		}
		// Snapshots written before the text form hold numbers.
		if err := json.Unmarshal([]byte(`{"Kind":`+string(rune('0'+k))+`}`), &e); err != nil || e.Kind != k {
			t.Fatalf("JSON number %d → %v, %v", k, e.Kind, err)
		}
	}
	if b, _ := json.Marshal(map[Kind][]string{KindHost: {"node"}}); string(b) != `{"host":["node"]}` {
		t.Fatalf("map key: %s", b)
	}
	var k Kind
	for _, bad := range []string{"server", "9", ""} {
		if err := k.UnmarshalText([]byte(bad)); !errors.Is(err, ErrInvalid) {
			t.Fatalf("UnmarshalText(%q) = %v, want ErrInvalid", bad, err)
		}
	}
	if _, err := Kind(42).MarshalText(); !errors.Is(err, ErrInvalid) {
		t.Fatalf("MarshalText(42) = %v", err)
	}
}
