package imagefs

import (
	"bytes"
	"context"
	"errors"
	"io"
	"os"
	"path/filepath"
	"slices"
	"sync"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/types"
	"golang.org/x/sync/errgroup"
	"golang.org/x/sys/unix"
)

// AddResult reports what Add did.
type AddResult struct {
	Digest      v1.Hash // the manifest digest
	Fetched     int     // layer blobs fetched (from sources or the image)
	FromSources int     // of which finally from a BlobSource rather than the image
	Unpacked    int     // layers unpacked
	Bytes       int64   // compressed bytes of the fetched blobs as stored
	// Retried counts fetches from a BlobSource that failed part-way (a
	// read error, a size or digest mismatch, a bad archive: the source
	// died or lied) and were started again from the next source or the
	// image's origin. Bytes of the failed attempts are not in Bytes.
	Retried int
}

// Add stores img under name (which may be empty): every layer blob not yet
// present is fetched — from the first of sources that has it, else from img
// itself — and unpacked on arrival, the blob written and the layer unpacked
// from the same stream; layers go in parallel. When a blob from a source
// fails part-way (read error, wrong size or digest, bad archive), what was
// written is discarded and the next source is tried, then img's origin,
// whose failure is final (AddResult.Retried). While a blob arrives, other
// stores can already read it (OpenBlob, Handler). Digests, sizes and diff
// ids are verified while reading. A layer is written into tmp/, synced with
// one syncfs and renamed into place, so a failure or crash never leaves a
// half layer or a half blob. The image becomes visible (index.json) only when all
// its layers are in.
func (s *Store) Add(ctx context.Context, img v1.Image, name string, sources ...BlobSource) (AddResult, error) {
	return s.AddWith(ctx, img, name, AddOptions{Sources: sources})
}

// AddOptions tunes AddWith.
type AddOptions struct {
	// Sources are tried in order for every missing blob before the image
	// itself (typically Peers that already hold it).
	Sources []BlobSource
	// OnLayer, when set, is called (from any goroutine) each time a layer
	// of the image is present in the store: blob stored and unpacked.
	OnLayer func(desc v1.Descriptor)
	// OnFetch, when set, is called (from any goroutine) when the store
	// begins to fetch a layer blob it lacks, once the blob is registered
	// in flight: from then on OpenBlob and Handler serve it as it grows.
	// It is called again for each retry from another source, and not at
	// all for blobs the store already holds.
	OnFetch func(desc v1.Descriptor)
}

// AddWith is Add with options.
func (s *Store) AddWith(ctx context.Context, img v1.Image, name string, opt AddOptions) (AddResult, error) {
	if err := checkRef(name); err != nil {
		return AddResult{}, err
	}
	sources := opt.Sources
	s.mu.RLock()
	defer s.mu.RUnlock()
	var res AddResult
	rawManifest, err := img.RawManifest()
	if err != nil {
		return res, wrapError(kindOf(err), err, "manifest")
	}
	m, err := v1.ParseManifest(bytes.NewReader(rawManifest))
	if err != nil {
		return res, wrapError(ErrInvalid, err, "manifest")
	}
	mt, err := img.MediaType()
	if err != nil {
		return res, wrapError(kindOf(err), err, "media type")
	}
	if mt != types.OCIManifestSchema1 && mt != types.DockerManifestSchema2 {
		return res, newError(ErrUnsupportedMediaType, "manifest media type %q", mt)
	}
	rawConfig, err := img.RawConfigFile()
	if err != nil {
		return res, wrapError(kindOf(err), err, "config")
	}
	if got := sha256Hash(rawConfig); got != m.Config.Digest || int64(len(rawConfig)) != m.Config.Size {
		return res, newError(ErrDigestMismatch, "config is %s (%d bytes), manifest says %s (%d bytes)", got, len(rawConfig), m.Config.Digest, m.Config.Size)
	}
	cfg, err := v1.ParseConfigFile(bytes.NewReader(rawConfig))
	if err != nil {
		return res, wrapError(ErrInvalid, err, "config")
	}
	if len(cfg.RootFS.DiffIDs) != len(m.Layers) {
		return res, newError(ErrInvalid, "%d layers but %d diff ids", len(m.Layers), len(cfg.RootFS.DiffIDs))
	}
	for k, d := range m.Layers {
		if _, _, err := algorithmOf(d.MediaType); err != nil {
			return res, err
		}
		if !validHash(d.Digest) || !validHash(cfg.RootFS.DiffIDs[k]) {
			return res, newError(ErrInvalid, "layer %d digest %q / diff id %q", k, d.Digest, cfg.RootFS.DiffIDs[k])
		}
	}
	order := make([]int, len(m.Layers))
	for k := range order {
		order[k] = k
	}
	// Base layers first: they are the ones most often shared.
	slices.SortStableFunc(order, func(a, b int) int {
		return roleRank(m.Layers[a].Annotations[AnnotationRole]) - roleRank(m.Layers[b].Annotations[AnnotationRole])
	})
	// Layers in parallel, at most Parallel at once; the first failure
	// cancels the others.
	known, err := s.knownPairs()
	if err != nil {
		return res, err
	}
	call := &addCall{img: img, sources: sources, onFetch: opt.OnFetch, known: known}
	var mu sync.Mutex
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(s.cfg.Parallel)
	for _, k := range order {
		desc, diffID := m.Layers[k], cfg.RootFS.DiffIDs[k]
		g.Go(func() error {
			st, err := s.ensureLayer(gctx, call, desc, diffID)
			if err != nil {
				return wrapError(kindOf(err), err, "layer %s", desc.Digest)
			}
			if opt.OnLayer != nil {
				opt.OnLayer(desc)
			}
			mu.Lock()
			defer mu.Unlock()
			res.Fetched += st.fetched
			res.FromSources += st.fromSource
			res.Unpacked += st.unpacked
			res.Bytes += st.bytes
			res.Retried += st.retried
			return nil
		})
	}
	if err := g.Wait(); err != nil {
		return res, err
	}
	if ctx.Err() != nil {
		return res, ctxError(ctx, "add")
	}
	if err := s.putBlob(m.Config.Digest, rawConfig); err != nil {
		return res, err
	}
	res.Digest = sha256Hash(rawManifest)
	if err := s.putBlob(res.Digest, rawManifest); err != nil {
		return res, err
	}
	desc := v1.Descriptor{MediaType: mt, Size: int64(len(rawManifest)), Digest: res.Digest}
	if name != "" {
		desc.Annotations = map[string]string{AnnotationRefName: name}
	}
	return res, s.updateIndex(func(idx *v1.IndexManifest) {
		idx.Manifests = slices.DeleteFunc(idx.Manifests, func(d v1.Descriptor) bool {
			return d.Digest == desc.Digest && d.Annotations[AnnotationRefName] == name ||
				name != "" && d.Annotations[AnnotationRefName] == name
		})
		idx.Manifests = append(idx.Manifests, desc)
	})
}

type layerStats struct {
	fetched, fromSource, unpacked, retried int
	bytes                                  int64
}

// ensureLayer makes sure the blob desc and its unpacked layer are present,
// once per layer even when several Adds ask at the same time.
func (s *Store) ensureLayer(ctx context.Context, call *addCall, desc v1.Descriptor, diffID v1.Hash) (layerStats, error) {
	key := desc.Digest.Hex + "/" + diffID.Hex
	for {
		s.flight.Lock()
		c, ok := s.busy[key]
		if !ok {
			c = &layerCall{done: make(chan struct{})}
			s.busy[key] = c
			s.flight.Unlock()
			st, err := s.fetchLayer(ctx, call, desc, diffID)
			c.err = err
			s.flight.Lock()
			delete(s.busy, key)
			s.flight.Unlock()
			close(c.done)
			return st, err
		}
		s.flight.Unlock()
		select {
		case <-c.done:
		case <-ctx.Done():
			return layerStats{}, ctxError(ctx, "layer")
		}
		if c.err == nil {
			return layerStats{}, nil
		}
		// The other caller failed (perhaps cancelled): try ourselves.
	}
}

func (s *Store) fetchLayer(ctx context.Context, call *addCall, desc v1.Descriptor, diffID v1.Hash) (layerStats, error) {
	img, sources, onFetch := call.img, call.sources, call.onFetch
	var st layerStats
	haveBlob := s.HasBlob(desc.Digest)
	_, err := os.Stat(s.LayerDir(diffID))
	haveLayer := err == nil
	if haveBlob && haveLayer && call.known[layerPair{desc.Digest, diffID}] {
		return st, nil
	}
	alg, _, err := algorithmOf(desc.MediaType)
	if err != nil {
		return st, err
	}
	if ceiling := orMax64(s.cfg.Limits.MaxLayerBytes); desc.Size > ceiling {
		// The blob is teed to disk as it is read: a manifest may not
		// promise more of it than a layer may unpack to.
		return st, newError(ErrTooLarge, "blob of %d bytes exceeds MaxLayerBytes (%d bytes)", desc.Size, ceiling)
	}
	if alg == Zstd {
		release, err := s.reserveDecoder(ctx)
		if err != nil {
			return st, err
		}
		defer release()
	}
	if haveBlob && haveLayer {
		// Both are here, but no image of the store pairs them: a manifest
		// may claim any blob for any diff id, so check that this blob is
		// that layer before the image is stored as one.
		return st, s.verifyStoredBlob(ctx, desc, diffID, alg)
	}
	if haveBlob {
		f, err := os.Open(s.blobPath(desc.Digest))
		if err != nil {
			return st, wrapError(kindOf(err), err, "blob %s", desc.Digest)
		}
		defer f.Close()
		return s.storeLayer(ctx, f, desc, diffID, alg, true, haveLayer, nil, nil)
	}
	// Each source in turn, then the image's origin. A source may die or
	// lie part-way: what it sent is discarded and the next one is asked.
	for k := 0; ; k++ {
		fromSource := k < len(sources)
		var rc io.ReadCloser
		// The attempt's own context: cancelling it ends a read the
		// source is blocked in, so a transfer that failed part-way is
		// let go at once.
		actx, abort := context.WithCancel(ctx)
		if fromSource {
			if rc, err = sources[k].OpenBlob(actx, desc.Digest); err != nil {
				abort()
				if ctx.Err() != nil {
					return st, ctxError(ctx, "fetch layer")
				}
				continue // does not hold it: next
			}
		} else if rc, err = openOrigin(img, desc.Digest); err != nil {
			abort()
			return st, err
		}
		got, err := s.storeLayer(ctx, rc, desc, diffID, alg, false, haveLayer, onFetch, abort)
		abort()
		_ = rc.Close()
		if err == nil {
			got.fetched, got.retried = 1, st.retried
			if fromSource {
				got.fromSource = 1
			}
			return got, nil
		}
		if ctx.Err() != nil {
			return st, ctxError(ctx, "fetch layer")
		}
		if !fromSource {
			return st, err // the origin's word is final
		}
		st.retried++
		s.log.DebugContext(ctx, "blob from a source failed part-way, trying the next", "digest", desc.Digest.String(), "source", k, "err", err)
	}
}

// storeLayer reads the blob desc from r into a temp dir — teeing it to a
// temp blob file unless haveBlob, unpacking it unless haveLayer —, verifies
// it and renames what it made into place. While it tees, the blob is in
// flight for readers (relay.go). abort, when set, ends a read of r blocked
// at its source (see unpackLayer).
func (s *Store) storeLayer(ctx context.Context, r io.Reader, desc v1.Descriptor, diffID v1.Hash, alg Algorithm, haveBlob, haveLayer bool, onFetch func(v1.Descriptor), abort func()) (st layerStats, err error) {
	tmp, err := os.MkdirTemp(s.path("tmp"), "layer-")
	if err != nil {
		return st, wrapError(ErrUnavailable, err, "store layer")
	}
	defer os.RemoveAll(tmp)
	var (
		src     = r
		counter = &countingReader{r: r}
		fl      *relayBlob
		landed  bool // the blob is in place and fl ended
	)
	if !haveBlob {
		blobFile, err := os.Create(filepath.Join(tmp, "blob"))
		if err != nil {
			return st, wrapError(ErrUnavailable, err, "store blob")
		}
		defer blobFile.Close()
		if fl, err = s.startRelay(desc.Digest, desc.Size, blobFile.Name()); err != nil {
			return st, err
		}
		defer func() {
			if !landed {
				if err == nil {
					err = newError(ErrUnavailable, "blob %s not stored", desc.Digest)
				}
				s.endRelay(fl, err)
			}
		}()
		if onFetch != nil {
			onFetch(desc)
		}
		src = io.TeeReader(counter, relayWriter{w: blobFile, f: fl})
	}
	b := s.cfg.Limits.bounds(desc.Size)
	limited := io.LimitReader(src, desc.Size+1)
	if haveLayer {
		// Only the blob is missing (the same content arrived before under
		// another compression): copy it, and check that it is that
		// content — its digest alone proves nothing about its diff id.
		if err := verifyLayer(ctx, limited, alg, desc.Digest, diffID, b, abort); err != nil {
			return st, err
		}
	} else {
		rootfs := filepath.Join(tmp, "rootfs")
		if err := os.Mkdir(rootfs, 0o755); err != nil {
			return st, wrapError(ErrUnavailable, err, "store layer")
		}
		if _, err := unpackLayer(ctx, limited, alg, rootfs, desc.Digest, diffID, b, abort); err != nil {
			return st, err
		}
		st.unpacked = 1
	}
	if !haveBlob && counter.n != desc.Size {
		return st, newError(ErrDigestMismatch, "blob %s is %d bytes, manifest says %d", desc.Digest, counter.n, desc.Size)
	}
	st.bytes = counter.n
	if err := syncDir(tmp); err != nil {
		return st, err
	}
	if !haveBlob {
		if err := os.Rename(filepath.Join(tmp, "blob"), s.blobPath(desc.Digest)); err != nil {
			return st, wrapError(kindOf(err), err, "store blob")
		}
		// In place before it leaves the relay: a reader finds it in one
		// or the other.
		landed = true
		s.endRelay(fl, nil)
	}
	if !haveLayer {
		err := os.Rename(filepath.Join(tmp, "rootfs"), s.LayerDir(diffID))
		if err != nil && !errors.Is(err, os.ErrExist) && !errors.Is(err, unix.ENOTEMPTY) {
			return st, wrapError(kindOf(err), err, "store layer")
		}
	}
	s.log.DebugContext(ctx, "layer stored", "digest", desc.Digest.String(), "bytes", st.bytes, "unpacked", st.unpacked == 1)
	return st, nil
}

// addCall is what one AddWith passes down to each of its layers.
type addCall struct {
	img     v1.Image
	sources []BlobSource
	onFetch func(v1.Descriptor)
	// known holds the (blob, diff id) pairs of the images in the store
	// when the call began: verified when they were stored.
	known map[layerPair]bool
}

type layerPair struct{ blob, diffID v1.Hash }

// knownPairs returns the (blob, diff id) pairs of the store's indexed
// images. An image whose manifest or config cannot be read adds none.
func (s *Store) knownPairs() (map[layerPair]bool, error) {
	idx, err := s.readIndex()
	if err != nil {
		return nil, err
	}
	known := map[layerPair]bool{}
	for _, d := range idx.Manifests {
		m, cfg, err := s.manifestConfig(d.Digest)
		if err != nil {
			continue
		}
		for k, l := range m.Layers {
			known[layerPair{l.Digest, cfg.RootFS.DiffIDs[k]}] = true
		}
	}
	return known, nil
}

// verifyStoredBlob checks that the stored blob desc decompresses, within
// the limits, to diffID.
func (s *Store) verifyStoredBlob(ctx context.Context, desc v1.Descriptor, diffID v1.Hash, alg Algorithm) error {
	f, err := os.Open(s.blobPath(desc.Digest))
	if err != nil {
		return wrapError(ErrUnavailable, err, "blob %s", desc.Digest)
	}
	defer f.Close()
	cnt := &countingReader{r: io.LimitReader(f, desc.Size+1)}
	if err := verifyLayer(ctx, cnt, alg, desc.Digest, diffID, s.cfg.Limits.bounds(desc.Size), nil); err != nil {
		return err
	}
	if cnt.n != desc.Size {
		return newError(ErrDigestMismatch, "blob %s is %d bytes, manifest says %d", desc.Digest, cnt.n, desc.Size)
	}
	return nil
}

// reserveDecoder waits until a zstd decoder's window fits in what
// MaxDecoderMemory leaves, and reserves it until release.
func (s *Store) reserveDecoder(ctx context.Context) (release func(), err error) {
	if s.decoders == nil {
		return func() {}, nil
	}
	if err := s.decoders.Acquire(ctx, s.window); err != nil {
		return nil, err
	}
	n := s.reserved.Add(s.window)
	for p := s.peak.Load(); n > p && !s.peak.CompareAndSwap(p, n); p = s.peak.Load() {
	}
	return func() {
		s.reserved.Add(-s.window)
		s.decoders.Release(s.window)
	}, nil
}

type countingReader struct {
	r io.Reader
	n int64
}

func (c *countingReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n += int64(n)
	return n, err
}

// openOrigin opens the blob h from img itself (its registry, usually).
func openOrigin(img v1.Image, h v1.Hash) (io.ReadCloser, error) {
	if img == nil {
		return nil, newError(ErrNotFound, "blob %s in no source", h)
	}
	l, err := img.LayerByDigest(h)
	if err != nil {
		return nil, wrapError(kindOf(err), err, "layer %s", h)
	}
	rc, err := l.Compressed()
	if err != nil {
		return nil, wrapError(kindOf(err), err, "fetch layer %s", h)
	}
	return rc, nil
}
