package main

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"os"
	"time"

	"github.com/shoalkit/shoal/alertcorr"
)

// entities is a TopologySource over a list read from the -topology file.
type entities []alertcorr.Entity

func (es entities) Entities(_ context.Context, yield func(alertcorr.Entity) error) error {
	for _, e := range es {
		if err := yield(e); err != nil {
			return err
		}
	}
	return nil
}

// readTopology reads the file and loads it into a scratch topology, so a
// bad file is refused whole before the live topology sees any of it.
func readTopology(ctx context.Context, path string) (entities, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	var wire []struct{ Kind, ID, Parent, Switch, App string }
	if err := json.Unmarshal(b, &wire); err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	es := make(entities, len(wire))
	for i, w := range wire {
		k, err := alertcorr.ParseKind(w.Kind)
		if err != nil {
			return nil, fmt.Errorf("%s: entity %d: %w", path, i, err)
		}
		es[i] = alertcorr.Entity{Kind: k, ID: w.ID, Parent: w.Parent, Switch: w.Switch, App: w.App}
	}
	if err := alertcorr.NewTopology().Load(ctx, es); err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return es, nil
}

// topologyWatcher keeps topo equal to the file: it reloads on SIGHUP and
// when the file's size or time changes.
type topologyWatcher struct {
	path string
	poll time.Duration
	topo *alertcorr.Topology
	hup  <-chan os.Signal
	log  *slog.Logger

	loaded  entities
	modTime time.Time
	size    int64
}

// Run reloads until ctx ends; a file that does not load is logged and the
// topology stays as it was.
func (w *topologyWatcher) Run(ctx context.Context) error {
	var tick <-chan time.Time
	if w.poll > 0 {
		t := time.NewTicker(w.poll)
		defer t.Stop()
		tick = t.C
	}
	for {
		var err error
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-w.hup:
			err = w.reload(ctx, true)
		case <-tick:
			err = w.reload(ctx, false)
		}
		if err != nil {
			w.log.Warn("alertd: topology not reloaded", "err", err)
		}
	}
}

// reload upserts the file's entities, then removes those it no longer
// names, children first (the reverse of the parents-first file order).
func (w *topologyWatcher) reload(ctx context.Context, force bool) error {
	st, err := os.Stat(w.path)
	if err != nil {
		return err
	}
	if !force && st.ModTime().Equal(w.modTime) && st.Size() == w.size {
		return nil
	}
	w.modTime, w.size = st.ModTime(), st.Size()
	es, err := readTopology(ctx, w.path)
	if err != nil {
		return err
	}
	if err := w.topo.Load(ctx, es); err != nil {
		return err
	}
	keep := map[alertcorr.Entity]bool{}
	for _, e := range es {
		keep[alertcorr.Entity{Kind: e.Kind, ID: e.ID}] = true
	}
	for i := len(w.loaded) - 1; i >= 0; i-- {
		if e := w.loaded[i]; !keep[alertcorr.Entity{Kind: e.Kind, ID: e.ID}] {
			if err := w.topo.Remove(e.Kind, e.ID); err != nil {
				w.log.Warn("alertd: topology entity kept", "err", err)
			}
		}
	}
	w.loaded = es
	w.log.Info("alertd: topology loaded", "file", w.path, "entities", w.topo.Len())
	return nil
}
