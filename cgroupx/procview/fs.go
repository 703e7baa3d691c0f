package procview

import (
	"context"
	"encoding/binary"
	"errors"
	"path"
	"sync"
	"syscall"
	"time"

	"github.com/hanwen/go-fuse/v2/fuse"
)

// rawFS answers the kernel's FUSE requests. It is stateless but for the
// contents of partly read files: node ids come from the fixed table, so a
// server that resumes a connection answers for the ids its predecessor
// gave out.
type rawFS struct {
	fuse.RawFileSystem // ENOSYS for everything not below
	srv                *Server
	start              time.Time

	mu     sync.Mutex
	nextFh uint64
	open   map[uint64][]byte // fh → content rendered at offset 0, for reads past the first chunk
}

// maxOpenContents bounds how many partly read files keep their content.
const maxOpenContents = 4096

// entryTimeout is how long the kernel may cache names, and the
// attributes of directories: the tree never changes.
const entryTimeout = time.Hour

func newRawFS(s *Server) *rawFS {
	return &rawFS{
		RawFileSystem: fuse.NewDefaultRawFileSystem(),
		srv:           s,
		start:         time.Now(),
		// Handles from a previous server may still be open: start far
		// from where it started, by the clock.
		nextFh: uint64(time.Now().UnixNano()), //nolint:gosec // positive
		open:   map[uint64][]byte{},
	}
}

// String names the file system in go-fuse's logs.
func (f *rawFS) String() string { return "procview" }

// attr fills the attributes of node id; size is what a file reports (see
// fileSize).
func (f *rawFS) attr(id uint64, out *fuse.Attr, size uint64) {
	n, _ := nodeByID(id)
	out.Ino = id
	out.Nlink = 1
	out.Mode = syscall.S_IFREG | 0o444
	if n.kind == kindDir {
		out.Mode = syscall.S_IFDIR | 0o555
		out.Nlink = 2
	}
	out.Size = size
	t := uint64(f.start.Unix()) //nolint:gosec // after 1970
	out.Atime, out.Mtime, out.Ctime = t, t, t
	out.Blksize = 4096
}

// Lookup answers from the fixed table, with long timeouts for names: the
// tree never changes. A file's attributes are not kept (see fileSize).
func (f *rawFS) Lookup(cancel <-chan struct{}, h *fuse.InHeader, name string, out *fuse.EntryOut) fuse.Status {
	id := lookup(h.NodeId, name)
	if id == 0 {
		return fuse.ENOENT
	}
	out.NodeId = id
	out.Generation = 1
	out.SetEntryTimeout(entryTimeout)
	out.SetAttrTimeout(f.attrTimeout(id))
	f.attr(id, &out.Attr, f.fileSize(cancel, id, h.Pid))
	return fuse.OK
}

// attrTimeout is how long the kernel keeps the attributes of id: an hour
// for a directory, none for a file, whose size is its caller's.
func (f *rawFS) attrTimeout(id uint64) time.Duration {
	if n, ok := nodeByID(id); ok && n.kind == kindDir {
		return entryTimeout
	}
	return 0
}

// fileSize is the size a file reports to the caller pid: the length of
// its rendering for that caller, at least 1. A reader that seeks from the
// end (tail) or stats first finds its own length; splice and sendfile,
// which Linux 6.5 and later serve from the page cache up to the inode's
// size, find something to read and ask for it, and are refused (see
// Read), so that BusyBox cat and Go's io.Copy fall back to read(2). With
// size 0 they would find nothing and copy nothing.
func (f *rawFS) fileSize(cancel <-chan struct{}, id uint64, pid uint32) uint64 {
	n, ok := nodeByID(id)
	if !ok || n.kind == kindDir {
		return 0
	}
	b, ok := f.srv.snapshot(n.kind, pid)
	if !ok {
		ctx, stop := cancelContext(cancel, f.srv.cfg.ReadTimeout)
		var err error
		b, err = f.srv.content(ctx, n.kind, pid)
		stop()
		if err != nil {
			return 1
		}
	}
	return max(uint64(len(b)), 1)
}

// FUSE opcodes quick tells apart (include/uapi/linux/fuse.h).
const (
	opLookup      = 1
	opGetAttr     = 3
	opRead        = 15
	opReadDirPlus = 44
)

// quick reports whether request req can be answered without rendering a
// file (reading a container's cgroup files, counting its processes),
// which may take long: everything but a read or a file's attributes for a
// caller whose container has no fresh rendering kept (a read past the
// first chunk of an open file is answered from what that file showed
// first). Lookups and directory listings with attributes are counted
// slow: the kernel keeps names and directories an hour.
func (f *rawFS) quick(req []byte) bool {
	if len(req) < inHeaderSize {
		return true // refused as it is
	}
	op := binary.NativeEndian.Uint32(req[4:])
	switch op {
	case opLookup, opReadDirPlus:
		return false
	case opGetAttr, opRead:
	default:
		return true
	}
	n, ok := nodeByID(binary.NativeEndian.Uint64(req[16:]))
	if !ok || n.kind == kindDir {
		return true
	}
	if op == opRead && len(req) >= inHeaderSize+16 && binary.NativeEndian.Uint64(req[inHeaderSize+8:]) > 0 {
		f.mu.Lock()
		_, kept := f.open[binary.NativeEndian.Uint64(req[inHeaderSize:])]
		f.mu.Unlock()
		if kept {
			return true
		}
	}
	return f.srv.fresh(n.kind, binary.NativeEndian.Uint32(req[32:]))
}

// Forget has nothing to drop: node ids are fixed.
func (f *rawFS) Forget(uint64, uint64) {}

// GetAttr gives read-only modes and, for a file, the length of its
// rendering for the caller (see fileSize).
func (f *rawFS) GetAttr(cancel <-chan struct{}, in *fuse.GetAttrIn, out *fuse.AttrOut) fuse.Status {
	if _, ok := nodeByID(in.NodeId); !ok {
		return fuse.ENOENT
	}
	out.SetTimeout(f.attrTimeout(in.NodeId))
	f.attr(in.NodeId, &out.Attr, f.fileSize(cancel, in.NodeId, in.Pid))
	return fuse.OK
}

// SetAttr refuses every change (truncate, chmod): the view is read-only.
func (f *rawFS) SetAttr(<-chan struct{}, *fuse.SetAttrIn, *fuse.AttrOut) fuse.Status {
	return fuse.EACCES
}

// Access refuses W_OK.
func (f *rawFS) Access(_ <-chan struct{}, in *fuse.AccessIn) fuse.Status {
	if in.Mask&2 != 0 { // W_OK
		return fuse.EACCES
	}
	return fuse.OK
}

// Open refuses writing and opens files for direct I/O without flush.
func (f *rawFS) Open(_ <-chan struct{}, in *fuse.OpenIn, out *fuse.OpenOut) fuse.Status {
	n, ok := nodeByID(in.NodeId)
	if !ok {
		return fuse.ENOENT
	}
	if n.kind == kindDir {
		return fuse.Status(syscall.EISDIR)
	}
	if in.Flags&syscall.O_ACCMODE != syscall.O_RDONLY || in.Flags&syscall.O_TRUNC != 0 {
		return fuse.EACCES
	}
	f.mu.Lock()
	f.nextFh++
	out.Fh = f.nextFh
	f.mu.Unlock()
	// Direct I/O: no page cache, so every read reaches the server and is
	// answered for its caller. No flush on close: nothing is written, and
	// a close must not wait for a server that is restarting (a process
	// that exec()s with such a file open would hang in the exec).
	out.OpenFlags = fuse.FOPEN_DIRECT_IO | fuse.FOPEN_NOFLUSH
	return fuse.OK
}

// Read renders the file for the caller at offset 0 and serves later
// chunks from that rendering. A read to fill the page cache is refused
// with EINVAL: the page cache belongs to the inode, which every container
// shares, so a page filled for one caller would be served to the next.
// Linux sends such reads only for splice and sendfile (the files are
// opened for direct I/O, whose reads come with the reader's lock owner,
// FUSE_READ_LOCKOWNER; page-cache reads never do), and their callers
// (BusyBox cat, Go's io.Copy) fall back to read(2) on EINVAL.
func (f *rawFS) Read(cancel <-chan struct{}, in *fuse.ReadIn, _ []byte) (fuse.ReadResult, fuse.Status) {
	n, ok := nodeByID(in.NodeId)
	if !ok {
		return nil, fuse.ENOENT
	}
	if n.kind == kindDir {
		return nil, fuse.Status(syscall.EISDIR)
	}
	if in.ReadFlags&fuse.READ_LOCKOWNER == 0 {
		return nil, fuse.EINVAL
	}
	var b []byte
	if in.Offset > 0 {
		f.mu.Lock()
		b, ok = f.open[in.Fh]
		f.mu.Unlock()
	}
	if !ok || in.Offset == 0 {
		var err error
		if b, ok = f.srv.snapshot(n.kind, in.Pid); !ok {
			ctx, stop := cancelContext(cancel, f.srv.cfg.ReadTimeout)
			b, err = f.srv.content(ctx, n.kind, in.Pid)
			stop()
		}
		if err != nil {
			f.srv.log.Debug("procview: read", "file", n.path, "pid", in.Pid, "err", err)
			return nil, errnoOf(err)
		}
		if uint64(len(b)) > uint64(in.Size) { // read on in chunks: keep it
			f.mu.Lock()
			if len(f.open) < maxOpenContents {
				f.open[in.Fh] = b
			}
			f.mu.Unlock()
		}
	}
	if in.Offset >= uint64(len(b)) {
		return fuse.ReadResultData(nil), fuse.OK
	}
	end := min(uint64(len(b)), in.Offset+uint64(in.Size))
	return fuse.ReadResultData(b[in.Offset:end]), fuse.OK
}

// Release drops the rendering kept for a handle.
func (f *rawFS) Release(_ <-chan struct{}, in *fuse.ReleaseIn) {
	f.mu.Lock()
	delete(f.open, in.Fh)
	f.mu.Unlock()
}

// Write is refused: the view is read-only.
func (f *rawFS) Write(<-chan struct{}, *fuse.WriteIn, []byte) (uint32, fuse.Status) {
	return 0, fuse.EACCES
}

// Flush is a no-op (files are opened with FOPEN_NOFLUSH; older kernels still send it).
func (f *rawFS) Flush(<-chan struct{}, *fuse.FlushIn) fuse.Status { return fuse.OK }

// OpenDir opens the fixed directories.
func (f *rawFS) OpenDir(_ <-chan struct{}, in *fuse.OpenIn, _ *fuse.OpenOut) fuse.Status {
	n, ok := nodeByID(in.NodeId)
	if !ok {
		return fuse.ENOENT
	}
	if n.kind != kindDir {
		return fuse.ENOTDIR
	}
	return fuse.OK
}

// children returns the ids of the entries of directory id.
func children(id uint64) []uint64 {
	var out []uint64
	for i, n := range fileTable() {
		if n.parent == id && n.path != "" {
			out = append(out, uint64(i)+1)
		}
	}
	return out
}

// ReadDir lists a fixed directory.
func (f *rawFS) ReadDir(_ <-chan struct{}, in *fuse.ReadIn, out *fuse.DirEntryList) fuse.Status {
	return f.readDir(nil, in, out, false)
}

// ReadDirPlus lists a fixed directory with attributes.
func (f *rawFS) ReadDirPlus(cancel <-chan struct{}, in *fuse.ReadIn, out *fuse.DirEntryList) fuse.Status {
	return f.readDir(cancel, in, out, true)
}

func (f *rawFS) readDir(cancel <-chan struct{}, in *fuse.ReadIn, out *fuse.DirEntryList, plus bool) fuse.Status {
	n, ok := nodeByID(in.NodeId)
	if !ok {
		return fuse.ENOENT
	}
	if n.kind != kindDir {
		return fuse.ENOTDIR
	}
	ids := children(in.NodeId)
	for i := in.Offset; i < uint64(len(ids)); i++ {
		id := ids[i]
		c, _ := nodeByID(id)
		e := fuse.DirEntry{Name: path.Base(c.path), Ino: id, Mode: syscall.S_IFREG, Off: i + 1}
		if c.kind == kindDir {
			e.Mode = syscall.S_IFDIR
		}
		if !plus {
			if !out.AddDirEntry(e) {
				break
			}
			continue
		}
		eo := out.AddDirLookupEntry(e)
		if eo == nil {
			break
		}
		eo.NodeId = id
		eo.Generation = 1
		eo.SetEntryTimeout(entryTimeout)
		eo.SetAttrTimeout(f.attrTimeout(id))
		f.attr(id, &eo.Attr, f.fileSize(cancel, id, in.Pid))
	}
	return fuse.OK
}

// ReleaseDir has nothing to release.
func (f *rawFS) ReleaseDir(*fuse.ReleaseIn) {}

// StatFs reports an empty file system of fixed files.
func (f *rawFS) StatFs(_ <-chan struct{}, _ *fuse.InHeader, out *fuse.StatfsOut) fuse.Status {
	out.Bsize = 4096
	out.NameLen = 255
	out.Files = uint64(nodeCount)
	return fuse.OK
}

// cancelContext is a context that ends when the kernel interrupts the
// request (the reader was killed) or after timeout.
func cancelContext(cancel <-chan struct{}, timeout time.Duration) (context.Context, func()) {
	ctx, stop := context.WithTimeout(context.Background(), timeout)
	if cancel == nil {
		return ctx, stop
	}
	done := make(chan struct{})
	go func() {
		select {
		case <-cancel:
			stop()
		case <-done:
		}
	}()
	return ctx, func() { close(done); stop() }
}

// errnoOf maps an error of a read to the errno the reader sees: ESRCH for
// a caller that is gone, EIO for the rest (the server logs the cause).
func errnoOf(err error) fuse.Status {
	switch {
	case errors.Is(err, ErrNotFound):
		return fuse.Status(syscall.ESRCH)
	case errors.Is(err, context.DeadlineExceeded), errors.Is(err, context.Canceled):
		return fuse.EINTR
	}
	return fuse.EIO
}
