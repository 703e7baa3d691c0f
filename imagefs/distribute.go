package imagefs

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"os"
	"strings"
	"sync"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"golang.org/x/sync/errgroup"
)

// Handler serves the store's blobs to peers over HTTP: GET and HEAD of
// /blobs/sha256/<hex>, with Content-Length and a Docker-Content-Digest
// header.
//
// A complete blob is served from disk with Range support. A blob the store
// is still fetching (in flight, see AddOptions.OnFetch) is streamed as it
// arrives: 200 with the descriptor's size as Content-Length, each chunk
// flushed as soon as it is written, the last byte only once the store has
// verified the whole blob; a Range header is ignored for it (the whole
// blob is sent). If the store's fetch fails, the response is aborted, so
// the client sees a broken transfer, never a complete-looking body. Either
// way a client must verify what it receives (Store.Add does).
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
		if fr := s.openRelay(r.Context(), h); fr != nil {
			serveRelay(w, r, fr)
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
// BlobSource. A peer that is still fetching a blob answers at once and
// streams it as it arrives (cut-through), so a node can follow a peer that
// is itself receiving the blob; a peer that has not begun it answers 404.
type Peer struct {
	// URL is the base URL of the peer's Handler ("http://127.0.0.1:8081").
	URL string
	// Client sends the requests. Default http.DefaultClient.
	Client *http.Client
	// Wait, when positive, keeps asking a peer that has not begun the
	// blob yet (404) or does not answer yet for up to this long, with
	// backoff: a node on another host can so follow its parent in a
	// distribution tree without an in-process signal. Once the peer has
	// begun, its answer streams. Zero asks once.
	Wait time.Duration
	// StallTimeout, when positive, cancels a transfer that delivers no
	// byte for this long (the read fails), so a peer that hangs part-way
	// sends the store on to its next source. Zero waits as long as the
	// context allows.
	StallTimeout time.Duration
}

// OpenBlob fetches a blob from the peer; ErrNotFound when the peer neither
// holds nor is fetching it (after Wait, if set). The body may still be
// arriving at the peer: if the peer's own fetch fails, reading it fails.
// The caller verifies the content (Store.Add does, and falls back to its
// next source when a transfer breaks).
func (p Peer) OpenBlob(ctx context.Context, h v1.Hash) (io.ReadCloser, error) {
	if !validHash(h) {
		return nil, newError(ErrInvalid, "digest %q", h)
	}
	if p.StallTimeout > 0 {
		sctx, cancel := context.WithCancel(ctx)
		rc, err := p.open(sctx, h)
		if err != nil {
			cancel()
			return nil, err
		}
		return newStallReader(rc, cancel, p.StallTimeout), nil
	}
	return p.open(ctx, h)
}

// open asks for h, again and again within Wait.
func (p Peer) open(ctx context.Context, h v1.Hash) (io.ReadCloser, error) {
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
			return nil, ctxError(ctx, "wait for peer")
		}
		delay = min(2*delay, time.Second)
	}
}

func (p Peer) get(ctx context.Context, h v1.Hash) (io.ReadCloser, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, strings.TrimSuffix(p.URL, "/")+"/blobs/sha256/"+h.Hex, nil)
	if err != nil {
		return nil, wrapError(ErrInvalid, err, "peer %q", p.URL)
	}
	c := p.Client
	if c == nil {
		c = http.DefaultClient
	}
	resp, err := c.Do(req)
	if err != nil {
		return nil, wrapError(kindOf(err), err, "peer %s", p.URL)
	}
	switch resp.StatusCode {
	case http.StatusOK:
		return resp.Body, nil
	case http.StatusNotFound:
		_ = resp.Body.Close()
		return nil, newError(ErrNotFound, "blob %s on peer %s", h, p.URL)
	}
	_ = resp.Body.Close()
	return nil, newError(ErrUnavailable, "peer %s: blob %s: %s", p.URL, h, resp.Status)
}

// The BlobSources of the package; imagefstest.ValidateBlobSource checks
// each of them.
var (
	_ BlobSource = (*Store)(nil)
	_ BlobSource = (*Peer)(nil)
	_ BlobSource = (*treeSource)(nil)
	_ BlobSource = (*treeRetry)(nil)
)

// Node is one target of Predistribute: a store on this machine and the URL
// its Handler is served at, for its peers.
type Node struct {
	Store *Store
	URL   string
}

// DistributeConfig configures Predistribute.
//
// Choosing Fanout: every node relays each blob as it arrives (cut-through),
// so a blob pipelines down the tree instead of being stored and passed on
// hop by hop. When the links are the bottleneck — the case pre-distribution
// is for — Fanout 1, a chain, saturates every link: each node uploads to
// exactly one child at its full link rate while it downloads, so N nodes
// take about the time of one plus a small per-hop latency (measured on
// shaped 100 Mbit/s links: 10 nodes in 1.07–1.15× the time of one; a
// fanout of 3 took 3.1×, each child getting a third of its parent's
// uplink). That is the default. A larger fanout makes the tree shallower:
// it suits links much faster than the nodes' disks and CPUs, where per-hop
// latency rather than link rate dominates, or chains so long that a blob's
// per-hop delay adds up.
type DistributeConfig struct {
	// Fanout is how many nodes each node feeds: node i fetches every blob
	// from node (i-1)/Fanout as soon as that node has begun to fetch it
	// (streaming it as it arrives), and node 0 from the image's origin
	// (the registry). Default 1, a chain.
	Fanout int
	// PeerTimeout bounds the wait for a parent to begin a blob, and any
	// stall of a transfer from it (no byte for that long); after it, or
	// when the parent fails, the node falls back to the origin.
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
	return DistributeConfig{Fanout: 1, PeerTimeout: 2 * time.Minute}
}

// withDefaults fills zero fields with their defaults and refuses negative
// ones, naming the field.
func (cfg DistributeConfig) withDefaults() (DistributeConfig, error) {
	switch {
	case cfg.Fanout < 0:
		return cfg, newError(ErrInvalid, "DistributeConfig.Fanout %d < 0", cfg.Fanout)
	case cfg.PeerTimeout < 0:
		return cfg, newError(ErrInvalid, "DistributeConfig.PeerTimeout %v < 0", cfg.PeerTimeout)
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
	return cfg, nil
}

// NodeResult is what Predistribute did on one node.
type NodeResult struct {
	URL    string
	Result AddResult
	Err    error
}

// Predistribute pushes img into every node's store ahead of need, so
// Prepare finds it unpacked. The registry (img's origin) serves each blob
// about once: nodes form a tree of the given fanout, and every node asks
// its parent for a blob as soon as the parent has begun to fetch it; the
// parent streams it while it is still arriving (Store.Handler), so a blob
// flows down the whole tree at once, base layers first (layer role tags),
// each node unpacking it on arrival and verifying it before it keeps it.
//
// When a parent's transfer breaks (the parent died, or its own fetch
// failed), the child asks the parent once more — the parent may have
// started the blob again from elsewhere — and else falls back to the
// origin; a child whose parent never begins the blob within PeerTimeout
// falls back too. A failure so costs the registry one more copy per
// affected subtree, not one per node. It returns one result per node and
// the first error.
func Predistribute(ctx context.Context, img v1.Image, name string, nodes []Node, cfg DistributeConfig) ([]NodeResult, error) {
	cfg, err := cfg.withDefaults()
	if err != nil {
		return nil, err
	}
	for k, n := range nodes {
		if n.Store == nil || n.URL == "" {
			return nil, newError(ErrInvalid, "node %d has no store or URL", k)
		}
	}
	boards := make([]*blobBoard, len(nodes))
	for k := range boards {
		boards[k] = newBlobBoard()
	}
	results := make([]NodeResult, len(nodes))
	// Every node at once, without a limit: a child follows its parent's
	// fetches as they happen, so a node left waiting for a slot would
	// stall its whole subtree. Each node's error is its result's, so the
	// group never cancels.
	var g errgroup.Group
	for k, n := range nodes {
		g.Go(func() error {
			defer boards[k].finish()
			var sources []BlobSource
			if k > 0 {
				parent := (k - 1) / cfg.Fanout
				ts := &treeSource{
					board:    boards[parent],
					peer:     Peer{URL: nodes[parent].URL, Client: cfg.Client, StallTimeout: cfg.PeerTimeout},
					timeout:  cfg.PeerTimeout,
					streamed: map[v1.Hash]int{},
				}
				sources = append(sources, ts, treeRetry{ts})
			}
			res, err := n.Store.AddWith(ctx, img, name, AddOptions{
				Sources: sources,
				OnFetch: func(desc v1.Descriptor) { boards[k].fetching(desc.Digest) },
				OnLayer: func(desc v1.Descriptor) { boards[k].stored(desc.Digest) },
			})
			results[k] = NodeResult{URL: n.URL, Result: res, Err: err}
			cfg.Logger.DebugContext(ctx, "node done", "url", n.URL, "fetched", res.Fetched, "from_peers", res.FromSources, "retried", res.Retried, "err", err)
			return nil
		})
	}
	_ = g.Wait() // the goroutines return nil: errors are in results
	for _, r := range results {
		if r.Err != nil {
			return results, wrapError(kindOf(r.Err), r.Err, "predistribute to %s", r.URL)
		}
	}
	return results, nil
}

// blobBoard tells children what a node is doing with each blob: how many
// fetches of it the node has begun (each one servable while in flight) and
// whether it stored it.
type blobBoard struct {
	mu      sync.Mutex
	blobs   map[v1.Hash]blobState
	done    bool          // the node's Add returned
	changed chan struct{} // closed and replaced on every change
}

type blobState struct {
	fetches int  // fetches begun
	stored  bool // blob stored and layer unpacked
}

func newBlobBoard() *blobBoard {
	return &blobBoard{blobs: map[v1.Hash]blobState{}, changed: make(chan struct{})}
}

func (b *blobBoard) update(f func()) {
	b.mu.Lock()
	defer b.mu.Unlock()
	f()
	close(b.changed)
	b.changed = make(chan struct{})
}

func (b *blobBoard) fetching(h v1.Hash) {
	b.update(func() {
		st := b.blobs[h]
		st.fetches++
		b.blobs[h] = st
	})
}

func (b *blobBoard) stored(h v1.Hash) {
	b.update(func() {
		st := b.blobs[h]
		st.stored = true
		b.blobs[h] = st
	})
}

func (b *blobBoard) finish() { b.update(func() { b.done = true }) }

// wait returns the state of h once the node has stored it or begun more
// than after fetches of it; ErrNotFound when the node finished without
// either, or timeout fires first.
func (b *blobBoard) wait(ctx context.Context, h v1.Hash, after int, timeout <-chan time.Time) (blobState, error) {
	for {
		b.mu.Lock()
		st, done, changed := b.blobs[h], b.done, b.changed
		b.mu.Unlock()
		if st.stored || st.fetches > after {
			return st, nil
		}
		if done {
			return st, newError(ErrNotFound, "parent ended without %s", h)
		}
		select {
		case <-changed:
		case <-timeout:
			return st, newError(ErrNotFound, "parent too slow for %s", h)
		case <-ctx.Done():
			return st, ctxError(ctx, "wait for parent")
		}
	}
}

// treeSource fetches a blob from the parent node over HTTP as soon as the
// parent has begun fetching it, streaming it while it arrives there.
type treeSource struct {
	board   *blobBoard
	peer    Peer
	timeout time.Duration

	mu       sync.Mutex
	streamed map[v1.Hash]int // the parent's fetch count when a stream of h opened
}

// OpenBlob waits for the parent to begin or hold h, then streams it from
// the parent; ErrNotFound sends the caller to the next source.
func (t *treeSource) OpenBlob(ctx context.Context, h v1.Hash) (io.ReadCloser, error) {
	return t.open(ctx, h, 0)
}

// treeRetry is the second chance at the parent after a stream from it
// broke: the parent may have begun the blob again (from the origin, when
// its own source died) or stored it, and the child follows that rather
// than going to the origin itself — so a failure costs the registry one
// copy per subtree, not one per node below it.
type treeRetry struct{ t *treeSource }

// OpenBlob asks the parent again for h once it has begun a newer fetch of
// it or stored it; ErrNotFound when no stream from the parent broke.
func (r treeRetry) OpenBlob(ctx context.Context, h v1.Hash) (io.ReadCloser, error) {
	r.t.mu.Lock()
	after, ok := r.t.streamed[h]
	r.t.mu.Unlock()
	if !ok {
		return nil, newError(ErrNotFound, "no transfer of %s from parent %s to resume", h, r.t.peer.URL)
	}
	return r.t.open(ctx, h, after)
}

func (t *treeSource) open(ctx context.Context, h v1.Hash, after int) (io.ReadCloser, error) {
	timer := time.NewTimer(t.timeout)
	defer timer.Stop()
	for {
		st, err := t.board.wait(ctx, h, after, timer.C)
		if err != nil {
			return nil, wrapError(kindOf(err), err, "parent %s", t.peer.URL)
		}
		rc, err := t.peer.OpenBlob(ctx, h) // the peer's StallTimeout is t.timeout
		if err == nil {
			t.mu.Lock()
			t.streamed[h] = st.fetches
			t.mu.Unlock()
			return rc, nil
		}
		if ctx.Err() != nil {
			return nil, ctxError(ctx, "wait for peer")
		}
		if st.stored || !errors.Is(err, ErrNotFound) {
			// Stored but not served, or not reachable: not from here.
			return nil, wrapError(ErrNotFound, err, "parent %s", t.peer.URL)
		}
		// A 404 between two fetches of the parent (one failed, the next
		// not yet begun): wait for the next.
		after = st.fetches
	}
}

// stallReader cancels a transfer that delivers nothing for wait, so a peer
// that hangs mid-stream sends its reader to the next source.
type stallReader struct {
	rc     io.ReadCloser
	cancel context.CancelFunc
	timer  *time.Timer
	wait   time.Duration
}

func newStallReader(rc io.ReadCloser, cancel context.CancelFunc, wait time.Duration) *stallReader {
	return &stallReader{rc: rc, cancel: cancel, timer: time.AfterFunc(wait, cancel), wait: wait}
}

// Read reads from the transfer; each byte that arrives rearms the timeout.
func (r *stallReader) Read(p []byte) (int, error) {
	n, err := r.rc.Read(p)
	if n > 0 {
		r.timer.Reset(r.wait)
	}
	return n, err
}

// Close ends the transfer.
func (r *stallReader) Close() error {
	r.timer.Stop()
	err := r.rc.Close()
	r.cancel()
	return err
}
