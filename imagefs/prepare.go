package imagefs

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"

	v1 "github.com/google/go-containerregistry/pkg/v1"
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
// Preparing an id that is prepared and mounted is ErrExist. It needs
// CAP_SYS_ADMIN.
//
// The container's image marker (containers/<id>/image, what GC and Remove
// count as a use of the image) is written atomically before the overlay is
// mounted, so a crash at any point never leaves a mount of layers GC
// thinks unused. After such a crash (or a reboot) the container is
// prepared but not mounted: Prepare of the same id and image mounts it
// again, keeping its upper directory, and Release removes it.
func (s *Store) Prepare(ctx context.Context, ref, id string) (*Rootfs, error) {
	if !containerID.MatchString(id) {
		return nil, newError(ErrInvalid, "container id %q", id)
	}
	s.mu.RLock()
	defer s.mu.RUnlock()
	unlock := s.ids.Lock(id)
	defer unlock()
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
			return nil, newError(ErrNotFound, "layer %s of %s is not unpacked", cfg.RootFS.DiffIDs[k], ref)
		}
		lowers = append(lowers, d)
	}
	if ctx.Err() != nil {
		return nil, ctxError(ctx, "prepare")
	}
	dir := s.path("containers", id)
	r := &Rootfs{ID: id, Path: filepath.Join(dir, "rootfs"), Upper: filepath.Join(dir, "upper"), Image: h.String()}
	fresh, err := s.claimContainer(dir, id, h)
	if err != nil {
		return nil, err
	}
	work := filepath.Join(dir, "work")
	ok := false
	defer func() {
		if !ok && fresh {
			_ = discardContainer(dir)
		}
	}()
	if fresh {
		// The marker first: from here on GC keeps the image, whatever
		// happens to this process.
		if err := writeMarker(dir, r.Image); err != nil {
			return nil, wrapError(kindOf(err), err, "prepare %q", id)
		}
	}
	for _, d := range []string{r.Path, r.Upper, work} {
		if err := os.Mkdir(d, 0o755); err != nil && (fresh || !errors.Is(err, os.ErrExist)) {
			return nil, wrapError(kindOf(err), err, "prepare %q", id)
		}
	}
	if len(lowers) == 0 {
		empty := filepath.Join(dir, "empty")
		if err := os.Mkdir(empty, 0o755); err != nil && (fresh || !errors.Is(err, os.ErrExist)) {
			return nil, wrapError(kindOf(err), err, "prepare %q", id)
		}
		lowers = append(lowers, empty)
	}
	if err := mountOverlay(lowers, r.Upper, work, r.Path); err != nil {
		return nil, wrapError(kindOf(err), err, "prepare %q", id)
	}
	ok = true
	return r, nil
}

// claimContainer makes dir the container's directory. It reports fresh when
// it created dir; when dir is left by a crash with a marker for image h and
// no mount, it reports !fresh and Prepare finishes the job; a container
// prepared and mounted, or prepared from another image, is ErrExist. A
// directory without a marker is a leftover of a crashed Prepare or Release
// (the per-id lock rules out one in progress) and is removed first.
func (s *Store) claimContainer(dir, id string, h v1.Hash) (bool, error) {
	for range 2 {
		err := os.Mkdir(dir, 0o700)
		if err == nil {
			return true, nil
		}
		if !errors.Is(err, os.ErrExist) {
			return false, wrapError(kindOf(err), err, "prepare %q", id)
		}
		marked, ok := readMarker(dir)
		if !ok {
			s.log.Debug("removing a container left half-prepared", "id", id)
			if err := discardContainer(dir); err != nil {
				return false, wrapError(kindOf(err), err, "prepare %q", id)
			}
			continue
		}
		if marked != h || isMounted(dir) {
			return false, newError(ErrExist, "container %q", id)
		}
		s.log.Debug("mounting a container left prepared but unmounted", "id", id)
		return false, nil
	}
	return false, newError(ErrExist, "container %q", id)
}

// Release unmounts the container's root and removes its upper directory.
// Releasing an id that is not prepared does nothing, and so does releasing
// one twice; a container left half-prepared by a crash is removed like any
// other.
func (s *Store) Release(ctx context.Context, id string) error {
	if !containerID.MatchString(id) {
		return newError(ErrInvalid, "container id %q", id)
	}
	if ctx.Err() != nil {
		return ctxError(ctx, "release")
	}
	s.mu.RLock()
	defer s.mu.RUnlock()
	unlock := s.ids.Lock(id)
	defer unlock()
	dir := s.path("containers", id)
	if _, err := os.Stat(dir); errors.Is(err, os.ErrNotExist) {
		return nil
	}
	// Only a mount is unmounted: a container a crash or reboot left
	// unmounted needs no privilege to remove.
	if isMounted(dir) {
		if err := unmountRootfs(filepath.Join(dir, "rootfs")); err != nil {
			return wrapError(kindOf(err), err, "release %q", id)
		}
	}
	// Drop the image mark first: a half-removed directory is no longer a
	// user of the image.
	if err := os.Remove(filepath.Join(dir, "image")); err != nil && !errors.Is(err, os.ErrNotExist) {
		return wrapError(kindOf(err), err, "release %q", id)
	}
	if err := os.RemoveAll(dir); err != nil {
		return wrapError(kindOf(err), err, "release %q", id)
	}
	return nil
}

// unmountRootfs unmounts a container's root, detaching it when something
// still has it open (the kernel frees it later).
func unmountRootfs(mnt string) error {
	err := unix.Unmount(mnt, 0)
	if err == nil || errors.Is(err, unix.EINVAL) || errors.Is(err, unix.ENOENT) {
		return nil
	}
	if !errors.Is(err, unix.EBUSY) {
		return fmt.Errorf("unmount: %w", err)
	}
	if err := unix.Unmount(mnt, unix.MNT_DETACH); err != nil {
		return fmt.Errorf("unmount: %w", err)
	}
	return nil
}

// writeMarker writes the container's image marker atomically: a temporary
// file, synced, renamed. A crash leaves either no marker or a whole one.
func writeMarker(dir, image string) error {
	f, err := os.CreateTemp(dir, ".image-")
	if err != nil {
		return err
	}
	defer os.Remove(f.Name())
	if _, err := f.WriteString(image + "\n"); err != nil {
		_ = f.Close()
		return err
	}
	if err := f.Sync(); err != nil {
		_ = f.Close()
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	return os.Rename(f.Name(), filepath.Join(dir, "image"))
}

// readMarker returns the image a container directory is marked with.
func readMarker(dir string) (v1.Hash, bool) {
	b, err := os.ReadFile(filepath.Join(dir, "image"))
	if err != nil {
		return v1.Hash{}, false
	}
	h, err := v1.NewHash(strings.TrimSpace(string(b)))
	if err != nil {
		return v1.Hash{}, false
	}
	return h, true
}

// isMounted reports whether the container's rootfs is a mount point: a
// mount has a device of its own.
func isMounted(dir string) bool {
	var parent, root unix.Stat_t
	if unix.Stat(dir, &parent) != nil || unix.Lstat(filepath.Join(dir, "rootfs"), &root) != nil {
		return false
	}
	return parent.Dev != root.Dev
}

// discardContainer removes a container directory that holds no marker (or
// whose Prepare failed): its mount, if a crash left one, is detached first.
func discardContainer(dir string) error {
	if mnt := filepath.Join(dir, "rootfs"); isMounted(dir) {
		if err := unix.Unmount(mnt, unix.MNT_DETACH); err != nil && !errors.Is(err, unix.EINVAL) {
			return fmt.Errorf("unmount %s: %w", mnt, err)
		}
	}
	if err := os.Remove(filepath.Join(dir, "image")); err != nil && !errors.Is(err, os.ErrNotExist) {
		return err
	}
	return os.RemoveAll(dir)
}

// reconcileContainers removes container directories a crash left without a
// marker (Prepare before its marker, Release after dropping it): they hold
// nothing, and may hold a mount the previous version made before its
// marker. Containers with a marker stay, mounted or not: they are uses of
// their image until Release. Callers hold s.mu exclusively, or own the
// store alone (OpenStore), so no Prepare is half-way.
func (s *Store) reconcileContainers() ([]string, error) {
	ents, err := os.ReadDir(s.path("containers"))
	if err != nil {
		return nil, wrapError(ErrUnavailable, err, "read store")
	}
	var removed []string
	for _, e := range ents {
		dir := s.path("containers", e.Name())
		if _, ok := readMarker(dir); ok {
			if !isMounted(dir) {
				s.log.Debug("container prepared but not mounted; Prepare mounts it again, Release removes it", "id", e.Name())
			}
			continue
		}
		if err := discardContainer(dir); err != nil {
			return removed, wrapError(kindOf(err), err, "remove half-prepared container %q", e.Name())
		}
		removed = append(removed, e.Name())
	}
	return removed, nil
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
		return wrapError(ErrInvalid, err, "overlay options of %d bytes exceed a page, and this kernel lacks lowerdir+", len(opts))
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

// Containers lists the ids of the prepared containers, mounted or left
// half-prepared by a crash: what an agent compares with the containers it
// knows, to Release the rootfs of one deleted while it was down.
func (s *Store) Containers(ctx context.Context) ([]string, error) {
	if err := ctx.Err(); err != nil {
		return nil, ctxError(ctx, "containers")
	}
	s.mu.RLock()
	defer s.mu.RUnlock()
	users, err := s.containerImages()
	if err != nil {
		return nil, err
	}
	ids := make([]string, 0, len(users))
	for id := range users {
		ids = append(ids, id)
	}
	slices.Sort(ids)
	return ids, nil
}
