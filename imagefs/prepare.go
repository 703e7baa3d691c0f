package imagefs

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"golang.org/x/sys/unix"
)

// Rootfs is a prepared container root file system.
type Rootfs struct {
	ID    string // the container id it was prepared for
	Path  string // the overlay mount point: the container's root
	Upper string // the container's own writable layer
	Image string // manifest digest of the image ("sha256:...")
}

// Prepare mounts a root file system for container id from an image already in
// the store (ref is its name or digest): an overlay of the unpacked layers,
// top layer first, plus an upper and work directory of the container's own.
// Nothing is fetched or unpacked here; a missing layer is ErrNotFound.
// Preparing an id twice is ErrExist. It needs CAP_SYS_ADMIN.
func (s *Store) Prepare(ctx context.Context, ref, id string) (*Rootfs, error) {
	if !containerID.MatchString(id) {
		return nil, fmt.Errorf("%w: container id %q", ErrInvalid, id)
	}
	s.mu.RLock()
	defer s.mu.RUnlock()
	h, err := s.resolve(ref)
	if err != nil {
		return nil, err
	}
	_, cfg, err := s.manifestConfig(h)
	if err != nil {
		return nil, err
	}
	lowers := make([]string, 0, len(cfg.RootFS.DiffIDs))
	for k := len(cfg.RootFS.DiffIDs) - 1; k >= 0; k-- {
		d := s.LayerDir(cfg.RootFS.DiffIDs[k])
		if _, err := os.Stat(d); err != nil {
			return nil, fmt.Errorf("%w: layer %s of %s is not unpacked", ErrNotFound, cfg.RootFS.DiffIDs[k], ref)
		}
		lowers = append(lowers, d)
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	dir := s.path("containers", id)
	if err := os.Mkdir(dir, 0o700); err != nil {
		if errors.Is(err, os.ErrExist) {
			return nil, fmt.Errorf("%w: container %q", ErrExist, id)
		}
		return nil, fmt.Errorf("imagefs: prepare %q: %w", id, err)
	}
	r := &Rootfs{ID: id, Path: filepath.Join(dir, "rootfs"), Upper: filepath.Join(dir, "upper"), Image: h.String()}
	work := filepath.Join(dir, "work")
	ok := false
	defer func() {
		if !ok {
			_ = os.RemoveAll(dir)
		}
	}()
	for _, d := range []string{r.Path, r.Upper, work} {
		if err := os.Mkdir(d, 0o755); err != nil {
			return nil, fmt.Errorf("imagefs: prepare %q: %w", id, err)
		}
	}
	if len(lowers) == 0 {
		empty := filepath.Join(dir, "empty")
		if err := os.Mkdir(empty, 0o755); err != nil {
			return nil, fmt.Errorf("imagefs: prepare %q: %w", id, err)
		}
		lowers = append(lowers, empty)
	}
	if err := mountOverlay(lowers, r.Upper, work, r.Path); err != nil {
		return nil, fmt.Errorf("imagefs: prepare %q: %w", id, err)
	}
	// The image file marks the container as a user of the image; written
	// last so a container that failed to prepare holds nothing.
	if err := os.WriteFile(filepath.Join(dir, "image"), []byte(r.Image+"\n"), 0o600); err != nil {
		_ = unix.Unmount(r.Path, unix.MNT_DETACH)
		return nil, fmt.Errorf("imagefs: prepare %q: %w", id, err)
	}
	ok = true
	return r, nil
}

// Release unmounts the container's root and removes its upper directory.
// Releasing an id that is not prepared does nothing.
func (s *Store) Release(ctx context.Context, id string) error {
	if !containerID.MatchString(id) {
		return fmt.Errorf("%w: container id %q", ErrInvalid, id)
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	s.mu.RLock()
	defer s.mu.RUnlock()
	dir := s.path("containers", id)
	if _, err := os.Stat(dir); errors.Is(err, os.ErrNotExist) {
		return nil
	}
	mnt := filepath.Join(dir, "rootfs")
	if err := unix.Unmount(mnt, 0); err != nil && !errors.Is(err, unix.EINVAL) && !errors.Is(err, unix.ENOENT) {
		if !errors.Is(err, unix.EBUSY) {
			return fmt.Errorf("imagefs: release %q: unmount: %w", id, err)
		}
		// Something still has it open: detach, the kernel frees it later.
		if err := unix.Unmount(mnt, unix.MNT_DETACH); err != nil {
			return fmt.Errorf("imagefs: release %q: unmount: %w", id, err)
		}
	}
	// Drop the image mark first: a half-removed directory is no longer a
	// user of the image.
	if err := os.Remove(filepath.Join(dir, "image")); err != nil && !errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("imagefs: release %q: %w", id, err)
	}
	if err := os.RemoveAll(dir); err != nil {
		return fmt.Errorf("imagefs: release %q: %w", id, err)
	}
	return nil
}

// mountOverlay mounts an overlay at target. It uses the new mount API, whose
// "lowerdir+" takes one layer per call, so the layer count is not bounded by
// the one-page limit of mount(2)'s option string; it falls back to mount(2)
// on kernels without it.
func mountOverlay(lowers []string, upper, work, target string) error {
	err := fsmountOverlay(lowers, upper, work, target)
	if err == nil {
		return nil
	}
	if !errors.Is(err, unix.ENOSYS) && !errors.Is(err, unix.EINVAL) {
		return err
	}
	opts := "lowerdir=" + strings.Join(lowers, ":") + ",upperdir=" + upper + ",workdir=" + work
	if len(opts) >= os.Getpagesize() {
		return fmt.Errorf("%w: overlay options of %d bytes exceed a page; this kernel lacks lowerdir+ (%w)", ErrInvalid, len(opts), err)
	}
	if err := unix.Mount("overlay", target, "overlay", 0, opts); err != nil {
		return fmt.Errorf("mount overlay: %w", err)
	}
	return nil
}

func fsmountOverlay(lowers []string, upper, work, target string) error {
	fsfd, err := unix.Fsopen("overlay", unix.FSOPEN_CLOEXEC)
	if err != nil {
		return fmt.Errorf("fsopen overlay: %w", err)
	}
	defer unix.Close(fsfd)
	set := func(k, v string) error {
		if err := unix.FsconfigSetString(fsfd, k, v); err != nil {
			return fmt.Errorf("overlay %s=%s: %w", k, v, err)
		}
		return nil
	}
	if err := set("source", "overlay"); err != nil {
		return err
	}
	for _, l := range lowers {
		if err := set("lowerdir+", l); err != nil {
			return err
		}
	}
	if err := set("upperdir", upper); err != nil {
		return err
	}
	if err := set("workdir", work); err != nil {
		return err
	}
	if err := unix.FsconfigCreate(fsfd); err != nil {
		return fmt.Errorf("create overlay: %w", err)
	}
	mfd, err := unix.Fsmount(fsfd, unix.FSMOUNT_CLOEXEC, 0)
	if err != nil {
		return fmt.Errorf("fsmount overlay: %w", err)
	}
	defer unix.Close(mfd)
	if err := unix.MoveMount(mfd, "", unix.AT_FDCWD, target, unix.MOVE_MOUNT_F_EMPTY_PATH); err != nil {
		return fmt.Errorf("move overlay mount to %s: %w", target, err)
	}
	return nil
}
