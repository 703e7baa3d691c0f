package imagefs_test

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"

	"github.com/shoalkit/shoal/imagefs"
	"github.com/shoalkit/shoal/imagefs/imagefstest"
	"github.com/shoalkit/shoal/internal/testenv"
)

// fabricSite is pre-distribution as it runs across machines: the real
// registry and every node are hosts of a testenv.Fabric, each with an
// uplink of the fabric's rate, and the kernel counts what the registry
// sent.
type fabricSite struct {
	f        *testenv.Fabric
	registry *testenv.Registry
	client   *http.Client // requests leave from host 1; answers are shaped by their sender
	ref      string
	img      v1.Image // the image as pushed
	size     int64    // manifest, config and layer blobs
}

// newFabricSite makes a fabric of the registry (host 0) and nodes hosts
// (1..nodes) at rate bits per second, and pushes img to the registry.
func newFabricSite(tb testing.TB, nodes int, rate int64, img v1.Image) *fabricSite {
	tb.Helper()
	testenv.Require(tb, testenv.Root, testenv.Netns, testenv.OCIRegistry)
	f := testenv.NewFabric(tb, nodes+1, rate)
	s := &fabricSite{f: f, registry: testenv.StartRegistry(tb, testenv.OnFabric(f, 0)), img: img}
	s.client = f.Client(tb, 1)
	s.ref = s.registry.Addr + "/shoal/dist:1"
	s.size = imageBlobBytes(tb, img)
	if _, err := imagefs.Push(context.Background(), img, s.ref, s.remote()); err != nil {
		tb.Fatal(err)
	}
	return s
}

func (s *fabricSite) remote() imagefs.RemoteConfig {
	c := fastRemote()
	c.Transport = s.client.Transport
	return c
}

// nodes opens n stores below root, store k served by fabric host k+1 until
// the returned stop is called.
func (s *fabricSite) nodes(tb testing.TB, root string, n int) (nodes []imagefs.Node, stop func()) {
	tb.Helper()
	var srvs []*http.Server
	for k := range n {
		st, err := imagefs.OpenStore(context.Background(), imagefs.DefaultStoreConfig(filepath.Join(root, fmt.Sprint(k))))
		if err != nil {
			tb.Fatal(err)
		}
		l := s.f.Listen(tb, k+1)
		srv := &http.Server{Handler: st.Handler(), ReadHeaderTimeout: 10 * time.Second}
		go func() { _ = srv.Serve(l) }()
		srvs = append(srvs, srv)
		nodes = append(nodes, imagefs.Node{Store: st, URL: "http://" + l.Addr().String()})
	}
	return nodes, func() {
		for _, srv := range srvs {
			_ = srv.Close()
		}
	}
}

// distribute fills nodes with the image by strategy: "direct" (every node
// pulls from the registry, the baseline) or "fanout=N" (Predistribute).
func (s *fabricSite) distribute(ctx context.Context, nodes []imagefs.Node, strategy string) error {
	img, err := imagefs.Pull(ctx, s.ref, s.remote())
	if err != nil {
		return err
	}
	if strategy == "direct" {
		errs := make([]error, len(nodes))
		var wg sync.WaitGroup
		for k, n := range nodes {
			wg.Go(func() {
				_, errs[k] = n.Store.Add(ctx, img, "dist")
			})
		}
		wg.Wait()
		return errors.Join(errs...)
	}
	var fanout int
	if _, err := fmt.Sscanf(strategy, "fanout=%d", &fanout); err != nil {
		return fmt.Errorf("strategy %q: %w", strategy, err)
	}
	_, err = imagefs.Predistribute(ctx, img, "dist", nodes, imagefs.DistributeConfig{Fanout: fanout, Client: s.client})
	return err
}

// TestPredistributeFabric distributes an image from the real registry to
// six nodes on shaped links, as a tree and as a chain, and checks with the
// kernel's byte count that the registry sent about one copy, and that every
// node can prepare the image.
func TestPredistributeFabric(t *testing.T) {
	img := distributionImage(t)
	s := newFabricSite(t, 6, 400_000_000, img)
	for _, strategy := range []string{"fanout=3", "fanout=1"} {
		t.Run(strategy, func(t *testing.T) {
			nodes, stop := s.nodes(t, t.TempDir(), 6)
			defer stop()
			before := s.f.Sent(t, 0)
			if err := s.distribute(t.Context(), nodes, strategy); err != nil {
				t.Fatal(err)
			}
			// The kernel counts headers too: 1.0× the image plus a few
			// percent is one copy.
			egress := float64(s.f.Sent(t, 0)-before) / float64(s.size)
			if egress < 1 || egress > 1.2 {
				t.Errorf("registry sent %.2f× the image for 6 nodes, want one copy (1.0–1.2×)", egress)
			}
			want, err := img.Digest()
			if err != nil {
				t.Fatal(err)
			}
			for k, n := range nodes {
				got, err := n.Store.Image(context.Background(), "dist")
				if err != nil {
					t.Fatalf("node %d: %v", k, err)
				}
				if d, _ := got.Digest(); d != want {
					t.Errorf("node %d holds %s, want %s", k, d, want)
				}
			}
		})
	}
}

// BenchmarkPredistributeFabric times pre-distribution where the links are
// the bottleneck, as between machines: registry and nodes are fabric hosts
// with 100 Mbit/s uplinks. nodes=1 is one node pulling the image; the
// nodes=10 rows fill ten nodes directly from the registry (the baseline),
// through a tree of fanout 3, and through a chain. egress/image is what the
// kernel counted leaving the registry, over the image size.
func BenchmarkPredistributeFabric(b *testing.B) {
	ctx := context.Background()
	img := baseAndAppImage(b, imagefstest.TreeSpec{Seed: 9, Files: 600, Bytes: 16 << 20})
	const rate = 100_000_000
	s := newFabricSite(b, 10, rate, img)
	b.Logf("image %.1f MB; one copy over a %d Mbit/s link takes %.2f s", float64(s.size)/1e6, rate/1_000_000, float64(s.size)*8/rate)
	root := tmpfsDir(b)
	for _, c := range []struct {
		nodes    int
		strategy string
	}{{1, "direct"}, {10, "direct"}, {10, "fanout=3"}, {10, "fanout=1"}} {
		b.Run(fmt.Sprintf("nodes=%d/%s", c.nodes, c.strategy), func(b *testing.B) {
			var egress int64
			iters := 0
			for b.Loop() {
				b.StopTimer()
				dir := filepath.Join(root, fmt.Sprint(iters))
				nodes, stop := s.nodes(b, dir, c.nodes) //nolint:contextcheck // listeners live as long as the benchmark, under its own context
				before := s.f.Sent(b, 0)
				b.StartTimer()
				if err := s.distribute(ctx, nodes, c.strategy); err != nil {
					b.Fatal(err)
				}
				b.StopTimer()
				egress += s.f.Sent(b, 0) - before
				iters++
				stop()
				_ = os.RemoveAll(dir)
				b.StartTimer()
			}
			b.ReportMetric(float64(egress)/float64(iters)/float64(s.size), "egress/image")
		})
	}
}
