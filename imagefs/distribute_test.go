package imagefs_test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"testing"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"

	"github.com/shoalkit/shoal/imagefs"
	"github.com/shoalkit/shoal/imagefs/imagefstest"
	"github.com/shoalkit/shoal/internal/testenv"
)

func imageBlobBytes(t testing.TB, img v1.Image) int64 {
	t.Helper()
	m, err := img.Manifest()
	if err != nil {
		t.Fatal(err)
	}
	n := m.Config.Size
	for _, l := range m.Layers {
		n += l.Size
	}
	raw, _ := img.RawManifest()
	return n + int64(len(raw))
}

func startNodes(t testing.TB, n int) []imagefs.Node {
	t.Helper()
	nodes := make([]imagefs.Node, n)
	for k := range nodes {
		s, err := imagefs.OpenStore(context.Background(), imagefs.DefaultStoreConfig(t.TempDir()))
		if err != nil {
			t.Fatal(err)
		}
		nodes[k] = imagefs.Node{Store: s, URL: "http://" + imagefstest.Serve(t, s.Handler())}
	}
	return nodes
}

// distributionImage is a few layers with the roles pre-distribution orders
// by, a couple of MB in all.
func distributionImage(t testing.TB) v1.Image {
	t.Helper()
	ctx := context.Background()
	base, rt, app := t.TempDir(), t.TempDir(), t.TempDir()
	imagefstest.WriteTree(t, base, imagefstest.TreeSpec{Seed: 11, Files: 150, Bytes: 1500 << 10})
	imagefstest.WriteTree(t, rt, imagefstest.TreeSpec{Seed: 12, Files: 80, Bytes: 800 << 10})
	imagefstest.WriteTree(t, app, imagefstest.TreeSpec{Seed: 13, Files: 40, Bytes: 300 << 10})
	b, _, err := imagefs.Build(ctx, base, imagefs.Recipe{Role: imagefs.RoleBase, Target: "/usr"})
	if err != nil {
		t.Fatal(err)
	}
	img, _, err := imagefs.Build(ctx, app, imagefs.Recipe{
		Base: b, Target: "/app",
		Include: []imagefs.Include{{Source: rt, Target: "/opt/runtime", Role: imagefs.RoleRuntime}},
	})
	if err != nil {
		t.Fatal(err)
	}
	return img
}

func checkDistribution(t *testing.T, registryAddr string, nodes int) {
	ctx := context.Background()
	proxy := imagefstest.StartProxy(t, registryAddr)
	img := distributionImage(t)
	ref := proxy.Addr + "/shoal/dist:1"
	if _, err := imagefs.Push(ctx, img, ref, fastRemote()); err != nil {
		t.Fatal(err)
	}
	proxy.Reset()
	pulled, err := imagefs.Pull(ctx, ref, fastRemote())
	if err != nil {
		t.Fatal(err)
	}
	ns := startNodes(t, nodes)
	results, err := imagefs.Predistribute(ctx, pulled, "dist:1", ns, imagefs.DistributeConfig{Fanout: 2})
	if err != nil {
		t.Fatalf("Predistribute: %v", err)
	}
	size := imageBlobBytes(t, img)
	egress := proxy.Bytes()
	t.Logf("%d nodes: registry egress %d bytes for an image of %d bytes (%.2fx), %d requests", nodes, egress, size, float64(egress)/float64(size), proxy.Requests())
	if egress > size*12/10 {
		t.Errorf("registry egress %d > 1.2 × image %d", egress, size)
	}
	fromPeers := 0
	for k, r := range results {
		if r.Result.Unpacked != 3 {
			t.Errorf("node %d unpacked %d layers, want 3", k, r.Result.Unpacked)
		}
		fromPeers += r.Result.FromSources
	}
	if fromPeers != 3*(nodes-1) {
		t.Errorf("%d layer fetches from peers, want %d", fromPeers, 3*(nodes-1))
	}
	cfg, _ := img.ConfigFile()
	for k, n := range ns {
		for _, d := range cfg.RootFS.DiffIDs {
			if _, err := os.Stat(n.Store.LayerDir(d)); err != nil {
				t.Errorf("node %d lacks layer %s: %v", k, d, err)
			}
		}
		if _, err := n.Store.Image(context.Background(), "dist:1"); err != nil {
			t.Errorf("node %d: %v", k, err)
		}
	}
}

func TestPredistributeInProcess(t *testing.T) {
	checkDistribution(t, imagefstest.StartRegistry(t), 6)
}

func TestPredistributeRealRegistry(t *testing.T) {
	reg := testenv.StartRegistry(t)
	checkDistribution(t, reg.Addr, 5)
}

func TestPeerFallsBackToOrigin(t *testing.T) {
	ctx := context.Background()
	img := distributionImage(t)
	ns := startNodes(t, 2)
	// The parent URL points nowhere: the child must fetch from the image.
	ns[0].URL = fmt.Sprintf("http://127.0.0.1:%d", testenv.FreePort(t))
	res, err := imagefs.Predistribute(ctx, img, "x", ns, imagefs.DistributeConfig{})
	if err != nil {
		t.Fatalf("Predistribute: %v", err)
	}
	if res[1].Result.FromSources != 0 || res[1].Result.Unpacked != 3 {
		t.Fatalf("child result %+v, want 3 layers from the origin", res[1].Result)
	}
	blob, err := imagefs.Peer{URL: "http://127.0.0.1:1"}.OpenBlob(ctx, v1.Hash{Algorithm: "sha256", Hex: "zz"})
	if err == nil {
		_ = blob.Close()
		t.Fatal("bad digest accepted")
	}
}

// TestPeerWaitFollowsParent has a node follow a parent that receives the
// image later, over HTTP only, as a node on another host would: the origin
// is never asked.
func TestPeerWaitFollowsParent(t *testing.T) {
	ctx := context.Background()
	img := newImage(t,
		tarLayer(t, imagefs.Compression{}, imagefs.RoleBase, imagefstest.Entry{Name: "base", Body: []byte("b")}),
		tarLayer(t, imagefs.Compression{}, imagefs.RoleApp, imagefstest.Entry{Name: "app", Body: []byte("a")}))
	ns := startNodes(t, 2)
	done := make(chan error, 1)
	go func() {
		_, err := ns[1].Store.Add(ctx, noOrigin{img}, "x", imagefs.Peer{URL: ns[0].URL, Wait: 10 * time.Second})
		done <- err
	}()
	time.Sleep(200 * time.Millisecond)
	if _, err := ns[0].Store.Add(ctx, img, "x"); err != nil {
		t.Fatal(err)
	}
	if err := <-done; err != nil {
		t.Fatalf("follower: %v", err)
	}
	// Without Wait the follower of an empty peer falls through to the
	// origin, which here refuses.
	empty := startNodes(t, 1)
	if _, err := openStore(t).Add(ctx, noOrigin{img}, "x", imagefs.Peer{URL: empty[0].URL}); !errors.Is(err, errNoOrigin) {
		t.Fatalf("err = %v, want the origin's refusal", err)
	}
}

var errNoOrigin = errors.New("origin must not be asked")

// noOrigin is an image whose blobs cannot be fetched from its origin.
type noOrigin struct{ v1.Image }

func (noOrigin) LayerByDigest(v1.Hash) (v1.Layer, error) { return nil, errNoOrigin }
