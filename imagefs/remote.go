package imagefs

import (
	"context"
	"errors"
	"net/http"
	"time"

	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/remote/transport"
	"github.com/google/go-containerregistry/pkg/v1/types"
)

// RemoteConfig configures Push and Pull.
type RemoteConfig struct {
	// Jobs is how many layers move at once. Default 4.
	Jobs int
	// Retries is how many times a failed request (network error, 408, 429,
	// 5xx) is retried, with exponential backoff from RetryDelay. Default 3;
	// negative means no retry.
	Retries int
	// RetryDelay is the first backoff. Default 200ms.
	RetryDelay time.Duration
	// Insecure talks plain HTTP (a registry on loopback).
	Insecure bool
	// Transport carries the requests. Default http.DefaultTransport.
	Transport http.RoundTripper
	// Auth authenticates to the registry. Default anonymous.
	Auth authn.Authenticator
	// Platform picks the image of a multi-platform index on Pull. Default
	// linux on this machine's architecture.
	Platform *v1.Platform
}

// DefaultRemoteConfig returns the defaults described on RemoteConfig.
func DefaultRemoteConfig() RemoteConfig {
	return RemoteConfig{Jobs: 4, Retries: 3, RetryDelay: 200 * time.Millisecond}
}

// withDefaults fills zero fields with their defaults and refuses negative
// ones, naming the field.
func (c RemoteConfig) withDefaults() (RemoteConfig, error) {
	d := DefaultRemoteConfig()
	switch {
	case c.Jobs < 0:
		return c, newError(ErrInvalid, "RemoteConfig.Jobs %d < 0", c.Jobs)
	case c.RetryDelay < 0:
		return c, newError(ErrInvalid, "RemoteConfig.RetryDelay %v < 0", c.RetryDelay)
	}
	if c.Jobs == 0 {
		c.Jobs = d.Jobs
	}
	switch {
	case c.Retries == 0:
		c.Retries = d.Retries
	case c.Retries < 0:
		c.Retries = 0
	}
	if c.RetryDelay == 0 {
		c.RetryDelay = d.RetryDelay
	}
	return c, nil
}

func (c RemoteConfig) options(ctx context.Context) ([]remote.Option, error) {
	c, err := c.withDefaults()
	if err != nil {
		return nil, err
	}
	tr := c.Transport
	if tr == nil {
		tr = http.DefaultTransport
	}
	opts := []remote.Option{
		remote.WithContext(ctx),
		remote.WithJobs(c.Jobs),
		remote.WithTransport(tr),
		remote.WithUserAgent("shoal-imagefs"),
		remote.WithRetryBackoff(remote.Backoff{Duration: c.RetryDelay, Factor: 2, Jitter: 0.1, Steps: c.Retries + 1}),
		remote.WithRetryStatusCodes(http.StatusRequestTimeout, http.StatusTooManyRequests, http.StatusInternalServerError,
			http.StatusBadGateway, http.StatusServiceUnavailable, http.StatusGatewayTimeout),
	}
	if c.Auth != nil {
		opts = append(opts, remote.WithAuth(c.Auth))
	}
	if c.Platform != nil {
		opts = append(opts, remote.WithPlatform(*c.Platform))
	}
	return opts, nil
}

func parseRef(ref string, insecure bool) (name.Reference, error) {
	if err := checkRef(ref); err != nil {
		return nil, err
	}
	var nopts []name.Option
	if insecure {
		nopts = append(nopts, name.Insecure)
	}
	r, err := name.ParseReference(ref, nopts...)
	if err != nil {
		return nil, wrapError(ErrInvalid, err, "reference %q", ref)
	}
	return r, nil
}

// Push uploads img to ref ("host:port/repo:tag"): layers concurrently,
// each request retried, blobs the registry already has skipped. It then
// reads the manifest digest back and fails with ErrDigestMismatch unless it
// is img's. It returns that digest.
func Push(ctx context.Context, img v1.Image, ref string, cfg RemoteConfig) (v1.Hash, error) {
	r, err := parseRef(ref, cfg.Insecure)
	if err != nil {
		return v1.Hash{}, err
	}
	opts, err := cfg.options(ctx)
	if err != nil {
		return v1.Hash{}, err
	}
	want, err := img.Digest()
	if err != nil {
		return v1.Hash{}, wrapError(kindOf(err), err, "push")
	}
	if err := remote.Write(r, img, opts...); err != nil {
		return v1.Hash{}, remoteErr("push", ref, err)
	}
	desc, err := remote.Head(r, opts...)
	if err != nil {
		return v1.Hash{}, remoteErr("push: read back", ref, err)
	}
	if desc.Digest != want {
		return v1.Hash{}, newError(ErrDigestMismatch, "registry holds %s at %s, pushed %s", desc.Digest, ref, want)
	}
	return want, nil
}

// Pull returns the image at ref. Nothing is downloaded but the manifest and
// config: layers stream when read (Store.Add fetches and unpacks them in
// parallel), and every blob read is checked against its digest. Indexes
// resolve to cfg.Platform. Manifests other than OCI and Docker v2 schema 2
// are ErrUnsupportedMediaType.
func Pull(ctx context.Context, ref string, cfg RemoteConfig) (v1.Image, error) {
	r, err := parseRef(ref, cfg.Insecure)
	if err != nil {
		return nil, err
	}
	opts, err := cfg.options(ctx)
	if err != nil {
		return nil, err
	}
	img, err := remote.Image(r, opts...)
	if err != nil {
		return nil, remoteErr("pull", ref, err)
	}
	mt, err := img.MediaType()
	if err != nil {
		return nil, remoteErr("pull", ref, err)
	}
	if mt != types.OCIManifestSchema1 && mt != types.DockerManifestSchema2 {
		return nil, newError(ErrUnsupportedMediaType, "%s has manifest type %q", ref, mt)
	}
	if err := Validate(ctx, img, ValidateOptions{AllowDocker: true, SkipLayers: true}); err != nil {
		return nil, err
	}
	return img, nil
}

func remoteErr(op, ref string, err error) error {
	var te *transport.Error
	if errors.As(err, &te) && te.StatusCode == http.StatusNotFound {
		return wrapError(ErrNotFound, err, "%s %s", op, ref)
	}
	return wrapError(kindOf(err), err, "%s %s", op, ref)
}
