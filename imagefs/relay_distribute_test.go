package imagefs_test

import (
	"bytes"
	"context"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"testing"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"

	"github.com/shoalkit/shoal/imagefs"
	"github.com/shoalkit/shoal/imagefs/imagefstest"
	"github.com/shoalkit/shoal/internal/testenv"
)

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
