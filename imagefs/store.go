package imagefs

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"regexp"
	"runtime"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"unicode"
	"unicode/utf8"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/layout"
	"github.com/google/go-containerregistry/pkg/v1/types"
	"golang.org/x/sync/errgroup"
	"golang.org/x/sync/semaphore"
	"golang.org/x/sys/unix"
)

// AnnotationRefName is the OCI annotation naming an image in index.json.
const AnnotationRefName = "org.opencontainers.image.ref.name"

// StoreConfig configures a node Store.
type StoreConfig struct {
	// Root is the store's directory. It holds an OCI image layout in oci/
	// (blobs and index.json, readable by any OCI tool), the unpacked layers
	// in layers/<diff id>, prepared containers in containers/<id>, and
	// tmp/ for work in progress, which Open empties. Required.
	Root string
	// Parallel is how many layers are fetched and unpacked at once.
	// Default: GOMAXPROCS.
	Parallel int
	// Logger receives progress at debug level. Default: discard.
	Logger *slog.Logger
	// Limits bound what one layer may unpack to (bytes, entries, file
	// size, path length and depth), enforced while the layer streams; a
	// layer over them fails Add with ErrTooLarge and leaves nothing in
	// the store. Zero fields take their defaults: DefaultLimits.
	Limits Limits
}

// withDefaults fills zero fields with their defaults and refuses what has
// none, naming the field.
func (cfg StoreConfig) withDefaults() (StoreConfig, error) {
	if cfg.Root == "" {
		return cfg, fmt.Errorf("%w: StoreConfig.Root is empty (the store's directory is required)", ErrInvalid)
	}
	if cfg.Parallel < 0 {
		return cfg, fmt.Errorf("%w: StoreConfig.Parallel %d < 0", ErrInvalid, cfg.Parallel)
	}
	if cfg.Parallel == 0 {
		cfg.Parallel = runtime.GOMAXPROCS(0)
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	cfg.Limits = cfg.Limits.withDefaults()
	return cfg, nil
}

// DefaultStoreConfig returns the defaults for a store in root.
func DefaultStoreConfig(root string) StoreConfig {
	return StoreConfig{Root: root, Parallel: runtime.GOMAXPROCS(0), Limits: DefaultLimits()}
}

// Store is a node's image store: blobs in an OCI layout and each layer
// unpacked once into its own directory, ready to be stacked by Prepare.
// A Store is safe for concurrent use. Two Stores must not share a root.
type Store struct {
	cfg    StoreConfig
	oci    layout.Path
	log    *slog.Logger
	mu     sync.RWMutex // held shared by Add and Prepare, exclusively by Remove and GC
	idxMu  sync.Mutex   // serialises index.json rewrites
	flight sync.Mutex
	busy   map[string]*layerCall
	ids    idLocks // per container id, held by Prepare and Release
	// relay holds the blobs being fetched, for readers that follow them
	// as they arrive (relay.go).
	relayMu sync.Mutex
	relay   map[v1.Hash]*relayBlob
	// decoders bounds the zstd windows of the layers decoding at once
	// (Limits.MaxDecoderMemory); nil when that limit is off. Each zstd
	// layer reserves window bytes.
	decoders *semaphore.Weighted
	window   int64
	reserved atomic.Int64 // bytes reserved now, and the most ever, for tests
	peak     atomic.Int64
}

type layerCall struct {
	done chan struct{}
	err  error
}

// OpenStore opens (creating when needed) the store at cfg.Root and removes
// what a crash left: work in tmp/ and container directories without an
// image marker (see Prepare).
func OpenStore(ctx context.Context, cfg StoreConfig) (*Store, error) {
	cfg, err := cfg.withDefaults()
	if err != nil {
		return nil, err
	}
	root, err := filepath.Abs(cfg.Root)
	if err != nil {
		return nil, fmt.Errorf("%w: store root: %w", ErrInvalid, err)
	}
	cfg.Root = root
	s := &Store{cfg: cfg, oci: layout.Path(filepath.Join(root, "oci")), log: cfg.Logger, busy: map[string]*layerCall{}, relay: map[v1.Hash]*relayBlob{}}
	s.window = cfg.Limits.decoderWindow()
	if cfg.Limits.MaxDecoderMemory > 0 {
		s.decoders = semaphore.NewWeighted(cfg.Limits.MaxDecoderMemory)
	}
	if err := os.RemoveAll(s.path("tmp")); err != nil {
		return nil, fmt.Errorf("imagefs: clean store tmp: %w", err)
	}
	if err := s.lockDown(); err != nil {
		return nil, err
	}
	if _, err := os.Stat(s.path("oci/oci-layout")); errors.Is(err, os.ErrNotExist) {
		if err := writeAtomic(s.path("tmp"), s.path("oci/oci-layout"), []byte(`{"imageLayoutVersion":"1.0.0"}`)); err != nil {
			return nil, err
		}
	}
	if _, err := os.Stat(s.path("oci/index.json")); errors.Is(err, os.ErrNotExist) {
		if err := s.writeIndex(&v1.IndexManifest{SchemaVersion: 2, MediaType: types.OCIImageIndex}); err != nil {
			return nil, err
		}
	}
	if _, err := s.reconcileContainers(); err != nil {
		return nil, err
	}
	return s, nil
}

// storeDirs are the store's directories, parents first.
var storeDirs = []string{"", "oci", "oci/blobs", "oci/blobs/sha256", "layers", "containers", "tmp"}

// lockDown creates the store's directories root-only (0700), and tightens
// those an older version made 0755. A layer's own root carries whatever mode
// its archive gives it (0777 is common), and its files their image owners
// and setuid bits; so no host user other than the store's owner may walk
// into the store: through a traversable path, any of them could run a
// setuid-root binary of an image, or read and rewrite files whose image
// owner happens to be their uid (the class of containerd CVE-2021-41103 and
// moby CVE-2021-41091, closed there the same way). Overlay mounts are
// unaffected: the kernel reaches the lower layers with the credentials of
// the mounter, and a container's processes see its root from inside,
// never through the store's path. Peers get blobs over HTTP, not from the
// file system.
func (s *Store) lockDown() error {
	if err := os.MkdirAll(filepath.Dir(s.cfg.Root), 0o755); err != nil {
		return fmt.Errorf("imagefs: store: %w", err)
	}
	for _, d := range storeDirs {
		p := s.path(d)
		if err := os.Mkdir(p, 0o700); err != nil && !errors.Is(err, os.ErrExist) {
			return fmt.Errorf("imagefs: store: %w", err)
		}
		fi, err := os.Lstat(p)
		if err != nil {
			return fmt.Errorf("imagefs: store: %w", err)
		}
		if !fi.IsDir() {
			return fmt.Errorf("%w: store directory %s is not a directory", ErrInvalid, p)
		}
		if fi.Mode().Perm() != 0o700 {
			if err := os.Chmod(p, 0o700); err != nil {
				return fmt.Errorf("imagefs: store: tighten %s: %w", p, err)
			}
		}
	}
	return nil
}

// Root returns the store's directory.
func (s *Store) Root() string { return s.cfg.Root }

// Layout returns the store's OCI image layout, for go-containerregistry's
// layout package.
func (s *Store) Layout() layout.Path { return s.oci }

func (s *Store) path(p ...string) string { return filepath.Join(append([]string{s.cfg.Root}, p...)...) }

func (s *Store) blobPath(h v1.Hash) string { return s.path("oci", "blobs", h.Algorithm, h.Hex) }

// LayerDir returns the directory a layer with the given diff id is unpacked
// into (it may not exist yet).
func (s *Store) LayerDir(diffID v1.Hash) string { return s.path("layers", diffID.Hex) }

// HasBlob reports whether the store holds the blob.
func (s *Store) HasBlob(h v1.Hash) bool {
	if !validHash(h) {
		return false
	}
	_, err := os.Stat(s.blobPath(h))
	return err == nil
}

// OpenBlob opens a blob of the store; it implements BlobSource. A blob the
// store is still fetching (see AddOptions.OnFetch) is returned too: the
// reader follows it as it arrives, waiting for more while ctx lasts, and
// ends with io.EOF only once the store has verified and stored the whole
// blob; if the store's fetch fails, Read returns an error instead. A
// complete blob is read from disk and does not depend on ctx.
func (s *Store) OpenBlob(ctx context.Context, h v1.Hash) (io.ReadCloser, error) {
	if !validHash(h) {
		return nil, fmt.Errorf("%w: digest %q", ErrInvalid, h)
	}
	if fr := s.openRelay(ctx, h); fr != nil {
		return fr, nil
	}
	f, err := os.Open(s.blobPath(h))
	if errors.Is(err, os.ErrNotExist) {
		return nil, fmt.Errorf("%w: blob %s", ErrNotFound, h)
	}
	if err != nil {
		return nil, fmt.Errorf("imagefs: blob %s: %w", h, err)
	}
	return f, nil
}

var hexDigest = regexp.MustCompile(`^[0-9a-f]{64}$`)

func validHash(h v1.Hash) bool { return h.Algorithm == "sha256" && hexDigest.MatchString(h.Hex) }

// BlobSource is somewhere a blob can be fetched from, such as a peer node.
// OpenBlob returns an error wrapping ErrNotFound when it does not hold the
// blob. Implementations must be safe for concurrent use.
type BlobSource interface {
	OpenBlob(ctx context.Context, h v1.Hash) (io.ReadCloser, error)
}

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
		return res, fmt.Errorf("imagefs: manifest: %w", err)
	}
	m, err := v1.ParseManifest(bytes.NewReader(rawManifest))
	if err != nil {
		return res, fmt.Errorf("%w: manifest: %w", ErrInvalid, err)
	}
	mt, err := img.MediaType()
	if err != nil {
		return res, fmt.Errorf("imagefs: media type: %w", err)
	}
	if mt != types.OCIManifestSchema1 && mt != types.DockerManifestSchema2 {
		return res, fmt.Errorf("%w: manifest media type %q", ErrUnsupportedMediaType, mt)
	}
	rawConfig, err := img.RawConfigFile()
	if err != nil {
		return res, fmt.Errorf("imagefs: config: %w", err)
	}
	if got := sha256Hash(rawConfig); got != m.Config.Digest || int64(len(rawConfig)) != m.Config.Size {
		return res, fmt.Errorf("%w: config is %s (%d bytes), manifest says %s (%d bytes)", ErrDigestMismatch, got, len(rawConfig), m.Config.Digest, m.Config.Size)
	}
	cfg, err := v1.ParseConfigFile(bytes.NewReader(rawConfig))
	if err != nil {
		return res, fmt.Errorf("%w: config: %w", ErrInvalid, err)
	}
	if len(cfg.RootFS.DiffIDs) != len(m.Layers) {
		return res, fmt.Errorf("%w: %d layers but %d diff ids", ErrInvalid, len(m.Layers), len(cfg.RootFS.DiffIDs))
	}
	for k, d := range m.Layers {
		if _, _, err := algorithmOf(d.MediaType); err != nil {
			return res, err
		}
		if !validHash(d.Digest) || !validHash(cfg.RootFS.DiffIDs[k]) {
			return res, fmt.Errorf("%w: layer %d digest %q / diff id %q", ErrInvalid, k, d.Digest, cfg.RootFS.DiffIDs[k])
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
	var mu sync.Mutex
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(s.cfg.Parallel)
	for _, k := range order {
		desc, diffID := m.Layers[k], cfg.RootFS.DiffIDs[k]
		g.Go(func() error {
			st, err := s.ensureLayer(gctx, img, desc, diffID, sources, opt.OnFetch)
			if err != nil {
				return fmt.Errorf("imagefs: layer %s: %w", desc.Digest, err)
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
	if err := ctx.Err(); err != nil {
		return res, err
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
func (s *Store) ensureLayer(ctx context.Context, img v1.Image, desc v1.Descriptor, diffID v1.Hash, sources []BlobSource, onFetch func(v1.Descriptor)) (layerStats, error) {
	key := desc.Digest.Hex + "/" + diffID.Hex
	for {
		s.flight.Lock()
		c, ok := s.busy[key]
		if !ok {
			c = &layerCall{done: make(chan struct{})}
			s.busy[key] = c
			s.flight.Unlock()
			st, err := s.fetchLayer(ctx, img, desc, diffID, sources, onFetch)
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
			return layerStats{}, ctx.Err()
		}
		if c.err == nil {
			return layerStats{}, nil
		}
		// The other caller failed (perhaps cancelled): try ourselves.
	}
}

func (s *Store) fetchLayer(ctx context.Context, img v1.Image, desc v1.Descriptor, diffID v1.Hash, sources []BlobSource, onFetch func(v1.Descriptor)) (layerStats, error) {
	var st layerStats
	haveBlob := s.HasBlob(desc.Digest)
	_, err := os.Stat(s.LayerDir(diffID))
	haveLayer := err == nil
	if haveBlob && haveLayer {
		return st, nil
	}
	alg, _, err := algorithmOf(desc.MediaType)
	if err != nil {
		return st, err
	}
	if ceiling := orMax64(s.cfg.Limits.MaxLayerBytes); desc.Size > ceiling {
		// The blob is teed to disk as it is read: a manifest may not
		// promise more of it than a layer may unpack to.
		return st, fmt.Errorf("%w: blob of %d bytes exceeds MaxLayerBytes (%d bytes)", ErrTooLarge, desc.Size, ceiling)
	}
	if alg == Zstd {
		release, err := s.reserveDecoder(ctx)
		if err != nil {
			return st, err
		}
		defer release()
	}
	if haveBlob {
		f, err := os.Open(s.blobPath(desc.Digest))
		if err != nil {
			return st, fmt.Errorf("imagefs: blob %s: %w", desc.Digest, err)
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
					return st, ctx.Err()
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
			return st, ctx.Err()
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
		return st, fmt.Errorf("imagefs: %w", err)
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
			return st, fmt.Errorf("imagefs: %w", err)
		}
		defer blobFile.Close()
		if fl, err = s.startRelay(desc.Digest, desc.Size, blobFile.Name()); err != nil {
			return st, err
		}
		defer func() {
			if !landed {
				if err == nil {
					err = fmt.Errorf("imagefs: blob %s not stored", desc.Digest)
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
			return st, fmt.Errorf("imagefs: %w", err)
		}
		if _, err := unpackLayer(ctx, limited, alg, rootfs, desc.Digest, diffID, b, abort); err != nil {
			return st, err
		}
		st.unpacked = 1
	}
	if !haveBlob && counter.n != desc.Size {
		return st, fmt.Errorf("%w: blob %s is %d bytes, manifest says %d", ErrDigestMismatch, desc.Digest, counter.n, desc.Size)
	}
	st.bytes = counter.n
	if err := syncDir(tmp); err != nil {
		return st, err
	}
	if !haveBlob {
		if err := os.Rename(filepath.Join(tmp, "blob"), s.blobPath(desc.Digest)); err != nil {
			return st, fmt.Errorf("imagefs: store blob: %w", err)
		}
		// In place before it leaves the relay: a reader finds it in one
		// or the other.
		landed = true
		s.endRelay(fl, nil)
	}
	if !haveLayer {
		err := os.Rename(filepath.Join(tmp, "rootfs"), s.LayerDir(diffID))
		if err != nil && !errors.Is(err, os.ErrExist) && !errors.Is(err, unix.ENOTEMPTY) {
			return st, fmt.Errorf("imagefs: store layer: %w", err)
		}
	}
	s.log.DebugContext(ctx, "layer stored", "digest", desc.Digest.String(), "bytes", st.bytes, "unpacked", st.unpacked == 1)
	return st, nil
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
		return nil, fmt.Errorf("%w: blob %s in no source", ErrNotFound, h)
	}
	l, err := img.LayerByDigest(h)
	if err != nil {
		return nil, fmt.Errorf("imagefs: layer %s: %w", h, err)
	}
	rc, err := l.Compressed()
	if err != nil {
		return nil, fmt.Errorf("imagefs: fetch layer %s: %w", h, err)
	}
	return rc, nil
}

// syncDir flushes the file system holding dir with one syncfs: cheaper than
// an fsync per file and enough to make the rename that follows safe.
func syncDir(dir string) error {
	fd, err := unix.Open(dir, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return fmt.Errorf("imagefs: syncfs %s: %w", dir, err)
	}
	defer unix.Close(fd)
	if err := unix.Syncfs(fd); err != nil {
		return fmt.Errorf("imagefs: syncfs %s: %w", dir, err)
	}
	return nil
}

// putBlob stores a small blob (config, manifest) atomically after checking
// its digest.
func (s *Store) putBlob(h v1.Hash, b []byte) error {
	if got := sha256Hash(b); got != h {
		return fmt.Errorf("%w: blob is %s, want %s", ErrDigestMismatch, got, h)
	}
	if s.HasBlob(h) {
		return nil
	}
	return writeAtomic(s.path("tmp"), s.blobPath(h), b)
}

func writeAtomic(tmpDir, dst string, b []byte) error {
	f, err := os.CreateTemp(tmpDir, "blob-")
	if err != nil {
		return fmt.Errorf("imagefs: %w", err)
	}
	defer os.Remove(f.Name())
	if _, err := f.Write(b); err != nil {
		_ = f.Close()
		return fmt.Errorf("imagefs: write %s: %w", dst, err)
	}
	if err := f.Sync(); err != nil {
		_ = f.Close()
		return fmt.Errorf("imagefs: sync %s: %w", dst, err)
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("imagefs: %w", err)
	}
	if err := os.Rename(f.Name(), dst); err != nil {
		return fmt.Errorf("imagefs: %w", err)
	}
	return nil
}

func (s *Store) readIndex() (*v1.IndexManifest, error) {
	b, err := os.ReadFile(s.path("oci", "index.json"))
	if err != nil {
		return nil, fmt.Errorf("imagefs: store index: %w", err)
	}
	idx, err := v1.ParseIndexManifest(bytes.NewReader(b))
	if err != nil {
		return nil, fmt.Errorf("%w: store index: %w", ErrCorrupt, err)
	}
	return idx, nil
}

func (s *Store) writeIndex(idx *v1.IndexManifest) error {
	b, err := json.MarshalIndent(idx, "", "  ")
	if err != nil {
		return fmt.Errorf("imagefs: store index: %w", err)
	}
	return writeAtomic(s.path("tmp"), s.path("oci", "index.json"), b)
}

func (s *Store) updateIndex(f func(*v1.IndexManifest)) error {
	s.idxMu.Lock()
	defer s.idxMu.Unlock()
	idx, err := s.readIndex()
	if err != nil {
		return err
	}
	f(idx)
	return s.writeIndex(idx)
}

// ImageInfo describes an image in the store.
type ImageInfo struct {
	Name       string  // the ref name it was added under, "" if none
	Digest     v1.Hash // manifest digest
	Containers int     // prepared containers using it
}

// Images lists the images of the store.
func (s *Store) Images(ctx context.Context) ([]ImageInfo, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	idx, err := s.readIndex()
	if err != nil {
		return nil, err
	}
	users, err := s.containerImages()
	if err != nil {
		return nil, err
	}
	out := make([]ImageInfo, 0, len(idx.Manifests))
	for _, d := range idx.Manifests {
		n := 0
		for _, h := range users {
			if h == d.Digest {
				n++
			}
		}
		out = append(out, ImageInfo{Name: d.Annotations[AnnotationRefName], Digest: d.Digest, Containers: n})
	}
	return out, nil
}

// maxRefBytes bounds an image ref name.
const maxRefBytes = 4096

// checkRef refuses an image ref name that is too long, not UTF-8 or holds a
// control character (a newline, an escape sequence): it comes from outside
// and ends up in index.json, logs and error text.
func checkRef(ref string) error {
	if len(ref) > maxRefBytes {
		return fmt.Errorf("%w: image ref of %d bytes exceeds %d", ErrInvalid, len(ref), maxRefBytes)
	}
	if !utf8.ValidString(ref) {
		return fmt.Errorf("%w: image ref %q is not UTF-8", ErrInvalid, ref)
	}
	if strings.IndexFunc(ref, unicode.IsControl) >= 0 {
		return fmt.Errorf("%w: image ref %q has a control character", ErrInvalid, ref)
	}
	return nil
}

// resolve finds an image by ref name or by "sha256:..." digest.
func (s *Store) resolve(ref string) (v1.Hash, error) {
	if err := checkRef(ref); err != nil {
		return v1.Hash{}, err
	}
	idx, err := s.readIndex()
	if err != nil {
		return v1.Hash{}, err
	}
	for _, d := range idx.Manifests {
		if d.Annotations[AnnotationRefName] == ref && ref != "" || d.Digest.String() == ref {
			return d.Digest, nil
		}
	}
	return v1.Hash{}, fmt.Errorf("%w: image %q in store", ErrNotFound, ref)
}

// Image returns the stored image with the given ref name or digest. Its
// layers read the store's blobs.
func (s *Store) Image(ctx context.Context, ref string) (v1.Image, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	h, err := s.resolve(ref)
	if err != nil {
		return nil, err
	}
	img, err := s.oci.Image(h)
	if err != nil {
		return nil, fmt.Errorf("imagefs: store image %s: %w", h, err)
	}
	return img, nil
}

// Remove drops the image name (or digest) from the store's index. Blobs and
// layers stay until GC. It fails with ErrInUse while a prepared container
// uses the image and with ErrNotFound when there is no such image.
func (s *Store) Remove(ctx context.Context, ref string) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	h, err := s.resolve(ref)
	if err != nil {
		return err
	}
	users, err := s.containerImages()
	if err != nil {
		return err
	}
	for id, u := range users {
		if u == h {
			return fmt.Errorf("%w: image %s is used by container %q", ErrInUse, ref, id)
		}
	}
	return s.updateIndex(func(idx *v1.IndexManifest) {
		idx.Manifests = slices.DeleteFunc(idx.Manifests, func(d v1.Descriptor) bool {
			return d.Digest.String() == ref || d.Annotations[AnnotationRefName] == ref
		})
	})
}

// LayerRefs returns, for every unpacked layer (by diff id), how many images
// of the store use it: the reference counts GC works from.
func (s *Store) LayerRefs(ctx context.Context) (map[v1.Hash]int, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	s.mu.RLock()
	defer s.mu.RUnlock()
	refs := map[v1.Hash]int{}
	ents, err := os.ReadDir(s.path("layers"))
	if err != nil {
		return nil, fmt.Errorf("imagefs: %w", err)
	}
	for _, e := range ents {
		refs[v1.Hash{Algorithm: "sha256", Hex: e.Name()}] = 0
	}
	_, diffIDs, err := s.liveSets()
	if err != nil {
		return nil, err
	}
	for h, n := range diffIDs {
		refs[h] += n
	}
	return refs, nil
}

// liveSets returns the blobs and diff ids the indexed images reference, with
// counts, and those of images prepared containers are marked with that are
// no longer in the index (their name was given to another image): a
// prepared container keeps its layers whatever happens to the index.
func (s *Store) liveSets() (map[v1.Hash]int, map[v1.Hash]int, error) {
	idx, err := s.readIndex()
	if err != nil {
		return nil, nil, err
	}
	users, err := s.containerImages()
	if err != nil {
		return nil, nil, err
	}
	images := make([]v1.Hash, 0, len(idx.Manifests))
	indexed := map[v1.Hash]bool{}
	for _, d := range idx.Manifests {
		images = append(images, d.Digest)
		indexed[d.Digest] = true
	}
	for _, h := range users {
		if !indexed[h] {
			images = append(images, h)
			indexed[h] = true
		}
	}
	blobs, diffIDs := map[v1.Hash]int{}, map[v1.Hash]int{}
	for k, h := range images {
		m, cfg, err := s.manifestConfig(h)
		if err != nil {
			if k >= len(idx.Manifests) && errors.Is(err, ErrNotFound) {
				// A marker of an image whose blobs are already gone
				// (collected by a version without this rule): nothing
				// left to keep.
				s.log.Warn("prepared container's image is missing from the store", "image", h.String(), "err", err)
				continue
			}
			return nil, nil, err
		}
		blobs[h]++
		blobs[m.Config.Digest]++
		for _, l := range m.Layers {
			blobs[l.Digest]++
		}
		for _, d := range cfg.RootFS.DiffIDs {
			diffIDs[d]++
		}
	}
	return blobs, diffIDs, nil
}

func (s *Store) manifestConfig(h v1.Hash) (*v1.Manifest, *v1.ConfigFile, error) {
	b, err := os.ReadFile(s.blobPath(h))
	if err != nil {
		return nil, nil, fmt.Errorf("%w: manifest %s: %w", ErrNotFound, h, err)
	}
	m, err := v1.ParseManifest(bytes.NewReader(b))
	if err != nil {
		return nil, nil, fmt.Errorf("%w: manifest %s: %w", ErrCorrupt, h, err)
	}
	cb, err := os.ReadFile(s.blobPath(m.Config.Digest))
	if err != nil {
		return nil, nil, fmt.Errorf("%w: config %s: %w", ErrNotFound, m.Config.Digest, err)
	}
	cfg, err := v1.ParseConfigFile(bytes.NewReader(cb))
	if err != nil {
		return nil, nil, fmt.Errorf("%w: config %s: %w", ErrCorrupt, m.Config.Digest, err)
	}
	if len(cfg.RootFS.DiffIDs) != len(m.Layers) {
		return nil, nil, fmt.Errorf("%w: image %s has %d layers and %d diff ids", ErrCorrupt, h, len(m.Layers), len(cfg.RootFS.DiffIDs))
	}
	return m, cfg, nil
}

// GCResult reports what GC removed.
type GCResult struct {
	Blobs  []v1.Hash // blobs removed
	Layers []v1.Hash // unpacked layers removed, by diff id
	// Containers are ids of container directories a crash left without
	// an image marker, removed.
	Containers []string
}

// GC removes blobs and unpacked layers no image in the index references,
// and container directories a crash left half-prepared. A container with an
// image marker keeps its image's layers, mounted or not, until Release.
func (s *Store) GC(ctx context.Context) (GCResult, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	var res GCResult
	var err error
	if res.Containers, err = s.reconcileContainers(); err != nil {
		return res, err
	}
	blobs, diffIDs, err := s.liveSets()
	if err != nil {
		return res, err
	}
	ents, err := os.ReadDir(s.path("oci", "blobs", "sha256"))
	if err != nil {
		return res, fmt.Errorf("imagefs: %w", err)
	}
	for _, e := range ents {
		h := v1.Hash{Algorithm: "sha256", Hex: e.Name()}
		if blobs[h] > 0 {
			continue
		}
		if err := os.Remove(s.blobPath(h)); err != nil {
			return res, fmt.Errorf("imagefs: gc: %w", err)
		}
		res.Blobs = append(res.Blobs, h)
	}
	ents, err = os.ReadDir(s.path("layers"))
	if err != nil {
		return res, fmt.Errorf("imagefs: %w", err)
	}
	for _, e := range ents {
		if err := ctx.Err(); err != nil {
			return res, err
		}
		h := v1.Hash{Algorithm: "sha256", Hex: e.Name()}
		if diffIDs[h] > 0 {
			continue
		}
		// Rename first, so a crash mid-removal never leaves a half layer
		// under a live name.
		doomed := filepath.Join(s.path("tmp"), "gc-"+e.Name())
		if err := os.Rename(s.LayerDir(h), doomed); err != nil {
			return res, fmt.Errorf("imagefs: gc: %w", err)
		}
		if err := os.RemoveAll(doomed); err != nil {
			return res, fmt.Errorf("imagefs: gc: %w", err)
		}
		res.Layers = append(res.Layers, h)
	}
	return res, nil
}

var containerID = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9_.-]{0,127}$`)

// containerImages maps each prepared container id to its image digest.
func (s *Store) containerImages() (map[string]v1.Hash, error) {
	ents, err := os.ReadDir(s.path("containers"))
	if err != nil {
		return nil, fmt.Errorf("imagefs: %w", err)
	}
	out := make(map[string]v1.Hash, len(ents))
	for _, e := range ents {
		b, err := os.ReadFile(s.path("containers", e.Name(), "image"))
		if err != nil {
			continue // being prepared or released
		}
		h, err := v1.NewHash(strings.TrimSpace(string(b)))
		if err != nil {
			continue
		}
		out[e.Name()] = h
	}
	return out, nil
}
