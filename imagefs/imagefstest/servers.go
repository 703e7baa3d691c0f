package imagefstest

import (
	"context"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"sync/atomic"
	"testing"

	"github.com/google/go-containerregistry/pkg/registry"

	"github.com/shoalkit/shoal/internal/testenv"
)

// Serve serves h on 127.0.0.1 at a port below 32768 until the test ends and
// returns its "host:port".
func Serve(tb testing.TB, h http.Handler) string {
	tb.Helper()
	var (
		l   net.Listener
		err error
	)
	for range 20 {
		var lc net.ListenConfig
		l, err = lc.Listen(context.Background(), "tcp", fmt.Sprintf("127.0.0.1:%d", testenv.FreePort(tb)))
		if err == nil {
			break
		}
	}
	if err != nil {
		tb.Fatalf("imagefstest: listen: %v", err)
	}
	srv := httptest.NewUnstartedServer(h)
	_ = srv.Listener.Close()
	srv.Listener = l
	srv.Start()
	tb.Cleanup(srv.Close)
	return l.Addr().String()
}

// StartRegistry starts go-containerregistry's in-process OCI registry on
// loopback and returns its "host:port".
func StartRegistry(tb testing.TB) string {
	tb.Helper()
	return Serve(tb, registry.New(registry.Logger(log.New(io.Discard, "", 0))))
}

// Proxy is a reverse proxy in front of a registry that counts the bytes it
// sends to clients (the registry's egress) and can fail requests.
type Proxy struct {
	Addr     string       // "127.0.0.1:PORT", for image references
	bytes    atomic.Int64 // response body bytes sent
	requests atomic.Int64
	// failNext makes the next n requests answer 503 before reaching the
	// registry.
	failNext atomic.Int64
	corrupt  atomic.Bool
}

// StartProxy starts a counting reverse proxy to the registry at addr.
func StartProxy(tb testing.TB, addr string) *Proxy {
	tb.Helper()
	target, err := url.Parse("http://" + addr)
	if err != nil {
		tb.Fatalf("imagefstest: %v", err)
	}
	p := &Proxy{}
	rp := httputil.NewSingleHostReverseProxy(target)
	p.Addr = Serve(tb, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		p.requests.Add(1)
		if p.failNext.Load() > 0 && p.failNext.Add(-1) >= 0 {
			http.Error(w, "imagefstest: injected failure", http.StatusServiceUnavailable)
			return
		}
		rp.ServeHTTP(&countingWriter{ResponseWriter: w, p: p, blob: r.Method == http.MethodGet && isBlobPath(r.URL.Path)}, r)
	}))
	return p
}

func isBlobPath(p string) bool {
	for i := 0; i+7 <= len(p); i++ {
		if p[i:i+7] == "/blobs/" {
			return true
		}
	}
	return false
}

// Bytes returns the response body bytes sent so far.
func (p *Proxy) Bytes() int64 { return p.bytes.Load() }

// Requests returns the number of requests seen so far.
func (p *Proxy) Requests() int64 { return p.requests.Load() }

// Reset zeroes the counters.
func (p *Proxy) Reset() { p.bytes.Store(0); p.requests.Store(0) }

// FailNext makes the next n requests fail with 503.
func (p *Proxy) FailNext(n int) { p.failNext.Store(int64(n)) }

// Corrupt flips a byte in every blob body from now on.
func (p *Proxy) Corrupt(on bool) { p.corrupt.Store(on) }

type countingWriter struct {
	http.ResponseWriter
	p       *Proxy
	blob    bool
	flipped bool
}

func (c *countingWriter) Write(b []byte) (int, error) {
	c.p.bytes.Add(int64(len(b)))
	if c.blob && c.p.corrupt.Load() && !c.flipped && len(b) > 0 {
		b = append([]byte(nil), b...)
		b[len(b)/2] ^= 0x55
		c.flipped = true
	}
	return c.ResponseWriter.Write(b)
}
