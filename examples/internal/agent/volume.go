package agent

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"

	"golang.org/x/sys/unix"

	"github.com/shoalkit/shoal/examples/internal/container"
	"github.com/shoalkit/shoal/examples/internal/state"
)

// A data volume is a file system of a fixed size in a file,
// VolumeDir/ID/disk.img, loop-mounted at VolumeDir/ID/data and bound into
// the container. The size is the file system's, so a full volume is ENOSPC
// inside the container and nothing else on the node fills up. It outlives
// the instance: deleting the instance unmounts it and keeps the file, so its
// data can be recovered offline, until it is removed explicitly. (JD used an
// LVM logical volume per container for /export; a file needs no volume group
// on the node.)

func volumePaths(dir, id string) (image, mnt string) {
	return filepath.Join(dir, id, "disk.img"), filepath.Join(dir, id, "data")
}

// volume makes (first time) and mounts the instance's data volume and
// returns its bind mount. A new volume is filled with what the image holds
// at the mount path (Docker's rule for a new volume), which is how a
// snapshot taken with its volume brings the data to another node.
func (a *Agent) volume(ctx context.Context, want state.Instance, rootfs string) (container.Mount, error) {
	img, mnt := volumePaths(a.cfg.VolumeDir, want.ID)
	if err := os.MkdirAll(mnt, 0o700); err != nil {
		return container.Mount{}, fail("VolumeFailed", "volume", err)
	}
	if mounted(mnt) {
		return container.Mount{Source: mnt, Destination: want.Volume.Mount}, nil
	}
	fresh := false
	if _, err := os.Stat(img); errors.Is(err, os.ErrNotExist) {
		if err := makeVolume(ctx, img, want.Volume.SizeBytes); err != nil {
			return container.Mount{}, fail("VolumeFailed", "volume.size_bytes", err)
		}
		fresh = true
	} else if err != nil {
		return container.Mount{}, fail("VolumeFailed", "volume", err)
	}
	if err := run(ctx, "mount", "-o", "loop,nosuid,nodev", img, mnt); err != nil {
		return container.Mount{}, fail("VolumeFailed", "volume", err)
	}
	if fresh {
		if err := seedVolume(ctx, rootfs, want.Volume.Mount, mnt); err != nil {
			_ = unix.Unmount(mnt, 0)
			_ = os.Remove(img) // made just now: nothing of the instance's in it
			return container.Mount{}, fail("VolumeFailed", "volume.mount", err)
		}
	}
	return container.Mount{Source: mnt, Destination: want.Volume.Mount}, nil
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

// unmountVolume unmounts the instance's volume, keeping its file.
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
