package alertcorr

import (
	"context"
	"slices"
)

// MaxEntities bounds the entities a TopologySource may yield to Sync: a
// source gone wrong cannot exhaust memory. The largest fleet
// (10,000 hosts, 1,000,000 containers, 5,000 apps, their racks and
// switches) is about 1.02 million.
const MaxEntities = 8 << 20

// SyncResult says what a Sync changed.
type SyncResult struct {
	// Added, Updated and Removed count entities that were new, whose
	// relations changed, and that the source no longer has.
	Added, Updated, Removed int
}

// Changed reports whether the sync changed anything.
func (r SyncResult) Changed() bool { return r.Added+r.Updated+r.Removed > 0 }

// Sync replaces the topology with what src yields, atomically: the source
// is read and checked whole first (every reference resolves, every kind
// fits its place), and only then is the difference applied under one
// lock, so a reader sees the old topology or the new one, never a mix,
// and a source that fails or is inconsistent leaves the topology as it
// was. Unchanged entities keep their place: an engine correlating over
// the topology sees a new generation only when something changed.
func (t *Topology) Sync(ctx context.Context, src TopologySource) (SyncResult, error) {
	var want []Entity
	scratch := NewTopology()
	err := src.Entities(ctx, func(e Entity) error {
		if err := ctx.Err(); err != nil {
			return wrapError(ErrUnavailable, err, "reading topology")
		}
		if len(want) >= MaxEntities {
			return newError(ErrInvalid, "topology source yields more than %d entities", MaxEntities)
		}
		if _, dup := scratch.byKey[entityKey{e.Kind, e.ID}]; dup {
			return newError(ErrInvalid, "topology source yields %s %q twice", e.Kind, truncate(e.ID))
		}
		if err := scratch.Upsert(e); err != nil {
			return err
		}
		want = append(want, e)
		return nil
	})
	if err != nil {
		return SyncResult{}, err
	}

	t.mu.Lock()
	defer t.mu.Unlock()
	var res SyncResult
	gen := t.gen
	// Parents first (the source's order, checked above), so every
	// reference resolves when its entity is written.
	for _, e := range want {
		i, ok := t.byKey[entityKey{e.Kind, e.ID}]
		switch {
		case !ok:
			res.Added++
		case t.entity(i) == e:
			continue
		default:
			res.Updated++
		}
		if err := t.upsertLocked(e); err != nil {
			// Cannot happen: the scratch topology accepted the same
			// entities in the same order; an error here is a bug, and
			// the generation still tells the engine to look again.
			t.gen++
			return res, wrapError(ErrConflict, err, "applying topology")
		}
	}
	// Then the entities the source no longer has, children first: a
	// container before its host, a host before its switch and rack.
	var gone []int32
	for k, i := range t.byKey {
		if _, keep := scratch.byKey[k]; !keep {
			gone = append(gone, i)
		}
	}
	slices.SortFunc(gone, func(a, b int32) int {
		if d := removeOrder(t.nodes[a].kind) - removeOrder(t.nodes[b].kind); d != 0 {
			return d
		}
		return compareStrings(t.nodes[a].id, t.nodes[b].id)
	})
	for _, i := range gone {
		n := &t.nodes[i]
		if err := t.removeLocked(n.kind, n.id); err != nil {
			t.gen++
			return res, wrapError(ErrConflict, err, "applying topology")
		}
		res.Removed++
	}
	if res.Changed() {
		t.gen = gen + 1
	}
	return res, nil
}

// removeOrder sorts kinds so that nothing is removed while an entity that
// names it remains.
func removeOrder(k Kind) int {
	switch k {
	case KindContainer:
		return 0
	case KindHost:
		return 1
	case KindApp, KindSwitch:
		return 2
	case KindRack:
		return 3
	case KindRoom:
		return 4
	}
	return 5
}
