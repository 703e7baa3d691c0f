package agent

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"

	"golang.org/x/sys/unix"

	"github.com/shoalkit/shoal/examples/internal/container"
	"github.com/shoalkit/shoal/examples/internal/state"
)

// A data volume is a file system of a fixed size, mounted at
// VolumeDir/ID/data and bound into the container: a logical volume
// shoal-ID of Config.VolumeGroup when the node has one (JD's /export; its
// name is kept in VolumeDir/ID/lvm), otherwise a file VolumeDir/ID/disk.img
// mounted through a loop device. The size is the file system's, so a full
// volume is ENOSPC inside the container and nothing else on the node fills
// up. It outlives the instance: deleting the instance unmounts it and keeps
// it, so its data can be recovered offline, until it is removed through
// DELETE /v1/volumes/ID.

func volumePaths(dir, id string) (image, mnt string) {
	return filepath.Join(dir, id, "disk.img"), filepath.Join(dir, id, "data")
}

// lvName is the logical volume of an instance's volume.
func lvName(id string) string { return "shoal-" + id }

// volume makes (first time) and mounts the instance's data volume and
// returns its bind mount. A new volume is filled with what the image holds
// at the mount path (Docker's rule for a new volume), which is how a
// snapshot taken with its volume brings the data to another node.
func (a *Agent) volume(ctx context.Context, want state.Instance, rootfs string) (container.Mount, error) {
	defer a.volLocks.Lock(want.ID)()
	img, mnt := volumePaths(a.cfg.VolumeDir, want.ID)
	if err := os.MkdirAll(mnt, 0o700); err != nil {
		return container.Mount{}, fail("VolumeFailed", "volume", err)
	}
	m := container.Mount{Source: mnt, Destination: want.Volume.Mount}
	if mounted(mnt) {
		return m, nil
	}
	dev, fresh, err := a.volumeDevice(ctx, want, img)
	if err != nil {
		a.removeEmptyVolumeDir(want.ID)
		return container.Mount{}, err
	}
	opts := "nosuid,nodev"
	if a.cfg.VolumeGroup == "" {
		opts = "loop," + opts
	}
	if err := run(ctx, "mount", "-o", opts, dev, mnt); err != nil {
		if fresh {
			_ = a.dropVolume(context.WithoutCancel(ctx), want.ID)
		}
		return container.Mount{}, fail("VolumeFailed", "volume", err)
	}
	if fresh {
		if err := seedVolume(ctx, rootfs, want.Volume.Mount, mnt); err != nil {
			_ = unix.Unmount(mnt, 0)
			_ = a.dropVolume(context.WithoutCancel(ctx), want.ID) // made just now: nothing of the instance's in it
			return container.Mount{}, fail("VolumeFailed", "volume.mount", err)
		}
	}
	return m, nil
}

// volumeDevice returns what to mount for the instance's volume, making it
// (fresh) when there is none.
func (a *Agent) volumeDevice(ctx context.Context, want state.Instance, img string) (dev string, fresh bool, err error) {
	if vg := a.cfg.VolumeGroup; vg != "" {
		lv := vg + "/" + lvName(want.ID)
		if lvExists(ctx, lv) {
			if err := run(ctx, "lvchange", "-q", "-a", "y", lv); err != nil {
				return "", false, fail("VolumeFailed", "volume", err)
			}
			return "/dev/" + lv, false, nil
		}
		if err := a.makeLV(ctx, want.ID, want.Volume.SizeBytes); err != nil {
			return "", false, fail("VolumeFailed", "volume.size_bytes", err)
		}
		return "/dev/" + lv, true, nil
	}
	if _, err := os.Stat(img); errors.Is(err, os.ErrNotExist) {
		if err := makeVolume(ctx, img, want.Volume.SizeBytes); err != nil {
			return "", false, fail("VolumeFailed", "volume.size_bytes", err)
		}
		return img, true, nil
	} else if err != nil {
		return "", false, fail("VolumeFailed", "volume", err)
	}
	return img, false, nil
}

// makeLV makes the instance's logical volume with an empty ext4 on it; a
// half-made one is removed. The volume's record (VolumeDir/ID/lvm) is
// written first, so a crash leaves a volume the API can list and remove.
func (a *Agent) makeLV(ctx context.Context, id string, size int64) error {
	lv := a.cfg.VolumeGroup + "/" + lvName(id)
	if err := os.WriteFile(filepath.Join(a.cfg.VolumeDir, id, "lvm"), []byte(lv+"\n"), 0o600); err != nil {
		return err
	}
	err := run(ctx, "lvcreate", "-q", "-y", "-W", "y", "-Z", "y", "-n", lvName(id), "-L", strconv.FormatInt(size, 10)+"b", a.cfg.VolumeGroup)
	if err == nil {
		err = run(ctx, "mkfs.ext4", "-q", "-F", "-m", "0", "-E", "root_owner=0:0", "/dev/"+lv)
		if err != nil {
			_ = run(context.WithoutCancel(ctx), "lvremove", "-q", "-y", lv)
		}
	}
	if err != nil {
		_ = os.Remove(filepath.Join(a.cfg.VolumeDir, id, "lvm"))
	}
	return err
}

func lvExists(ctx context.Context, lv string) bool {
	return run(ctx, "lvs", "--noheadings", lv) == nil
}

// makeVolume writes a sparse file of size bytes holding an empty ext4; a
// half-made one is removed.
func makeVolume(ctx context.Context, img string, size int64) error {
	tmp := img + ".tmp"
	f, err := os.OpenFile(tmp, os.O_CREATE|os.O_EXCL|os.O_WRONLY, 0o600)
	if errors.Is(err, os.ErrExist) {
		_ = os.Remove(tmp) // a crash's leftover
		f, err = os.OpenFile(tmp, os.O_CREATE|os.O_EXCL|os.O_WRONLY, 0o600)
	}
	if err != nil {
		return err
	}
	err = f.Truncate(size)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = run(ctx, "mkfs.ext4", "-q", "-F", "-m", "0", "-E", "root_owner=0:0", tmp)
	}
	if err == nil {
		err = os.Rename(tmp, img)
	}
	if err != nil {
		_ = os.Remove(tmp)
	}
	return err
}

// seedVolume copies what the image holds at mount into a new volume. A
// path through a symbolic link is not followed: in a hostile image it
// would lead the copy to the host's files.
func seedVolume(ctx context.Context, rootfs, mount, mnt string) error {
	src := rootfs
	for _, part := range strings.Split(strings.TrimPrefix(mount, "/"), "/") {
		src = filepath.Join(src, part)
		fi, err := os.Lstat(src)
		if errors.Is(err, os.ErrNotExist) {
			return nil // nothing to seed
		}
		if err != nil {
			return err
		}
		if !fi.IsDir() {
			return nil // a file or link where the volume goes: the mount hides it
		}
	}
	return run(ctx, "cp", "-a", "--no-dereference", src+"/.", mnt+"/")
}

// removeEmptyVolumeDir removes the directory of a volume that could not be
// made, when it holds nothing but its empty mount point.
func (a *Agent) removeEmptyVolumeDir(id string) {
	_, mnt := volumePaths(a.cfg.VolumeDir, id)
	if mounted(mnt) {
		return
	}
	if os.Remove(mnt) == nil || errors.Is(os.Remove(mnt), os.ErrNotExist) {
		_ = os.Remove(filepath.Dir(mnt)) // fails unless empty
	}
}

// unmountVolume unmounts the instance's volume, keeping it.
func (a *Agent) unmountVolume(id string) error {
	_, mnt := volumePaths(a.cfg.VolumeDir, id)
	if !mounted(mnt) {
		return nil
	}
	if err := unix.Unmount(mnt, 0); err != nil && !errors.Is(err, unix.EINVAL) {
		return fmt.Errorf("agent: unmount volume of %s: %w", id, err)
	}
	return nil
}

// dropVolume unmounts and destroys an instance's volume, its data with it.
func (a *Agent) dropVolume(ctx context.Context, id string) error {
	if err := a.unmountVolume(id); err != nil {
		return err
	}
	dir := filepath.Join(a.cfg.VolumeDir, id)
	if b, err := os.ReadFile(filepath.Join(dir, "lvm")); err == nil {
		lv := strings.TrimSpace(string(b))
		if lvExists(ctx, lv) {
			if err := run(ctx, "lvremove", "-q", "-y", lv); err != nil {
				return err
			}
		}
	}
	return os.RemoveAll(dir)
}

// mounted reports whether dir is a mount point: on another device than its
// parent.
func mounted(dir string) bool {
	var st, parent unix.Stat_t
	if unix.Stat(dir, &st) != nil || unix.Stat(filepath.Dir(dir), &parent) != nil {
		return false
	}
	return st.Dev != parent.Dev
}

func run(ctx context.Context, name string, args ...string) error {
	var stderr bytes.Buffer
	cmd := exec.CommandContext(ctx, name, args...)
	cmd.Stderr = &stderr
	if err := cmd.Run(); err != nil {
		return fmt.Errorf("agent: %s %s: %w: %s", name, strings.Join(args, " "), err, strings.TrimSpace(stderr.String()))
	}
	return nil
}
