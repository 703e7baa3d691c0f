package imagefs

import (
	"archive/tar"
	"errors"
	"fmt"
	"io"
	"path"
	"slices"
	"strings"

	"golang.org/x/sys/unix"
)

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
		return newError(ErrCorrupt, "entry %q is a sparse file", name)
	}
	if name == "" {
		if hdr.Typeflag != tar.TypeDir {
			return newError(ErrUnsafePath, "root entry %q is not a directory", hdr.Name)
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
				return wrapError(kindOf(err), err, "%q", name)
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
			return newError(ErrCorrupt, "symlink %q has target %q", name, hdr.Linkname)
		}
		if err := u.create(pfd, dir, base, func() error { return unix.Symlinkat(hdr.Linkname, pfd, base) }); err != nil {
			return err
		}
		return u.meta(pfd, -1, name, base, hdr, 0, true)
	case tar.TypeLink:
		target, err := cleanName(hdr.Linkname)
		if err != nil {
			return newError(ErrUnsafePath, "hardlink %q to %q", name, hdr.Linkname)
		}
		if target == "" || target == name {
			return newError(ErrCorrupt, "hardlink %q to %q", name, hdr.Linkname)
		}
		tdir, tbase := path.Split(target)
		tfd, err := u.openBeneath(strings.TrimSuffix(tdir, "/"), unix.O_PATH|unix.O_DIRECTORY)
		if err != nil {
			return wrapError(ErrCorrupt, resolveErr(target, err), "hardlink %q to %q", name, hdr.Linkname)
		}
		defer unix.Close(tfd)
		var st unix.Stat_t
		if err := unix.Fstatat(tfd, tbase, &st, unix.AT_SYMLINK_NOFOLLOW); err != nil {
			return wrapError(ErrCorrupt, err, "hardlink %q to missing %q", name, hdr.Linkname)
		}
		if st.Mode&unix.S_IFMT == unix.S_IFDIR {
			return newError(ErrCorrupt, "hardlink %q to directory %q", name, hdr.Linkname)
		}
		return u.create(pfd, dir, base, func() error { return unix.Linkat(tfd, tbase, pfd, base, 0) })
	case tar.TypeChar, tar.TypeBlock, tar.TypeFifo:
		if hdr.Typeflag != tar.TypeFifo && !deviceFits(hdr.Devmajor, hdr.Devminor) {
			// mknod would keep only the low bits: 4104:0 becomes 8:0.
			return newError(ErrCorrupt, "device %q is %d:%d; Linux numbers devices 0..4095:0..1048575", name, hdr.Devmajor, hdr.Devminor)
		}
		typ := map[byte]uint32{tar.TypeChar: unix.S_IFCHR, tar.TypeBlock: unix.S_IFBLK, tar.TypeFifo: unix.S_IFIFO}[hdr.Typeflag]
		dev := unix.Mkdev(uint32(hdr.Devmajor), uint32(hdr.Devminor))                                                         //nolint:gosec // tar limits the range
		if err := u.create(pfd, dir, base, func() error { return unix.Mknodat(pfd, base, typ|mode, int(dev)) }); err != nil { //nolint:gosec // device numbers fit
			return err
		}
		return u.meta(pfd, -1, name, base, hdr, mode, false)
	}
	return newError(ErrCorrupt, "entry %q has unsupported tar type %q", name, hdr.Typeflag)
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
				return wrapError(kindOf(err), err, "write %q", name)
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
			return wrapError(kindOf(err), err, "chown %q", name)
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
			return wrapError(kindOf(err), err, "chmod %q", name)
		}
	}
	if fd >= 0 {
		for k, v := range paxXattrs(hdr) {
			if err := unix.Fsetxattr(fd, k, []byte(v), 0); err != nil {
				return wrapError(kindOf(err), err, "xattr %s on %q", k, name)
			}
		}
	}
	ts := []unix.Timespec{unix.NsecToTimespec(hdr.ModTime.UnixNano()), unix.NsecToTimespec(hdr.ModTime.UnixNano())}
	if !hdr.AccessTime.IsZero() {
		ts[0] = unix.NsecToTimespec(hdr.AccessTime.UnixNano())
	}
	if err := unix.UtimesNanoAt(pfd, base, ts, unix.AT_SYMLINK_NOFOLLOW); err != nil {
		return wrapError(kindOf(err), err, "times of %q", name)
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
			return wrapError(kindOf(err), err, "opaque directory %q needs %s (root)", dir, opaqueXattr)
		}
		return nil
	}
	if strings.HasPrefix(base, whiteoutMeta) {
		return nil
	}
	target := strings.TrimPrefix(base, whiteoutPrefix)
	if target == "" || target == "." || target == ".." {
		return newError(ErrUnsafePath, "whiteout %q", path.Join(dir, base))
	}
	pfd, err := u.parent(dir)
	if err != nil {
		return err
	}
	err = u.create(pfd, dir, target, func() error { return unix.Mknodat(pfd, target, unix.S_IFCHR, 0) })
	if err != nil {
		return wrapError(kindOf(err), err, "whiteout %q needs a 0/0 character device (root)", path.Join(dir, target))
	}
	if u.chown {
		if err := unix.Fchownat(pfd, target, 0, 0, unix.AT_SYMLINK_NOFOLLOW); err != nil {
			return wrapError(kindOf(err), err, "chown whiteout %q", path.Join(dir, target))
		}
	}
	return nil
}
