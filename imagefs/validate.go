package imagefs

import (
	"bytes"
	"context"
	"crypto/sha256"
	"io"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/types"
)

// ValidateOptions tunes Validate.
type ValidateOptions struct {
	// AllowDocker accepts Docker v2 schema 2 manifests, configs and gzip
	// layers; by default everything must be OCI.
	AllowDocker bool
	// SkipLayers checks descriptors and the config but reads no layer
	// content.
	SkipLayers bool
	// Limits bound what a layer may decompress to, as when a Store
	// unpacks it: the stream caps (MaxLayerBytes, MaxExpansion) and the
	// zstd window (MaxDecoderWindow). A layer over them fails with
	// ErrTooLarge. Zero fields take their defaults: DefaultLimits.
	Limits Limits
}

// Validate checks an image the way a careful client would, for every layer
// compression this package writes (go-containerregistry's validate reads
// every layer as gzip and fails on zstd): the manifest and config media
// types, the config's digest and size, every layer's media type, digest and
// size against its descriptor, and the digest of its uncompressed content
// against the config's diff id. Layers stream within opt.Limits (a layer
// that inflates past them is ErrTooLarge) and stop as soon as ctx ends
// (ErrUnavailable, matching the context's error). Errors wrap
// ErrUnsupportedMediaType, ErrDigestMismatch, ErrInvalid, ErrCorrupt,
// ErrTooLarge or ErrUnavailable.
func Validate(ctx context.Context, img v1.Image, opt ValidateOptions) error {
	rawManifest, err := img.RawManifest()
	if err != nil {
		return wrapError(kindOf(err), err, "validate: manifest")
	}
	m, err := v1.ParseManifest(bytes.NewReader(rawManifest))
	if err != nil {
		return wrapError(ErrInvalid, err, "validate: manifest")
	}
	d, err := img.Digest()
	if err != nil {
		return wrapError(kindOf(err), err, "validate: digest")
	}
	if d != sha256Hash(rawManifest) {
		return newError(ErrDigestMismatch, "validate: image digest %v is not the manifest's %s", d, sha256Hash(rawManifest))
	}
	mt, err := img.MediaType()
	if err != nil {
		return wrapError(kindOf(err), err, "validate: media type")
	}
	okManifest := mt == types.OCIManifestSchema1 || opt.AllowDocker && mt == types.DockerManifestSchema2
	if !okManifest || m.MediaType != "" && m.MediaType != mt {
		return newError(ErrUnsupportedMediaType, "validate: manifest media type %q (in manifest %q)", mt, m.MediaType)
	}
	if m.SchemaVersion != 2 {
		return newError(ErrInvalid, "validate: schema version %d", m.SchemaVersion)
	}
	okConfig := m.Config.MediaType == types.OCIConfigJSON || opt.AllowDocker && m.Config.MediaType == types.DockerConfigJSON
	if !okConfig {
		return newError(ErrUnsupportedMediaType, "validate: config media type %q", m.Config.MediaType)
	}
	rawConfig, err := img.RawConfigFile()
	if err != nil {
		return wrapError(kindOf(err), err, "validate: config")
	}
	if got := sha256Hash(rawConfig); got != m.Config.Digest || int64(len(rawConfig)) != m.Config.Size {
		return newError(ErrDigestMismatch, "validate: config is %s (%d bytes), manifest says %s (%d bytes)", got, len(rawConfig), m.Config.Digest, m.Config.Size)
	}
	cfg, err := v1.ParseConfigFile(bytes.NewReader(rawConfig))
	if err != nil {
		return wrapError(ErrInvalid, err, "validate: config")
	}
	if len(cfg.RootFS.DiffIDs) != len(m.Layers) {
		return newError(ErrInvalid, "validate: %d layers but %d diff ids", len(m.Layers), len(cfg.RootFS.DiffIDs))
	}
	layers, err := img.Layers()
	if err != nil {
		return wrapError(kindOf(err), err, "validate: layers")
	}
	if len(layers) != len(m.Layers) {
		return newError(ErrInvalid, "validate: image has %d layers, manifest %d", len(layers), len(m.Layers))
	}
	for k, d := range m.Layers {
		alg, oci, err := algorithmOf(d.MediaType)
		if err != nil {
			return wrapError(kindOf(err), err, "validate: layer %d", k)
		}
		if oci != d.MediaType && !opt.AllowDocker {
			return newError(ErrUnsupportedMediaType, "validate: layer %d has Docker media type %q", k, d.MediaType)
		}
		if opt.SkipLayers {
			continue
		}
		if ctx.Err() != nil {
			return ctxError(ctx, "validate")
		}
		if err := validateLayer(ctx, layers[k], alg, d, cfg.RootFS.DiffIDs[k], opt.Limits.bounds(d.Size)); err != nil {
			if ctx.Err() != nil {
				return ctxError(ctx, "validate")
			}
			return wrapError(kindOf(err), err, "validate: layer %d (%s)", k, d.Digest)
		}
	}
	return nil
}

// validateLayer reads the layer's blob, checking ctx and the bounds while
// it streams.
func validateLayer(ctx context.Context, l v1.Layer, alg Algorithm, d v1.Descriptor, diffID v1.Hash, b bounds) error {
	rc, err := l.Compressed()
	if err != nil {
		return err
	}
	defer rc.Close()
	ch := sha256.New()
	// One byte more than the descriptor says is enough to tell it lied.
	cnt := &countingReader{r: ctxReader{ctx: ctx, r: io.LimitReader(rc, d.Size+1)}}
	dec, err := decompressor(alg, io.TeeReader(cnt, ch), b.window)
	if err != nil {
		return err
	}
	defer dec.Close()
	uh := sha256.New()
	content := &cappedReader{r: ctxReader{ctx: ctx, r: dec}, b: &b}
	if _, err := io.Copy(uh, content); err != nil {
		if content.err != nil {
			return content.err
		}
		if ctx.Err() != nil {
			return ctxError(ctx, "validate")
		}
		return readErr(err, string(alg)+" content")
	}
	if _, err := io.Copy(ch, cnt); err != nil {
		if ctx.Err() != nil {
			return ctxError(ctx, "validate")
		}
		return wrapError(ErrCorrupt, err, "reading compressed blob")
	}
	if cnt.n != d.Size {
		return newError(ErrDigestMismatch, "%d bytes, descriptor says %d", cnt.n, d.Size)
	}
	if err := checkHash("compressed blob", ch, d.Digest); err != nil {
		return err
	}
	return checkHash("uncompressed content", uh, diffID)
}

// ctxReader fails its reads once ctx ends, so a long stream stops with it.
type ctxReader struct {
	ctx context.Context //nolint:containedctx // lives for one call's stream
	r   io.Reader
}

// Read reads from r unless the context has ended.
func (c ctxReader) Read(p []byte) (int, error) {
	if c.ctx.Err() != nil {
		return 0, ctxError(c.ctx, "read")
	}
	return c.r.Read(p)
}
