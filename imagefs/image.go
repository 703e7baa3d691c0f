package imagefs

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"hash"
	"io"
	"maps"
	"os"
	"runtime"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/types"
)

// Annotation keys this package writes on layer descriptors.
const (
	// AnnotationRole tags a layer with its role (RoleBase, RoleRuntime,
	// RoleApp); pre-distribution sends layers in that order.
	AnnotationRole = "org.shoalkit.imagefs.role"
)

// Layer roles, in the order pre-distribution sends them.
const (
	RoleBase    = "base"
	RoleRuntime = "runtime"
	RoleApp     = "app"
)

func roleRank(role string) int {
	switch role {
	case RoleBase:
		return 0
	case RoleRuntime:
		return 1
	case RoleApp:
		return 2
	}
	return 3
}

func sha256Hash(b []byte) v1.Hash {
	s := sha256.Sum256(b)
	return v1.Hash{Algorithm: "sha256", Hex: hex.EncodeToString(s[:])}
}

// memLayer is a layer whose compressed bytes are held in memory, with its
// digests computed once.
type memLayer struct {
	blob   []byte
	digest v1.Hash
	diffID v1.Hash
	mt     types.MediaType
	alg    Algorithm
}

func newMemLayer(blob []byte, diffID v1.Hash, mt types.MediaType) (*memLayer, error) {
	alg, _, err := algorithmOf(mt)
	if err != nil {
		return nil, err
	}
	return &memLayer{blob: blob, digest: sha256Hash(blob), diffID: diffID, mt: mt, alg: alg}, nil
}

// Digest is the sha256 of the compressed blob.
func (l *memLayer) Digest() (v1.Hash, error) { return l.digest, nil }

// DiffID is the sha256 of the uncompressed tar.
func (l *memLayer) DiffID() (v1.Hash, error) { return l.diffID, nil }

// Size is the compressed size.
func (l *memLayer) Size() (int64, error) { return int64(len(l.blob)), nil }

// MediaType is the layer's OCI media type.
func (l *memLayer) MediaType() (types.MediaType, error) { return l.mt, nil }

// Compressed reads the blob.
func (l *memLayer) Compressed() (io.ReadCloser, error) {
	return io.NopCloser(bytes.NewReader(l.blob)), nil
}

// Uncompressed decompresses the blob as its media type says.
func (l *memLayer) Uncompressed() (io.ReadCloser, error) {
	return decompressor(l.alg, bytes.NewReader(l.blob), DefaultLimits().decoderWindow())
}

// fileLayer is a layer whose compressed bytes are in a file (Build's
// SpillDir), with its digests computed while it was written.
type fileLayer struct {
	path   string
	size   int64
	digest v1.Hash
	diffID v1.Hash
	mt     types.MediaType
	alg    Algorithm
}

// Digest is the sha256 of the compressed blob.
func (l *fileLayer) Digest() (v1.Hash, error) { return l.digest, nil }

// DiffID is the sha256 of the uncompressed tar.
func (l *fileLayer) DiffID() (v1.Hash, error) { return l.diffID, nil }

// Size is the compressed size.
func (l *fileLayer) Size() (int64, error) { return l.size, nil }

// MediaType is the layer's OCI media type.
func (l *fileLayer) MediaType() (types.MediaType, error) { return l.mt, nil }

// Compressed reads the blob from its file.
func (l *fileLayer) Compressed() (io.ReadCloser, error) {
	f, err := os.Open(l.path)
	if err != nil {
		return nil, wrapError(kindOf(err), err, "spilled layer %s", l.digest)
	}
	return f, nil
}

// Uncompressed decompresses the blob as its media type says.
func (l *fileLayer) Uncompressed() (io.ReadCloser, error) {
	f, err := l.Compressed()
	if err != nil {
		return nil, err
	}
	rc, err := decompressor(l.alg, f, DefaultLimits().decoderWindow())
	if err != nil {
		_ = f.Close()
		return nil, err
	}
	return closeBoth{rc, f}, nil
}

// closeBoth is a reader whose Close closes it and then the file below it.
type closeBoth struct {
	io.ReadCloser
	under io.Closer
}

// Close closes the reader, then the file.
func (c closeBoth) Close() error {
	return errors.Join(c.ReadCloser.Close(), c.under.Close())
}

// blobSink takes the compressed bytes of a new layer: in memory, or in a
// file of dir when dir is set, hashed on the way.
type blobSink struct {
	dir  string
	mem  bytes.Buffer
	file *os.File
	hash hash.Hash
	n    int64
}

func newBlobSink(dir string) (*blobSink, error) {
	s := &blobSink{dir: dir}
	if dir == "" {
		return s, nil
	}
	f, err := os.CreateTemp(dir, "layer-*.blob")
	if err != nil {
		return nil, wrapError(kindOf(err), err, "spill layer")
	}
	s.file, s.hash = f, sha256.New()
	return s, nil
}

// Write stores p.
func (s *blobSink) Write(p []byte) (int, error) {
	if s.file == nil {
		return s.mem.Write(p)
	}
	n, err := s.file.Write(p)
	s.hash.Write(p[:n])
	s.n += int64(n)
	return n, err
}

// layer ends the blob and returns it as a layer.
func (s *blobSink) layer(diffID v1.Hash, mt types.MediaType) (v1.Layer, error) {
	if s.file == nil {
		return newMemLayer(s.mem.Bytes(), diffID, mt)
	}
	alg, _, err := algorithmOf(mt)
	if err != nil {
		s.discard()
		return nil, err
	}
	if err := s.file.Close(); err != nil {
		s.discard()
		return nil, wrapError(kindOf(err), err, "spill layer")
	}
	return &fileLayer{
		path: s.file.Name(), size: s.n, diffID: diffID, mt: mt, alg: alg,
		digest: v1.Hash{Algorithm: "sha256", Hex: hex.EncodeToString(s.hash.Sum(nil))},
	}, nil
}

// discard drops a blob that will not become a layer.
func (s *blobSink) discard() {
	if s.file != nil {
		_ = s.file.Close()
		_ = os.Remove(s.file.Name())
	}
}

// mediaLayer presents a layer under another media type carrying the same
// bytes (a Docker gzip layer as an OCI gzip layer).
type mediaLayer struct {
	v1.Layer
	mt types.MediaType
}

// MediaType is the OCI type standing in for the original.
func (l mediaLayer) MediaType() (types.MediaType, error) { return l.mt, nil }

// ociLayer returns l with its OCI media type, refusing unknown ones.
func ociLayer(l v1.Layer) (v1.Layer, error) {
	mt, err := l.MediaType()
	if err != nil {
		return nil, err
	}
	_, oci, err := algorithmOf(mt)
	if err != nil {
		return nil, err
	}
	if oci == mt {
		return l, nil
	}
	return mediaLayer{Layer: l, mt: oci}, nil
}

// layerEntry is a layer with the annotations its manifest descriptor carries.
type layerEntry struct {
	layer       v1.Layer
	annotations map[string]string
}

// image is an OCI image assembled by this package: the manifest and config are
// serialised once, so digests are stable, and media types are always OCI.
type image struct {
	rawManifest []byte
	rawConfig   []byte
	manifest    *v1.Manifest
	config      *v1.ConfigFile
	layers      []v1.Layer
}

// newImage serialises cfg and a manifest for the layers. cfg.RootFS.DiffIDs
// is rewritten from the layers.
func newImage(cfg *v1.ConfigFile, entries []layerEntry, annotations map[string]string) (*image, error) {
	cfg = cfg.DeepCopy()
	cfg.RootFS.Type = "layers"
	cfg.RootFS.DiffIDs = make([]v1.Hash, 0, len(entries))
	m := &v1.Manifest{
		SchemaVersion: 2,
		MediaType:     types.OCIManifestSchema1,
		Layers:        make([]v1.Descriptor, 0, len(entries)),
	}
	layers := make([]v1.Layer, 0, len(entries))
	for _, e := range entries {
		l, err := ociLayer(e.layer)
		if err != nil {
			return nil, err
		}
		d, err := l.Digest()
		if err != nil {
			return nil, wrapError(kindOf(err), err, "layer digest")
		}
		diffID, err := l.DiffID()
		if err != nil {
			return nil, wrapError(kindOf(err), err, "layer diff id")
		}
		size, err := l.Size()
		if err != nil {
			return nil, wrapError(kindOf(err), err, "layer size")
		}
		mt, _ := l.MediaType()
		desc := v1.Descriptor{MediaType: mt, Size: size, Digest: d}
		if len(e.annotations) > 0 {
			desc.Annotations = maps.Clone(e.annotations)
		}
		m.Layers = append(m.Layers, desc)
		cfg.RootFS.DiffIDs = append(cfg.RootFS.DiffIDs, diffID)
		layers = append(layers, l)
	}
	rawConfig, err := json.Marshal(cfg)
	if err != nil {
		return nil, wrapError(kindOf(err), err, "config")
	}
	m.Config = v1.Descriptor{MediaType: types.OCIConfigJSON, Size: int64(len(rawConfig)), Digest: sha256Hash(rawConfig)}
	if len(annotations) > 0 {
		m.Annotations = maps.Clone(annotations)
	}
	rawManifest, err := json.Marshal(m)
	if err != nil {
		return nil, wrapError(kindOf(err), err, "manifest")
	}
	return &image{rawManifest: rawManifest, rawConfig: rawConfig, manifest: m, config: cfg, layers: layers}, nil
}

// MediaType is always the OCI manifest type.
func (i *image) MediaType() (types.MediaType, error) { return types.OCIManifestSchema1, nil }

// Size is the manifest's size.
func (i *image) Size() (int64, error) { return int64(len(i.rawManifest)), nil }

// ConfigName is the config blob's digest.
func (i *image) ConfigName() (v1.Hash, error) { return i.manifest.Config.Digest, nil }

// ConfigFile returns a copy of the parsed config.
func (i *image) ConfigFile() (*v1.ConfigFile, error) { return i.config.DeepCopy(), nil }

// RawConfigFile returns the serialised config.
func (i *image) RawConfigFile() ([]byte, error) { return bytes.Clone(i.rawConfig), nil }

// Digest is the manifest's digest.
func (i *image) Digest() (v1.Hash, error) { return sha256Hash(i.rawManifest), nil }

// Manifest returns a copy of the parsed manifest.
func (i *image) Manifest() (*v1.Manifest, error) { return i.manifest.DeepCopy(), nil }

// RawManifest returns the serialised manifest.
func (i *image) RawManifest() ([]byte, error) { return bytes.Clone(i.rawManifest), nil }

// Layers returns the layers, bottom first.
func (i *image) Layers() ([]v1.Layer, error) { return append([]v1.Layer(nil), i.layers...), nil }

// LayerByDigest finds a layer (or the config blob) by digest.
func (i *image) LayerByDigest(h v1.Hash) (v1.Layer, error) {
	for k, d := range i.manifest.Layers {
		if d.Digest == h {
			return i.layers[k], nil
		}
	}
	if h == i.manifest.Config.Digest {
		return newMemLayer(bytes.Clone(i.rawConfig), h, mediaTar)
	}
	return nil, newError(ErrNotFound, "layer %s", h)
}

// LayerByDiffID finds a layer by its diff id.
func (i *image) LayerByDiffID(h v1.Hash) (v1.Layer, error) {
	for k, d := range i.config.RootFS.DiffIDs {
		if d == h {
			return i.layers[k], nil
		}
	}
	return nil, newError(ErrNotFound, "layer with diff id %s", h)
}

// imageEntries returns the layers of img with the annotations of their
// manifest descriptors.
func imageEntries(img v1.Image) ([]layerEntry, *v1.ConfigFile, *v1.Manifest, error) {
	m, err := img.Manifest()
	if err != nil {
		return nil, nil, nil, wrapError(kindOf(err), err, "manifest")
	}
	cfg, err := img.ConfigFile()
	if err != nil {
		return nil, nil, nil, wrapError(kindOf(err), err, "config")
	}
	layers, err := img.Layers()
	if err != nil {
		return nil, nil, nil, wrapError(kindOf(err), err, "layers")
	}
	if len(layers) != len(m.Layers) {
		return nil, nil, nil, newError(ErrInvalid, "manifest has %d layers, image %d", len(m.Layers), len(layers))
	}
	out := make([]layerEntry, len(layers))
	for k, l := range layers {
		out[k] = layerEntry{layer: l, annotations: m.Layers[k].Annotations}
	}
	return out, cfg, m, nil
}

// AnnotatedLayer is a layer with the annotations of its manifest descriptor
// (AnnotationRole among them).
type AnnotatedLayer struct {
	Layer       v1.Layer
	Annotations map[string]string
}

// NewImage assembles an OCI image from a config and layers, bottom first.
// The config's rootfs is rewritten from the layers; a nil config means an
// empty linux config for this machine's architecture. Docker gzip and tar
// layers are carried under their OCI media types; other types are refused.
func NewImage(cfg *v1.ConfigFile, layers ...AnnotatedLayer) (v1.Image, error) {
	if cfg == nil {
		cfg = &v1.ConfigFile{OS: "linux", Architecture: runtime.GOARCH}
	}
	if len(cfg.History) == 0 {
		// One history entry per layer, as Docker-lineage tools expect.
		cfg = cfg.DeepCopy()
		for range layers {
			cfg.History = append(cfg.History, v1.History{Created: cfg.Created, CreatedBy: "imagefs"})
		}
	}
	entries := make([]layerEntry, len(layers))
	for k, l := range layers {
		if l.Layer == nil {
			return nil, newError(ErrInvalid, "layer %d is nil", k)
		}
		entries[k] = layerEntry{layer: l.Layer, annotations: l.Annotations}
	}
	return newImage(cfg, entries, nil)
}

// LayerFromTar compresses an uncompressed layer tar read from r into an
// in-memory layer. The tar is not interpreted; its sha256 is the diff id.
func LayerFromTar(r io.Reader, c Compression) (v1.Layer, error) {
	comp, err := c.normalize()
	if err != nil {
		return nil, err
	}
	var blob bytes.Buffer
	cw, err := comp.compressor(&blob)
	if err != nil {
		return nil, err
	}
	h := sha256.New()
	if _, err := io.Copy(io.MultiWriter(cw, h), r); err != nil {
		return nil, wrapError(kindOf(err), err, "layer from tar")
	}
	if err := cw.Close(); err != nil {
		return nil, wrapError(kindOf(err), err, "layer from tar")
	}
	return newMemLayer(blob.Bytes(), v1.Hash{Algorithm: "sha256", Hex: hex.EncodeToString(h.Sum(nil))}, comp.mediaType())
}

// ToOCI returns img with OCI media types throughout: manifest, config and
// layers (Docker gzip and tar layers keep their bytes and digests under the
// OCI types). go-containerregistry's mutate.Canonical and mutate.Time emit
// Docker v2 schema 2 manifests around OCI layers, which strict clients
// refuse; pass their result through ToOCI. The config is re-serialised from
// v1.ConfigFile, so fields it does not know are dropped.
func ToOCI(img v1.Image) (v1.Image, error) {
	entries, cfg, m, err := imageEntries(img)
	if err != nil {
		return nil, err
	}
	return newImage(cfg, entries, m.Annotations)
}
