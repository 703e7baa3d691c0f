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
	"net/http"
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
