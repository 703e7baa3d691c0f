package imagefs

import (
	"context"
	"errors"
	"io"
	"net/http"
	"os"
	"strconv"
	"sync"

	v1 "github.com/google/go-containerregistry/pkg/v1"
)

// A blob the store is fetching is "in flight": it is being teed into
// tmp/<layer-…>/blob while it unpacks. Readers (Store.OpenBlob, and through
// it Store.Handler) may follow it as it grows — the cut-through that lets a
// chain of nodes pipeline a blob instead of passing it on whole.
//
// Safety rules:
//   - a reader holds its own read-only *os.File of the temp file, opened by
//     the writer before anything is written, so the writer's rename into
//     place or removal of its temp dir never pulls the data away; the file
//     is closed when the writer has finished and the last reader has gone;
//   - a reader sees only bytes already written, and never the last byte of
//     the blob until the writer has verified it (digest, size, archive) and
//     renamed it into place: a reader of a blob that fails gets an error,
//     never a body that looks complete;
//   - nothing starts a goroutine: readers wait on a channel the writer
//     closes on progress, and on their own context.

// relayBlob is one in-flight blob.
type relayBlob struct {
	digest v1.Hash
	size   int64 // what the descriptor promises

	mu      sync.Mutex
	written int64
	done    bool
	err     error         // the writer's outcome once done; nil is success
	wake    chan struct{} // closed on progress, replaced when taken
	taken   bool          // a reader is waiting on wake
	file    *os.File      // read-only handle of the temp blob
	refs    int           // the writer and each open reader
}

// startRelay registers a blob the store begins to write at path, with a
// read handle opened now. It returns nil (and registers nothing) when the
// digest is already in flight, which only a manifest lying about diff ids
// can cause: the first writer keeps serving it.
func (s *Store) startRelay(h v1.Hash, size int64, path string) (*relayBlob, error) {
	rf, err := os.Open(path)
	if err != nil {
		return nil, wrapError(kindOf(err), err, "open blob for readers")
	}
	f := &relayBlob{digest: h, size: size, wake: make(chan struct{}), file: rf, refs: 1}
	s.relayMu.Lock()
	defer s.relayMu.Unlock()
	if _, busy := s.relay[h]; busy {
		_ = rf.Close()
		return nil, nil
	}
	s.relay[h] = f
	return f, nil
}

// endRelay unregisters f and records the writer's outcome. On success it
// must be called after the blob was renamed into place, so a reader that no
// longer finds f in flight finds the blob on disk.
func (s *Store) endRelay(f *relayBlob, err error) {
	if f == nil {
		return
	}
	s.relayMu.Lock()
	if s.relay[f.digest] == f {
		delete(s.relay, f.digest)
	}
	s.relayMu.Unlock()
	f.mu.Lock()
	defer f.mu.Unlock()
	if err == nil && f.written != f.size {
		// The writer checked the size before; never let readers take a
		// blob of another size for a complete one all the same.
		err = newError(ErrDigestMismatch, "blob %s is %d bytes, want %d", f.digest, f.written, f.size)
	}
	f.done, f.err = true, err
	f.signal()
	f.release()
}

// openRelay returns a reader of h when it is in flight, else nil.
func (s *Store) openRelay(ctx context.Context, h v1.Hash) *relayReader {
	s.relayMu.Lock()
	defer s.relayMu.Unlock()
	f, ok := s.relay[h]
	if !ok {
		return nil
	}
	// Registered means endRelay has not run: the writer's reference keeps
	// the file open, so taking one more is safe.
	f.mu.Lock()
	f.refs++
	f.mu.Unlock()
	return &relayReader{ctx: ctx, f: f, stop: make(chan struct{})}
}

// advance records n more bytes written.
func (f *relayBlob) advance(n int) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.written += int64(n)
	f.signal()
}

// signal wakes the waiting readers; f.mu is held.
func (f *relayBlob) signal() {
	if f.taken {
		close(f.wake)
		f.wake, f.taken = make(chan struct{}), false
	}
}

// release drops one reference; f.mu is held.
func (f *relayBlob) release() {
	f.refs--
	if f.refs == 0 {
		_ = f.file.Close()
	}
}

// relayWriter passes writes to the temp blob and reports them to readers.
type relayWriter struct {
	w io.Writer
	f *relayBlob // nil: nobody follows
}

func (w relayWriter) Write(p []byte) (int, error) {
	n, err := w.w.Write(p)
	if w.f != nil && n > 0 {
		w.f.advance(n)
	}
	return n, err
}

// relayReader reads an in-flight blob from the start, waiting for the
// writer as needed. Its waits end with its context.
type relayReader struct {
	ctx  context.Context //nolint:containedctx // the context of the OpenBlob call the reader belongs to, as an http.Response body's
	f    *relayBlob
	off  int64
	stop chan struct{} // closed by Close: a waiting Read returns
	once sync.Once
}

// Read returns bytes as the writer delivers them; io.EOF only once the
// writer has stored the complete, verified blob.
func (r *relayReader) Read(p []byte) (int, error) {
	if len(p) == 0 {
		return 0, nil
	}
	f := r.f
	for {
		select {
		case <-r.stop:
			return 0, wrapError(kindOf(os.ErrClosed), os.ErrClosed, "read of closed blob %s", f.digest)
		default:
		}
		f.mu.Lock()
		visible := f.written
		if !f.done || f.err != nil {
			// The last byte waits for the writer's verdict.
			visible = min(visible, f.size-1)
		}
		visible = min(visible, f.size)
		if avail := visible - r.off; avail > 0 {
			f.mu.Unlock()
			// The reference this reader holds keeps the file open.
			n, err := f.file.ReadAt(p[:min(int64(len(p)), avail)], r.off)
			r.off += int64(n)
			if n > 0 {
				return n, nil
			}
			if err == nil || errors.Is(err, io.EOF) {
				err = io.ErrUnexpectedEOF
			}
			return 0, wrapError(kindOf(err), err, "read in-flight blob %s", f.digest)
		}
		if f.done {
			err := f.err
			f.mu.Unlock()
			if err != nil {
				return 0, wrapError(kindOf(err), err, "blob %s failed in flight", f.digest)
			}
			return 0, io.EOF
		}
		f.taken = true
		wake := f.wake
		f.mu.Unlock()
		select {
		case <-wake:
		case <-r.stop:
		case <-r.ctx.Done():
			return 0, ctxError(r.ctx, "read blob in flight")
		}
	}
}

// Close releases the reader's hold on the blob and ends a Read waiting for
// more; it is idempotent.
func (r *relayReader) Close() error {
	r.once.Do(func() {
		close(r.stop)
		r.f.mu.Lock()
		defer r.f.mu.Unlock()
		r.f.release()
	})
	return nil
}

// serveRelay answers a GET or HEAD of an in-flight blob: 200 with the
// descriptor's size as Content-Length, then the bytes as they arrive, each
// chunk flushed. A Range header is ignored (the whole blob is sent): a
// partial answer cannot be produced before the bytes exist and a peer asks
// for whole blobs. When the writer fails the response is aborted, so the
// client sees a broken transfer rather than a complete body.
func serveRelay(w http.ResponseWriter, r *http.Request, fr *relayReader) {
	defer fr.Close()
	w.Header().Set("Content-Type", "application/octet-stream")
	w.Header().Set("Docker-Content-Digest", fr.f.digest.String())
	w.Header().Set("Content-Length", strconv.FormatInt(fr.f.size, 10))
	w.WriteHeader(http.StatusOK)
	if r.Method == http.MethodHead {
		return
	}
	rc := http.NewResponseController(w)
	buf := make([]byte, 64<<10)
	for {
		n, err := fr.Read(buf)
		if n > 0 {
			if _, werr := w.Write(buf[:n]); werr != nil {
				return // the client went away
			}
			if ferr := rc.Flush(); ferr != nil {
				return
			}
		}
		if errors.Is(err, io.EOF) {
			return
		}
		if err != nil {
			// The writer failed or the client went away: break the
			// connection so no short body passes for a whole one.
			panic(http.ErrAbortHandler)
		}
	}
}
