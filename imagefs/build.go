package imagefs

import (
	"context"
	"errors"
	"io/fs"
	"maps"
	"os"
	"path"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"
)

// Include maps a file or directory of the build host into the image.
type Include struct {
	// Source is the host path, a file or a directory (copied recursively,
	// symlinks kept as links).
	Source string
	// Target is the absolute path in the image ("/opt/tools").
	Target string
	// Role puts the include in its own layer with this role tag; "" puts
	// it in the recipe's main layer.
	Role string
}

// Recipe says how Build turns a directory into an image.
type Recipe struct {
	// Base is the image to build on; nil builds from scratch. Its layers
	// are kept as they are (bytes and digests) and tagged RoleBase unless
	// they already carry a role.
	Base v1.Image
	// Role tags the layer made from the build directory. Default RoleApp.
	Role string
	// Target is where the build directory lands in the image. Default "/".
	Target string
	// Include adds host files or directories.
	Include []Include
	// Clear lists glob patterns of paths left out of the new layers, such
	// as caches and docs. A pattern without "/" matches a base name at any
	// depth ("*.pyc"); one with "/" matches the whole path from the image
	// root, where "**" matches any number of directories
	// ("usr/share/doc/**", "**/__pycache__"). A matched directory is left
	// out with everything below it. Base layers are not rewritten.
	Clear []string
	// Labels are merged into the config's labels.
	Labels map[string]string
	// Annotations go on the manifest.
	Annotations map[string]string
	// Entrypoint, Cmd, Env ("K=V", replacing a base value of the same key),
	// WorkingDir and User set the config; empty leaves the base's.
	Entrypoint []string
	Cmd        []string
	Env        []string
	WorkingDir string
	User       string
	// Compression of the new layers. Default zstd level 3.
	Compression Compression
	// Created is the time written into the config, history and every tar
	// header. Default the Unix epoch, so the same input gives the same
	// digest.
	Created time.Time
	// SpillDir, when set, receives the compressed blobs of the new layers
	// as files instead of memory, so an image larger than memory can be
	// built. The image reads its layers from there: remove the directory
	// only once the image is no longer used (pushed, or added to a Store).
	SpillDir string
}

// LayerReport describes one layer of a built image.
type LayerReport struct {
	Role   string
	Digest v1.Hash
	DiffID v1.Hash
	Size   int64 // compressed bytes
	Files  int   // tar entries
	Bytes  int64 // uncompressed bytes of file content
	Reused bool  // a base layer, kept as it was
}

// Cleared counts what one Clear pattern removed.
type Cleared struct {
	Pattern string
	Files   int   // non-directory entries left out
	Bytes   int64 // their content bytes
}

// BuildReport says what Build produced and what Clear saved.
type BuildReport struct {
	Layers       []LayerReport
	Cleared      []Cleared // one per pattern, in recipe order
	ClearedFiles int
	ClearedBytes int64
}

type buildEntry struct {
	name string // image path without leading "/", dirs without trailing "/"
	host string // "" for an implicit directory
	info fs.FileInfo
}

// Build makes an OCI image from dir (may be "" when the recipe only
// includes) and a recipe. The new layers hold the files with ownership set
// to 0:0, times set to Recipe.Created and entries sorted by name, so the
// same input always gives the same digest. The result has OCI media types
// throughout and keeps go-containerregistry's v1.Image interface.
func Build(ctx context.Context, dir string, r Recipe) (v1.Image, *BuildReport, error) {
	if r.Role == "" {
		r.Role = RoleApp
	}
	if r.Target == "" {
		r.Target = "/"
	}
	if !path.IsAbs(r.Target) {
		return nil, nil, newError(ErrInvalid, "target %q is not absolute", r.Target)
	}
	comp, err := r.Compression.normalize()
	if err != nil {
		return nil, nil, err
	}
	if r.Created.IsZero() {
		r.Created = time.Unix(0, 0).UTC()
	}
	for _, p := range r.Clear {
		if _, err := path.Match(strings.ReplaceAll(p, "**", "*"), ""); err != nil || p == "" {
			return nil, nil, newError(ErrInvalid, "clear pattern %q", p)
		}
	}
	rep := &BuildReport{Cleared: make([]Cleared, len(r.Clear))}
	for k, p := range r.Clear {
		rep.Cleared[k].Pattern = p
	}
	groups := map[string][]buildEntry{}
	if dir != "" {
		if err := collect(ctx, dir, r.Target, r.Clear, rep, groups, r.Role); err != nil {
			return nil, nil, err
		}
	}
	for _, inc := range r.Include {
		if !path.IsAbs(inc.Target) {
			return nil, nil, newError(ErrInvalid, "include target %q is not absolute", inc.Target)
		}
		role := inc.Role
		if role == "" {
			role = r.Role
		}
		if err := collect(ctx, inc.Source, inc.Target, r.Clear, rep, groups, role); err != nil {
			return nil, nil, err
		}
	}
	for _, c := range rep.Cleared {
		rep.ClearedFiles += c.Files
		rep.ClearedBytes += c.Bytes
	}

	var (
		entries []layerEntry
		cfg     *v1.ConfigFile
		mAnn    map[string]string
	)
	if r.Base != nil {
		var bm *v1.Manifest
		entries, cfg, bm, err = imageEntries(r.Base)
		if err != nil {
			return nil, nil, err
		}
		mAnn = bm.Annotations
		for k := range entries {
			if entries[k].annotations[AnnotationRole] == "" {
				a := maps.Clone(entries[k].annotations)
				if a == nil {
					a = map[string]string{}
				}
				a[AnnotationRole] = RoleBase
				entries[k].annotations = a
			}
			lr, err := reportLayer(entries[k])
			if err != nil {
				return nil, nil, err
			}
			rep.Layers = append(rep.Layers, lr)
		}
	} else {
		cfg = &v1.ConfigFile{OS: "linux", Architecture: runtime.GOARCH}
	}
	roles := slices.Collect(maps.Keys(groups))
	slices.SortFunc(roles, func(a, b string) int {
		if d := roleRank(a) - roleRank(b); d != 0 {
			return d
		}
		return strings.Compare(a, b)
	})
	created := v1.Time{Time: r.Created}
	for _, role := range roles {
		l, lr, err := buildLayer(ctx, groups[role], comp, r.Created, r.SpillDir)
		if err != nil {
			return nil, nil, err
		}
		lr.Role = role
		rep.Layers = append(rep.Layers, lr)
		entries = append(entries, layerEntry{layer: l, annotations: map[string]string{AnnotationRole: role}})
		cfg.History = append(cfg.History, v1.History{Created: created, CreatedBy: "imagefs build: " + role + " layer"})
	}
	applyRecipe(cfg, r)
	ann := maps.Clone(mAnn)
	if len(r.Annotations) > 0 {
		if ann == nil {
			ann = map[string]string{}
		}
		maps.Copy(ann, r.Annotations)
	}
	img, err := newImage(cfg, entries, ann)
	if err != nil {
		return nil, nil, err
	}
	return img, rep, nil
}

func reportLayer(e layerEntry) (LayerReport, error) {
	lr := LayerReport{Role: e.annotations[AnnotationRole], Reused: true}
	var err error
	if lr.Digest, err = e.layer.Digest(); err != nil {
		return lr, wrapError(kindOf(err), err, "base layer")
	}
	if lr.DiffID, err = e.layer.DiffID(); err != nil {
		return lr, wrapError(kindOf(err), err, "base layer")
	}
	if lr.Size, err = e.layer.Size(); err != nil {
		return lr, wrapError(kindOf(err), err, "base layer")
	}
	return lr, nil
}

func applyRecipe(cfg *v1.ConfigFile, r Recipe) {
	cfg.Created = v1.Time{Time: r.Created}
	if len(r.Labels) > 0 {
		if cfg.Config.Labels == nil {
			cfg.Config.Labels = map[string]string{}
		}
		maps.Copy(cfg.Config.Labels, r.Labels)
	}
	if len(r.Entrypoint) > 0 {
		cfg.Config.Entrypoint = slices.Clone(r.Entrypoint)
	}
	if len(r.Cmd) > 0 {
		cfg.Config.Cmd = slices.Clone(r.Cmd)
	}
	for _, kv := range r.Env {
		k, _, _ := strings.Cut(kv, "=")
		cfg.Config.Env = slices.DeleteFunc(cfg.Config.Env, func(e string) bool {
			ek, _, _ := strings.Cut(e, "=")
			return ek == k
		})
		cfg.Config.Env = append(cfg.Config.Env, kv)
	}
	if r.WorkingDir != "" {
		cfg.Config.WorkingDir = r.WorkingDir
	}
	if r.User != "" {
		cfg.Config.User = r.User
	}
}

// matchClear returns the index of the first pattern matching name, or -1.
func matchClear(patterns []string, name string) int {
	base := path.Base(name)
	for k, p := range patterns {
		p = strings.TrimPrefix(p, "/")
		if !strings.Contains(p, "/") {
			if ok, _ := path.Match(p, base); ok {
				return k
			}
			continue
		}
		if globSegments(strings.Split(p, "/"), strings.Split(name, "/")) {
			return k
		}
	}
	return -1
}

func globSegments(pat, name []string) bool {
	for len(pat) > 0 {
		if pat[0] == "**" {
			for i := 0; i <= len(name); i++ {
				if globSegments(pat[1:], name[i:]) {
					return true
				}
			}
			return false
		}
		if len(name) == 0 {
			return false
		}
		if ok, _ := path.Match(pat[0], name[0]); !ok {
			return false
		}
		pat, name = pat[1:], name[1:]
	}
	return len(name) == 0
}

func collect(ctx context.Context, src, target string, clear []string, rep *BuildReport, groups map[string][]buildEntry, role string) error {
	target = strings.TrimPrefix(path.Clean(target), "/")
	info, err := os.Lstat(src)
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return wrapError(ErrNotFound, err, "build source %s", src)
		}
		return wrapError(kindOf(err), err, "build source")
	}
	// Parents of the target are implicit directories.
	if target != "" {
		parts := strings.Split(target, "/")
		for k := 1; k < len(parts); k++ {
			groups[role] = append(groups[role], buildEntry{name: strings.Join(parts[:k], "/")})
		}
	}
	if !info.IsDir() {
		if target == "" {
			return newError(ErrInvalid, "file %s cannot be the image root", src)
		}
		groups[role] = append(groups[role], buildEntry{name: target, host: src, info: info})
		return nil
	}
	return filepath.WalkDir(src, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return wrapError(kindOf(err), err, "build walk")
		}
		if ctx.Err() != nil {
			return ctxError(ctx, "build")
		}
		rel, err := filepath.Rel(src, p)
		if err != nil {
			return wrapError(kindOf(err), err, "build walk")
		}
		name := path.Join(target, filepath.ToSlash(rel))
		if name == "." {
			name = ""
		}
		if name != "" {
			if k := matchClear(clear, name); k >= 0 {
				files, bytes, err := countTree(p, d)
				if err != nil {
					return err
				}
				rep.Cleared[k].Files += files
				rep.Cleared[k].Bytes += bytes
				if d.IsDir() {
					return filepath.SkipDir
				}
				return nil
			}
		}
		if name == "" {
			// The image root's metadata belongs to the base, not to
			// whatever mode the build directory happens to have.
			return nil
		}
		fi, err := d.Info()
		if err != nil {
			return wrapError(kindOf(err), err, "build walk")
		}
		if fi.Mode()&fs.ModeSocket != 0 {
			return nil
		}
		groups[role] = append(groups[role], buildEntry{name: name, host: p, info: fi})
		return nil
	})
}

func countTree(p string, d fs.DirEntry) (int, int64, error) {
	var files int
	var size int64
	if !d.IsDir() {
		fi, err := d.Info()
		if err != nil {
			return 0, 0, wrapError(kindOf(err), err, "clear")
		}
		if fi.Mode().IsRegular() {
			size = fi.Size()
		}
		return 1, size, nil
	}
	err := filepath.WalkDir(p, func(_ string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		fi, err := d.Info()
		if err != nil {
			return err
		}
		files++
		if fi.Mode().IsRegular() {
			size += fi.Size()
		}
		return nil
	})
	if err != nil {
		return 0, 0, wrapError(kindOf(err), err, "clear")
	}
	return files, size, nil
}
