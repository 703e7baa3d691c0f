package imagefs_test

import (
	"archive/tar"
	"bytes"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"golang.org/x/sys/unix"

	"github.com/shoalkit/shoal/imagefs"
	"github.com/shoalkit/shoal/internal/testenv"
)

// containerd is a private containerd daemon started by a test: its own
// config, root and state below a directory the test chose, its gRPC socket
// in a short temp dir (a unix socket path holds at most 107 bytes), no CRI.
// Tests drive it with ctr in the namespace "shoal". It is the peer imagefs's
// unpack is measured against.
type containerd struct {
	proc *testenv.Process
	addr string // the gRPC unix socket
	root string // its root: content store, metadata, snapshots
}

// containerdNamespace keeps everything the tests do apart from whatever
// else might use the daemon.
const containerdNamespace = "shoal"

// containerdDisabledPlugins are the plugins a private daemon does without:
// CRI (Kubernetes), opt (it would install into /opt/containerd on the host)
// and the snapshotters that only probe and warn here (aufs runs modprobe).
var containerdDisabledPlugins = []string{
	"io.containerd.grpc.v1.cri",
	"io.containerd.internal.v1.opt",
	"io.containerd.snapshotter.v1.aufs",
	"io.containerd.snapshotter.v1.btrfs",
	"io.containerd.snapshotter.v1.devmapper",
	"io.containerd.snapshotter.v1.zfs",
}

// startContainerd starts containerd with its root and state in dir (which
// decides the file system its content store and snapshots live on) and
// waits until it answers. It is stopped by pid when the test ends; a
// mount target registered afterwards with unmountOnCleanup is detached
// first.
func startContainerd(tb testing.TB, dir string) *containerd {
	tb.Helper()
	testenv.Require(tb, testenv.Containerd)
	sock, err := os.MkdirTemp("", "ctrd-")
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { _ = os.RemoveAll(sock) })
	quoted := make([]string, len(containerdDisabledPlugins))
	for k, p := range containerdDisabledPlugins {
		quoted[k] = strconv.Quote(p)
	}
	c := &containerd{addr: filepath.Join(sock, "c.sock"), root: filepath.Join(dir, "root")}
	config := fmt.Sprintf("version = 2\nroot = %q\nstate = %q\ndisabled_plugins = [%s]\n\n[grpc]\n  address = %q\n",
		c.root, filepath.Join(dir, "state"), strings.Join(quoted, ", "), c.addr)
	cfgPath := filepath.Join(dir, "config.toml")
	if err := os.MkdirAll(dir, 0o700); err != nil {
		tb.Fatal(err)
	}
	if err := os.WriteFile(cfgPath, []byte(config), 0o600); err != nil {
		tb.Fatal(err)
	}
	c.proc = testenv.StartProcess(tb, "containerd", "--config", cfgPath)
	deadline := time.Now().Add(10 * time.Second)
	for {
		_, err := c.ctr("version").CombinedOutput()
		if err == nil {
			return c
		}
		select {
		case <-c.proc.Done():
			tb.Fatalf("containerd exited at start: %v\n%s", c.proc.Err(), c.proc.Output())
		default:
		}
		if time.Now().After(deadline) {
			tb.Fatalf("containerd not answering on %s after 10s: %v\n%s", c.addr, err, c.proc.Output())
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func (c *containerd) ctr(args ...string) *exec.Cmd {
	return exec.Command("ctr", append([]string{"-a", c.addr, "-n", containerdNamespace}, args...)...)
}

// run runs ctr with args and fails the test on error.
func (c *containerd) run(tb testing.TB, args ...string) string {
	tb.Helper()
	out, err := c.ctr(args...).CombinedOutput()
	if err != nil {
		tb.Fatalf("ctr %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return string(out)
}

// importImage puts img's blobs into containerd's content store as
// shoal.test/NAME:TAG without unpacking it, from an OCI archive streamed to
// ctr images import.
func (c *containerd) importImage(tb testing.TB, img v1.Image, name, tag string) string {
	tb.Helper()
	cmd := c.ctr("images", "import", "--no-unpack", "--base-name", "shoal.test/"+name, "-")
	pr, pw := io.Pipe()
	cmd.Stdin = pr
	werr := make(chan error, 1)
	go func() {
		err := writeOCIArchive(pw, img, tag)
		_ = pw.CloseWithError(err)
		werr <- err
	}()
	out, err := cmd.CombinedOutput()
	_ = pr.Close()
	if err := <-werr; err != nil && !errors.Is(err, io.ErrClosedPipe) {
		tb.Fatalf("OCI archive: %v", err)
	}
	if err != nil {
		tb.Fatalf("ctr images import: %v\n%s", err, out)
	}
	return "shoal.test/" + name + ":" + tag
}

// mountImage is containerd's blobs present → rootfs ready: unpack every
// layer not yet unpacked into the overlayfs snapshotter, prepare a writable
// snapshot on top and mount it at target (ctr images mount --rw).
func (c *containerd) mountImage(ref, target string) error {
	if out, err := c.ctr("images", "mount", "--rw", ref, target).CombinedOutput(); err != nil {
		return fmt.Errorf("ctr images mount: %w\n%s", err, out)
	}
	return nil
}

// unmountImage undoes mountImage and removes the unpacked layers too, so
// that the next mountImage unpacks again. It removes the container's
// snapshot while its lease (named after the target by ctr images mount)
// still holds it, then the lease; it removes the top layer's snapshot (the
// image holds it), lets a synchronous garbage collection take the layers
// below (removing them by hand races the collector, which takes a layer as
// soon as nothing holds it) and waits until the overlayfs snapshotter's
// directories are gone, so no clean-up overlaps what comes next.
//
// Not ctr images unmount --rm: it deletes the lease first, so the collector
// and its own removal race for the container's snapshot, and when the
// collector wins containerd 1.6 keeps the parent's child link, so the top
// layer can never be removed ("cannot remove snapshot with child").
func (c *containerd) unmountImage(tb testing.TB, img v1.Image, target string) {
	tb.Helper()
	c.run(tb, "images", "unmount", target)
	c.run(tb, "snapshots", "rm", target)
	c.run(tb, "leases", "rm", "--sync", target)
	chain := chainIDs(tb, img)
	c.run(tb, "snapshots", "rm", chain[len(chain)-1])
	lease := "shoal-gc"
	c.run(tb, "leases", "create", "--id", lease)
	c.run(tb, "leases", "rm", "--sync", lease)
	for deadline := time.Now().Add(30 * time.Second); ; {
		left := c.snapshotDirs(tb)
		if left == 0 {
			return
		}
		if time.Now().After(deadline) {
			tb.Fatalf("containerd left %d snapshot directories:\n%s", left, c.run(tb, "snapshots", "ls"))
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// snapshotDirs counts the overlayfs snapshotter's snapshot directories:
// what is really on disk, whatever the metadata says.
func (c *containerd) snapshotDirs(tb testing.TB) int {
	tb.Helper()
	ents, err := os.ReadDir(filepath.Join(c.root, "io.containerd.snapshotter.v1.overlayfs", "snapshots"))
	if err != nil {
		tb.Fatal(err)
	}
	return len(ents)
}

// unmountOnCleanup detaches whatever is still mounted at target when the
// test ends (a benchmark that failed half way), before containerd stops.
func unmountOnCleanup(tb testing.TB, target string) {
	tb.Cleanup(func() {
		for range 4 { // mounts may be stacked
			if unix.Unmount(target, unix.MNT_DETACH) != nil {
				break
			}
		}
	})
}

// cpuTime is the user and system CPU time the daemon (all its threads) has
// used so far, from /proc/PID/stat in clock ticks of 1/100 s.
func (c *containerd) cpuTime() time.Duration {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", c.proc.Pid))
	if err != nil {
		return 0
	}
	// Fields after the command name, which is in parentheses and may hold
	// spaces: state is field 3, utime 14, stime 15.
	i := bytes.LastIndexByte(b, ')')
	if i < 0 {
		return 0
	}
	f := strings.Fields(string(b[i+1:]))
	if len(f) < 13 {
		return 0
	}
	ut, _ := strconv.ParseInt(f[11], 10, 64)
	st, _ := strconv.ParseInt(f[12], 10, 64)
	return time.Duration(ut+st) * 10 * time.Millisecond
}

// chainIDs are the snapshot names containerd gives img's layers: the
// chain id of each layer and those below it (OCI image spec).
func chainIDs(tb testing.TB, img v1.Image) []string {
	tb.Helper()
	cfg, err := img.ConfigFile()
	if err != nil {
		tb.Fatal(err)
	}
	var out []string
	var chain string
	for k, d := range cfg.RootFS.DiffIDs {
		if k == 0 {
			chain = d.String()
		} else {
			chain = fmt.Sprintf("sha256:%x", sha256.Sum256([]byte(chain+" "+d.String())))
		}
		out = append(out, chain)
	}
	return out
}

// writeOCIArchive writes img to w as an OCI image layout in a tar stream,
// with tag as its org.opencontainers.image.ref.name: what ctr images import
// reads.
func writeOCIArchive(w io.Writer, img v1.Image, tag string) error {
	tw := tar.NewWriter(w)
	put := func(name string, size int64, r io.Reader) error {
		if err := tw.WriteHeader(&tar.Header{Name: name, Mode: 0o644, Size: size, Typeflag: tar.TypeReg}); err != nil {
			return err
		}
		_, err := io.Copy(tw, r)
		return err
	}
	putBytes := func(name string, b []byte) error { return put(name, int64(len(b)), bytes.NewReader(b)) }
	blob := func(h v1.Hash) string { return "blobs/" + h.Algorithm + "/" + h.Hex }

	raw, err := img.RawManifest()
	if err != nil {
		return err
	}
	mt, err := img.MediaType()
	if err != nil {
		return err
	}
	digest, err := img.Digest()
	if err != nil {
		return err
	}
	index, err := json.Marshal(v1.IndexManifest{
		SchemaVersion: 2,
		Manifests: []v1.Descriptor{{
			MediaType: mt, Digest: digest, Size: int64(len(raw)),
			Annotations: map[string]string{"org.opencontainers.image.ref.name": tag},
		}},
	})
	if err != nil {
		return err
	}
	if err := putBytes("oci-layout", []byte(`{"imageLayoutVersion":"1.0.0"}`)); err != nil {
		return err
	}
	if err := putBytes("index.json", index); err != nil {
		return err
	}
	if err := putBytes(blob(digest), raw); err != nil {
		return err
	}
	cfgName, err := img.ConfigName()
	if err != nil {
		return err
	}
	cfg, err := img.RawConfigFile()
	if err != nil {
		return err
	}
	if err := putBytes(blob(cfgName), cfg); err != nil {
		return err
	}
	layers, err := img.Layers()
	if err != nil {
		return err
	}
	for _, l := range layers {
		d, err := l.Digest()
		if err != nil {
			return err
		}
		size, err := l.Size()
		if err != nil {
			return err
		}
		rc, err := l.Compressed()
		if err != nil {
			return err
		}
		err = put(blob(d), size, rc)
		_ = rc.Close()
		if err != nil {
			return err
		}
	}
	return tw.Close()
}

// TestContainerdMountsImage checks the containerd helper the benchmarks
// use, and that containerd reads imagefs images the way imagefs does:
// whiteouts, opaque directories, zstd and gzip layers.
func TestContainerdMountsImage(t *testing.T) {
	testenv.Require(t, testenv.Root, testenv.Containerd)
	c := startContainerd(t, t.TempDir())
	for _, comp := range []imagefs.Compression{{Algorithm: imagefs.Zstd}, {Algorithm: imagefs.Gzip}} {
		t.Run(string(comp.Algorithm), func(t *testing.T) {
			img := threeLayers(t, comp)
			ref := c.importImage(t, img, "three", string(comp.Algorithm))
			target := t.TempDir()
			unmountOnCleanup(t, target)
			if err := c.mountImage(ref, target); err != nil {
				t.Fatal(err)
			}
			if n := c.snapshotDirs(t); n != 4 {
				t.Errorf("%d snapshot directories, want 4 (three layers and the container's)", n)
			}
			for name, want := range map[string]string{"etc/a": "a from app", "d/z": "z", "app/run": "#!/bin/sh\necho hi\n"} {
				got, err := os.ReadFile(filepath.Join(target, name))
				if err != nil || string(got) != want {
					t.Errorf("%s = %q, %v; want %q", name, got, err, want)
				}
			}
			for _, gone := range []string{"gone", "d/x", "d/y"} {
				if _, err := os.Lstat(filepath.Join(target, gone)); !errors.Is(err, os.ErrNotExist) {
					t.Errorf("%s: %v, want it hidden", gone, err)
				}
			}
			c.unmountImage(t, img, target)
			if out := c.run(t, "snapshots", "ls"); strings.Count(strings.TrimSpace(out), "\n") != 0 {
				t.Errorf("snapshots left after unmountImage:\n%s", out)
			}
			var st unix.Statfs_t
			if err := unix.Statfs(target, &st); err == nil && st.Type == unix.OVERLAYFS_SUPER_MAGIC {
				t.Errorf("%s still an overlay mount", target)
			}
		})
	}
}
