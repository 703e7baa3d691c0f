package imagefs

import (
	"archive/tar"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path"
	"slices"
	"strings"
	"time"

	"golang.org/x/sys/unix"
)

type dirMeta struct {
	name   string
	hdr    *tar.Header
	xattrs map[string]string
}

type unpacker struct {
	b       bounds
	in      *cappedReader // the tar stream, counted
	root    int
	chown   bool
	lastDir string
	lastFd  int
	dirs    []dirMeta
	buf     []byte
	stats   UnpackStats
	// mtime is the current entry's: directories it implies get it too.
	mtime time.Time
	// last names the last entry read, and dataEnd is the stream offset
	// where its data ends: a stream that ends right there, with no
	// end-of-archive marker, was cut off.
	last    string
	dataEnd int64
}

func newUnpacker(dir string, b bounds) (*unpacker, error) {
	fd, err := unix.Open(dir, unix.O_PATH|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return nil, wrapError(kindOf(err), err, "open unpack root %s", dir)
	}
	return &unpacker{b: b, root: fd, chown: os.Geteuid() == 0, lastFd: -1, buf: make([]byte, 256<<10)}, nil
}

func (u *unpacker) close() {
	u.dropCache()
	_ = unix.Close(u.root)
}

func (u *unpacker) dropCache() {
	if u.lastFd >= 0 {
		_ = unix.Close(u.lastFd)
	}
	u.lastFd, u.lastDir = -1, ""
}

// cleanName returns the entry name relative to the root ("" for the root
// itself), refusing names that leave it.
func cleanName(name string) (string, error) {
	if strings.IndexByte(name, 0) >= 0 {
		return "", newError(ErrUnsafePath, "entry name %q has a NUL byte", name)
	}
	c := path.Clean("/" + name)
	// Clean of a rooted path never keeps "..", so compare with the
	// unrooted form to catch names that climb out.
	if rel := path.Clean(name); rel == ".." || strings.HasPrefix(rel, "../") {
		return "", newError(ErrUnsafePath, "entry %q leaves the layer root", name)
	}
	if c == "/" {
		return "", nil
	}
	return c[1:], nil
}

func (u *unpacker) run(ctx context.Context, r io.Reader) error {
	tr := tar.NewReader(r)
	for {
		if ctx.Err() != nil {
			return ctxError(ctx, "unpack")
		}
		hdr, err := tr.Next()
		if errors.Is(err, io.EOF) {
			if u.last != "" && u.in != nil && u.in.n == u.dataEnd {
				return newError(ErrCorrupt, "tar stream ends after entry %q without the end-of-archive marker (cut off?)", u.last)
			}
			break
		}
		if err != nil {
			return readErr(err, "tar")
		}
		if u.in != nil {
			u.last, u.dataEnd = hdr.Name, u.in.n+dataBlocks(hdr)
		}
		if u.stats.Entries >= u.b.entries {
			return newError(ErrTooLarge, "layer has more than MaxEntries (%d) entries", u.b.entries)
		}
		if err := u.checkEntry(hdr); err != nil {
			return err
		}
		if err := u.entry(tr, hdr); err != nil {
			return err
		}
		u.stats.Entries++
	}
	return u.finishDirs()
}

// dataBlocks is how many bytes of data follow hdr in the archive, padding
// included: none for the types archive/tar reads as header-only.
func dataBlocks(hdr *tar.Header) int64 {
	switch hdr.Typeflag {
	case tar.TypeLink, tar.TypeSymlink, tar.TypeChar, tar.TypeBlock, tar.TypeDir, tar.TypeFifo, tar.TypeXGlobalHeader:
		return 0
	}
	return (max(hdr.Size, 0) + 511) &^ 511
}

// checkEntry holds one header to the limits, before anything of it is
// written.
func (u *unpacker) checkEntry(hdr *tar.Header) error {
	if len(hdr.Name) > u.b.pathBytes {
		return newError(ErrTooLarge, "entry name of %d bytes exceeds MaxPathBytes (%d)", len(hdr.Name), u.b.pathBytes)
	}
	if len(hdr.Linkname) > u.b.pathBytes {
		return newError(ErrTooLarge, "link target of %q is %d bytes, over MaxPathBytes (%d)", hdr.Name, len(hdr.Linkname), u.b.pathBytes)
	}
	if depth := strings.Count(strings.Trim(path.Clean("/"+hdr.Name), "/"), "/") + 1; depth > u.b.pathDepth {
		return newError(ErrTooLarge, "entry %q is %d deep, over MaxPathDepth (%d)", hdr.Name, depth, u.b.pathDepth)
	}
	if hdr.Typeflag == tar.TypeReg {
		if hdr.Size > u.b.file {
			return newError(ErrTooLarge, "file %q is %d bytes, over MaxFileBytes (%d)", hdr.Name, hdr.Size, u.b.file)
		}
		// Refuse a file that cannot fit in what is left of the stream
		// cap now, rather than after writing most of it.
		if u.in != nil && hdr.Size > u.b.stream-u.in.n {
			return u.b.streamErr()
		}
	}
	return nil
}

func resolveErr(name string, err error) error {
	switch {
	case errors.Is(err, unix.ELOOP), errors.Is(err, unix.EXDEV), errors.Is(err, unix.ENOTDIR):
		return wrapError(ErrUnsafePath, err, "%q goes through a link or file", name)
	}
	return wrapError(kindOf(err), err, "%q", name)
}

func (u *unpacker) openBeneath(name string, flags uint64) (int, error) {
	if name == "" {
		name = "."
	}
	for {
		fd, err := unix.Openat2(u.root, name, &unix.OpenHow{
			Flags:   flags | unix.O_CLOEXEC,
			Resolve: unix.RESOLVE_BENEATH | unix.RESOLVE_NO_SYMLINKS | unix.RESOLVE_NO_MAGICLINKS,
		})
		if errors.Is(err, unix.EINTR) || errors.Is(err, unix.EAGAIN) {
			continue
		}
		return fd, err
	}
}

// parent returns an O_PATH descriptor of directory dir (relative, "" for the
// root), creating missing directories on the way.
func (u *unpacker) parent(dir string) (int, error) {
	if dir == u.lastDir && u.lastFd >= 0 {
		return u.lastFd, nil
	}
	u.dropCache()
	fd, err := u.openBeneath(dir, unix.O_PATH|unix.O_DIRECTORY)
	if errors.Is(err, unix.ENOENT) {
		if err := u.mkdirAll(dir); err != nil {
			return -1, err
		}
		fd, err = u.openBeneath(dir, unix.O_PATH|unix.O_DIRECTORY)
	}
	if err != nil {
		return -1, resolveErr(dir, err)
	}
	u.lastDir, u.lastFd = dir, fd
	return fd, nil
}

func (u *unpacker) mkdirAll(dir string) error {
	parts := strings.Split(dir, "/")
	cur := u.root
	owned := -1
	defer func() {
		if owned >= 0 {
			_ = unix.Close(owned)
		}
	}()
	for k, p := range parts {
		err := unix.Mkdirat(cur, p, 0o755)
		if err != nil && !errors.Is(err, unix.EEXIST) {
			return resolveErr(strings.Join(parts[:k+1], "/"), err)
		}
		if err == nil {
			// A directory the archive implies but does not list: 0755,
			// root's, and the time of the entry that implied it, so the
			// result depends neither on the umask nor on the clock.
			u.dirs = append(u.dirs, dirMeta{
				name: strings.Join(parts[:k+1], "/"),
				hdr:  &tar.Header{Mode: 0o755, ModTime: u.mtime},
			})
		}
		fd, err := unix.Openat2(cur, p, &unix.OpenHow{
			Flags:   unix.O_PATH | unix.O_DIRECTORY | unix.O_CLOEXEC | unix.O_NOFOLLOW,
			Resolve: unix.RESOLVE_BENEATH | unix.RESOLVE_NO_SYMLINKS,
		})
		if err != nil {
			return resolveErr(strings.Join(parts[:k+1], "/"), err)
		}
		if owned >= 0 {
			_ = unix.Close(owned)
		}
		owned, cur = fd, fd
	}
	return nil
}

// removeAt removes whatever is at base in pfd, directories recursively.
func (u *unpacker) removeAt(pfd int, dir, base string) error {
	err := unix.Unlinkat(pfd, base, 0)
	if err == nil || errors.Is(err, unix.ENOENT) {
		return nil
	}
	if !errors.Is(err, unix.EISDIR) {
		return wrapError(kindOf(err), err, "replace %q", path.Join(dir, base))
	}
	// A directory being replaced: O_PATH descriptors stay valid, but the
	// cache may point inside it.
	name := path.Join(dir, base)
	fd, err := u.openBeneath(name, unix.O_PATH|unix.O_DIRECTORY)
	if err != nil {
		return resolveErr(name, err)
	}
	_ = unix.Close(fd)
	full := fmt.Sprintf("/proc/self/fd/%d/%s", pfd, base)
	if err := os.RemoveAll(full); err != nil {
		return wrapError(kindOf(err), err, "replace %q", name)
	}
	u.dirs = slices.DeleteFunc(u.dirs, func(d dirMeta) bool { return d.name == name || strings.HasPrefix(d.name, name+"/") })
	return nil
}

// finishDirs applies directory metadata deepest first, so setting a parent's
// mtime is not undone by work in a child.
func (u *unpacker) finishDirs() error {
	u.dropCache()
	slices.SortStableFunc(u.dirs, func(a, b dirMeta) int {
		return strings.Count(b.name, "/") - strings.Count(a.name, "/") + boolInt(a.name == "") - boolInt(b.name == "")
	})
	for _, d := range u.dirs {
		fd, err := u.openBeneath(d.name, unix.O_RDONLY|unix.O_DIRECTORY)
		if err != nil {
			return resolveErr(d.name, err)
		}
		err = u.dirMeta(fd, d)
		_ = unix.Close(fd)
		if err != nil {
			return err
		}
	}
	u.dirs = nil
	return nil
}

func boolInt(b bool) int {
	if b {
		return 1
	}
	return 0
}

func (u *unpacker) dirMeta(fd int, d dirMeta) error {
	if u.chown {
		if err := unix.Fchown(fd, d.hdr.Uid, d.hdr.Gid); err != nil {
			return wrapError(kindOf(err), err, "chown %q", d.name)
		}
	}
	if err := unix.Fchmod(fd, uint32(d.hdr.Mode)&0o7777); err != nil { //nolint:gosec // masked
		return wrapError(kindOf(err), err, "chmod %q", d.name)
	}
	for k, v := range d.xattrs {
		if err := unix.Fsetxattr(fd, k, []byte(v), 0); err != nil {
			return wrapError(kindOf(err), err, "xattr %s on %q", k, d.name)
		}
	}
	mt := unix.NsecToTimespec(d.hdr.ModTime.UnixNano())
	at := mt
	if !d.hdr.AccessTime.IsZero() {
		at = unix.NsecToTimespec(d.hdr.AccessTime.UnixNano())
	}
	if err := unix.UtimesNanoAt(fd, "", []unix.Timespec{at, mt}, unix.AT_EMPTY_PATH); err != nil {
		// Older kernels refuse AT_EMPTY_PATH here; fall back to the proc path.
		if err := unix.UtimesNanoAt(unix.AT_FDCWD, fmt.Sprintf("/proc/self/fd/%d", fd), []unix.Timespec{at, mt}, 0); err != nil {
			return wrapError(kindOf(err), err, "times of %q", d.name)
		}
	}
	return nil
}
