package imagefs_test

import (
	"context"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"

	"github.com/shoalkit/shoal/imagefs"
	"github.com/shoalkit/shoal/internal/testenv"
)

var (
	bigGzipOnce sync.Once
	bigGzipImg  v1.Image
)

// bigGzipImage is bigImage with gzip layers: the same files and diff ids,
// built once per process.
func bigGzipImage(b *testing.B) v1.Image {
	img := bigImage(b)
	bigGzipOnce.Do(func() {
		g, err := imagefs.Recompress(context.Background(), img, imagefs.Compression{Algorithm: imagefs.Gzip})
		if err != nil {
			b.Fatal(err)
		}
		bigGzipImg = g
	})
	return bigGzipImg
}

// benchContainerdRootfs is containerd 1.6 doing what the imagefs row of
// BenchmarkBlobsToRootfs245MB does, on the same image: blobs already in its
// content store (imported outside the timer) → every layer unpacked into
// the overlayfs snapshotter, a writable snapshot prepared and mounted
// (ctr images mount --rw). Its root is on root, the tmpfs the imagefs and
// GNU tar rows use. Between iterations, outside the timer, the mount and
// every unpacked snapshot are removed, so each iteration unpacks afresh.
// containerd/zstd is the same image as the other rows; containerd/gzip is
// the same files with gzip layers. CPU time counts the daemon (all its
// threads, from /proc) plus ctr and this process.
func benchContainerdRootfs(b *testing.B, root string, zstdImg v1.Image, size int64) {
	b.Run("containerd", func(b *testing.B) {
		testenv.Require(b, testenv.Root, testenv.Containerd)
		c := startContainerd(b, filepath.Join(root, "containerd"))
		target := filepath.Join(root, "containerd-rootfs")
		if err := os.Mkdir(target, 0o755); err != nil {
			b.Fatal(err)
		}
		unmountOnCleanup(b, target)
		for _, v := range []struct {
			name string
			img  v1.Image
		}{{"zstd", zstdImg}, {"gzip", bigGzipImage(b)}} {
			ref := c.importImage(b, v.img, "big", v.name)
			b.Run(v.name, func(b *testing.B) {
				b.SetBytes(size)
				n := 0
				var cpu time.Duration
				for b.Loop() {
					b.StopTimer()
					n++
					c0 := cpuTime() + c.cpuTime()
					b.StartTimer()
					if err := c.mountImage(ref, target); err != nil {
						b.Fatal(err)
					}
					b.StopTimer()
					cpu += cpuTime() + c.cpuTime() - c0
					c.unmountImage(b, v.img, target)
					b.StartTimer()
				}
				reportCPU(b, size*int64(n), cpu)
			})
		}
	})
}
