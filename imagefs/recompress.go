package imagefs

import (
	"bytes"
	"context"
	"crypto/sha256"
	"fmt"
	"io"

	v1 "github.com/google/go-containerregistry/pkg/v1"
)

// Recompress returns img with every layer recompressed (zstd, gzip or
// none): same diff ids and config content, new digests, OCI media types.
// Layer annotations are kept. Each layer's diff id is verified on the way.
func Recompress(ctx context.Context, img v1.Image, c Compression) (v1.Image, error) {
	comp, err := c.normalize()
	if err != nil {
		return nil, err
	}
	entries, cfg, m, err := imageEntries(img)
	if err != nil {
		return nil, err
	}
	for k, e := range entries {
		if ctx.Err() != nil {
			return nil, ctxError(ctx, "recompress")
		}
		mt, err := e.layer.MediaType()
		if err != nil {
			return nil, wrapError(kindOf(err), err, "layer %d", k)
		}
		if _, _, err := algorithmOf(mt); err != nil {
			return nil, err
		}
		diffID := cfg.RootFS.DiffIDs[k]
		rc, err := e.layer.Uncompressed()
		if err != nil {
			return nil, wrapError(kindOf(err), err, "layer %d", k)
		}
		var blob bytes.Buffer
		cw, err := comp.compressor(&blob)
		if err != nil {
			_ = rc.Close()
			return nil, err
		}
		h := sha256.New()
		_, err = io.Copy(io.MultiWriter(cw, h), rc)
		_ = rc.Close()
		if err != nil {
			return nil, wrapError(ErrCorrupt, err, "layer %d", k)
		}
		if err := cw.Close(); err != nil {
			return nil, wrapError(kindOf(err), err, "compress layer %d", k)
		}
		if err := checkHash(fmt.Sprintf("layer %d content", k), h, diffID); err != nil {
			return nil, err
		}
		l, err := newMemLayer(blob.Bytes(), diffID, comp.mediaType())
		if err != nil {
			return nil, err
		}
		entries[k].layer = l
	}
	return newImage(cfg, entries, m.Annotations)
}
