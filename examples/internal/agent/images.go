package agent

import (
	"encoding/json"
	"io"
	"net/http"
	"time"

	"github.com/shoalkit/shoal/imagefs"
)

// PullRequest asks an agent to put an image in its store ahead of need:
// the body of POST /v1/images/pull. The controller sends it to every node
// it chose for a deploy, each naming the node before it as Peer, so the
// image flows down a chain through the agents' blob servers and the
// registry sends each blob about once (imagefs's pre-distribution).
type PullRequest struct {
	Image string `json:"image"`
	// Peer is another agent's base URL ("http://host:port") to take blobs
	// from first; empty pulls from the registry alone.
	Peer string `json:"peer,omitempty"`
	// Wait is how long to wait for the peer to begin a blob before the
	// registry is asked instead; zero means 2 min.
	Wait string `json:"wait,omitempty"`
}

// PullResult answers a PullRequest.
type PullResult struct {
	Image   string `json:"image"`
	Digest  string `json:"digest"`
	Fetched int    `json:"fetched_layers"`
	// FromPeer counts the layers that came from the peer, not the registry.
	FromPeer int    `json:"from_peer"`
	Took     string `json:"took"`
}

const maxPullBody = 16 << 10

// servePull puts an image into the store, from a peer first when given.
func (a *Agent) servePull(w http.ResponseWriter, r *http.Request) {
	var req PullRequest
	body, err := io.ReadAll(io.LimitReader(r.Body, maxPullBody+1))
	if err != nil || len(body) > maxPullBody || json.Unmarshal(body, &req) != nil || req.Image == "" {
		http.Error(w, "want {\"image\": REF, \"peer\": URL, \"wait\": DURATION}", http.StatusBadRequest)
		return
	}
	wait := 2 * time.Minute
	if req.Wait != "" {
		if wait, err = time.ParseDuration(req.Wait); err != nil || wait < 0 || wait > 30*time.Minute {
			http.Error(w, "wait: want a duration up to 30m", http.StatusBadRequest)
			return
		}
	}
	start := time.Now()
	img, err := imagefs.Pull(r.Context(), req.Image, a.cfg.Remote)
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadGateway)
		return
	}
	var opt imagefs.AddOptions
	if req.Peer != "" {
		opt.Sources = []imagefs.BlobSource{imagefs.Peer{URL: req.Peer, Wait: wait, StallTimeout: wait}}
	}
	res, err := a.cfg.Store.AddWith(r.Context(), img, req.Image, opt)
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadGateway)
		return
	}
	a.log.Info("image pulled ahead of need", "image", req.Image, "peer", req.Peer, "took", time.Since(start))
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(PullResult{
		Image: req.Image, Digest: res.Digest.String(), Fetched: res.Fetched, FromPeer: res.FromSources, Took: time.Since(start).String(),
	})
}
