package agent_test

import (
	"context"
	"crypto/rand"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/shoalkit/shoal/examples/internal/state"
	"github.com/shoalkit/shoal/imagefs"
	"github.com/shoalkit/shoal/internal/testenv"
)

// TestHostPaths: a host path under a volume root is bound in; one outside
// the roots, or leading out of them through a symbolic link, fails the
// instance naming the field, with nothing made.
func TestHostPaths(t *testing.T) {
	n := newNode(t)
	root := t.TempDir()
	outside := t.TempDir()
	if err := os.MkdirAll(filepath.Join(root, "tools"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(root, "tools", "v"), []byte("1.2\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(outside, filepath.Join(root, "escape")); err != nil {
		t.Fatal(err)
	}
	n.cfg.VolumeRoots = []string{root}
	n.startAgent()
	bound := func(id, host string) state.Instance {
		return state.Instance{
			ID: id, App: "binds", Generation: 1, RequestID: "req-" + id, Image: n.image, Kind: state.Thin,
			Binds:   []state.Bind{{HostPath: host, Mount: "/opt/tools", ReadOnly: true}},
			Command: []string{"/bin/sh", "-c", "cat /opt/tools/v; exec sleep 1000"},
		}
	}
	n.put(bound("in-root", filepath.Join(root, "tools")))
	n.waitStatus("in-root", "running", running)
	waitFile(t, n.cfg.Runtime.LogPath("in-root"), "1.2\n")

	for id, host := range map[string]string{"outside": outside, "via-link": filepath.Join(root, "escape"), "etc": "/etc"} {
		n.put(bound(id, host))
		st := n.waitStatus(id, "failed", func(st state.Status) bool { return st.Phase == state.Failed })
		if st.Reason != "HostPathNotAllowed" || st.Field != "binds[0].host_path" || !strings.Contains(st.Message, "outside the allowed volume roots") {
			t.Errorf("%s: status %+v, want HostPathNotAllowed on binds[0].host_path", id, st)
		}
		if _, err := n.cfg.Runtime.Get(id); err == nil {
			t.Errorf("%s: a container was made", id)
		}
		if ids, _ := n.cfg.Store.Containers(t.Context()); contains(ids, id) {
			t.Errorf("%s: a rootfs was prepared", id)
		}
	}
}

// TestFullDiskDuringFetch: the store is on a small file system and an
// image larger than it is asked for: the instance fails with the disk's
// reason, nothing of the failed fetch stays in the store, and the agent
// goes on — an image that fits runs afterwards.
func TestFullDiskDuringFetch(t *testing.T) {
	n := newNode(t)
	// An image of busybox plus 24 MiB that does not compress.
	src := t.TempDir()
	testenv.BusyboxRootfs(t, src)
	big := make([]byte, 24<<20)
	_, _ = rand.Read(big)
	if err := os.WriteFile(filepath.Join(src, "blob"), big, 0o644); err != nil {
		t.Fatal(err)
	}
	img, _, err := imagefs.Build(t.Context(), src, imagefs.Recipe{Role: imagefs.RoleBase})
	if err != nil {
		t.Fatal(err)
	}
	bigRef := strings.Replace(n.image, "/busybox:1", "/big:1", 1)
	if _, err := imagefs.Push(t.Context(), img, bigRef, n.cfg.Remote); err != nil {
		t.Fatal(err)
	}

	// A 16 MiB ext4 as the store's disk.
	fsImg := filepath.Join(t.TempDir(), "small.img")
	mnt := t.TempDir()
	sh(t, "truncate", "-s", "16M", fsImg)
	sh(t, "mkfs.ext4", "-q", "-F", "-m", "0", fsImg)
	sh(t, "mount", "-o", "loop", fsImg, mnt)
	store, err := imagefs.OpenStore(t.Context(), imagefs.DefaultStoreConfig(filepath.Join(mnt, "images")))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		// Before the runtime's own clean-up: nothing may hold the disk.
		ins, _ := n.cfg.Runtime.List()
		for _, in := range ins {
			_ = n.cfg.Runtime.Delete(context.Background(), in.ID, 0)
		}
		ids, _ := store.Containers(context.Background())
		for _, id := range ids {
			_ = store.Release(context.Background(), id)
		}
		_ = unix.Unmount(mnt, unix.MNT_DETACH)
	})
	n.cfg.Store = store
	n.startAgent()

	n.put(state.Instance{ID: "big-1", App: "big", Generation: 1, Image: bigRef, Kind: state.Thin, Command: []string{"/bin/sleep", "1000"}})
	st := n.waitStatus("big-1", "failed", func(st state.Status) bool { return st.Phase == state.Failed })
	if st.Reason != "ImagePullFailed" || st.Field != "image" || !strings.Contains(st.Message, "no space left on device") {
		t.Errorf("status %+v, want ImagePullFailed on image saying the disk is full", st)
	}
	// Nothing half-written: no work in progress, no image, no layer but
	// whole ones (busybox's may have fitted before the big one failed).
	if ents, err := os.ReadDir(filepath.Join(mnt, "images", "tmp")); err != nil || len(ents) != 0 {
		t.Errorf("store tmp holds %d entries (%v)", len(ents), err)
	}
	if imgs, _ := store.Images(t.Context()); len(imgs) != 0 {
		t.Errorf("images in the store after the failed fetch: %+v", imgs)
	}
	bigCfg, err := img.ConfigFile()
	if err != nil {
		t.Fatal(err)
	}
	for _, d := range bigCfg.RootFS.DiffIDs {
		if _, err := os.Stat(store.LayerDir(d)); err == nil {
			t.Logf("layer %s stayed (whole: it fitted)", d)
		}
	}
	var fs unix.Statfs_t
	if err := unix.Statfs(mnt, &fs); err != nil {
		t.Fatal(err)
	}
	if free := int64(fs.Bavail) * fs.Bsize; free < 8<<20 { //nolint:gosec // block counts fit
		t.Errorf("only %d bytes free after the failed fetch: something half-written stayed", free)
	}

	// The agent goes on: an image that fits runs.
	n.put(state.Instance{ID: "small-1", App: "big", Generation: 1, Image: n.image, Kind: state.Thin, Command: []string{"/bin/sleep", "1000"}})
	n.waitStatus("small-1", "running", running)
}
