package imagefs

import (
	"archive/tar"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"maps"
	"path"
	"strings"

	v1 "github.com/google/go-containerregistry/pkg/v1"
)

// Squash returns img with layers [from, to) merged into one layer, the
// others (shared base layers among them) kept byte for byte. The merged
// layer is what an overlay of the range shows: files replaced in a higher
// layer, removed by a whiteout or hidden below an opaque directory are left
// out; whiteouts and opaque markers that may still apply to the layers below
// the range are kept. Hardlinks whose target was replaced keep the content
// they had. The new layer is compressed with c and carries the role of the
// topmost squashed layer.
func Squash(ctx context.Context, img v1.Image, from, to int, c Compression) (v1.Image, error) {
	comp, err := c.normalize()
	if err != nil {
		return nil, err
	}
	entries, cfg, m, err := imageEntries(img)
	if err != nil {
		return nil, err
	}
	if from < 0 || to > len(entries) || to-from < 2 {
		return nil, fmt.Errorf("%w: squash range [%d, %d) of %d layers", ErrInvalid, from, to, len(entries))
	}
	plans := make([]*layerPlan, to-from)
	st := newSquashState()
	for k := to - 1; k >= from; k-- {
		p, err := planLayer(ctx, entries[k].layer, st)
		if err != nil {
			return nil, fmt.Errorf("imagefs: squash layer %d: %w", k, err)
		}
		plans[k-from] = p
	}
	var blob bytes.Buffer
	cw, err := comp.compressor(&blob)
	if err != nil {
		return nil, err
	}
	diff := sha256.New()
	tw := tar.NewWriter(io.MultiWriter(cw, diff))
	for k := from; k < to; k++ {
		if err := emitLayer(ctx, entries[k].layer, plans[k-from], tw); err != nil {
			return nil, fmt.Errorf("imagefs: squash layer %d: %w", k, err)
		}
	}
	if err := tw.Close(); err != nil {
		return nil, fmt.Errorf("imagefs: squash: %w", err)
	}
	if err := cw.Close(); err != nil {
		return nil, fmt.Errorf("imagefs: squash: %w", err)
	}
	l, err := newMemLayer(blob.Bytes(), v1.Hash{Algorithm: "sha256", Hex: hex.EncodeToString(diff.Sum(nil))}, comp.mediaType())
	if err != nil {
		return nil, err
	}
	ann := maps.Clone(entries[to-1].annotations)
	merged := layerEntry{layer: l, annotations: ann}
	out := append(append(append([]layerEntry(nil), entries[:from]...), merged), entries[to:]...)
	cfg = cfg.DeepCopy()
	cfg.History = squashHistory(cfg.History, from, to)
	return newImage(cfg, out, m.Annotations)
}

// squashHistory merges the history entries of the squashed layers into one.
func squashHistory(h []v1.History, from, to int) []v1.History {
	out := make([]v1.History, 0, len(h))
	layer := 0
	for _, e := range h {
		if e.EmptyLayer {
			out = append(out, e)
			continue
		}
		switch {
		case layer < from || layer >= to:
			out = append(out, e)
		case layer == from:
			e.CreatedBy = fmt.Sprintf("imagefs squash of layers %d..%d", from, to-1)
			e.Comment = ""
			out = append(out, e)
		}
		layer++
	}
	return out
}

type squashState struct {
	seen    map[string]bool // name -> is a directory, from higher layers (or later in this one)
	deleted map[string]bool // whited out by a higher layer
	opaque  map[string]bool // opaque in a higher layer
}

func newSquashState() *squashState {
	return &squashState{seen: map[string]bool{}, deleted: map[string]bool{}, opaque: map[string]bool{}}
}

// hidden reports whether a higher layer hides name through one of its
// ancestors: deleted, opaque, or replaced by a non-directory.
func (s *squashState) hidden(name string) bool {
	for p := path.Dir(name); p != "." && p != "/"; p = path.Dir(p) {
		if s.deleted[p] || s.opaque[p] {
			return true
		}
		if isDir, ok := s.seen[p]; ok && !isDir {
			return true
		}
	}
	return false
}

type layerPlan struct {
	keep []bool
	// shadowTargets are skipped regular files that kept hardlinks point
	// to: their content is carried by the first such link.
	shadowTargets map[string]bool
}

type planEntry struct {
	name, link string
	typ        byte
}

func planLayer(ctx context.Context, l v1.Layer, st *squashState) (*layerPlan, error) {
	rc, err := l.Uncompressed()
	if err != nil {
		return nil, err
	}
	defer rc.Close()
	var ents []planEntry
	tr := tar.NewReader(rc)
	for {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		h, err := tr.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return nil, fmt.Errorf("%w: tar: %w", ErrCorrupt, err)
		}
		name, err := cleanName(h.Name)
		if err != nil {
			return nil, err
		}
		e := planEntry{name: name, typ: h.Typeflag}
		if h.Typeflag == tar.TypeLink {
			if e.link, err = cleanName(h.Linkname); err != nil {
				return nil, err
			}
		}
		ents = append(ents, e)
	}
	p := &layerPlan{keep: make([]bool, len(ents)), shadowTargets: map[string]bool{}}
	delNow, opqNow := map[string]bool{}, map[string]bool{}
	// Later entries of a layer win over earlier ones, so walk backwards.
	for i := len(ents) - 1; i >= 0; i-- {
		e := ents[i]
		if e.name == "" || e.typ == tar.TypeXGlobalHeader {
			continue
		}
		dir, base := path.Split(e.name)
		dir = strings.TrimSuffix(dir, "/")
		switch {
		case base == whiteoutOpaque:
			if st.hidden(e.name) {
				continue
			}
			if isDir, ok := st.seen[dir]; ok && !isDir {
				continue
			}
			p.keep[i] = true
			opqNow[dir] = true
		case strings.HasPrefix(base, whiteoutMeta):
		case strings.HasPrefix(base, whiteoutPrefix):
			target := path.Join(dir, strings.TrimPrefix(base, whiteoutPrefix))
			if st.hidden(target) || isKnown(st.seen, target) {
				continue
			}
			p.keep[i] = true
			delNow[target] = true
		default:
			if st.hidden(e.name) || isKnown(st.seen, e.name) {
				continue
			}
			p.keep[i] = true
			st.seen[e.name] = e.typ == tar.TypeDir
		}
	}
	for i, e := range ents {
		if p.keep[i] && e.typ == tar.TypeLink {
			for j := range i {
				if ents[j].name == e.link && !p.keep[j] {
					p.shadowTargets[e.link] = true
				}
			}
		}
	}
	for k := range delNow {
		st.deleted[k] = true
		st.seen[k] = false
	}
	maps.Copy(st.opaque, opqNow)
	return p, nil
}

func isKnown(m map[string]bool, k string) bool {
	_, ok := m[k]
	return ok
}

func emitLayer(ctx context.Context, l v1.Layer, p *layerPlan, tw *tar.Writer) error {
	rc, err := l.Uncompressed()
	if err != nil {
		return err
	}
	defer rc.Close()
	tr := tar.NewReader(rc)
	shadow := map[string][]byte{}         // skipped link target -> content
	shadowHdr := map[string]*tar.Header{} // and its header
	carried := map[string]string{}        // skipped target -> name now carrying it
	for i := 0; ; i++ {
		if err := ctx.Err(); err != nil {
			return err
		}
		h, err := tr.Next()
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil {
			return fmt.Errorf("%w: tar: %w", ErrCorrupt, err)
		}
		name, _ := cleanName(h.Name)
		if i >= len(p.keep) || !p.keep[i] {
			if p.shadowTargets[name] && h.Typeflag == tar.TypeReg {
				b, err := io.ReadAll(tr)
				if err != nil {
					return fmt.Errorf("%w: tar: %w", ErrCorrupt, err)
				}
				shadow[name], shadowHdr[name] = b, h
			}
			continue
		}
		if h.Typeflag == tar.TypeLink {
			target, _ := cleanName(h.Linkname)
			if b, ok := shadow[target]; ok {
				if carrier, ok := carried[target]; ok {
					h.Linkname = carrier
				} else {
					// The first surviving link becomes the file.
					nh := *shadowHdr[target]
					nh.Name = h.Name
					if err := tw.WriteHeader(&nh); err != nil {
						return fmt.Errorf("imagefs: squash: %w", err)
					}
					if _, err := tw.Write(b); err != nil {
						return fmt.Errorf("imagefs: squash: %w", err)
					}
					carried[target] = name
					continue
				}
			}
		}
		if err := tw.WriteHeader(h); err != nil {
			return fmt.Errorf("imagefs: squash: %w", err)
		}
		if h.Typeflag == tar.TypeReg {
			if _, err := io.Copy(tw, tr); err != nil {
				return fmt.Errorf("%w: tar: %w", ErrCorrupt, err)
			}
		}
	}
}
