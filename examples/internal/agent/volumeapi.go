package agent

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"github.com/shoalkit/shoal/examples/internal/container"
	"github.com/shoalkit/shoal/examples/internal/state"
)

// VolumeInfo is one data volume in GET /v1/volumes.
type VolumeInfo struct {
	// ID is the instance the volume belongs to.
	ID string `json:"id"`
	// Backend is "lvm" (LV is then "VG/LV") or "loop".
	Backend string `json:"backend"`
	LV      string `json:"lv,omitempty"`
	// SizeBytes is the loop file's size; for a logical volume, 0 (lvs
	// reports it).
	SizeBytes int64 `json:"size_bytes,omitempty"`
	// Mounted is whether the volume is mounted (its instance runs or is
	// being made).
	Mounted bool `json:"mounted"`
	// InUse is whether its instance is desired on this node or still
	// managed by the agent: such a volume cannot be removed.
	InUse bool `json:"in_use"`
}

// serveVolumes lists the node's data volumes, sorted by id:
//
//	GET /v1/volumes  200 [{"id": ..., "backend": "loop", "mounted": true, "in_use": true}, ...]
func (a *Agent) serveVolumes(w http.ResponseWriter, _ *http.Request) {
	ents, err := os.ReadDir(a.cfg.VolumeDir)
	if err != nil && !errors.Is(err, os.ErrNotExist) {
		http.Error(w, "listing volumes failed", http.StatusInternalServerError)
		return
	}
	out := []VolumeInfo{}
	for _, e := range ents {
		if !e.IsDir() || !state.ValidName(e.Name()) {
			continue
		}
		out = append(out, a.volumeInfo(e.Name()))
	}
	sort.Slice(out, func(i, j int) bool { return out[i].ID < out[j].ID })
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(out)
}

func (a *Agent) volumeInfo(id string) VolumeInfo {
	img, mnt := volumePaths(a.cfg.VolumeDir, id)
	v := VolumeInfo{ID: id, Backend: "loop", Mounted: mounted(mnt), InUse: a.inUse(id)}
	if b, err := os.ReadFile(filepath.Join(a.cfg.VolumeDir, id, "lvm")); err == nil {
		v.Backend, v.LV = "lvm", strings.TrimSpace(string(b))
	} else if fi, err := os.Stat(img); err == nil {
		v.SizeBytes = fi.Size()
	}
	return v
}

// inUse reports whether id's instance is desired here, managed by the
// agent, or has a container: its volume must stay.
func (a *Agent) inUse(id string) bool {
	a.mu.Lock()
	_, desired := a.desired[id]
	_, bad := a.bad[id]
	managed := a.insts[id] != nil
	a.mu.Unlock()
	if desired || bad || managed {
		return true
	}
	_, err := a.cfg.Runtime.Get(id)
	return !errors.Is(err, container.ErrNotFound)
}

// serveDeleteVolume removes a data volume and its data for good:
//
//	DELETE /v1/volumes/ID  204 removed; 400 a bad id; 404 no such volume;
//	                       409 its instance is desired or still runs
func (a *Agent) serveDeleteVolume(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("id")
	if !state.ValidName(id) {
		http.Error(w, "not an instance id", http.StatusBadRequest)
		return
	}
	code, err := a.removeVolume(r.Context(), id)
	if err != nil {
		http.Error(w, err.Error(), code)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

func (a *Agent) removeVolume(ctx context.Context, id string) (int, error) {
	defer a.volLocks.Lock(id)()
	if _, err := os.Stat(filepath.Join(a.cfg.VolumeDir, id)); errors.Is(err, os.ErrNotExist) {
		return http.StatusNotFound, errors.New("agent: no volume " + id + " on this node")
	}
	if a.inUse(id) {
		return http.StatusConflict, errors.New("agent: volume " + id + ": its instance is desired or still runs; delete the instance first")
	}
	if err := a.dropVolume(ctx, id); err != nil {
		a.log.Warn("removing a volume", "id", id, "err", err)
		return http.StatusInternalServerError, err
	}
	a.log.Info("volume removed", "id", id)
	a.event(ctx, state.Instance{ID: id}, "VolumeRemoved", state.Info, "", "removed through the API")
	return http.StatusNoContent, nil
}
