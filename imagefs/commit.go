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
	"path"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"golang.org/x/sys/unix"
)

// Overlay attributes that put a file's data or name in a lower layer: an
// upper directory holding them cannot be read as a layer on its own.
const (
	redirectXattr = "trusted.overlay.redirect"
	metacopyXattr = "trusted.overlay.metacopy"
)

// CommitOptions says how Commit writes the container's layer.
type CommitOptions struct {
	// Compression of the new layer; the zero value is zstd.
	Compression Compression
	// Dir holds the new layer's blob, a file the caller removes when done
	// with the image (after pushing it); empty keeps the blob in memory.
	Dir string
	// Created is the new layer's history time; zero means now.
	Created time.Time
	// CreatedBy is the new layer's history line.
	CreatedBy string
}

// Commit returns the image container id was prepared from with the
// container's own changes — its overlay upper directory — as one more layer
// on top: what `docker commit` makes, for moving a container to another
// node (cold migration). The layer is an OCI layer: files, directories,
// links and devices as they are in the upper directory, owners and modes
// kept; a deleted file (overlay's 0/0 character device) becomes a ".wh."
// entry and an opaque directory (trusted.overlay.opaque=y) a
// ".wh..wh..opq" entry. An upper directory that points into lower layers
// (overlay's redirect_dir or metacopy) is refused with ErrInvalid.
//
// The container should not change while it is read (freeze it): a file that
// changes size while read is an error. Commit holds the container's lock,
// so a concurrent Release waits. The base layers are the store's blobs.
func (s *Store) Commit(ctx context.Context, id string, opt CommitOptions) (v1.Image, LayerReport, error) {
	var lr LayerReport
	if !containerID.MatchString(id) {
		return nil, lr, newError(ErrInvalid, "container id %q", id)
	}
	s.mu.RLock()
	defer s.mu.RUnlock()
	unlock := s.ids.Lock(id)
	defer unlock()
	dir := s.path("containers", id)
	h, ok := readMarker(dir)
	if !ok {
		return nil, lr, newError(ErrNotFound, "container %q is not prepared", id)
	}
	base, err := s.oci.Image(h)
	if err != nil {
		return nil, lr, wrapError(kindOf(err), err, "image %s of container %q", h, id)
	}
	created := opt.Created
	if created.IsZero() {
		created = time.Now().UTC()
	}
	l, lr, err := diffLayer(ctx, filepath.Join(dir, "upper"), "", true, opt)
	if err != nil {
		return nil, lr, wrapError(kindOf(err), err, "commit %q", id)
	}
	img, err := mutate.Append(base, mutate.Addendum{
		Layer:   l,
		History: v1.History{Created: v1.Time{Time: created}, CreatedBy: opt.CreatedBy, Comment: "container " + id},
	})
	if err != nil {
		return nil, lr, wrapError(kindOf(err), err, "commit %q", id)
	}
	return img, lr, nil
}

// DirLayer makes an OCI layer holding the directory dir at target (an
// absolute path in the image), owners and modes kept: a data volume's
// content carried beside a committed container. Target's parents are
// entries of their own (0755, root).
func DirLayer(ctx context.Context, dir, target string, opt CommitOptions) (v1.Layer, LayerReport, error) {
	clean := path.Clean("/" + target)
	if target == "" || clean != target || clean == "/" {
		return nil, LayerReport{}, newError(ErrInvalid, "layer target %q, want a clean absolute path other than /", target)
	}
	fi, err := os.Stat(dir)
	if err != nil || !fi.IsDir() {
		return nil, LayerReport{}, newError(ErrInvalid, "layer source %q is not a directory", dir)
	}
	return diffLayer(ctx, dir, clean[1:], false, opt)
}

// diffLayer writes the tree at host as an OCI layer rooted at name; from an
// overlay upper directory, overlay's whiteouts become OCI's.
func diffLayer(ctx context.Context, host, name string, overlay bool, opt CommitOptions) (_ v1.Layer, lr LayerReport, err error) {
	blob, err := newBlobSink(opt.Dir)
	if err != nil {
		return nil, lr, err
	}
	defer func() {
		if err != nil {
			blob.discard()
		}
	}()
	cw, err := opt.Compression.compressor(blob)
	if err != nil {
		return nil, lr, wrapError(kindOf(err), err, "compressor")
	}
	diff := sha256.New()
	tw := tar.NewWriter(io.MultiWriter(cw, diff))
	d := &differ{tw: tw, links: map[inode]string{}, lr: &lr, overlay: overlay}
	if name != "" {
		// The target's parents, then the directory itself.
		parts := strings.Split(name, "/")
		for k := range parts[:len(parts)-1] {
			if err := d.marker(strings.Join(parts[:k+1], "/")+"/", time.Time{}); err != nil {
				return nil, lr, err
			}
		}
		err = d.entry(ctx, host, name)
	} else {
		err = d.walk(ctx, host, "")
	}
	if err != nil {
		return nil, lr, err
	}
	if err := tw.Close(); err != nil {
		return nil, lr, wrapError(kindOf(err), err, "tar")
	}
	if err := cw.Close(); err != nil {
		return nil, lr, wrapError(kindOf(err), err, "compress")
	}
	diffID := v1.Hash{Algorithm: "sha256", Hex: hex.EncodeToString(diff.Sum(nil))}
	l, err := blob.layer(diffID, opt.Compression.mediaType())
	if err != nil {
		return nil, lr, err
	}
	lr.Digest, _ = l.Digest()
	lr.Size, _ = l.Size()
	lr.DiffID = diffID
	return l, lr, nil
}

// differ writes the entries of an upper directory, parents before children
// and names in order, so the same upper directory gives the same tar.
type differ struct {
	tw    *tar.Writer
	links map[inode]string
	lr    *LayerReport
	// overlay reads the tree as an overlay upper directory: whiteouts,
	// opaque directories, redirects.
	overlay bool
}

func (d *differ) walk(ctx context.Context, host, name string) error {
	ents, err := os.ReadDir(host)
	if err != nil {
		return wrapError(kindOf(err), err, "read %s", host)
	}
	names := make([]string, 0, len(ents))
	for _, e := range ents {
		names = append(names, e.Name())
	}
	slices.Sort(names)
	for _, n := range names {
		if ctx.Err() != nil {
			return ctxError(ctx, "commit")
		}
		if err := d.entry(ctx, filepath.Join(host, n), path.Join(name, n)); err != nil {
			return err
		}
	}
	return nil
}

func (d *differ) entry(ctx context.Context, host, name string) error {
	fi, err := os.Lstat(host)
	if errors.Is(err, fs.ErrNotExist) {
		return nil // removed meanwhile
	}
	if err != nil {
		return wrapError(kindOf(err), err, "stat %s", host)
	}
	st, _ := fi.Sys().(*syscall.Stat_t)
	if d.overlay {
		for _, x := range []string{redirectXattr, metacopyXattr} {
			if _, err := unix.Lgetxattr(host, x, nil); err == nil {
				return newError(ErrInvalid, "%s has %s: the upper directory depends on lower layers (overlay redirect_dir or metacopy)", name, x)
			}
		}
		if fi.Mode()&fs.ModeCharDevice != 0 && st != nil && st.Rdev == 0 {
			// Overlay's whiteout: the name was deleted from a lower layer.
			return d.marker(path.Join(path.Dir(name), whiteoutPrefix+path.Base(name)), fi.ModTime())
		}
	}
	if strings.HasPrefix(path.Base(name), whiteoutPrefix) {
		return newError(ErrInvalid, "%s: a file named like a whiteout cannot be carried in a layer", name)
	}
	hdr, err := entryHeader(buildEntry{name: name, host: host, info: fi}, fi.ModTime(), d.links)
	if err != nil {
		return err
	}
	if st != nil {
		hdr.Uid, hdr.Gid = int(st.Uid), int(st.Gid)
	}
	if err := d.tw.WriteHeader(hdr); err != nil {
		return wrapError(kindOf(err), err, "tar %s", name)
	}
	d.lr.Files++
	switch {
	case hdr.Typeflag == tar.TypeReg && hdr.Size > 0:
		n, err := copyFile(d.tw, host, hdr.Size)
		if err != nil {
			return err
		}
		d.lr.Bytes += n
	case fi.IsDir():
		if v, err := getxattr(host, opaqueXattr); d.overlay && err == nil && v == "y" {
			// Opaque: nothing of the lower layers' directory shows.
			if err := d.marker(path.Join(name, whiteoutOpaque), fi.ModTime()); err != nil {
				return err
			}
		}
		return d.walk(ctx, host, name)
	}
	return nil
}

// marker writes an empty whiteout entry, or a directory when name ends in
// "/".
func (d *differ) marker(name string, mtime time.Time) error {
	hdr := &tar.Header{Name: name, Typeflag: tar.TypeReg, Mode: 0o600, ModTime: mtime, Format: tar.FormatPAX}
	if strings.HasSuffix(name, "/") {
		hdr.Typeflag, hdr.Mode = tar.TypeDir, 0o755
	}
	if err := d.tw.WriteHeader(hdr); err != nil {
		return wrapError(kindOf(err), err, "tar %s", name)
	}
	d.lr.Files++
	return nil
}

func getxattr(p, name string) (string, error) {
	buf := make([]byte, 64)
	n, err := unix.Lgetxattr(p, name, buf)
	if err != nil {
		return "", err
	}
	return string(buf[:n]), nil
}
