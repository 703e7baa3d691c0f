package imagefs_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"

	"github.com/shoalkit/shoal/imagefs"
	"github.com/shoalkit/shoal/imagefs/imagefstest"
	"github.com/shoalkit/shoal/internal/testenv"
)

// noise returns n incompressible bytes, the same for the same seed.
func noise(n int, seed uint64) []byte {
	r := rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15))
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(r.Uint32())
	}
	return b
}

func compressedBlob(t testing.TB, l v1.Layer) []byte {
	t.Helper()
	rc, err := l.Compressed()
	if err != nil {
		t.Fatal(err)
	}
	defer rc.Close()
	b, err := io.ReadAll(rc)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// gateMode is what a gated blob does once its gate opens.
type gateMode int

const (
	gateOK          gateMode = iota // the rest of the blob
	gateFail                        // a read error
	gateCorrupt                     // the rest with one byte flipped
	gateCorruptLast                 // the rest with its last byte flipped
	gateTruncate                    // io.EOF halfway through the rest
)

var errInjected = errors.New("injected read failure")

// gate holds blobs at a cut until it opens; once open it stays open.
type gate struct {
	open    chan struct{}
	stop    <-chan struct{} // the test ended
	once    sync.Once
	reached chan struct{} // closed the first time a reader reaches the cut
	rOnce   sync.Once
}

func newGate(t *testing.T) *gate {
	return &gate{open: make(chan struct{}), stop: t.Context().Done(), reached: make(chan struct{})}
}

func (g *gate) release() { g.once.Do(func() { close(g.open) }) }

// gatedReader passes the first cut bytes of r, waits for the gate, then
// behaves as mode says.
type gatedReader struct {
	r    io.ReadCloser
	g    *gate
	cut  int64
	mode gateMode
	size int64 // of the blob, for gateCorruptLast
	off  int64
}

func (r *gatedReader) Read(p []byte) (int, error) {
	if r.off >= r.cut {
		r.g.rOnce.Do(func() { close(r.g.reached) })
		select {
		case <-r.g.open:
		case <-r.g.stop:
			return 0, errors.New("test ended")
		}
		switch r.mode {
		case gateFail:
			return 0, errInjected
		case gateTruncate:
			if r.off >= r.cut+(r.cut/2) {
				return 0, io.EOF
			}
		}
	} else if int64(len(p)) > r.cut-r.off {
		p = p[:r.cut-r.off]
	}
	n, err := r.r.Read(p)
	flip := int64(-1)
	switch r.mode {
	case gateCorrupt:
		flip = r.cut + 1
	case gateCorruptLast:
		flip = r.size - 1
	}
	if flip >= r.off && flip < r.off+int64(n) {
		p[flip-r.off] ^= 0x5a
	}
	r.off += int64(n)
	return n, err
}

func (r *gatedReader) Close() error { return r.r.Close() }

// gatedLayer serves its blob through a gatedReader.
type gatedLayer struct {
	v1.Layer
	g    *gate
	cut  int64
	mode gateMode
	// once, when set, gates only the first fetch; later ones flow.
	once *sync.Once
}

func (l gatedLayer) Compressed() (io.ReadCloser, error) {
	rc, err := l.Layer.Compressed()
	if err != nil {
		return nil, err
	}
	if l.once != nil {
		first := false
		l.once.Do(func() { first = true })
		if !first {
			return rc, nil
		}
	}
	size, err := l.Size()
	if err != nil {
		return nil, err
	}
	return &gatedReader{r: rc, g: l.g, cut: l.cut, mode: l.mode, size: size}, nil
}

// gatedImage is an image whose origin serves some blobs gated.
type gatedImage struct {
	v1.Image
	gated map[v1.Hash]v1.Layer
}

func (g gatedImage) LayerByDigest(h v1.Hash) (v1.Layer, error) {
	if l, ok := g.gated[h]; ok {
		return l, nil
	}
	return g.Image.LayerByDigest(h)
}

// relayImage is a large base layer of incompressible bytes and a small app
// layer.
func relayImage(t *testing.T, size int) (v1.Image, imagefs.AnnotatedLayer, []byte) {
	t.Helper()
	body := noise(size, uint64(size))
	big := tarLayer(t, imagefs.Compression{}, imagefs.RoleBase,
		imagefstest.Entry{Name: "big", Body: body},
		imagefstest.Entry{Name: "after", Body: []byte("after the big file")})
	app := tarLayer(t, imagefs.Compression{}, imagefs.RoleApp, imagefstest.Entry{Name: "app", Body: []byte("app")})
	return newImage(t, big, app), big, body
}

// addUntilFetching adds origin to s in the background and returns once s
// has begun to fetch the blob digest; Add's error arrives on the channel.
func addUntilFetching(t *testing.T, s *imagefs.Store, origin v1.Image, digest v1.Hash) <-chan error {
	t.Helper()
	fetching := make(chan struct{})
	var once sync.Once
	done := make(chan error, 1)
	go func() {
		_, err := s.AddWith(t.Context(), origin, "x", imagefs.AddOptions{OnFetch: func(d v1.Descriptor) {
			if d.Digest == digest {
				once.Do(func() { close(fetching) })
			}
		}})
		done <- err
	}()
	waitFor(t, "the store to begin the blob", fetching)
	return done
}

func waitFor(t *testing.T, what string, ch <-chan struct{}) {
	t.Helper()
	select {
	case <-ch:
	case <-time.After(20 * time.Second):
		t.Fatalf("timed out waiting for %s", what)
	}
}

func get(t *testing.T, method, url string, header http.Header) *http.Response {
	t.Helper()
	req, err := http.NewRequestWithContext(t.Context(), method, url, nil)
	if err != nil {
		t.Fatal(err)
	}
	for k, v := range header {
		req.Header[k] = v
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	return resp
}

func blobURL(base string, h v1.Hash) string { return base + "/blobs/sha256/" + h.Hex }

func sha256Hex(b []byte) string {
	s := sha256.Sum256(b)
	return hex.EncodeToString(s[:])
}

// TestHandlerStreamsInFlightBlob reads half of a blob from a store whose
// origin has delivered only that half, and the rest once it arrives; a
// child store follows the same stream through Peer.
func TestHandlerStreamsInFlightBlob(t *testing.T) {
	ctx := t.Context()
	img, big, body := relayImage(t, 1<<20)
	origin, g, digest, blob := heldMidBlob(t, img, big.Layer)
	half := int64(len(blob) / 2)

	parent := openStore(t)
	url := "http://" + imagefstest.Serve(t, parent.Handler())
	parentDone := addUntilFetching(t, parent, origin, digest)

	head := get(t, http.MethodHead, blobURL(url, digest), nil)
	_ = head.Body.Close()
	if head.StatusCode != http.StatusOK || head.ContentLength != int64(len(blob)) {
		t.Fatalf("HEAD in flight: %s, length %d; want 200, %d", head.Status, head.ContentLength, len(blob))
	}

	child := openStore(t)
	childDone := make(chan error, 1)
	var childRes imagefs.AddResult
	go func() {
		var err error
		// Wait: the small blob may not be begun yet at the parent.
		childRes, err = child.Add(ctx, noOrigin{img}, "x", imagefs.Peer{URL: url, Wait: 20 * time.Second})
		childDone <- err
	}()

	// A Range is ignored while the blob is in flight: the whole blob.
	resp := get(t, http.MethodGet, blobURL(url, digest), http.Header{"Range": {"bytes=0-9"}})
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK || resp.ContentLength != int64(len(blob)) {
		t.Fatalf("GET in flight: %s, length %d; want 200, %d", resp.Status, resp.ContentLength, len(blob))
	}
	if got := resp.Header.Get("Docker-Content-Digest"); got != digest.String() {
		t.Fatalf("Docker-Content-Digest %q, want %s", got, digest)
	}
	got := make([]byte, len(blob))
	if _, err := io.ReadFull(resp.Body, got[:half]); err != nil {
		t.Fatalf("reading the first half while the origin is held: %v", err)
	}
	if !bytes.Equal(got[:half], blob[:half]) {
		t.Fatal("first half differs from the blob's prefix")
	}
	select {
	case err := <-parentDone:
		t.Fatalf("parent finished while its origin was held: %v", err)
	case err := <-childDone:
		t.Fatalf("child finished while the parent's origin was held: %v", err)
	default:
	}
	if parent.HasBlob(digest) {
		t.Fatal("parent holds the blob while its origin is held")
	}

	g.release()
	if _, err := io.ReadFull(resp.Body, got[half:]); err != nil {
		t.Fatalf("reading the rest: %v", err)
	}
	if n, err := resp.Body.Read(make([]byte, 1)); n != 0 || !errors.Is(err, io.EOF) {
		t.Fatalf("after the blob: %d bytes, %v; want io.EOF", n, err)
	}
	if !bytes.Equal(got, blob) || sha256Hex(got) != digest.Hex {
		t.Fatal("streamed body differs from the blob")
	}
	if err := <-parentDone; err != nil {
		t.Fatalf("parent Add: %v", err)
	}
	if err := <-childDone; err != nil {
		t.Fatalf("child Add: %v", err)
	}
	if childRes.Fetched != 2 || childRes.FromSources != 2 || childRes.Retried != 0 {
		t.Fatalf("child result %+v, want 2 blobs from the peer, no retry", childRes)
	}
	diffID, _ := big.Layer.DiffID()
	if b, err := os.ReadFile(filepath.Join(child.LayerDir(diffID), "big")); err != nil || !bytes.Equal(b, body) {
		t.Fatalf("child's unpacked big file: %d bytes, %v", len(b), err)
	}
	stored, err := child.Image(context.Background(), "x")
	if err != nil {
		t.Fatal(err)
	}
	if err := imagefs.Validate(ctx, stored, imagefs.ValidateOptions{}); err != nil {
		t.Fatalf("child's image: %v", err)
	}

	// Complete, the blob is served from disk, with Range.
	ranged := get(t, http.MethodGet, blobURL(url, digest), http.Header{"Range": {"bytes=0-9"}})
	defer ranged.Body.Close()
	part, _ := io.ReadAll(ranged.Body)
	if ranged.StatusCode != http.StatusPartialContent || !bytes.Equal(part, blob[:10]) {
		t.Fatalf("GET range of a stored blob: %s, %d bytes", ranged.Status, len(part))
	}
}

// TestInFlightReadersSeeWriterFailure has the origin fail in several ways
// after half a blob: readers following it over HTTP and in process get an
// error, never a body that looks complete, and the store keeps nothing.
func TestInFlightReadersSeeWriterFailure(t *testing.T) {
	for _, c := range []struct {
		name string
		mode gateMode
	}{
		{"read error", gateFail},
		{"flipped byte", gateCorrupt},
		// Found only once every byte is in: the last one is held back.
		{"flipped last byte", gateCorruptLast},
		{"cut short", gateTruncate},
	} {
		t.Run(c.name, func(t *testing.T) {
			ctx := t.Context()
			img, big, _ := relayImage(t, 512<<10)
			blob := compressedBlob(t, big.Layer)
			digest, _ := big.Layer.Digest()
			half := int64(len(blob) / 2)
			g := newGate(t)
			origin := gatedImage{Image: img, gated: map[v1.Hash]v1.Layer{digest: gatedLayer{Layer: big.Layer, g: g, cut: half, mode: c.mode}}}
			s := openStore(t)
			url := "http://" + imagefstest.Serve(t, s.Handler())
			done := addUntilFetching(t, s, origin, digest)
			resp := get(t, http.MethodGet, blobURL(url, digest), nil)
			defer resp.Body.Close()
			local, err := s.OpenBlob(ctx, digest)
			if err != nil {
				t.Fatalf("OpenBlob in flight: %v", err)
			}
			defer local.Close()
			for name, r := range map[string]io.Reader{"http": resp.Body, "local": local} {
				if _, err := io.ReadFull(r, make([]byte, half)); err != nil {
					t.Fatalf("%s: first half: %v", name, err)
				}
			}
			g.release()
			for name, r := range map[string]io.Reader{"http": resp.Body, "local": local} {
				rest, err := io.ReadAll(r)
				if err == nil {
					t.Errorf("%s: read %d more bytes and a clean end (%d of %d in all); want an error", name, len(rest), half+int64(len(rest)), len(blob))
				}
				if half+int64(len(rest)) >= int64(len(blob)) {
					t.Errorf("%s: got all %d bytes of a failed blob", name, len(blob))
				}
			}
			err = <-done
			if err == nil {
				t.Fatal("Add succeeded with a failing origin")
			}
			if c.mode == gateFail && !errors.Is(err, errInjected) {
				t.Errorf("Add err = %v, want the origin's", err)
			}
			after := get(t, http.MethodGet, blobURL(url, digest), nil)
			_ = after.Body.Close()
			if after.StatusCode != http.StatusNotFound {
				t.Errorf("GET after the failure: %s, want 404", after.Status)
			}
			if _, err := s.OpenBlob(ctx, digest); !errors.Is(err, imagefs.ErrNotFound) {
				t.Errorf("OpenBlob after the failure: %v, want ErrNotFound", err)
			}
			assertNoTrace(t, s, big.Layer)
		})
	}
}

// failingSource serves blobs of img but breaks them as mode says, without
// a gate: cut bytes, then the failure.
type failingSource struct {
	img  v1.Image
	only v1.Hash // the one blob it holds; any when empty
	cut  int64
	mode gateMode
}

func (f failingSource) OpenBlob(_ context.Context, h v1.Hash) (io.ReadCloser, error) {
	if f.only.Hex != "" && h != f.only {
		return nil, fmt.Errorf("%w: %s", imagefs.ErrNotFound, h)
	}
	l, err := f.img.LayerByDigest(h)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", imagefs.ErrNotFound, err)
	}
	rc, err := l.Compressed()
	if err != nil {
		return nil, err
	}
	g := &gate{open: make(chan struct{}), reached: make(chan struct{})}
	g.release()
	return &gatedReader{r: rc, g: g, cut: f.cut, mode: f.mode}, nil
}

// TestAddFallsBackWhenSourceFailsMidStream: a source that dies, lies or
// stops short part-way through a blob is replaced by the next source, then
// by the origin, whose failure is final; nothing half-written stays.
func TestAddFallsBackWhenSourceFailsMidStream(t *testing.T) {
	img, big, body := relayImage(t, 256<<10)
	digest, _ := big.Layer.Digest()
	diffID, _ := big.Layer.DiffID()
	cut := int64(len(compressedBlob(t, big.Layer)) / 3)
	dies := failingSource{img: img, only: digest, cut: cut, mode: gateFail}
	cases := []struct {
		name        string
		origin      v1.Image
		sources     []imagefs.BlobSource
		wantErr     error
		fromSources int
		retried     int
	}{
		{"source dies, origin serves", img, []imagefs.BlobSource{dies}, nil, 0, 1},
		{"source lies, origin serves", img, []imagefs.BlobSource{failingSource{img: img, only: digest, cut: cut, mode: gateCorrupt}}, nil, 0, 1},
		{"source stops short, origin serves", img, []imagefs.BlobSource{failingSource{img: img, only: digest, cut: cut, mode: gateTruncate}}, nil, 0, 1},
		{"next source serves", noOrigin{img}, []imagefs.BlobSource{dies, failingSource{img: img, cut: 1 << 40}}, nil, 2, 1},
		{"origin refuses after a source died", noOrigin{img}, []imagefs.BlobSource{dies}, errNoOrigin, 0, 0},
		{"origin dies: final", failingOrigin{Image: img, cut: cut}, nil, errInjected, 0, 0},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			s := openStore(t)
			res, err := s.Add(t.Context(), c.origin, "x", c.sources...)
			if c.wantErr != nil {
				if !errors.Is(err, c.wantErr) {
					t.Fatalf("err = %v, want %v", err, c.wantErr)
				}
				assertNoTrace(t, s, big.Layer)
				return
			}
			if err != nil {
				t.Fatalf("Add: %v", err)
			}
			if res.FromSources != c.fromSources || res.Retried != c.retried || res.Fetched != 2 || res.Unpacked != 2 {
				t.Fatalf("result %+v, want %d from sources, %d retried", res, c.fromSources, c.retried)
			}
			if b, err := os.ReadFile(filepath.Join(s.LayerDir(diffID), "big")); err != nil || !bytes.Equal(b, body) {
				t.Fatalf("unpacked big file: %d bytes, %v", len(b), err)
			}
			rc, err := s.OpenBlob(t.Context(), digest)
			if err != nil {
				t.Fatal(err)
			}
			stored, _ := io.ReadAll(rc)
			_ = rc.Close()
			if sha256Hex(stored) != digest.Hex {
				t.Fatal("stored blob does not match its digest")
			}
			if ents, _ := os.ReadDir(filepath.Join(s.Root(), "tmp")); len(ents) != 0 {
				t.Fatalf("tmp/ holds %d entries", len(ents))
			}
		})
	}
}

// failingOrigin is an image whose origin breaks every layer blob after cut
// bytes.
type failingOrigin struct {
	v1.Image
	cut int64
}

func (f failingOrigin) LayerByDigest(h v1.Hash) (v1.Layer, error) {
	l, err := f.Image.LayerByDigest(h)
	if err != nil {
		return nil, err
	}
	g := &gate{open: make(chan struct{}), reached: make(chan struct{})}
	g.release()
	return gatedLayer{Layer: l, g: g, cut: f.cut, mode: gateFail}, nil
}

// assertNoTrace checks that a failed blob left nothing: no temp files, no
// blob, no layer, no image.
func assertNoTrace(t *testing.T, s *imagefs.Store, l v1.Layer) {
	t.Helper()
	digest, _ := l.Digest()
	diffID, _ := l.DiffID()
	if ents, _ := os.ReadDir(filepath.Join(s.Root(), "tmp")); len(ents) != 0 {
		t.Errorf("tmp/ holds %d entries (first %s)", len(ents), ents[0].Name())
	}
	if s.HasBlob(digest) {
		t.Error("failed blob stored")
	}
	if _, err := os.Stat(s.LayerDir(diffID)); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("failed layer unpacked (%v)", err)
	}
	if imgs, err := s.Images(context.Background()); err != nil || len(imgs) != 0 {
		t.Errorf("Images = %v, %v; want none", imgs, err)
	}
}

// pushedBigImage pushes a big image through a counting proxy to an
// in-process registry and pulls it back, so the origin's egress is counted.
func pushedBigImage(t *testing.T, size int) (*imagefstest.Proxy, v1.Image, v1.Image, imagefs.AnnotatedLayer) {
	t.Helper()
	proxy := imagefstest.StartProxy(t, imagefstest.StartRegistry(t))
	img, big, _ := relayImage(t, size)
	ref := proxy.Addr + "/shoal/relay:1"
	if _, err := imagefs.Push(t.Context(), img, ref, fastRemote()); err != nil {
		t.Fatal(err)
	}
	pulled, err := imagefs.Pull(t.Context(), ref, fastRemote())
	if err != nil {
		t.Fatal(err)
	}
	proxy.Reset()
	return proxy, img, pulled, big
}

// waitInFlight polls a node's Handler until it answers HEAD for h.
func waitInFlight(t *testing.T, url string, h v1.Hash) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for time.Now().Before(deadline) {
		resp := get(t, http.MethodHead, blobURL(url, h), nil)
		_ = resp.Body.Close()
		if resp.StatusCode == http.StatusOK {
			return
		}
		time.Sleep(5 * time.Millisecond)
	}
	t.Fatalf("%s never began %s", url, h)
}

func checkNodes(t *testing.T, ns []imagefs.Node, name string) {
	t.Helper()
	for k, n := range ns {
		stored, err := n.Store.Image(context.Background(), name)
		if err != nil {
			t.Errorf("node %d: %v", k, err)
			continue
		}
		if err := imagefs.Validate(t.Context(), stored, imagefs.ValidateOptions{}); err != nil {
			t.Errorf("node %d holds a bad image: %v", k, err)
		}
		if ents, _ := os.ReadDir(filepath.Join(n.Store.Root(), "tmp")); len(ents) != 0 {
			t.Errorf("node %d: tmp/ holds %d entries", k, len(ents))
		}
	}
}

// TestPredistributeChainCutThrough distributes along a chain of six nodes
// while the origin holds the big blob at its middle: the last node already
// serves that half before the first node has the blob — cut-through — and
// the registry still sends the image about once.
func TestPredistributeChainCutThrough(t *testing.T) {
	ctx := t.Context()
	proxy, img, pulled, big := pushedBigImage(t, 2<<20)
	origin, g, digest, blob := heldMidBlob(t, pulled, big.Layer)
	half := int64(len(blob) / 2)
	ns := startNodes(t, 6)
	done := predistributeInBackground(ctx, origin, "relay:1", ns, imagefs.DistributeConfig{Fanout: 1})
	last := ns[len(ns)-1].URL
	waitInFlight(t, last, digest)
	resp := get(t, http.MethodGet, blobURL(last, digest), nil)
	defer resp.Body.Close()
	got := make([]byte, len(blob))
	if _, err := io.ReadFull(resp.Body, got[:half]); err != nil {
		t.Fatalf("reading the first half from the last node: %v", err)
	}
	if !bytes.Equal(got[:half], blob[:half]) {
		t.Fatal("the last node serves wrong bytes")
	}
	for k, n := range ns {
		if n.Store.HasBlob(digest) {
			t.Fatalf("node %d holds the blob while the origin is held mid-blob", k)
		}
	}
	g.release()
	if _, err := io.ReadFull(resp.Body, got[half:]); err != nil || !bytes.Equal(got, blob) {
		t.Fatalf("the rest from the last node: %v", err)
	}
	o := <-done
	if o.err != nil {
		t.Fatalf("Predistribute: %v", o.err)
	}
	for k, r := range o.res {
		want := 2
		if k == 0 {
			want = 0
		}
		if r.Result.FromSources != want || r.Result.Unpacked != 2 || r.Result.Retried != 0 {
			t.Errorf("node %d: %+v, want %d blobs from its parent, 2 unpacked, no retry", k, r.Result, want)
		}
	}
	checkNodes(t, ns, "relay:1")
	size := imageBlobBytes(t, img)
	egress := proxy.Bytes()
	t.Logf("registry egress %d bytes for an image of %d bytes (%.2fx)", egress, size, float64(egress)/float64(size))
	if egress > size*12/10 {
		t.Errorf("registry egress %d > 1.2 × image %d", egress, size)
	}
}

// heldMidBlob is the image with l's blob held by a gate at its
// middle; it returns the gated origin, the gate, and the blob's digest and
// bytes.
func heldMidBlob(t *testing.T, img v1.Image, l v1.Layer) (gatedImage, *gate, v1.Hash, []byte) {
	t.Helper()
	digest, _ := l.Digest()
	blob := compressedBlob(t, l)
	layer, err := img.LayerByDigest(digest)
	if err != nil {
		t.Fatal(err)
	}
	g := newGate(t)
	return gatedImage{Image: img, gated: map[v1.Hash]v1.Layer{digest: gatedLayer{Layer: layer, g: g, cut: int64(len(blob) / 2)}}}, g, digest, blob
}

// distributeOutcome is what Predistribute returned.
type distributeOutcome struct {
	res []imagefs.NodeResult
	err error
}

// predistributeInBackground runs Predistribute on its own goroutine, for a
// test that watches the nodes while a gate holds the origin.
func predistributeInBackground(ctx context.Context, origin v1.Image, name string, ns []imagefs.Node, cfg imagefs.DistributeConfig) <-chan distributeOutcome {
	done := make(chan distributeOutcome, 1)
	go func() {
		res, err := imagefs.Predistribute(ctx, origin, name, ns, cfg)
		done <- distributeOutcome{res, err}
	}()
	return done
}

// serveKillable serves h on loopback like imagefstest.Serve, with a kill
// that drops the server and its connections at once, as a dying node.
func serveKillable(t *testing.T, h http.Handler) (string, func()) {
	t.Helper()
	var (
		l   net.Listener
		err error
	)
	for range 20 {
		var lc net.ListenConfig
		l, err = lc.Listen(t.Context(), "tcp", "127.0.0.1:"+strconv.Itoa(testenv.FreePort(t)))
		if err == nil {
			break
		}
	}
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewUnstartedServer(h)
	_ = srv.Listener.Close()
	srv.Listener = l
	srv.Start()
	var once sync.Once
	kill := func() {
		once.Do(func() {
			srv.CloseClientConnections()
			srv.Close()
		})
	}
	t.Cleanup(kill)
	return "http://" + l.Addr().String(), kill
}

// TestPredistributeParentDiesMidStream kills the second node of a chain
// while a blob streams through it: its child falls back to the origin, the
// nodes below follow their parent's new fetch instead of the origin, and
// every node ends with the whole, valid image and no temp files.
func TestPredistributeParentDiesMidStream(t *testing.T) {
	ctx := t.Context()
	proxy, img, pulled, big := pushedBigImage(t, 1<<20)
	origin, g, digest, blob := heldMidBlob(t, pulled, big.Layer)
	half := int64(len(blob) / 2)
	ns := startNodes(t, 5)
	var kill func()
	ns[1].URL, kill = serveKillable(t, ns[1].Store.Handler())
	done := predistributeInBackground(ctx, origin, "relay:1", ns, imagefs.DistributeConfig{Fanout: 1})
	// The blob streams through node 1 down to the last node.
	last := ns[len(ns)-1].URL
	waitInFlight(t, last, digest)
	resp := get(t, http.MethodGet, blobURL(last, digest), nil)
	if _, err := io.ReadFull(resp.Body, make([]byte, half)); err != nil {
		t.Fatalf("reading the first half from the last node: %v", err)
	}
	_ = resp.Body.Close()
	kill()
	g.release()
	o := <-done
	if o.err != nil {
		t.Fatalf("Predistribute: %v", o.err)
	}
	if r := o.res[2].Result; r.Retried < 1 {
		t.Errorf("node 2 (child of the dead node): %+v, want a retry", r)
	}
	for _, k := range []int{1, 3, 4} {
		if r := o.res[k].Result; r.FromSources != 2 {
			t.Errorf("node %d: %+v, want both blobs from its parent", k, r)
		}
	}
	for k := 3; k < len(ns); k++ {
		if r := o.res[k].Result; r.Retried < 1 {
			t.Errorf("node %d: %+v, want a retry after its parent's stream broke", k, r)
		}
	}
	checkNodes(t, ns, "relay:1")
	size := imageBlobBytes(t, img)
	t.Logf("registry egress %d bytes for an image of %d bytes (%.2fx)", proxy.Bytes(), size, float64(proxy.Bytes())/float64(size))
	if egress := proxy.Bytes(); egress > size*25/10 {
		t.Errorf("registry egress %d > 2.5 × image %d: more than the dead node's subtree fell back", egress, size)
	}
}

// openUnder lists the process's open files under dir (deleted ones too).
func openUnder(t *testing.T, dir string) []string {
	t.Helper()
	ents, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		t.Skipf("no /proc/self/fd: %v", err)
	}
	var out []string
	for _, e := range ents {
		target, err := os.Readlink(filepath.Join("/proc/self/fd", e.Name()))
		if err == nil && strings.HasPrefix(target, dir+"/") {
			out = append(out, target)
		}
	}
	return out
}

// TestOpenBlobFollowsInFlightBlob uses a store itself as the BlobSource of
// another while it receives a blob; a reader closed while it waits returns
// at once; once all is done no file of the blob is held open.
func TestOpenBlobFollowsInFlightBlob(t *testing.T) {
	ctx := t.Context()
	img, big, _ := relayImage(t, 512<<10)
	origin, g, digest, blob := heldMidBlob(t, img, big.Layer)
	half := int64(len(blob) / 2)
	// Two layers at once, whatever GOMAXPROCS: the small one is stored
	// while the big one is held.
	cfg := imagefs.DefaultStoreConfig(t.TempDir())
	cfg.Parallel = 2
	parent, err := imagefs.OpenStore(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	var (
		mu      sync.Mutex
		fetched = map[v1.Hash]bool{}
		stored  = map[v1.Hash]bool{}
		changed = make(chan struct{}, 16)
	)
	note := func(m map[v1.Hash]bool, h v1.Hash) {
		mu.Lock()
		m[h] = true
		mu.Unlock()
		changed <- struct{}{}
	}
	parentDone := make(chan error, 1)
	go func() {
		_, err := parent.AddWith(ctx, origin, "x", imagefs.AddOptions{
			OnFetch: func(d v1.Descriptor) { note(fetched, d.Digest) },
			OnLayer: func(d v1.Descriptor) { note(stored, d.Digest) },
		})
		parentDone <- err
	}()
	// Wait until the big blob is in flight and the small one stored.
	for {
		mu.Lock()
		ready := fetched[digest] && len(stored) == 1
		mu.Unlock()
		if ready {
			break
		}
		select {
		case <-changed:
		case <-time.After(20 * time.Second):
			t.Fatal("parent never began the big blob")
		}
	}

	waiting, err := parent.OpenBlob(ctx, digest)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := io.ReadFull(waiting, make([]byte, half)); err != nil {
		t.Fatal(err)
	}
	readErr := make(chan error, 1)
	go func() {
		_, err := waiting.Read(make([]byte, 1))
		readErr <- err
	}()
	time.Sleep(20 * time.Millisecond) // let it wait for the writer
	if err := waiting.Close(); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-readErr:
		if !errors.Is(err, os.ErrClosed) {
			t.Fatalf("Read after Close: %v, want os.ErrClosed", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Close did not end a waiting Read")
	}

	child := openStore(t)
	childDone := make(chan error, 1)
	var res imagefs.AddResult
	go func() {
		var err error
		res, err = child.Add(ctx, noOrigin{img}, "x", parent)
		childDone <- err
	}()
	time.Sleep(50 * time.Millisecond)
	g.release()
	if err := <-parentDone; err != nil {
		t.Fatalf("parent: %v", err)
	}
	if err := <-childDone; err != nil {
		t.Fatalf("child: %v", err)
	}
	if res.FromSources != 2 || res.Retried != 0 {
		t.Fatalf("child result %+v, want both blobs from the parent store", res)
	}
	stored2, err := child.Image(context.Background(), "x")
	if err != nil {
		t.Fatal(err)
	}
	if err := imagefs.Validate(ctx, stored2, imagefs.ValidateOptions{}); err != nil {
		t.Fatal(err)
	}
	if open := openUnder(t, parent.Root()); len(open) != 0 {
		t.Fatalf("files of the parent still open: %v", open)
	}
}

// TestPredistributeStalledParentTimesOut holds the root's blob at its
// middle: its child, stalled mid-stream for longer than PeerTimeout, gives
// up on the parent and completes from the origin while the root is still
// held.
func TestPredistributeStalledParentTimesOut(t *testing.T) {
	ctx := t.Context()
	img, big, _ := relayImage(t, 512<<10)
	digest, _ := big.Layer.Digest()
	half := int64(len(compressedBlob(t, big.Layer)) / 2)
	g := newGate(t)
	origin := gatedImage{Image: img, gated: map[v1.Hash]v1.Layer{digest: gatedLayer{Layer: big.Layer, g: g, cut: half, once: new(sync.Once)}}}
	ns := startNodes(t, 2)
	done := predistributeInBackground(ctx, origin, "x", ns, imagefs.DistributeConfig{Fanout: 1, PeerTimeout: 500 * time.Millisecond})
	deadline := time.Now().Add(20 * time.Second)
	for !ns[1].Store.HasBlob(digest) {
		if time.Now().After(deadline) {
			t.Fatal("the child never gave up on its stalled parent")
		}
		time.Sleep(10 * time.Millisecond)
	}
	if ns[0].Store.HasBlob(digest) {
		t.Fatal("the root holds the blob while its origin is held")
	}
	g.release()
	o := <-done
	if o.err != nil {
		t.Fatalf("Predistribute: %v", o.err)
	}
	if r := o.res[1].Result; r.Retried != 1 || r.Fetched != 2 || r.Unpacked != 2 {
		t.Fatalf("child %+v, want one retry after the stall", r)
	}
	checkNodes(t, ns, "x")
}

// stallingSource sends a layer that turns out to be hostile at once and
// then stalls, as a peer would whose own source stalled: it answers the
// next read only when its context ends, and reports that it ended.
type stallingSource struct {
	first []byte
	let   chan struct{} // closed when the read's context ended
}

func (s stallingSource) OpenBlob(ctx context.Context, _ v1.Hash) (io.ReadCloser, error) {
	return io.NopCloser(io.MultiReader(bytes.NewReader(s.first), readerFunc(func([]byte) (int, error) {
		<-ctx.Done()
		close(s.let)
		return 0, ctx.Err()
	}))), nil
}

type readerFunc func([]byte) (int, error)

func (f readerFunc) Read(p []byte) (int, error) { return f(p) }

// TestFailedAttemptLetsGoOfStalledSource: when a blob from a source fails
// part-way (a path that escapes) while the source is still waiting for
// bytes, the store ends that read instead of waiting for the source, and
// the origin serves the layer.
func TestFailedAttemptLetsGoOfStalledSource(t *testing.T) {
	img := newImage(t, tarLayer(t, imagefs.Compression{}, "", imagefstest.Entry{Name: "ok", Body: []byte("fine")}))
	hostile, err := imagefs.LayerFromTar(bytes.NewReader(imagefstest.Tar(t, imagefstest.Entry{Name: "../escape", Body: []byte("x")})), imagefs.Compression{})
	if err != nil {
		t.Fatal(err)
	}
	src := stallingSource{first: compressedBlob(t, hostile), let: make(chan struct{})}
	// Without the abort the Add would wait for this deadline.
	ctx, cancel := context.WithTimeout(t.Context(), time.Minute)
	defer cancel()
	s := openStore(t)
	res, err := s.Add(ctx, img, "x", src)
	if err != nil {
		t.Fatalf("Add: %v", err)
	}
	if res.Retried != 1 || res.FromSources != 0 {
		t.Fatalf("result %+v, want one retry and the layer from the origin", res)
	}
	select {
	case <-src.let:
	default:
		t.Fatal("the stalled source's read was never ended")
	}
}

// TestPeerStallTimeout: a peer on another host that sends half a blob and
// then hangs is cut off after Peer.StallTimeout, and the origin serves the
// layer.
func TestPeerStallTimeout(t *testing.T) {
	img, big, body := relayImage(t, 256<<10)
	blob := compressedBlob(t, big.Layer)
	digest, _ := big.Layer.Digest()
	ended := make(chan struct{})
	url := "http://" + imagefstest.Serve(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !strings.HasSuffix(r.URL.Path, digest.Hex) {
			http.NotFound(w, r)
			return
		}
		w.Header().Set("Content-Length", strconv.Itoa(len(blob)))
		_, _ = w.Write(blob[:len(blob)/2])
		_ = http.NewResponseController(w).Flush()
		<-r.Context().Done() // hang until the client gives up
		close(ended)
	}))
	ctx, cancel := context.WithTimeout(t.Context(), time.Minute) // without the timeout, Add waits for this
	defer cancel()
	s := openStore(t)
	res, err := s.Add(ctx, img, "x", imagefs.Peer{URL: url, StallTimeout: 200 * time.Millisecond})
	if err != nil {
		t.Fatalf("Add: %v", err)
	}
	if res.Retried != 1 || res.FromSources != 0 {
		t.Fatalf("result %+v, want the big blob retried from the origin", res)
	}
	waitFor(t, "the hung request to end", ended)
	diffID, _ := big.Layer.DiffID()
	if b, err := os.ReadFile(filepath.Join(s.LayerDir(diffID), "big")); err != nil || !bytes.Equal(b, body) {
		t.Fatalf("unpacked big file: %d bytes, %v", len(b), err)
	}
}
