package imagefs

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"strings"
	"sync"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"
)

// Handler serves the store's blobs to peers over HTTP: GET and HEAD of
// /blobs/sha256/<hex>, with Content-Length, Range support and a
// Docker-Content-Digest header. Only complete, verified blobs are ever
// visible (they are renamed into place).
func (s *Store) Handler() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodGet && r.Method != http.MethodHead {
			http.Error(w, "imagefs: method not allowed", http.StatusMethodNotAllowed)
			return
		}
		hexd, ok := strings.CutPrefix(r.URL.Path, "/blobs/sha256/")
		h := v1.Hash{Algorithm: "sha256", Hex: hexd}
		if !ok || !validHash(h) {
			http.Error(w, "imagefs: no such path", http.StatusNotFound)
			return
		}
		f, err := os.Open(s.blobPath(h))
		if err != nil {
			http.Error(w, "imagefs: blob not here", http.StatusNotFound)
			return
		}
		defer f.Close()
		fi, err := f.Stat()
		if err != nil {
			http.Error(w, "imagefs: stat blob", http.StatusInternalServerError)
			return
		}
		w.Header().Set("Content-Type", "application/octet-stream")
		w.Header().Set("Docker-Content-Digest", h.String())
		http.ServeContent(w, r, "", fi.ModTime(), f)
	})
}

// Peer is another node's Store, reached through its Handler. It is a
// BlobSource.
type Peer struct {
	// URL is the base URL of the peer's Handler ("http://127.0.0.1:8081").
	URL string
	// Client sends the requests. Default http.DefaultClient.
	Client *http.Client
	// Wait, when positive, keeps asking a peer that does not hold the blob
	// yet (404) or does not answer yet for up to this long, with backoff: a
	// node on another host can so follow its parent in a distribution tree
	// without an in-process signal. Zero asks once.
	Wait time.Duration
}

// OpenBlob fetches a blob from the peer; ErrNotFound when the peer does not
// hold it (after Wait, if set). The caller verifies the content (Store.Add
// does).
func (p Peer) OpenBlob(ctx context.Context, h v1.Hash) (io.ReadCloser, error) {
	if !validHash(h) {
		return nil, fmt.Errorf("%w: digest %q", ErrInvalid, h)
	}
	deadline := time.Now().Add(p.Wait)
	delay := 20 * time.Millisecond
	for {
		// A peer that is not up yet is treated like one without the blob.
		rc, err := p.get(ctx, h)
		if err == nil || ctx.Err() != nil || p.Wait <= 0 || time.Now().Add(delay).After(deadline) {
			return rc, err
		}
		t := time.NewTimer(delay)
		select {
		case <-t.C:
		case <-ctx.Done():
			t.Stop()
			return nil, ctx.Err()
		}
		delay = min(2*delay, time.Second)
	}
}

func (p Peer) get(ctx context.Context, h v1.Hash) (io.ReadCloser, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, strings.TrimSuffix(p.URL, "/")+"/blobs/sha256/"+h.Hex, nil)
	if err != nil {
		return nil, fmt.Errorf("%w: peer %q: %w", ErrInvalid, p.URL, err)
	}
	c := p.Client
	if c == nil {
		c = http.DefaultClient
	}
	resp, err := c.Do(req)
	if err != nil {
		return nil, fmt.Errorf("imagefs: peer %s: %w", p.URL, err)
	}
	switch resp.StatusCode {
	case http.StatusOK:
		return resp.Body, nil
	case http.StatusNotFound:
		_ = resp.Body.Close()
		return nil, fmt.Errorf("%w: blob %s on peer %s", ErrNotFound, h, p.URL)
	}
	_ = resp.Body.Close()
	return nil, fmt.Errorf("imagefs: peer %s: blob %s: %s", p.URL, h, resp.Status)
}

// Node is one target of Predistribute: a store on this machine and the URL
// its Handler is served at, for its peers.
type Node struct {
	Store *Store
	URL   string
}

// DistributeConfig configures Predistribute.
type DistributeConfig struct {
	// Fanout is how many nodes each node feeds: node i fetches every blob
	// from node (i-1)/Fanout once that node holds it, and node 0 from the
	// image's origin (the registry). Default 3.
	Fanout int
	// PeerTimeout bounds the wait for a parent and its transfer; after it,
	// or when the parent fails, the node falls back to the origin.
	// Default 2 minutes.
	PeerTimeout time.Duration
	// Client talks to peers. Default http.DefaultClient.
	Client *http.Client
	// Logger receives progress at debug level. Default: discard.
	Logger *slog.Logger
}

// DefaultDistributeConfig returns the defaults described on
// DistributeConfig.
func DefaultDistributeConfig() DistributeConfig {
	return DistributeConfig{Fanout: 3, PeerTimeout: 2 * time.Minute}
}

// NodeResult is what Predistribute did on one node.
type NodeResult struct {
	URL    string
	Result AddResult
	Err    error
}

// Predistribute pushes img into every node's store ahead of need, so
// Prepare finds it unpacked. The registry (img's origin) serves each blob
// about once: nodes form a tree of the given fanout, every node fetches a
// blob from its parent as soon as the parent has stored it, so transfers
// pipeline down the tree layer by layer, base layers first (layer role
// tags), and each layer is unpacked on arrival. A node whose parent fails
// falls back to the origin. It returns one result per node and the first
// error.
func Predistribute(ctx context.Context, img v1.Image, name string, nodes []Node, cfg DistributeConfig) ([]NodeResult, error) {
	if cfg.Fanout < 0 || cfg.PeerTimeout < 0 {
		return nil, fmt.Errorf("%w: distribute config fanout %d, timeout %v", ErrInvalid, cfg.Fanout, cfg.PeerTimeout)
	}
	d := DefaultDistributeConfig()
	if cfg.Fanout == 0 {
		cfg.Fanout = d.Fanout
	}
	if cfg.PeerTimeout == 0 {
		cfg.PeerTimeout = d.PeerTimeout
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	for k, n := range nodes {
		if n.Store == nil || n.URL == "" {
			return nil, fmt.Errorf("%w: node %d has no store or URL", ErrInvalid, k)
		}
	}
	boards := make([]*blobBoard, len(nodes))
	for k := range boards {
		boards[k] = &blobBoard{ready: map[v1.Hash]chan struct{}{}, done: make(chan struct{})}
	}
	results := make([]NodeResult, len(nodes))
	var wg sync.WaitGroup
	for k, n := range nodes {
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer boards[k].finish()
			var sources []BlobSource
			if k > 0 {
				parent := (k - 1) / cfg.Fanout
				sources = append(sources, &treeSource{
					board:   boards[parent],
					peer:    Peer{URL: nodes[parent].URL, Client: cfg.Client},
					timeout: cfg.PeerTimeout,
				})
			}
			res, err := n.Store.AddWith(ctx, img, name, AddOptions{
				Sources: sources,
				OnLayer: func(desc v1.Descriptor) { boards[k].mark(desc.Digest) },
			})
			results[k] = NodeResult{URL: n.URL, Result: res, Err: err}
			cfg.Logger.DebugContext(ctx, "node done", "url", n.URL, "fetched", res.Fetched, "from_peers", res.FromSources, "err", err)
		}()
	}
	wg.Wait()
	for _, r := range results {
		if r.Err != nil {
			return results, fmt.Errorf("imagefs: predistribute to %s: %w", r.URL, r.Err)
		}
	}
	return results, nil
}

// blobBoard tells children which blobs a node holds.
type blobBoard struct {
	mu    sync.Mutex
	ready map[v1.Hash]chan struct{}
	done  chan struct{} // closed when the node's Add returned
	once  sync.Once
}

func (b *blobBoard) ch(h v1.Hash) chan struct{} {
	b.mu.Lock()
	defer b.mu.Unlock()
	c, ok := b.ready[h]
	if !ok {
		c = make(chan struct{})
		b.ready[h] = c
	}
	return c
}

func (b *blobBoard) mark(h v1.Hash) {
	c := b.ch(h)
	b.mu.Lock()
	defer b.mu.Unlock()
	select {
	case <-c:
	default:
		close(c)
	}
}

func (b *blobBoard) finish() { b.once.Do(func() { close(b.done) }) }

// treeSource waits until the parent node holds a blob, then fetches it from
// the parent over HTTP.
type treeSource struct {
	board   *blobBoard
	peer    Peer
	timeout time.Duration
}

// OpenBlob waits for the parent to hold h, then streams it from the
// parent; ErrNotFound sends the caller to the next source.
func (t *treeSource) OpenBlob(ctx context.Context, h v1.Hash) (io.ReadCloser, error) {
	timer := time.NewTimer(t.timeout)
	defer timer.Stop()
	select {
	case <-t.board.ch(h):
	case <-t.board.done:
		// The parent finished (or failed) without this blob, unless it
		// marked it just before finishing.
		select {
		case <-t.board.ch(h):
		default:
			return nil, fmt.Errorf("%w: parent %s ended without %s", ErrNotFound, t.peer.URL, h)
		}
	case <-timer.C:
		return nil, fmt.Errorf("%w: parent %s too slow for %s", ErrNotFound, t.peer.URL, h)
	case <-ctx.Done():
		return nil, ctx.Err()
	}
	rc, err := t.peer.OpenBlob(ctx, h)
	if err != nil && !errors.Is(err, ErrNotFound) {
		return nil, fmt.Errorf("%w: %w", ErrNotFound, err)
	}
	return rc, err
}
