package agent

import (
	"context"
	"crypto/subtle"
	"errors"
	"io"
	"net/http"
	"os"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/shoalkit/shoal/examples/internal/state"
	"github.com/shoalkit/shoal/metrics/prom"
)

// maxTailLines bounds ?tail=N of the logs endpoint.
const maxTailLines = 10000

// Handler is the agent's one HTTP port:
//
//	GET /healthz                    200 while the agent runs
//	GET /metrics                    the node and its containers (cAdvisor's names)
//	GET /blobs/sha256/HEX           image blobs for peers (pre-distribution)
//	GET /v1/logs/ID?tail=N&follow=1 a container's output (bearer token)
//	POST /v1/images/pull            an image into the store ahead of need,
//	                                from a peer agent first (bearer token)
//	POST /v1/instances/ID/snapshot  commit and push an instance (bearer token; see SnapshotRequest)
//	GET /v1/volumes                 the node's data volumes (bearer token; see VolumeInfo)
//	DELETE /v1/volumes/ID           remove a volume for good (bearer token; 409 while its instance is desired or runs)
//
// Anything that reveals a container's data or acts needs the cluster's
// token (TokenKey in etcd), as "Authorization: Bearer TOKEN".
func (a *Agent) Handler() (http.Handler, error) {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) {
		_, _ = io.WriteString(w, "ok\n")
	})
	if a.cfg.Metrics != nil {
		// A scrape serves the collector's last snapshot (Run, in the
		// agent's errgroup) as text: no sampling and no Gather per scrape.
		exp, err := prom.New(a.cfg.Metrics, prom.Config{Logger: a.log})
		if err != nil {
			return nil, err
		}
		mux.Handle("GET /metrics", exp.Handler(nil))
	} else {
		mux.Handle("GET /metrics", promhttp.HandlerFor(prometheus.NewRegistry(), promhttp.HandlerOpts{}))
	}
	mux.Handle("/blobs/", a.cfg.Store.Handler())
	mux.Handle("GET /v1/logs/{id}", a.tokens.require(http.HandlerFunc(a.serveLogs)))
	mux.Handle("POST /v1/images/pull", a.tokens.require(http.HandlerFunc(a.servePull)))
	mux.Handle("POST /v1/instances/{id}/snapshot", a.tokens.require(http.HandlerFunc(a.serveSnapshot)))
	mux.Handle("GET /v1/volumes", a.tokens.require(http.HandlerFunc(a.serveVolumes)))
	mux.Handle("DELETE /v1/volumes/{id}", a.tokens.require(http.HandlerFunc(a.serveDeleteVolume)))
	return mux, nil
}

// tokenCache holds the cluster's token, read from etcd; a request with
// another token makes it read again, at most once a second, so a rotated
// token is picked up without letting callers hammer etcd.
type tokenCache struct {
	get func(ctx context.Context) (string, error)

	mu     sync.Mutex
	token  string
	readAt time.Time
}

func (c *tokenCache) current(ctx context.Context, refresh bool) string {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.token != "" && (!refresh || time.Since(c.readAt) < time.Second) {
		return c.token
	}
	if tok, err := c.get(ctx); err == nil {
		c.token, c.readAt = tok, time.Now()
	}
	return c.token
}

// require answers 401 unless the request carries the cluster's token.
func (c *tokenCache) require(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		got, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
		if ok && got != "" {
			for _, refresh := range []bool{false, true} {
				want := c.current(r.Context(), refresh)
				if want != "" && subtle.ConstantTimeCompare([]byte(got), []byte(want)) == 1 {
					next.ServeHTTP(w, r)
					return
				}
			}
		}
		w.Header().Set("WWW-Authenticate", `Bearer realm="shoal"`)
		http.Error(w, "a bearer token is required", http.StatusUnauthorized)
	})
}

// readToken reads the cluster's token from etcd.
func (a *Agent) readToken(ctx context.Context) (string, error) {
	resp, err := a.cfg.Etcd.Get(ctx, state.TokenKey)
	if err != nil {
		return "", err
	}
	if len(resp.Kvs) == 0 || len(resp.Kvs[0].Value) == 0 {
		return "", errors.New("agent: no cluster token in etcd")
	}
	return string(resp.Kvs[0].Value), nil
}

// serveLogs writes a container's output: the last tail lines (all when
// absent), then, with follow, what it writes until the client goes away.
func (a *Agent) serveLogs(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("id")
	if !state.ValidName(id) {
		http.Error(w, "not an instance id", http.StatusBadRequest)
		return
	}
	tail := -1
	if s := r.URL.Query().Get("tail"); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil || n < 0 || n > maxTailLines {
			http.Error(w, "tail: want 0.."+strconv.Itoa(maxTailLines), http.StatusBadRequest)
			return
		}
		tail = n
	}
	f, err := os.Open(a.cfg.Runtime.LogPath(id))
	if errors.Is(err, os.ErrNotExist) {
		http.Error(w, "no logs for "+id, http.StatusNotFound)
		return
	}
	if err != nil {
		http.Error(w, "reading logs failed", http.StatusInternalServerError)
		return
	}
	defer f.Close()
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	off, err := tailOffset(f, tail)
	if err != nil {
		http.Error(w, "reading logs failed", http.StatusInternalServerError)
		return
	}
	follow := r.URL.Query().Get("follow") == "1" || r.URL.Query().Get("follow") == "true"
	flusher, _ := w.(http.Flusher)
	for {
		n, err := copyFrom(w, f, off)
		off += n
		if err != nil || !follow {
			return
		}
		if flusher != nil {
			flusher.Flush()
		}
		select {
		case <-r.Context().Done():
			return
		case <-time.After(200 * time.Millisecond):
		}
		if fi, err := f.Stat(); err == nil && fi.Size() < off {
			off = 0 // rotated: copytruncate started the file again
		}
	}
}

// copyFrom copies f from off to its current end.
func copyFrom(w io.Writer, f *os.File, off int64) (int64, error) {
	fi, err := f.Stat()
	if err != nil || fi.Size() <= off {
		return 0, err
	}
	return io.Copy(w, io.NewSectionReader(f, off, fi.Size()-off))
}

// tailOffset is where the last n lines of f start (0 for n < 0). It reads
// backwards in blocks, so a large log costs only its tail.
func tailOffset(f *os.File, n int) (int64, error) {
	if n < 0 {
		return 0, nil
	}
	fi, err := f.Stat()
	if err != nil {
		return 0, err
	}
	end := fi.Size()
	if end == 0 {
		return 0, nil
	}
	const block = 8192
	buf := make([]byte, block)
	lines := 0
	// A final newline ends the last line rather than starting another.
	pos := end
	for pos > 0 {
		size := int64(block)
		if pos < size {
			size = pos
		}
		pos -= size
		if _, err := f.ReadAt(buf[:size], pos); err != nil && !errors.Is(err, io.EOF) {
			return 0, err
		}
		for i := size - 1; i >= 0; i-- {
			if buf[i] != '\n' || pos+i == end-1 {
				continue
			}
			lines++
			if lines == n {
				return pos + i + 1, nil
			}
		}
	}
	return 0, nil
}
