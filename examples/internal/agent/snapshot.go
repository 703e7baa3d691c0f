package agent

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"os"
	"sync"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/mutate"

	"github.com/shoalkit/shoal/examples/internal/container"
	"github.com/shoalkit/shoal/examples/internal/state"
	"github.com/shoalkit/shoal/imagefs"
)

// maxSnapshotRequest bounds the body of a snapshot request.
const maxSnapshotRequest = 64 << 10

// SnapshotRequest is the body of POST /v1/instances/ID/snapshot.
type SnapshotRequest struct {
	// Image is where the snapshot is pushed ("registry/repo:tag").
	Image string `json:"image"`
	// Volume adds the instance's data volume, as it is now, as one more
	// layer holding the volume's files at its mount path. An instance
	// made from the image gets a new, empty volume, which the agent fills
	// from the image's files at the mount path (as Docker does), so the
	// data moves with the image. Without it the volume stays on this node
	// (kept after the instance is deleted, until removed explicitly).
	Volume bool `json:"volume,omitempty"`
}

// SnapshotResult is the answer to a snapshot request.
type SnapshotResult struct {
	// Image is the reference pushed; Digest the manifest's digest, which
	// names the snapshot for good ("IMAGE@DIGEST").
	Image  string `json:"image"`
	Digest string `json:"digest"`
	// Layer is the container's changes; VolumeLayer the volume's, when
	// asked for.
	Layer       LayerInfo  `json:"layer"`
	VolumeLayer *LayerInfo `json:"volume_layer,omitempty"`
}

// LayerInfo describes a layer a snapshot added.
type LayerInfo struct {
	Digest string `json:"digest"`
	Size   int64  `json:"size"`
	Files  int    `json:"files"`
}

func layerInfo(lr imagefs.LayerReport) LayerInfo {
	return LayerInfo{Digest: lr.Digest.String(), Size: lr.Size, Files: lr.Files}
}

// snapshotter lets one snapshot run at a time: each freezes a container
// and reads its files, which is disk work a node does best one at a time.
type snapshotter struct{ mu sync.Mutex }

// serveSnapshot commits an instance's container — its image plus its
// upper directory as one more layer (and its volume on request) — and
// pushes it:
//
//	POST /v1/instances/ID/snapshot  {"image": "registry/app:snap", "volume": true}
//	200 {"image": ..., "digest": "sha256:...", "layer": {...}, "volume_layer": {...}}
//	400 a bad id, body or reference, or volume asked of an instance without one
//	404 no such container on this node
//	409 the volume is not mounted
//	502 the registry refused the push
//
// The container is frozen while its files are read and thawed before the
// push; it keeps running.
func (a *Agent) serveSnapshot(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("id")
	if !state.ValidName(id) {
		http.Error(w, "not an instance id", http.StatusBadRequest)
		return
	}
	var req SnapshotRequest
	dec := json.NewDecoder(http.MaxBytesReader(w, r.Body, maxSnapshotRequest))
	if err := dec.Decode(&req); err != nil {
		http.Error(w, "body: want {\"image\": REFERENCE, \"volume\": BOOL}: "+err.Error(), http.StatusBadRequest)
		return
	}
	if _, err := name.ParseReference(req.Image); err != nil || req.Image == "" {
		http.Error(w, "image: not a reference: "+req.Image, http.StatusBadRequest)
		return
	}
	res, code, err := a.snapshot(r.Context(), id, req)
	if err != nil {
		a.log.Warn("snapshot failed", "id", id, "image", req.Image, "err", err)
		http.Error(w, err.Error(), code)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(res)
}

// snapshot does the work of serveSnapshot; on failure it returns the
// HTTP status that says why.
func (a *Agent) snapshot(ctx context.Context, id string, req SnapshotRequest) (SnapshotResult, int, error) {
	a.snaps.mu.Lock()
	defer a.snaps.mu.Unlock()
	info, err := a.cfg.Runtime.Get(id)
	if errors.Is(err, container.ErrNotFound) {
		return SnapshotResult{}, http.StatusNotFound, errors.New("agent: no container " + id + " on this node")
	}
	if err != nil {
		return SnapshotResult{}, http.StatusInternalServerError, err
	}
	var spec state.Instance
	if raw, ok := info.Labels[specLabel]; !ok || json.Unmarshal([]byte(raw), &spec) != nil {
		return SnapshotResult{}, http.StatusNotFound, errors.New("agent: container " + id + " is not an instance")
	}
	var volume string
	if req.Volume {
		if spec.Volume == nil {
			return SnapshotResult{}, http.StatusBadRequest, errors.New("agent: volume: instance " + id + " has no data volume")
		}
		if _, volume = volumePaths(a.cfg.VolumeDir, id); !mounted(volume) {
			return SnapshotResult{}, http.StatusConflict, errors.New("agent: volume of " + id + " is not mounted")
		}
	}
	tmp, err := os.MkdirTemp(a.cfg.StateDir, ".snapshot-")
	if err != nil {
		return SnapshotResult{}, http.StatusInternalServerError, err
	}
	defer os.RemoveAll(tmp)
	img, res, err := a.commit(ctx, id, info.Running, spec, volume, tmp)
	if err != nil {
		code := http.StatusInternalServerError
		if errors.Is(err, imagefs.ErrNotFound) {
			code = http.StatusNotFound
		}
		return SnapshotResult{}, code, err
	}
	digest, err := imagefs.Push(ctx, img, req.Image, a.cfg.Remote)
	if err != nil {
		return SnapshotResult{}, http.StatusBadGateway, err
	}
	res.Image, res.Digest = req.Image, digest.String()
	a.event(ctx, spec, "Snapshotted", state.Info, "", req.Image+"@"+digest.String())
	return res, http.StatusOK, nil
}

// commit builds the snapshot's image with the container frozen.
func (a *Agent) commit(ctx context.Context, id string, running bool, spec state.Instance, volume, tmp string) (v1.Image, SnapshotResult, error) {
	var res SnapshotResult
	if running {
		if err := a.cfg.Runtime.Pause(id); err != nil {
			return nil, res, err
		}
		defer func() {
			if err := a.cfg.Runtime.Resume(id); err != nil {
				a.log.Error("thawing a container after its snapshot", "id", id, "err", err)
			}
		}()
	}
	opt := imagefs.CommitOptions{Dir: tmp, CreatedBy: "shoal snapshot of instance " + id}
	img, lr, err := a.cfg.Store.Commit(ctx, id, opt)
	if err != nil {
		return nil, res, err
	}
	res.Layer = layerInfo(lr)
	if volume != "" {
		opt.CreatedBy = "shoal snapshot of the volume of instance " + id + " at " + spec.Volume.Mount
		vl, vlr, err := imagefs.DirLayer(ctx, volume, spec.Volume.Mount, opt)
		if err != nil {
			return nil, res, err
		}
		if img, err = mutate.AppendLayers(img, vl); err != nil {
			return nil, res, err
		}
		v := layerInfo(vlr)
		res.VolumeLayer = &v
	}
	return img, res, nil
}
