package imagefs

import (
	"archive/tar"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"hash"
	"io"
	"os"
	"path"
	"slices"
	"strings"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"golang.org/x/sys/unix"
)

// Overlayfs whiteout conventions the unpacker writes.
const (
	whiteoutPrefix = ".wh."
	whiteoutOpaque = ".wh..wh..opq"
	// whiteoutMeta prefixes AUFS bookkeeping entries (.wh..wh.plnk and the
	// like) that carry nothing for overlayfs.
	whiteoutMeta  = ".wh..wh."
	opaqueXattr   = "trusted.overlay.opaque"
	xattrPAX      = "SCHILY.xattr."
	overlayXattrs = "trusted.overlay."
)

// UnpackStats counts what an unpack wrote.
type UnpackStats struct {
	DiffID    v1.Hash // sha256 of the uncompressed tar stream
	Entries   int     // tar entries applied, whiteouts included
	Bytes     int64   // bytes of regular file content written
	Whiteouts int     // whiteouts and opaque markers converted
}

// UnpackTar writes the uncompressed layer tar read from r into dir, which must
// exist and should be empty, converting OCI whiteouts into their overlayfs
// form: ".wh.x" becomes a 0/0 character device x and ".wh..wh..opq" sets
// trusted.overlay.opaque=y on its directory.
//
// Every entry is created relative to dir with openat2(RESOLVE_BENEATH |
// RESOLVE_NO_SYMLINKS): names with ".." that leave dir, hardlinks to outside
// it and entries below a symlink are refused with ErrUnsafePath. Symlink
// targets are stored as they are (an absolute target resolves inside the
// container's root when the container runs, never while unpacking).
// Ownership is kept when the process may chown, modes, times and xattrs
// always (trusted.overlay.* xattrs in the archive are dropped). A directory
// the archive implies without listing it is made 0755, owned by root, with
// the time of the entry that implied it: the same layer gives the same tree
// whatever the umask and the clock. Directory metadata is applied last, so
// read-only directories still receive their children. Nothing is fsynced:
// callers that need durability sync the file system once (the Store does,
// with syncfs).
//
// A stream that ends right after an entry, without the end-of-archive
// marker, was cut off and is refused with ErrCorrupt (an empty stream is an
// empty layer); so are device numbers Linux cannot represent (a major over
// 4095, a minor over 1048575), which mknod would silently truncate.
//
// The layer is held to DefaultLimits; UnpackTarWith takes others.
//
// On error dir holds a partial tree; the caller removes it.
func UnpackTar(ctx context.Context, r io.Reader, dir string) (UnpackStats, error) {
	return unpackTar(ctx, r, dir, DefaultLimits().bounds(0))
}

// UnpackTarWith is UnpackTar with the given limits (zero fields take their
// defaults). A layer that passes one fails with an error wrapping
// ErrTooLarge as soon as the stream shows it, before the excess is written.
func UnpackTarWith(ctx context.Context, r io.Reader, dir string, lim Limits) (UnpackStats, error) {
	return unpackTar(ctx, r, dir, lim.bounds(0))
}

func unpackTar(ctx context.Context, r io.Reader, dir string, b bounds) (UnpackStats, error) {
	h := sha256.New()
	u, err := newUnpacker(dir, b)
	if err != nil {
		return UnpackStats{}, err
	}
	defer u.close()
	u.in = &cappedReader{r: r, b: &u.b}
	tee := io.TeeReader(u.in, h)
	if err := u.run(ctx, tee); err != nil {
		if u.in.err != nil {
			// The tar reader wraps read errors as corrupt content; the
			// limit is the real reason.
			return u.stats, u.in.err
		}
		return u.stats, err
	}
	// The tar end marker may be followed by padding that is part of the
	// diff id (and is held to the same cap).
	if _, err := io.Copy(io.Discard, tee); err != nil {
		if u.in.err != nil {
			return u.stats, u.in.err
		}
		return u.stats, readErr(err, "reading past tar end")
	}
	u.stats.DiffID = v1.Hash{Algorithm: "sha256", Hex: hex.EncodeToString(h.Sum(nil))}
	return u.stats, nil
}

// unpackLayer unpacks a compressed layer stream into dir within b, verifying
// its digest and diff id; a zero want hash skips that check. abort, when
// not nil, is called on failure before the decoder is closed: closing it
// waits for its goroutine's read of compressed, which abort must end (a
// stream still waiting for bytes would otherwise hold the failure up).
func unpackLayer(ctx context.Context, compressed io.Reader, alg Algorithm, dir string, wantDigest, wantDiffID v1.Hash, b bounds, abort func()) (_ UnpackStats, err error) {
	if alg == None {
		// The blob is the tar: its digest is the diff id, hashed once.
		st, err := unpackTar(ctx, compressed, dir, b)
		if err != nil {
			return st, err
		}
		if wantDigest.Hex != "" && st.DiffID != wantDigest {
			return st, fmt.Errorf("%w: layer is %s, want %s", ErrDigestMismatch, st.DiffID, wantDigest)
		}
		if wantDiffID.Hex != "" && st.DiffID != wantDiffID {
			return st, fmt.Errorf("%w: layer diff id is %s, config says %s", ErrDigestMismatch, st.DiffID, wantDiffID)
		}
		return st, nil
	}
	ch := sha256.New()
	tee := io.TeeReader(compressed, ch)
	d, err := decompressor(alg, tee, b.window)
	if err != nil {
		return UnpackStats{}, err
	}
	defer func() {
		if err != nil && abort != nil {
			abort()
		}
		_ = d.Close()
	}()
	st, err := unpackTar(ctx, d, dir, b)
	if err != nil {
		return st, err
	}
	if _, err := io.Copy(io.Discard, tee); err != nil {
		return st, readErr(err, "reading compressed layer")
	}
	if err := checkHash("layer", ch, wantDigest); err != nil {
		return st, err
	}
	if wantDiffID.Hex != "" && st.DiffID != wantDiffID {
		return st, fmt.Errorf("%w: layer diff id is %s, config says %s", ErrDigestMismatch, st.DiffID, wantDiffID)
	}
	return st, nil
}

// verifyLayer reads a compressed layer stream to its end without writing
// anything, and checks its digest and that it decompresses, within b, to
// the diff id: for a blob whose layer is already unpacked, which must not
// be kept (and served to peers) on its digest alone. abort is as for
// unpackLayer.
func verifyLayer(ctx context.Context, compressed io.Reader, alg Algorithm, wantDigest, wantDiffID v1.Hash, b bounds, abort func()) (err error) {
	ch := sha256.New()
	tee := io.TeeReader(compressed, ch)
	d, err := decompressor(alg, tee, b.window)
	if err != nil {
		return err
	}
	defer func() {
		if err != nil && abort != nil {
			abort()
		}
		_ = d.Close()
	}()
	dh := sha256.New()
	content := &cappedReader{r: ctxReader{ctx: ctx, r: d}, b: &b}
	if _, err := io.Copy(dh, content); err != nil {
		switch {
		case content.err != nil:
			return content.err
		case ctx.Err() != nil:
			return ctx.Err()
		}
		return readErr(err, "reading layer")
	}
	if _, err := io.Copy(io.Discard, tee); err != nil {
		return readErr(err, "reading compressed layer")
	}
	if err := checkHash("layer", ch, wantDigest); err != nil {
		return err
	}
	return checkHash("layer content (diff id)", dh, wantDiffID)
}

// readErr is the error of a failed read of a layer stream: corrupt
// content, unless a limit stopped it (the decoder's window), which says so
// itself.
func readErr(err error, what string) error {
	if errors.Is(err, ErrTooLarge) {
		return err
	}
	return fmt.Errorf("%w: %s: %w", ErrCorrupt, what, err)
}

func checkHash(what string, h hash.Hash, want v1.Hash) error {
	if want.Hex == "" {
		return nil
	}
	if want.Algorithm != "sha256" {
		return fmt.Errorf("%w: %s digest algorithm %q", ErrUnsupportedMediaType, what, want.Algorithm)
	}
	if got := hex.EncodeToString(h.Sum(nil)); got != want.Hex {
		return fmt.Errorf("%w: %s is sha256:%s, want %s", ErrDigestMismatch, what, got, want)
	}
	return nil
}

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
		return nil, fmt.Errorf("imagefs: open unpack root %s: %w", dir, err)
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
		return "", fmt.Errorf("%w: entry name %q has a NUL byte", ErrUnsafePath, name)
	}
	c := path.Clean("/" + name)
	// Clean of a rooted path never keeps "..", so compare with the
	// unrooted form to catch names that climb out.
	if rel := path.Clean(name); rel == ".." || strings.HasPrefix(rel, "../") {
		return "", fmt.Errorf("%w: entry %q leaves the layer root", ErrUnsafePath, name)
	}
	if c == "/" {
		return "", nil
	}
	return c[1:], nil
}

func (u *unpacker) run(ctx context.Context, r io.Reader) error {
	tr := tar.NewReader(r)
	for {
		if err := ctx.Err(); err != nil {
			return err
		}
		hdr, err := tr.Next()
		if errors.Is(err, io.EOF) {
			if u.last != "" && u.in != nil && u.in.n == u.dataEnd {
				return fmt.Errorf("%w: tar stream ends after entry %q without the end-of-archive marker (cut off?)", ErrCorrupt, u.last)
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
			return fmt.Errorf("%w: layer has more than MaxEntries (%d) entries", ErrTooLarge, u.b.entries)
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
		return fmt.Errorf("%w: entry name of %d bytes exceeds MaxPathBytes (%d)", ErrTooLarge, len(hdr.Name), u.b.pathBytes)
	}
	if len(hdr.Linkname) > u.b.pathBytes {
		return fmt.Errorf("%w: link target of %q is %d bytes, over MaxPathBytes (%d)", ErrTooLarge, hdr.Name, len(hdr.Linkname), u.b.pathBytes)
	}
	if depth := strings.Count(strings.Trim(path.Clean("/"+hdr.Name), "/"), "/") + 1; depth > u.b.pathDepth {
		return fmt.Errorf("%w: entry %q is %d deep, over MaxPathDepth (%d)", ErrTooLarge, hdr.Name, depth, u.b.pathDepth)
	}
	if hdr.Typeflag == tar.TypeReg {
		if hdr.Size > u.b.file {
			return fmt.Errorf("%w: file %q is %d bytes, over MaxFileBytes (%d)", ErrTooLarge, hdr.Name, hdr.Size, u.b.file)
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
		return fmt.Errorf("%w: %q goes through a link or file: %w", ErrUnsafePath, name, err)
	}
	return fmt.Errorf("imagefs: %q: %w", name, err)
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
		return fmt.Errorf("imagefs: replace %q: %w", path.Join(dir, base), err)
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
		return fmt.Errorf("imagefs: replace %q: %w", name, err)
	}
	u.dirs = slices.DeleteFunc(u.dirs, func(d dirMeta) bool { return d.name == name || strings.HasPrefix(d.name, name+"/") })
	return nil
}

func (u *unpacker) entry(tr *tar.Reader, hdr *tar.Header) error {
	name, err := cleanName(hdr.Name)
	if err != nil {
		return err
	}
	if hdr.Typeflag == tar.TypeXGlobalHeader {
		return nil
	}
	u.mtime = hdr.ModTime
	if isSparse(hdr) {
		// A sparse entry expands a few bytes of archive into any number
		// of zeros: a cheap bomb, and never written by image builders.
		return fmt.Errorf("%w: entry %q is a sparse file", ErrCorrupt, name)
	}
	if name == "" {
		if hdr.Typeflag != tar.TypeDir {
			return fmt.Errorf("%w: root entry %q is not a directory", ErrUnsafePath, hdr.Name)
		}
		u.dirs = append(u.dirs, dirMeta{name: "", hdr: hdr, xattrs: paxXattrs(hdr)})
		return nil
	}
	dir, base := path.Split(name)
	dir = strings.TrimSuffix(dir, "/")
	if strings.HasPrefix(base, whiteoutPrefix) {
		return u.whiteout(dir, base)
	}
	pfd, err := u.parent(dir)
	if err != nil {
		return err
	}
	mode := uint32(hdr.Mode) & 0o7777 //nolint:gosec // masked
	switch hdr.Typeflag {
	case tar.TypeDir:
		err := unix.Mkdirat(pfd, base, 0o700)
		if errors.Is(err, unix.EEXIST) {
			var st unix.Stat_t
			if err := unix.Fstatat(pfd, base, &st, unix.AT_SYMLINK_NOFOLLOW); err != nil {
				return fmt.Errorf("imagefs: %q: %w", name, err)
			}
			if st.Mode&unix.S_IFMT != unix.S_IFDIR {
				if err := u.removeAt(pfd, dir, base); err != nil {
					return err
				}
				err = unix.Mkdirat(pfd, base, 0o700)
			} else {
				err = nil
				u.dirs = slices.DeleteFunc(u.dirs, func(d dirMeta) bool { return d.name == name })
			}
		}
		if err != nil {
			return resolveErr(name, err)
		}
		u.dirs = append(u.dirs, dirMeta{name: name, hdr: hdr, xattrs: paxXattrs(hdr)})
		return nil
	case tar.TypeReg: // archive/tar reports legacy TypeRegA entries as TypeReg (or TypeDir)
		return u.file(tr, hdr, pfd, dir, base, mode)
	case tar.TypeSymlink:
		if hdr.Linkname == "" || strings.IndexByte(hdr.Linkname, 0) >= 0 {
			return fmt.Errorf("%w: symlink %q has target %q", ErrCorrupt, name, hdr.Linkname)
		}
		if err := u.create(pfd, dir, base, func() error { return unix.Symlinkat(hdr.Linkname, pfd, base) }); err != nil {
			return err
		}
		return u.meta(pfd, -1, name, base, hdr, 0, true)
	case tar.TypeLink:
		target, err := cleanName(hdr.Linkname)
		if err != nil {
			return fmt.Errorf("%w: hardlink %q to %q", ErrUnsafePath, name, hdr.Linkname)
		}
		if target == "" || target == name {
			return fmt.Errorf("%w: hardlink %q to %q", ErrCorrupt, name, hdr.Linkname)
		}
		tdir, tbase := path.Split(target)
		tfd, err := u.openBeneath(strings.TrimSuffix(tdir, "/"), unix.O_PATH|unix.O_DIRECTORY)
		if err != nil {
			return fmt.Errorf("%w: hardlink %q to %q: %w", ErrCorrupt, name, hdr.Linkname, resolveErr(target, err))
		}
		defer unix.Close(tfd)
		var st unix.Stat_t
		if err := unix.Fstatat(tfd, tbase, &st, unix.AT_SYMLINK_NOFOLLOW); err != nil {
			return fmt.Errorf("%w: hardlink %q to missing %q: %w", ErrCorrupt, name, hdr.Linkname, err)
		}
		if st.Mode&unix.S_IFMT == unix.S_IFDIR {
			return fmt.Errorf("%w: hardlink %q to directory %q", ErrCorrupt, name, hdr.Linkname)
		}
		return u.create(pfd, dir, base, func() error { return unix.Linkat(tfd, tbase, pfd, base, 0) })
	case tar.TypeChar, tar.TypeBlock, tar.TypeFifo:
		if hdr.Typeflag != tar.TypeFifo && !deviceFits(hdr.Devmajor, hdr.Devminor) {
			// mknod would keep only the low bits: 4104:0 becomes 8:0.
			return fmt.Errorf("%w: device %q is %d:%d; Linux numbers devices 0..4095:0..1048575", ErrCorrupt, name, hdr.Devmajor, hdr.Devminor)
		}
		typ := map[byte]uint32{tar.TypeChar: unix.S_IFCHR, tar.TypeBlock: unix.S_IFBLK, tar.TypeFifo: unix.S_IFIFO}[hdr.Typeflag]
		dev := unix.Mkdev(uint32(hdr.Devmajor), uint32(hdr.Devminor))                                                         //nolint:gosec // tar limits the range
		if err := u.create(pfd, dir, base, func() error { return unix.Mknodat(pfd, base, typ|mode, int(dev)) }); err != nil { //nolint:gosec // device numbers fit
			return err
		}
		return u.meta(pfd, -1, name, base, hdr, mode, false)
	}
	return fmt.Errorf("%w: entry %q has unsupported tar type %q", ErrCorrupt, name, hdr.Typeflag)
}

// deviceFits reports whether a device number survives mknod: the kernel's
// dev_t has a 12-bit major and a 20-bit minor.
func deviceFits(major, minor int64) bool {
	return major >= 0 && major < 1<<12 && minor >= 0 && minor < 1<<20
}

// create runs mk, replacing an existing entry once, as a later tar entry
// of the same name does.
func (u *unpacker) create(pfd int, dir, base string, mk func() error) error {
	err := mk()
	if errors.Is(err, unix.EEXIST) {
		if err := u.removeAt(pfd, dir, base); err != nil {
			return err
		}
		err = mk()
	}
	if err != nil {
		return resolveErr(path.Join(dir, base), err)
	}
	return nil
}

func (u *unpacker) file(tr *tar.Reader, hdr *tar.Header, pfd int, dir, base string, mode uint32) error {
	var fd int
	err := u.create(pfd, dir, base, func() error {
		var err error
		fd, err = unix.Openat(pfd, base, unix.O_WRONLY|unix.O_CREAT|unix.O_EXCL|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0o600)
		return err
	})
	if err != nil {
		return err
	}
	defer unix.Close(fd)
	name := path.Join(dir, base)
	for {
		n, rerr := tr.Read(u.buf)
		for off := 0; off < n; {
			w, err := unix.Write(fd, u.buf[off:n])
			if err != nil {
				if errors.Is(err, unix.EINTR) {
					continue
				}
				return fmt.Errorf("imagefs: write %q: %w", name, err)
			}
			off += w
		}
		u.stats.Bytes += int64(n)
		if errors.Is(rerr, io.EOF) {
			break
		}
		if rerr != nil {
			return readErr(rerr, fmt.Sprintf("%q", name))
		}
	}
	return u.meta(pfd, fd, name, base, hdr, mode, false)
}

// meta applies ownership, mode, xattrs and times: through fd when the entry
// is open, else by name in pfd without following links.
func (u *unpacker) meta(pfd, fd int, name, base string, hdr *tar.Header, mode uint32, symlink bool) error {
	if u.chown {
		var err error
		if fd >= 0 {
			err = unix.Fchown(fd, hdr.Uid, hdr.Gid)
		} else {
			err = unix.Fchownat(pfd, base, hdr.Uid, hdr.Gid, unix.AT_SYMLINK_NOFOLLOW)
		}
		if err != nil {
			return fmt.Errorf("imagefs: chown %q: %w", name, err)
		}
	}
	if !symlink {
		var err error
		if fd >= 0 {
			err = unix.Fchmod(fd, mode)
		} else {
			err = unix.Fchmodat(pfd, base, mode, 0)
		}
		if err != nil {
			return fmt.Errorf("imagefs: chmod %q: %w", name, err)
		}
	}
	if fd >= 0 {
		for k, v := range paxXattrs(hdr) {
			if err := unix.Fsetxattr(fd, k, []byte(v), 0); err != nil {
				return fmt.Errorf("imagefs: xattr %s on %q: %w", k, name, err)
			}
		}
	}
	ts := []unix.Timespec{unix.NsecToTimespec(hdr.ModTime.UnixNano()), unix.NsecToTimespec(hdr.ModTime.UnixNano())}
	if !hdr.AccessTime.IsZero() {
		ts[0] = unix.NsecToTimespec(hdr.AccessTime.UnixNano())
	}
	if err := unix.UtimesNanoAt(pfd, base, ts, unix.AT_SYMLINK_NOFOLLOW); err != nil {
		return fmt.Errorf("imagefs: times of %q: %w", name, err)
	}
	return nil
}

func isSparse(hdr *tar.Header) bool {
	if hdr.Typeflag == tar.TypeGNUSparse {
		return true
	}
	for k := range hdr.PAXRecords {
		if strings.HasPrefix(k, "GNU.sparse.") {
			return true
		}
	}
	return false
}

func paxXattrs(hdr *tar.Header) map[string]string {
	var out map[string]string
	for k, v := range hdr.PAXRecords {
		x, ok := strings.CutPrefix(k, xattrPAX)
		if !ok || strings.HasPrefix(x, overlayXattrs) {
			continue
		}
		if out == nil {
			out = map[string]string{}
		}
		out[x] = v
	}
	return out
}

func (u *unpacker) whiteout(dir, base string) error {
	u.stats.Whiteouts++
	if base == whiteoutOpaque {
		fd, err := u.parent(dir)
		if err != nil {
			return err
		}
		_ = fd
		dfd, err := u.openBeneath(dir, unix.O_RDONLY|unix.O_DIRECTORY)
		if err != nil {
			return resolveErr(dir, err)
		}
		defer unix.Close(dfd)
		if err := unix.Fsetxattr(dfd, opaqueXattr, []byte("y"), 0); err != nil {
			return fmt.Errorf("imagefs: opaque directory %q needs %s (root): %w", dir, opaqueXattr, err)
		}
		return nil
	}
	if strings.HasPrefix(base, whiteoutMeta) {
		return nil
	}
	target := strings.TrimPrefix(base, whiteoutPrefix)
	if target == "" || target == "." || target == ".." {
		return fmt.Errorf("%w: whiteout %q", ErrUnsafePath, path.Join(dir, base))
	}
	pfd, err := u.parent(dir)
	if err != nil {
		return err
	}
	err = u.create(pfd, dir, target, func() error { return unix.Mknodat(pfd, target, unix.S_IFCHR, 0) })
	if err != nil {
		return fmt.Errorf("imagefs: whiteout %q needs a 0/0 character device (root): %w", path.Join(dir, target), err)
	}
	if u.chown {
		if err := unix.Fchownat(pfd, target, 0, 0, unix.AT_SYMLINK_NOFOLLOW); err != nil {
			return fmt.Errorf("imagefs: chown whiteout %q: %w", path.Join(dir, target), err)
		}
	}
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
			return fmt.Errorf("imagefs: chown %q: %w", d.name, err)
		}
	}
	if err := unix.Fchmod(fd, uint32(d.hdr.Mode)&0o7777); err != nil { //nolint:gosec // masked
		return fmt.Errorf("imagefs: chmod %q: %w", d.name, err)
	}
	for k, v := range d.xattrs {
		if err := unix.Fsetxattr(fd, k, []byte(v), 0); err != nil {
			return fmt.Errorf("imagefs: xattr %s on %q: %w", k, d.name, err)
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
			return fmt.Errorf("imagefs: times of %q: %w", d.name, err)
		}
	}
	return nil
}

// UnpackCompressed unpacks a compressed layer stream (as its media type's
// algorithm says) into dir, like UnpackTar, with decompression running ahead
// of the file writes. It checks no digest; Store.Add does. The layer is held
// to DefaultLimits.
func UnpackCompressed(ctx context.Context, r io.Reader, alg Algorithm, dir string) error {
	_, err := unpackLayer(ctx, r, alg, dir, v1.Hash{}, v1.Hash{}, DefaultLimits().bounds(0), nil)
	return err
}
