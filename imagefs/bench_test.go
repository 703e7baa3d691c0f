package imagefs_test

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"sync"
	"testing"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"golang.org/x/sys/unix"

	"github.com/shoalkit/shoal/imagefs"
	"github.com/shoalkit/shoal/imagefs/imagefstest"
	"github.com/shoalkit/shoal/internal/testenv"
)

// tmpfsDir returns a directory on tmpfs: a private tmpfs mount when root,
// else a directory in /dev/shm.
func tmpfsDir(b *testing.B) string {
	b.Helper()
	dir := b.TempDir()
	if os.Geteuid() == 0 {
		if err := unix.Mount("tmpfs", dir, "tmpfs", 0, "size=12g"); err == nil {
			b.Cleanup(func() { _ = unix.Unmount(dir, unix.MNT_DETACH) })
			return dir
		}
	}
	d, err := os.MkdirTemp("/dev/shm", "imagefs-bench-")
	if err != nil {
		b.Skipf("no tmpfs: %v", err)
	}
	b.Cleanup(func() { _ = os.RemoveAll(d) })
	return d
}

type benchLayer struct {
	tar        []byte
	zstd, gzip []byte
	files      int
}

// Benchmark fixtures, built once per process rather than once per -count.
var (
	layerOnce  sync.Once
	benchLyr   benchLayer
	bigOnce    sync.Once
	bigImg     v1.Image
	bigSrcSize int64
)

// unpackLayer is a 64 MiB, 4,000-file synthetic layer.
func unpackLayer(b *testing.B) benchLayer {
	layerOnce.Do(func() {
		dir := b.TempDir()
		imagefstest.WriteTree(b, dir, imagefstest.TreeSpec{Seed: 42, Files: 4000, Bytes: 64 << 20})
		var buf bytes.Buffer
		cmd := exec.Command("tar", "-C", dir, "--sort=name", "--owner=0", "--group=0", "-cf", "-", ".")
		cmd.Stdout = &buf
		if err := cmd.Run(); err != nil {
			b.Fatalf("tar: %v", err)
		}
		benchLyr.tar = buf.Bytes()
		benchLyr.files = 4000
		for _, c := range []imagefs.Compression{{}, {Algorithm: imagefs.Gzip}} {
			l, err := imagefs.LayerFromTar(bytes.NewReader(benchLyr.tar), c)
			if err != nil {
				b.Fatal(err)
			}
			rc, _ := l.Compressed()
			blob, _ := io.ReadAll(rc)
			if c.Algorithm == imagefs.Gzip {
				benchLyr.gzip = blob
			} else {
				benchLyr.zstd = blob
			}
		}
	})
	return benchLyr
}

// BenchmarkUnpack unpacks the same layer with imagefs on one core
// (GOMAXPROCS=1) and with GNU tar (tar plus its decompressor process), into
// tmpfs. Bytes are the uncompressed tar. containerd unpacks only whole
// images into its snapshotter: its rows are in BenchmarkBlobsToRootfs245MB.
func BenchmarkUnpack(b *testing.B) {
	l := unpackLayer(b)
	root := tmpfsDir(b)
	ctx := context.Background()
	store := func(b *testing.B, name string, blob []byte) string {
		p := filepath.Join(root, name)
		if err := os.WriteFile(p, blob, 0o600); err != nil {
			b.Fatal(err)
		}
		return p
	}
	zst, gz, plain := store(b, "layer.tar.zst", l.zstd), store(b, "layer.tar.gz", l.gzip), store(b, "layer.tar", l.tar)
	run := func(name string, f func(dir string) error) {
		b.Run(name, func(b *testing.B) {
			b.SetBytes(int64(len(l.tar)))
			n := 0
			var cpu time.Duration
			for b.Loop() {
				b.StopTimer()
				dir := filepath.Join(root, fmt.Sprintf("out-%d", n))
				n++
				if err := os.Mkdir(dir, 0o755); err != nil {
					b.Fatal(err)
				}
				c0 := cpuTime()
				b.StartTimer()
				if err := f(dir); err != nil {
					b.Fatal(err)
				}
				b.StopTimer()
				cpu += cpuTime() - c0
				_ = os.RemoveAll(dir)
				b.StartTimer()
			}
			reportCPU(b, int64(len(l.tar))*int64(n), cpu)
		})
	}
	oneCore := func(f func(dir string) error) func(string) error {
		return func(dir string) error {
			defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(1))
			return f(dir)
		}
	}
	fromFile := func(p string, alg imagefs.Algorithm) func(string) error {
		return func(dir string) error {
			f, err := os.Open(p)
			if err != nil {
				return err
			}
			defer f.Close()
			return imagefs.UnpackCompressed(ctx, f, alg, dir)
		}
	}
	run("imagefs/zstd/1core", oneCore(fromFile(zst, imagefs.Zstd)))
	run("imagefs/gzip/1core", oneCore(fromFile(gz, imagefs.Gzip)))
	run("imagefs/tar/1core", oneCore(fromFile(plain, imagefs.None)))
	run("imagefs/zstd/2core", fromFile(zst, imagefs.Zstd))
	gnu := func(args ...string) func(string) error {
		return func(dir string) error {
			out, err := exec.Command("tar", append(args, "-C", dir)...).CombinedOutput()
			if err != nil {
				return fmt.Errorf("tar: %w: %s", err, out)
			}
			return nil
		}
	}
	run("gnutar/zstd", gnu("--zstd", "-xpf", zst))
	run("gnutar/gzip", gnu("-xzpf", gz))
	run("gnutar/tar", gnu("-xpf", plain))
}

// BenchmarkDecode decodes the same layer from zstd and from gzip, in memory,
// on one core: the ratio is the decode speed-up of zstd.
func BenchmarkDecode(b *testing.B) {
	l := unpackLayer(b)
	for _, c := range []struct {
		alg  imagefs.Algorithm
		blob []byte
	}{{imagefs.Zstd, l.zstd}, {imagefs.Gzip, l.gzip}} {
		b.Run(string(c.alg), func(b *testing.B) {
			defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(1))
			b.SetBytes(int64(len(l.tar)))
			for b.Loop() {
				rc, err := imagefs.Decompress(c.alg, bytes.NewReader(c.blob))
				if err != nil {
					b.Fatal(err)
				}
				if _, err := io.Copy(io.Discard, rc); err != nil {
					b.Fatal(err)
				}
				_ = rc.Close()
			}
		})
	}
}

// BenchmarkPrepare measures image present → rootfs mounted (Prepare) and
// reports its p50 and p99, for 1 to 20 layers.
func BenchmarkPrepare(b *testing.B) {
	testenv.Require(b, testenv.Root) // overlay mounts
	ctx := context.Background()
	for _, n := range []int{1, 5, 10, 20} {
		b.Run(fmt.Sprintf("layers=%d", n), func(b *testing.B) {
			s, err := imagefs.OpenStore(ctx, imagefs.DefaultStoreConfig(tmpfsDir(b)))
			if err != nil {
				b.Fatal(err)
			}
			var layers []imagefs.AnnotatedLayer
			for k := range n {
				layers = append(layers, tarLayer(b, imagefs.Compression{}, "",
					imagefstest.Entry{Name: fmt.Sprintf("l%d/file", k), Body: []byte("x")}))
			}
			if _, err := s.Add(ctx, newImage(b, layers...), "img"); err != nil {
				b.Fatal(err)
			}
			var lat []time.Duration
			i := 0
			for b.Loop() {
				id := fmt.Sprintf("c%d", i)
				i++
				start := time.Now()
				if _, err := s.Prepare(ctx, "img", id); err != nil {
					b.Fatal(err)
				}
				lat = append(lat, time.Since(start))
				b.StopTimer()
				if err := s.Release(ctx, id); err != nil {
					b.Fatal(err)
				}
				b.StartTimer()
			}
			reportPercentiles(b, lat)
		})
	}
}

// cpuTime is the user and system CPU time of this process and its waited-for
// children (GNU tar and its decompressor). On a shared, loaded machine the
// wall clock says more about the neighbours than about the code; CPU time
// per byte does not.
func cpuTime() time.Duration {
	var self, kids unix.Rusage
	_ = unix.Getrusage(unix.RUSAGE_SELF, &self)
	_ = unix.Getrusage(unix.RUSAGE_CHILDREN, &kids)
	tv := func(t unix.Timeval) time.Duration { return time.Duration(t.Nano()) }
	return tv(self.Utime) + tv(self.Stime) + tv(kids.Utime) + tv(kids.Stime)
}

// reportCPU reports throughput per CPU-second: bytes over the CPU time all
// threads and children spent.
func reportCPU(b *testing.B, bytes int64, cpu time.Duration) {
	if cpu > 0 {
		b.ReportMetric(float64(bytes)/1e6/cpu.Seconds(), "MB/cpu-s")
	}
}

func reportPercentiles(b *testing.B, lat []time.Duration) {
	slices.Sort(lat)
	p := func(q float64) float64 {
		return float64(lat[min(len(lat)-1, int(q*float64(len(lat))))].Microseconds()) / 1000
	}
	b.ReportMetric(p(0.50), "p50-ms")
	b.ReportMetric(p(0.99), "p99-ms")
}

// bigImage is a 245 MB, 16,000-file image in three layers (base, runtime,
// app).
func bigImage(b *testing.B) v1.Image {
	bigOnce.Do(func() {
		ctx := context.Background()
		base, rt, app := b.TempDir(), b.TempDir(), b.TempDir()
		bigSrcSize += imagefstest.WriteTree(b, base, imagefstest.TreeSpec{Seed: 1, Files: 9000, Bytes: 130 << 20})
		bigSrcSize += imagefstest.WriteTree(b, rt, imagefstest.TreeSpec{Seed: 2, Files: 5000, Bytes: 80 << 20})
		bigSrcSize += imagefstest.WriteTree(b, app, imagefstest.TreeSpec{Seed: 3, Files: 2000, Bytes: 35 << 20})
		bi, _, err := imagefs.Build(ctx, base, imagefs.Recipe{Role: imagefs.RoleBase, Target: "/usr"})
		if err != nil {
			b.Fatal(err)
		}
		img, _, err := imagefs.Build(ctx, app, imagefs.Recipe{
			Base: bi, Target: "/app",
			Include: []imagefs.Include{{Source: rt, Target: "/opt/rt", Role: imagefs.RoleRuntime}},
		})
		if err != nil {
			b.Fatal(err)
		}
		bigImg = img
	})
	return bigImg
}

// BenchmarkBlobsToRootfs245MB measures blobs present on the node → rootfs
// mounted for a 245 MB, 16,000-file image on tmpfs: unpack every layer (in
// parallel) then Prepare. GNU tar runs the same unpack, layer after layer;
// containerd (benchContainerdRootfs) unpacks into its overlayfs snapshotter
// and mounts, from its own content store on the same tmpfs.
func BenchmarkBlobsToRootfs245MB(b *testing.B) {
	testenv.Require(b, testenv.Root) // overlay mounts
	ctx := context.Background()
	img := bigImage(b)
	root := tmpfsDir(b)
	seed, err := imagefs.OpenStore(context.Background(), imagefs.DefaultStoreConfig(filepath.Join(root, "seed")))
	if err != nil {
		b.Fatal(err)
	}
	if _, err := seed.Add(ctx, img, "big"); err != nil {
		b.Fatal(err)
	}
	m, _ := img.Manifest()
	b.Run("imagefs", func(b *testing.B) {
		b.SetBytes(bigSrcSize)
		n := 0
		var cpu time.Duration
		for b.Loop() {
			b.StopTimer()
			dir := filepath.Join(root, fmt.Sprintf("node-%d", n))
			n++
			blobs := filepath.Join(dir, "oci", "blobs", "sha256")
			if err := os.MkdirAll(blobs, 0o755); err != nil {
				b.Fatal(err)
			}
			for _, l := range m.Layers {
				if err := os.Link(filepath.Join(seed.Root(), "oci/blobs/sha256", l.Digest.Hex), filepath.Join(blobs, l.Digest.Hex)); err != nil {
					b.Fatal(err)
				}
			}
			s, err := imagefs.OpenStore(ctx, imagefs.DefaultStoreConfig(dir))
			if err != nil {
				b.Fatal(err)
			}
			c0 := cpuTime()
			b.StartTimer()
			if _, err := s.Add(ctx, img, "big"); err != nil {
				b.Fatal(err)
			}
			if _, err := s.Prepare(ctx, "big", "c"); err != nil {
				b.Fatal(err)
			}
			b.StopTimer()
			cpu += cpuTime() - c0
			_ = s.Release(ctx, "c")
			_ = os.RemoveAll(dir)
			b.StartTimer()
		}
		reportCPU(b, bigSrcSize*int64(n), cpu)
	})
	b.Run("gnutar", func(b *testing.B) {
		b.SetBytes(bigSrcSize)
		n := 0
		var cpu time.Duration
		for b.Loop() {
			b.StopTimer()
			dir := filepath.Join(root, fmt.Sprintf("tar-%d", n))
			n++
			c0 := cpuTime()
			b.StartTimer()
			for k, l := range m.Layers {
				out := filepath.Join(dir, fmt.Sprint(k))
				if err := os.MkdirAll(out, 0o755); err != nil {
					b.Fatal(err)
				}
				blob := filepath.Join(seed.Root(), "oci/blobs/sha256", l.Digest.Hex)
				if o, err := exec.Command("tar", "--zstd", "-xpf", blob, "-C", out).CombinedOutput(); err != nil {
					b.Fatalf("tar: %v %s", err, o)
				}
			}
			b.StopTimer()
			cpu += cpuTime() - c0
			_ = os.RemoveAll(dir)
			b.StartTimer()
		}
		reportCPU(b, bigSrcSize*int64(n), cpu)
	})
	benchContainerdRootfs(b, root, img, bigSrcSize)
}

// BenchmarkPredistribute fills 1 and 10 node stores from an in-process
// registry behind a counting proxy and reports the registry egress as a
// multiple of the image size.
func BenchmarkPredistribute(b *testing.B) {
	ctx := context.Background()
	proxy := imagefstest.StartProxy(b, imagefstest.StartRegistry(b))
	img := baseAndAppImage(b, imagefstest.TreeSpec{Seed: 9, Files: 1500, Bytes: 24 << 20})
	ref := proxy.Addr + "/bench/dist:1"
	if _, err := imagefs.Push(ctx, img, ref, fastRemote()); err != nil {
		b.Fatal(err)
	}
	size := imageBlobBytes(b, img)
	root := tmpfsDir(b)
	for _, nodes := range []int{1, 10} {
		b.Run(fmt.Sprintf("nodes=%d", nodes), func(b *testing.B) {
			var egress int64
			var cpu time.Duration
			iters := 0
			for b.Loop() {
				b.StopTimer()
				ns := tmpfsNodes(b, filepath.Join(root, fmt.Sprint(iters)), nodes) //nolint:contextcheck // testenv.FreePort probes with its own short context
				proxy.Reset()
				c0 := cpuTime()
				b.StartTimer()
				pulled, err := imagefs.Pull(ctx, ref, fastRemote())
				if err != nil {
					b.Fatal(err)
				}
				if _, err := imagefs.Predistribute(ctx, pulled, "dist", ns, imagefs.DistributeConfig{}); err != nil {
					b.Fatal(err)
				}
				b.StopTimer()
				cpu += cpuTime() - c0
				egress += proxy.Bytes()
				iters++
				for _, n := range ns {
					_ = os.RemoveAll(n.Store.Root())
				}
				b.StartTimer()
			}
			b.ReportMetric(float64(egress)/float64(iters)/float64(size), "egress/image")
			// CPU per node: what each node would spend on a machine of its
			// own (here all nodes share two cores, so the wall clock of
			// nodes=10 measures CPU contention more than the tree).
			b.ReportMetric(cpu.Seconds()/float64(iters*nodes), "cpu-s/node")
		})
	}
}

// baseAndAppImage is an image of two layers made from one generated tree:
// a base layer at /usr and an app layer at /app, what the pre-distribution
// benchmarks move.
func baseAndAppImage(b *testing.B, spec imagefstest.TreeSpec) v1.Image {
	b.Helper()
	ctx := context.Background()
	src := b.TempDir()
	imagefstest.WriteTree(b, src, spec)
	base, _, err := imagefs.Build(ctx, src, imagefs.Recipe{Role: imagefs.RoleBase, Target: "/usr"})
	if err != nil {
		b.Fatal(err)
	}
	img, _, err := imagefs.Build(ctx, src, imagefs.Recipe{Base: base, Target: "/app"})
	if err != nil {
		b.Fatal(err)
	}
	return img
}

// tmpfsNodes opens n stores below root, each served on loopback.
func tmpfsNodes(b *testing.B, root string, n int) []imagefs.Node {
	ns := make([]imagefs.Node, n)
	for k := range ns {
		s, err := imagefs.OpenStore(context.Background(), imagefs.DefaultStoreConfig(filepath.Join(root, fmt.Sprint(k))))
		if err != nil {
			b.Fatal(err)
		}
		ns[k] = imagefs.Node{Store: s, URL: "http://" + imagefstest.Serve(b, s.Handler())}
	}
	return ns
}
