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
// they had: the content is copied through where the replaced file stood,
// under the first link's name, so no file is ever held in memory. The new
// layer is compressed with c and carries the role of the topmost squashed
// layer.
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
		return nil, newError(ErrInvalid, "squash range [%d, %d) of %d layers", from, to, len(entries))
	}
	plans := make([]*layerPlan, to-from)
	st := newSquashState()
	for k := to - 1; k >= from; k-- {
		p, err := planLayer(ctx, entries[k].layer, st)
		if err != nil {
			return nil, wrapError(kindOf(err), err, "squash layer %d", k)
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
			return nil, wrapError(kindOf(err), err, "squash layer %d", k)
		}
	}
	if err := tw.Close(); err != nil {
		return nil, wrapError(kindOf(err), err, "squash")
	}
	if err := cw.Close(); err != nil {
		return nil, wrapError(kindOf(err), err, "squash")
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
	// carrier maps a skipped regular file that kept hardlinks point to
	// (its entry index) to the name of the first such link: the file's content is
	// written under that link's name where the file stands in the stream,
	// so it is copied through, never held in memory.
	carrier map[int]string
	// carried are the links that carry a file, written already.
	carried map[int]bool
	// relink maps later links to such a file to the carrier's name.
	relink map[int]string
}

type planEntry struct {
	name, rawName, link string
	typ                 byte
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
		if ctx.Err() != nil {
			return nil, ctxError(ctx, "squash")
		}
		h, err := tr.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return nil, wrapError(ErrCorrupt, err, "tar")
		}
		name, err := cleanName(h.Name)
		if err != nil {
			return nil, err
		}
		e := planEntry{name: name, rawName: h.Name, typ: h.Typeflag}
		if h.Typeflag == tar.TypeLink {
			if e.link, err = cleanName(h.Linkname); err != nil {
				return nil, err
			}
		}
		ents = append(ents, e)
	}
	p := &layerPlan{keep: make([]bool, len(ents)), carrier: map[int]string{}, carried: map[int]bool{}, relink: map[int]string{}}
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
	// A hardlink names the latest entry of its target before it. When that
	// entry is a regular file left out, the first kept link to it carries
	// its content; the others link to the carrier.
	latest := map[string]int{}
	for i, e := range ents {
		if p.keep[i] && e.typ == tar.TypeLink {
			if j, ok := latest[e.link]; ok && !p.keep[j] && ents[j].typ == tar.TypeReg {
				if name, ok := p.carrier[j]; ok {
					p.relink[i] = name
				} else {
					p.carrier[j], p.carried[i] = e.rawName, true
				}
			}
		}
		latest[e.name] = i
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
	for i := 0; ; i++ {
		if ctx.Err() != nil {
			return ctxError(ctx, "squash")
		}
		h, err := tr.Next()
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil {
			return wrapError(ErrCorrupt, err, "tar")
		}
		if i >= len(p.keep) {
			return newError(ErrCorrupt, "layer changed between two reads")
		}
		if !p.keep[i] {
			name, ok := p.carrier[i]
			if !ok || h.Typeflag != tar.TypeReg {
				continue
			}
			// A file left out that a kept hardlink points to: its
			// content goes out here, under the link's name.
			h.Name = name
		} else {
			if p.carried[i] {
				continue // written where its file stood
			}
			if name, ok := p.relink[i]; ok {
				h.Linkname = name
			}
		}
		if err := tw.WriteHeader(h); err != nil {
			return wrapError(kindOf(err), err, "squash")
		}
		if h.Typeflag == tar.TypeReg {
			if _, err := io.Copy(tw, tr); err != nil {
				return wrapError(ErrCorrupt, err, "tar")
			}
		}
	}
}
