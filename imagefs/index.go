package imagefs

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"unicode"
	"unicode/utf8"

	v1 "github.com/google/go-containerregistry/pkg/v1"
)

func (s *Store) readIndex() (*v1.IndexManifest, error) {
	b, err := os.ReadFile(s.path("oci", "index.json"))
	if err != nil {
		return nil, wrapError(kindOf(err), err, "store index")
	}
	idx, err := v1.ParseIndexManifest(bytes.NewReader(b))
	if err != nil {
		return nil, wrapError(ErrCorrupt, err, "store index")
	}
	return idx, nil
}

func (s *Store) writeIndex(idx *v1.IndexManifest) error {
	b, err := json.MarshalIndent(idx, "", "  ")
	if err != nil {
		return wrapError(kindOf(err), err, "store index")
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
	if ctx.Err() != nil {
		return nil, ctxError(ctx, "list images")
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
		return newError(ErrInvalid, "image ref of %d bytes exceeds %d", len(ref), maxRefBytes)
	}
	if !utf8.ValidString(ref) {
		return newError(ErrInvalid, "image ref %q is not UTF-8", ref)
	}
	if strings.IndexFunc(ref, unicode.IsControl) >= 0 {
		return newError(ErrInvalid, "image ref %q has a control character", ref)
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
	return v1.Hash{}, newError(ErrNotFound, "image %q in store", ref)
}

// Image returns the stored image with the given ref name or digest. Its
// layers read the store's blobs.
func (s *Store) Image(ctx context.Context, ref string) (v1.Image, error) {
	if ctx.Err() != nil {
		return nil, ctxError(ctx, "image")
	}
	h, err := s.resolve(ref)
	if err != nil {
		return nil, err
	}
	img, err := s.oci.Image(h)
	if err != nil {
		return nil, wrapError(kindOf(err), err, "store image %s", h)
	}
	return img, nil
}

// Remove drops the image name (or digest) from the store's index. Blobs and
// layers stay until GC. It fails with ErrInUse while a prepared container
// uses the image and with ErrNotFound when there is no such image.
func (s *Store) Remove(ctx context.Context, ref string) error {
	if ctx.Err() != nil {
		return ctxError(ctx, "remove")
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
			return newError(ErrInUse, "image %s is used by container %q", ref, id)
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
	if ctx.Err() != nil {
		return nil, ctxError(ctx, "layer refs")
	}
	s.mu.RLock()
	defer s.mu.RUnlock()
	refs := map[v1.Hash]int{}
	ents, err := os.ReadDir(s.path("layers"))
	if err != nil {
		return nil, wrapError(ErrUnavailable, err, "read store")
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
		return nil, nil, wrapError(ErrNotFound, err, "manifest %s", h)
	}
	m, err := v1.ParseManifest(bytes.NewReader(b))
	if err != nil {
		return nil, nil, wrapError(ErrCorrupt, err, "manifest %s", h)
	}
	cb, err := os.ReadFile(s.blobPath(m.Config.Digest))
	if err != nil {
		return nil, nil, wrapError(ErrNotFound, err, "config %s", m.Config.Digest)
	}
	cfg, err := v1.ParseConfigFile(bytes.NewReader(cb))
	if err != nil {
		return nil, nil, wrapError(ErrCorrupt, err, "config %s", m.Config.Digest)
	}
	if len(cfg.RootFS.DiffIDs) != len(m.Layers) {
		return nil, nil, newError(ErrCorrupt, "image %s has %d layers and %d diff ids", h, len(m.Layers), len(cfg.RootFS.DiffIDs))
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
		return res, wrapError(ErrUnavailable, err, "read store")
	}
	for _, e := range ents {
		h := v1.Hash{Algorithm: "sha256", Hex: e.Name()}
		if blobs[h] > 0 {
			continue
		}
		if err := os.Remove(s.blobPath(h)); err != nil {
			return res, wrapError(kindOf(err), err, "gc")
		}
		res.Blobs = append(res.Blobs, h)
	}
	ents, err = os.ReadDir(s.path("layers"))
	if err != nil {
		return res, wrapError(ErrUnavailable, err, "read store")
	}
	for _, e := range ents {
		if ctx.Err() != nil {
			return res, ctxError(ctx, "gc")
		}
		h := v1.Hash{Algorithm: "sha256", Hex: e.Name()}
		if diffIDs[h] > 0 {
			continue
		}
		// Rename first, so a crash mid-removal never leaves a half layer
		// under a live name.
		doomed := filepath.Join(s.path("tmp"), "gc-"+e.Name())
		if err := os.Rename(s.LayerDir(h), doomed); err != nil {
			return res, wrapError(kindOf(err), err, "gc")
		}
		if err := os.RemoveAll(doomed); err != nil {
			return res, wrapError(kindOf(err), err, "gc")
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
		return nil, wrapError(ErrUnavailable, err, "read store")
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
