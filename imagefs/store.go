package imagefs

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"regexp"
	"runtime"
	"sync"
	"sync/atomic"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/layout"
	"github.com/google/go-containerregistry/pkg/v1/types"
	"golang.org/x/sync/semaphore"
	"golang.org/x/sys/unix"

	"github.com/shoalkit/shoal/internal/keylock"
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
		return cfg, newError(ErrInvalid, "StoreConfig.Root is empty (the store's directory is required)")
	}
	if cfg.Parallel < 0 {
		return cfg, newError(ErrInvalid, "StoreConfig.Parallel %d < 0", cfg.Parallel)
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
	ids    keylock.Locks // per container id, held by Prepare and Release
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
		return nil, wrapError(ErrInvalid, err, "store root")
	}
	if fi, err := os.Stat(root); err == nil && !fi.IsDir() {
		return nil, newError(ErrInvalid, "StoreConfig.Root %s is not a directory", root)
	}
	cfg.Root = root
	s := &Store{cfg: cfg, oci: layout.Path(filepath.Join(root, "oci")), log: cfg.Logger, busy: map[string]*layerCall{}, relay: map[v1.Hash]*relayBlob{}}
	s.window = cfg.Limits.decoderWindow()
	if cfg.Limits.MaxDecoderMemory > 0 {
		s.decoders = semaphore.NewWeighted(cfg.Limits.MaxDecoderMemory)
	}
	if err := os.RemoveAll(s.path("tmp")); err != nil {
		return nil, wrapError(kindOf(err), err, "clean store tmp")
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
		return wrapError(kindOf(err), err, "store")
	}
	// The store's directories, parents first.
	for _, d := range []string{"", "oci", "oci/blobs", "oci/blobs/sha256", "layers", "containers", "tmp"} {
		p := s.path(d)
		if err := os.Mkdir(p, 0o700); err != nil && !errors.Is(err, os.ErrExist) {
			return wrapError(kindOf(err), err, "store")
		}
		stat := os.Lstat
		if d == "" {
			stat = os.Stat // the root may be a link to where the store lives
		}
		fi, err := stat(p)
		if err != nil {
			return wrapError(kindOf(err), err, "store")
		}
		if !fi.IsDir() {
			return newError(ErrInvalid, "store directory %s is not a directory", p)
		}
		if fi.Mode().Perm() != 0o700 {
			if err := os.Chmod(p, 0o700); err != nil {
				return wrapError(kindOf(err), err, "store: tighten %s", p)
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
		return nil, newError(ErrInvalid, "digest %q", h)
	}
	if fr := s.openRelay(ctx, h); fr != nil {
		return fr, nil
	}
	f, err := os.Open(s.blobPath(h))
	if errors.Is(err, os.ErrNotExist) {
		return nil, newError(ErrNotFound, "blob %s", h)
	}
	if err != nil {
		return nil, wrapError(kindOf(err), err, "blob %s", h)
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

// syncDir flushes the file system holding dir with one syncfs: cheaper than
// an fsync per file and enough to make the rename that follows safe.
func syncDir(dir string) error {
	fd, err := unix.Open(dir, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return wrapError(kindOf(err), err, "syncfs %s", dir)
	}
	defer unix.Close(fd)
	if err := unix.Syncfs(fd); err != nil {
		return wrapError(kindOf(err), err, "syncfs %s", dir)
	}
	return nil
}

// putBlob stores a small blob (config, manifest) atomically after checking
// its digest.
func (s *Store) putBlob(h v1.Hash, b []byte) error {
	if got := sha256Hash(b); got != h {
		return newError(ErrDigestMismatch, "blob is %s, want %s", got, h)
	}
	if s.HasBlob(h) {
		return nil
	}
	return writeAtomic(s.path("tmp"), s.blobPath(h), b)
}

func writeAtomic(tmpDir, dst string, b []byte) error {
	f, err := os.CreateTemp(tmpDir, "blob-")
	if err != nil {
		return wrapError(ErrUnavailable, err, "write %s", dst)
	}
	defer os.Remove(f.Name())
	if _, err := f.Write(b); err != nil {
		_ = f.Close()
		return wrapError(kindOf(err), err, "write %s", dst)
	}
	if err := f.Sync(); err != nil {
		_ = f.Close()
		return wrapError(kindOf(err), err, "sync %s", dst)
	}
	if err := f.Close(); err != nil {
		return wrapError(ErrUnavailable, err, "write %s", dst)
	}
	if err := os.Rename(f.Name(), dst); err != nil {
		return wrapError(ErrUnavailable, err, "write %s", dst)
	}
	return nil
}
