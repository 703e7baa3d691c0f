package procview

import (
	"context"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/shoalkit/shoal/cgroupx"
)

// savedLoads is the load state a server leaves for its successor.
type savedLoads struct {
	// At is when the averages were last folded (Unix nanoseconds).
	At int64 `json:"at"`
	// Containers maps container cgroup paths to their averages.
	Containers map[string]cgroupx.LoadAvg `json:"containers"`
}

// save writes every container's averages to path, atomically (a
// temporary file renamed over it).
func (r *registry) save(path string, at time.Time) error {
	s := savedLoads{At: at.UnixNano(), Containers: map[string]cgroupx.LoadAvg{}}
	r.mu.Lock()
	for p, c := range r.byPath {
		s.Containers[p] = c.load.Load()
	}
	r.mu.Unlock()
	b, err := json.Marshal(s)
	if err != nil {
		return wrapError(ErrInvalid, err, "load state")
	}
	tmp, err := os.CreateTemp(filepath.Dir(path), ".procview-load-*")
	if err != nil {
		return wrapError(ErrUnavailable, unwrapPath(err), "load state in %s", filepath.Dir(path))
	}
	defer os.Remove(tmp.Name())
	if _, err := tmp.Write(b); err != nil {
		_ = tmp.Close()
		return wrapError(ErrUnavailable, err, "write load state")
	}
	if err := tmp.Close(); err != nil {
		return wrapError(ErrUnavailable, err, "write load state")
	}
	if err := os.Rename(tmp.Name(), path); err != nil {
		return wrapError(ErrUnavailable, unwrapPath(err), "rename load state to %s", path)
	}
	return nil
}

// parseSavedLoads decodes a load state file, keeping only containers that
// are direct children of a parent and averages a kernel could hold.
func parseSavedLoads(b []byte, parents []string, maxContainers int) (savedLoads, error) {
	var s savedLoads
	if err := json.Unmarshal(b, &s); err != nil {
		return savedLoads{}, wrapError(ErrInvalid, err, "load state")
	}
	kept := map[string]cgroupx.LoadAvg{}
	for p, avg := range s.Containers {
		if len(kept) == maxContainers || !isContainerPath(p, parents) {
			continue
		}
		ok := true
		for _, a := range avg.Avenrun {
			ok = ok && a < 1<<40 // a load under half a billion
		}
		if ok {
			kept[p] = avg
		}
	}
	s.Containers = kept
	return s, nil
}

// isContainerPath reports whether p is parent/name for one of parents.
func isContainerPath(p string, parents []string) bool {
	for _, parent := range parents {
		name, ok := strings.CutPrefix(p, parent+"/")
		if ok && name != "" && name != "." && name != ".." && !strings.Contains(name, "/") {
			return true
		}
	}
	return false
}

// restore takes the averages a predecessor saved at path: each container
// that still exists goes on from its saved averages, with the intervals
// since folded as the kernel folds an idle period (calc_load_n with the
// count of now). A missing file is no state.
func (r *registry) restore(ctx context.Context, path string, now time.Time) error {
	b, err := readBounded(path, 64<<20)
	if errors.Is(err, ErrNotFound) {
		return nil
	}
	if err != nil {
		return err
	}
	s, err := parseSavedLoads(b, r.parents, r.max)
	if err != nil {
		return err
	}
	missed := uint(0)
	if gap := now.Sub(time.Unix(0, s.At)); gap > 0 {
		missed = uint(min(gap/r.interval, 1<<20)) //nolint:gosec // bounded
	}
	for p, avg := range s.Containers {
		c, err := r.open(ctx, p)
		if err != nil {
			continue // gone since
		}
		c.load.Restore(avg)
		if missed > 0 {
			if tc, err := c.cg.CountTasks(ctx); err == nil {
				c.load.Fold(tc, missed)
			}
		}
		r.mu.Lock()
		if _, dup := r.byPath[p]; !dup {
			r.byPath[p] = c
		}
		r.mu.Unlock()
	}
	return nil
}
