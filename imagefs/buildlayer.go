package imagefs

import (
	"archive/tar"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"io"
	"io/fs"
	"os"
	"slices"
	"strings"
	"syscall"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"golang.org/x/sys/unix"
)

// buildLayer writes the entries as a deterministic tar, compressed.
func buildLayer(ctx context.Context, ents []buildEntry, comp Compression, mtime time.Time, spillDir string) (_ v1.Layer, lr LayerReport, err error) {
	slices.SortStableFunc(ents, func(a, b buildEntry) int { return strings.Compare(a.name, b.name) })
	// Later duplicates (an include over the directory) win; implicit
	// directories never replace a real entry.
	dedup := ents[:0]
	for _, e := range ents {
		if n := len(dedup); n > 0 && dedup[n-1].name == e.name {
			if e.host != "" {
				dedup[n-1] = e
			}
			continue
		}
		dedup = append(dedup, e)
	}
	ents = dedup
	blob, err := newBlobSink(spillDir)
	if err != nil {
		return nil, lr, err
	}
	defer func() {
		if err != nil {
			blob.discard()
		}
	}()
	cw, err := comp.compressor(blob)
	if err != nil {
		return nil, lr, wrapError(kindOf(err), err, "compressor")
	}
	diff := sha256.New()
	tw := tar.NewWriter(io.MultiWriter(cw, diff))
	links := map[inode]string{}
	for _, e := range ents {
		if ctx.Err() != nil {
			return nil, lr, ctxError(ctx, "build")
		}
		hdr, err := entryHeader(e, mtime, links)
		if err != nil {
			return nil, lr, err
		}
		if err := tw.WriteHeader(hdr); err != nil {
			return nil, lr, wrapError(kindOf(err), err, "tar %s", e.name)
		}
		lr.Files++
		if hdr.Typeflag == tar.TypeReg && hdr.Size > 0 {
			n, err := copyFile(tw, e.host, hdr.Size)
			if err != nil {
				return nil, lr, err
			}
			lr.Bytes += n
		}
	}
	if err := tw.Close(); err != nil {
		return nil, lr, wrapError(kindOf(err), err, "tar")
	}
	if err := cw.Close(); err != nil {
		return nil, lr, wrapError(kindOf(err), err, "compress")
	}
	diffID := v1.Hash{Algorithm: "sha256", Hex: hex.EncodeToString(diff.Sum(nil))}
	l, err := blob.layer(diffID, comp.mediaType())
	if err != nil {
		return nil, lr, err
	}
	lr.Digest, _ = l.Digest()
	lr.Size, _ = l.Size()
	lr.DiffID = diffID
	return l, lr, nil
}

type inode struct{ dev, ino uint64 }

func entryHeader(e buildEntry, mtime time.Time, links map[inode]string) (*tar.Header, error) {
	hdr := &tar.Header{Name: e.name, ModTime: mtime, Typeflag: tar.TypeDir, Mode: 0o755, Format: tar.FormatPAX}
	if e.info == nil {
		hdr.Name += "/"
		return hdr, nil
	}
	mode := e.info.Mode()
	hdr.Mode = int64(mode.Perm())
	if mode&fs.ModeSetuid != 0 {
		hdr.Mode |= 0o4000
	}
	if mode&fs.ModeSetgid != 0 {
		hdr.Mode |= 0o2000
	}
	if mode&fs.ModeSticky != 0 {
		hdr.Mode |= 0o1000
	}
	st, _ := e.info.Sys().(*syscall.Stat_t)
	if mode.IsDir() || mode.IsRegular() {
		x, err := readXattrs(e.host)
		if err != nil {
			return nil, err
		}
		for k, v := range x {
			if hdr.PAXRecords == nil {
				hdr.PAXRecords = map[string]string{}
			}
			hdr.PAXRecords[xattrPAX+k] = v
		}
	}
	switch {
	case mode.IsDir():
		hdr.Name += "/"
		if e.name == "" {
			hdr.Name = "./"
		}
	case mode.IsRegular():
		if st != nil && st.Nlink > 1 {
			key := inode{st.Dev, st.Ino}
			if first, ok := links[key]; ok {
				hdr.Typeflag, hdr.Linkname = tar.TypeLink, first
				return hdr, nil
			}
			links[key] = e.name
		}
		hdr.Typeflag, hdr.Size = tar.TypeReg, e.info.Size()
	case mode&fs.ModeSymlink != 0:
		target, err := os.Readlink(e.host)
		if err != nil {
			return nil, wrapError(kindOf(err), err, "readlink")
		}
		hdr.Typeflag, hdr.Linkname = tar.TypeSymlink, target
	case mode&fs.ModeNamedPipe != 0:
		hdr.Typeflag = tar.TypeFifo
	case mode&fs.ModeDevice != 0 && st != nil:
		hdr.Typeflag = tar.TypeBlock
		if mode&fs.ModeCharDevice != 0 {
			hdr.Typeflag = tar.TypeChar
		}
		hdr.Devmajor, hdr.Devminor = int64(unixMajor(st.Rdev)), int64(unixMinor(st.Rdev))
	default:
		return nil, newError(ErrInvalid, "%s has unsupported file type %v", e.host, mode.Type())
	}
	return hdr, nil
}

func unixMajor(dev uint64) uint32 { return uint32((dev>>8)&0xfff) | uint32((dev>>32)&0xfffff000) } //nolint:gosec // bit fields

func unixMinor(dev uint64) uint32 { return uint32(dev&0xff) | uint32((dev>>12)&0xffffff00) } //nolint:gosec // bit fields

func copyFile(w io.Writer, p string, size int64) (int64, error) {
	f, err := os.Open(p)
	if err != nil {
		return 0, wrapError(kindOf(err), err, "build")
	}
	defer f.Close()
	n, err := io.Copy(w, io.LimitReader(f, size))
	if err != nil {
		return n, wrapError(kindOf(err), err, "build %s", p)
	}
	if n != size {
		return n, newError(ErrUnavailable, "build %s: file changed size while read (%d of %d bytes)", p, n, size)
	}
	return n, nil
}

// readXattrs returns the extended attributes of p worth carrying into an
// image: file capabilities and user attributes. SELinux labels belong to the
// build host, overlay attributes to its storage, and ACLs are left out.
func readXattrs(p string) (map[string]string, error) {
	size, err := unix.Llistxattr(p, nil)
	if err != nil || size == 0 {
		if err == nil || errors.Is(err, unix.ENOTSUP) {
			return nil, nil
		}
		return nil, wrapError(kindOf(err), err, "xattrs of %s", p)
	}
	buf := make([]byte, size)
	n, err := unix.Llistxattr(p, buf)
	if err != nil {
		return nil, wrapError(kindOf(err), err, "xattrs of %s", p)
	}
	var out map[string]string
	for _, name := range strings.Split(strings.TrimRight(string(buf[:n]), "\x00"), "\x00") {
		if name != "security.capability" && !strings.HasPrefix(name, "user.") {
			continue
		}
		vsize, err := unix.Lgetxattr(p, name, nil)
		if err != nil {
			continue // removed meanwhile
		}
		val := make([]byte, vsize)
		vn, err := unix.Lgetxattr(p, name, val)
		if err != nil {
			continue
		}
		if out == nil {
			out = map[string]string{}
		}
		out[name] = string(val[:vn])
	}
	return out, nil
}
