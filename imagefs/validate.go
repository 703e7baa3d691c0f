package imagefs

import (
	"bytes"
	"context"
	"crypto/sha256"
	"fmt"
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
// against the config's diff id. Errors wrap ErrUnsupportedMediaType,
// ErrDigestMismatch, ErrInvalid or ErrCorrupt.
func Validate(ctx context.Context, img v1.Image, opt ValidateOptions) error {
	rawManifest, err := img.RawManifest()
	if err != nil {
		return fmt.Errorf("imagefs: validate: manifest: %w", err)
	}
	m, err := v1.ParseManifest(bytes.NewReader(rawManifest))
	if err != nil {
		return fmt.Errorf("%w: validate: manifest: %w", ErrInvalid, err)
	}
	d, err := img.Digest()
	if err != nil {
		return fmt.Errorf("imagefs: validate: digest: %w", err)
	}
	if d != sha256Hash(rawManifest) {
		return fmt.Errorf("%w: validate: image digest %v is not the manifest's %s", ErrDigestMismatch, d, sha256Hash(rawManifest))
	}
	mt, err := img.MediaType()
	if err != nil {
		return fmt.Errorf("imagefs: validate: media type: %w", err)
	}
	okManifest := mt == types.OCIManifestSchema1 || opt.AllowDocker && mt == types.DockerManifestSchema2
	if !okManifest || m.MediaType != "" && m.MediaType != mt {
		return fmt.Errorf("%w: validate: manifest media type %q (in manifest %q)", ErrUnsupportedMediaType, mt, m.MediaType)
	}
	if m.SchemaVersion != 2 {
		return fmt.Errorf("%w: validate: schema version %d", ErrInvalid, m.SchemaVersion)
	}
	okConfig := m.Config.MediaType == types.OCIConfigJSON || opt.AllowDocker && m.Config.MediaType == types.DockerConfigJSON
	if !okConfig {
		return fmt.Errorf("%w: validate: config media type %q", ErrUnsupportedMediaType, m.Config.MediaType)
	}
	rawConfig, err := img.RawConfigFile()
	if err != nil {
		return fmt.Errorf("imagefs: validate: config: %w", err)
	}
	if got := sha256Hash(rawConfig); got != m.Config.Digest || int64(len(rawConfig)) != m.Config.Size {
		return fmt.Errorf("%w: validate: config is %s (%d bytes), manifest says %s (%d bytes)", ErrDigestMismatch, got, len(rawConfig), m.Config.Digest, m.Config.Size)
	}
	cfg, err := v1.ParseConfigFile(bytes.NewReader(rawConfig))
	if err != nil {
		return fmt.Errorf("%w: validate: config: %w", ErrInvalid, err)
	}
	if len(cfg.RootFS.DiffIDs) != len(m.Layers) {
		return fmt.Errorf("%w: validate: %d layers but %d diff ids", ErrInvalid, len(m.Layers), len(cfg.RootFS.DiffIDs))
	}
	layers, err := img.Layers()
	if err != nil {
		return fmt.Errorf("imagefs: validate: layers: %w", err)
	}
	if len(layers) != len(m.Layers) {
		return fmt.Errorf("%w: validate: image has %d layers, manifest %d", ErrInvalid, len(layers), len(m.Layers))
	}
	for k, d := range m.Layers {
		alg, oci, err := algorithmOf(d.MediaType)
		if err != nil {
			return fmt.Errorf("imagefs: validate: layer %d: %w", k, err)
		}
		if oci != d.MediaType && !opt.AllowDocker {
			return fmt.Errorf("%w: validate: layer %d has Docker media type %q", ErrUnsupportedMediaType, k, d.MediaType)
		}
		if opt.SkipLayers {
			continue
		}
		if err := ctx.Err(); err != nil {
			return err
		}
		if err := validateLayer(ctx, layers[k], alg, d, cfg.RootFS.DiffIDs[k], opt.Limits.bounds(d.Size)); err != nil {
			if ctx.Err() != nil {
				return ctx.Err()
			}
			return fmt.Errorf("imagefs: validate: layer %d (%s): %w", k, d.Digest, err)
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
			return ctx.Err()
		}
		return readErr(err, string(alg)+" content")
	}
	if _, err := io.Copy(ch, cnt); err != nil {
		if ctx.Err() != nil {
			return ctx.Err()
		}
		return fmt.Errorf("%w: %w", ErrCorrupt, err)
	}
	if cnt.n != d.Size {
		return fmt.Errorf("%w: %d bytes, descriptor says %d", ErrDigestMismatch, cnt.n, d.Size)
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
	if err := c.ctx.Err(); err != nil {
		return 0, err
	}
	return c.r.Read(p)
}
