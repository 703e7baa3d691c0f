package imagefs_test

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/types"
	"golang.org/x/sys/unix"

	"github.com/shoalkit/shoal/imagefs"
	"github.com/shoalkit/shoal/imagefs/imagefstest"
)

func writeFile(t testing.TB, p string, b []byte) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(p, b, 0o644); err != nil {
		t.Fatal(err)
	}
}

func digestOf(t testing.TB, img v1.Image) v1.Hash {
	t.Helper()
	d, err := img.Digest()
	if err != nil {
		t.Fatal(err)
	}
	return d
}

func TestBuildIsDeterministic(t *testing.T) {
	ctx := context.Background()
	spec := imagefstest.TreeSpec{Seed: 7, Files: 300, Bytes: 1 << 20}
	a, b := t.TempDir(), t.TempDir()
	imagefstest.WriteTree(t, a, spec)
	imagefstest.WriteTree(t, b, spec)
	// Different times and order of creation on disk must not matter.
	old := time.Date(2001, 1, 1, 0, 0, 0, 0, time.UTC)
	_ = filepath.Walk(b, func(p string, _ os.FileInfo, _ error) error { return os.Chtimes(p, old, old) })
	for _, c := range []imagefs.Compression{{}, {Algorithm: imagefs.Gzip, Level: 5}, {Algorithm: imagefs.Zstd, Level: 19}} {
		ia, _, err := imagefs.Build(ctx, a, imagefs.Recipe{Compression: c})
		if err != nil {
			t.Fatal(err)
		}
		ib, _, err := imagefs.Build(ctx, b, imagefs.Recipe{Compression: c})
		if err != nil {
			t.Fatal(err)
		}
		if da, db := digestOf(t, ia), digestOf(t, ib); da != db {
			t.Fatalf("%v: same tree, digests %s and %s", c, da, db)
		}
		if err := imagefs.Validate(ctx, ia, imagefs.ValidateOptions{}); err != nil {
			t.Fatalf("Validate: %v", err)
		}
	}
	ic, _, err := imagefs.Build(ctx, a, imagefs.Recipe{Created: time.Unix(1e9, 0)})
	if err != nil {
		t.Fatal(err)
	}
	id, _, _ := imagefs.Build(ctx, a, imagefs.Recipe{})
	if digestOf(t, ic) == digestOf(t, id) {
		t.Fatal("a different Created time gave the same digest")
	}
}

func TestBuildRecipe(t *testing.T) {
	ctx := context.Background()
	dir, tools := t.TempDir(), t.TempDir()
	writeFile(t, filepath.Join(dir, "app/main"), []byte("binary"))
	writeFile(t, filepath.Join(dir, "app/debug.log"), []byte("12345"))
	writeFile(t, filepath.Join(dir, "app/__pycache__/m.pyc"), []byte("123"))
	writeFile(t, filepath.Join(dir, "app/lib/__pycache__/n.pyc"), []byte("1234567"))
	writeFile(t, filepath.Join(dir, "usr/share/doc/pkg/README"), []byte("docs docs"))
	writeFile(t, filepath.Join(dir, "usr/share/doc/pkg/COPYING"), []byte("c"))
	writeFile(t, filepath.Join(tools, "jre/bin/java"), []byte("jvm"))
	writeFile(t, filepath.Join(tools, "jre/log/x.log"), []byte("xx"))
	base := threeLayers(t, imagefs.Compression{})
	img, rep, err := imagefs.Build(ctx, dir, imagefs.Recipe{
		Base:       base,
		Include:    []imagefs.Include{{Source: filepath.Join(tools, "jre"), Target: "/opt/jre", Role: imagefs.RoleRuntime}, {Source: filepath.Join(tools, "jre/bin/java"), Target: "/app/java"}},
		Clear:      []string{"*.log", "**/__pycache__", "usr/share/doc/**"},
		Labels:     map[string]string{"team": "shoal"},
		Entrypoint: []string{"/app/main"},
		Env:        []string{"PATH=/app:/bin"},
	})
	if err != nil {
		t.Fatalf("Build: %v", err)
	}
	want := []imagefs.Cleared{{Pattern: "*.log", Files: 2, Bytes: 7}, {Pattern: "**/__pycache__", Files: 2, Bytes: 10}, {Pattern: "usr/share/doc/**", Files: 2, Bytes: 10}}
	if !slices.Equal(rep.Cleared, want) || rep.ClearedFiles != 6 || rep.ClearedBytes != 27 {
		t.Fatalf("cleared %+v (%d files, %d bytes), want %+v", rep.Cleared, rep.ClearedFiles, rep.ClearedBytes, want)
	}
	m, err := img.Manifest()
	if err != nil {
		t.Fatal(err)
	}
	var roles []string
	for _, l := range m.Layers {
		roles = append(roles, l.Annotations[imagefs.AnnotationRole])
	}
	if !slices.Equal(roles, []string{"base", "runtime", "app", "runtime", "app"}) {
		t.Fatalf("roles %v", roles)
	}
	if m.MediaType != types.OCIManifestSchema1 || m.Config.MediaType != types.OCIConfigJSON || m.Layers[4].MediaType != types.OCILayerZStd {
		t.Fatalf("media types %s %s %s", m.MediaType, m.Config.MediaType, m.Layers[4].MediaType)
	}
	baseM, _ := base.Manifest()
	for k := range 3 {
		if m.Layers[k].Digest != baseM.Layers[k].Digest {
			t.Fatalf("base layer %d rewritten", k)
		}
	}
	cfg, _ := img.ConfigFile()
	if cfg.Config.Labels["team"] != "shoal" || !slices.Equal(cfg.Config.Entrypoint, []string{"/app/main"}) || !slices.Contains(cfg.Config.Env, "PATH=/app:/bin") {
		t.Fatalf("config %+v", cfg.Config)
	}
	if len(rep.Layers) != 5 || !rep.Layers[0].Reused || rep.Layers[4].Reused || rep.Layers[4].Files == 0 {
		t.Fatalf("report layers %+v", rep.Layers)
	}
	if err := imagefs.Validate(ctx, img, imagefs.ValidateOptions{}); err != nil {
		t.Fatalf("Validate: %v", err)
	}
	// What is in the app layer: main and the included java, not the cleared.
	names := layerNames(t, img, 4)
	if !slices.Equal(names, []string{"app/", "app/java", "app/lib/", "app/main", "usr/", "usr/share/"}) {
		t.Fatalf("app layer entries %v", names)
	}
	if names := layerNames(t, img, 3); !slices.Equal(names, []string{"opt/", "opt/jre/", "opt/jre/bin/", "opt/jre/bin/java", "opt/jre/log/"}) {
		t.Fatalf("runtime layer entries %v", names)
	}
}

func TestBuildBadInput(t *testing.T) {
	ctx := context.Background()
	for name, r := range map[string]imagefs.Recipe{
		"relative target":  {Target: "rel"},
		"bad pattern":      {Clear: []string{"["}},
		"zstd level":       {Compression: imagefs.Compression{Level: 40}},
		"unknown compress": {Compression: imagefs.Compression{Algorithm: "lz4"}},
	} {
		if _, _, err := imagefs.Build(ctx, t.TempDir(), r); !errors.Is(err, imagefs.ErrInvalid) {
			t.Errorf("%s: err = %v, want ErrInvalid", name, err)
		}
	}
	if _, _, err := imagefs.Build(ctx, filepath.Join(t.TempDir(), "missing"), imagefs.Recipe{}); !errors.Is(err, imagefs.ErrNotFound) {
		t.Errorf("missing dir: err = %v, want ErrNotFound", err)
	}
}

func TestRecompressAndToOCI(t *testing.T) {
	ctx := context.Background()
	img := threeLayers(t, imagefs.Compression{})
	gz, err := imagefs.Recompress(ctx, img, imagefs.Compression{Algorithm: imagefs.Gzip})
	if err != nil {
		t.Fatal(err)
	}
	if err := imagefs.Validate(ctx, gz, imagefs.ValidateOptions{}); err != nil {
		t.Fatalf("Validate gzip: %v", err)
	}
	a, _ := img.ConfigFile()
	b, _ := gz.ConfigFile()
	if !slices.Equal(a.RootFS.DiffIDs, b.RootFS.DiffIDs) {
		t.Fatal("diff ids changed")
	}
	m, _ := gz.Manifest()
	if m.Layers[0].MediaType != types.OCILayer || m.Layers[1].Annotations[imagefs.AnnotationRole] != imagefs.RoleRuntime {
		t.Fatalf("layer 0 %s, annotations %v", m.Layers[0].MediaType, m.Layers[1].Annotations)
	}
	// mutate.Time turns the manifest into Docker v2s2; ToOCI sets it back.
	timed, err := mutate.Time(gz, time.Unix(42, 0))
	if err != nil {
		t.Fatal(err)
	}
	if mt, _ := timed.MediaType(); mt != types.DockerManifestSchema2 {
		t.Logf("mutate.Time media type is %s", mt)
	}
	if err := imagefs.Validate(ctx, timed, imagefs.ValidateOptions{}); !errors.Is(err, imagefs.ErrUnsupportedMediaType) {
		t.Fatalf("Validate of mutate.Time output err = %v, want ErrUnsupportedMediaType", err)
	}
	oci, err := imagefs.ToOCI(timed)
	if err != nil {
		t.Fatal(err)
	}
	if err := imagefs.Validate(ctx, oci, imagefs.ValidateOptions{}); err != nil {
		t.Fatalf("Validate ToOCI: %v", err)
	}
}

func TestValidateCatchesLies(t *testing.T) {
	ctx := context.Background()
	l := tarLayer(t, imagefs.Compression{}, "", imagefstest.Entry{Name: "f", Body: []byte("x")})
	other := tarLayer(t, imagefs.Compression{}, "", imagefstest.Entry{Name: "f", Body: []byte("y")})
	img := newImage(t, l)
	cfg, _ := img.ConfigFile()
	cfg.RootFS.DiffIDs[0], _ = other.Layer.DiffID()
	if err := imagefs.Validate(ctx, lyingConfig{Image: img, cfg: cfg}, imagefs.ValidateOptions{}); !errors.Is(err, imagefs.ErrDigestMismatch) {
		t.Fatalf("wrong diff id: err = %v", err)
	}
	if err := imagefs.Validate(ctx, fakeServe{Image: img, layer: corruptLayer{Layer: l.Layer}}, imagefs.ValidateOptions{}); err == nil {
		t.Fatal("corrupt layer validated")
	}
	if err := imagefs.Validate(ctx, fakeServe{Image: img, layer: corruptLayer{Layer: l.Layer, mt: "application/x-mystery"}}, imagefs.ValidateOptions{}); !errors.Is(err, imagefs.ErrUnsupportedMediaType) {
		t.Fatalf("unknown media type: err = %v", err)
	}
}

func TestBuildKeepsLinks(t *testing.T) {
	requireRoot(t)
	ctx := context.Background()
	dir := t.TempDir()
	writeFile(t, filepath.Join(dir, "bin/busybox"), []byte("multi-call"))
	if err := os.Link(filepath.Join(dir, "bin/busybox"), filepath.Join(dir, "bin/sh")); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink("/bin/busybox", filepath.Join(dir, "bin/ls")); err != nil {
		t.Fatal(err)
	}
	if err := unix.Setxattr(filepath.Join(dir, "bin/busybox"), "user.shoal", []byte("kept"), 0); err != nil {
		t.Fatal(err)
	}
	img, _, err := imagefs.Build(ctx, dir, imagefs.Recipe{})
	if err != nil {
		t.Fatal(err)
	}
	s := openStore(t)
	if _, err := s.Add(ctx, img, "links"); err != nil {
		t.Fatal(err)
	}
	cfg, _ := img.ConfigFile()
	got := snapshot(t, s.LayerDir(cfg.RootFS.DiffIDs[0]))
	if !strings.Contains(got["bin/sh"], "link=bin/busybox") {
		t.Errorf("bin/sh = %q, want a hardlink to bin/busybox", got["bin/sh"])
	}
	if !strings.HasSuffix(got["bin/ls"], "-> /bin/busybox") {
		t.Errorf("bin/ls = %q, want a symlink to /bin/busybox", got["bin/ls"])
	}
	buf := make([]byte, 16)
	if n, err := unix.Lgetxattr(filepath.Join(s.LayerDir(cfg.RootFS.DiffIDs[0]), "bin/busybox"), "user.shoal", buf); err != nil || string(buf[:n]) != "kept" {
		t.Errorf("xattr user.shoal after build and unpack: %q, %v", buf[:max(n, 0)], err)
	}
	if !strings.Contains(got["bin/busybox"], "uid=0 gid=0 mtime=0") {
		t.Errorf("bin/busybox = %q, want normalised owner and time", got["bin/busybox"])
	}
}

// TestBuildSpillDir builds the same image in memory and through SpillDir:
// the same digests, the blobs in files of exactly the layers' sizes, an
// image that validates and unpacks; a failed build leaves no file behind.
func TestBuildSpillDir(t *testing.T) {
	ctx := context.Background()
	src, inc := t.TempDir(), t.TempDir()
	imagefstest.WriteTree(t, src, imagefstest.TreeSpec{Seed: 21, Files: 200, Bytes: 2 << 20})
	writeFile(t, filepath.Join(inc, "tool"), []byte("a tool"))
	recipe := imagefs.Recipe{Include: []imagefs.Include{{Source: inc, Target: "/opt/tools", Role: imagefs.RoleRuntime}}}
	mem, memReport, err := imagefs.Build(ctx, src, recipe)
	if err != nil {
		t.Fatal(err)
	}
	recipe.SpillDir = t.TempDir()
	spilled, report, err := imagefs.Build(ctx, src, recipe)
	if err != nil {
		t.Fatal(err)
	}
	if digestOf(t, spilled) != digestOf(t, mem) {
		t.Fatalf("spilled build %s, in-memory build %s", digestOf(t, spilled), digestOf(t, mem))
	}
	ents, err := os.ReadDir(recipe.SpillDir)
	if err != nil {
		t.Fatal(err)
	}
	var onDisk, inImage int64
	for _, e := range ents {
		fi, err := e.Info()
		if err != nil {
			t.Fatal(err)
		}
		onDisk += fi.Size()
	}
	for k, l := range report.Layers {
		inImage += l.Size
		if l.Digest != memReport.Layers[k].Digest {
			t.Errorf("layer %d: report %s, in memory %s", k, l.Digest, memReport.Layers[k].Digest)
		}
	}
	if len(ents) != 2 || onDisk != inImage {
		t.Fatalf("spill dir holds %d files, %d bytes; want 2 files, %d bytes", len(ents), onDisk, inImage)
	}
	if err := imagefs.Validate(ctx, spilled, imagefs.ValidateOptions{}); err != nil {
		t.Fatalf("Validate: %v", err)
	}
	s := openStore(t)
	if _, err := s.Add(ctx, spilled, "spilled"); err != nil {
		t.Fatal(err)
	}
}

// TestBuildSpillDirFull spills to a 256 KiB tmpfs: the build fails with
// the write error, and the half-written blob is removed.
func TestBuildSpillDirFull(t *testing.T) {
	requireRoot(t)
	src := t.TempDir()
	imagefstest.WriteTree(t, src, imagefstest.TreeSpec{Seed: 22, Files: 100, Bytes: 4 << 20})
	full := t.TempDir()
	if err := unix.Mount("tmpfs", full, "tmpfs", 0, "size=256k"); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = unix.Unmount(full, unix.MNT_DETACH) })
	_, _, err := imagefs.Build(context.Background(), src, imagefs.Recipe{SpillDir: full, Compression: imagefs.Compression{Algorithm: imagefs.Gzip, Level: 1}})
	if !errors.Is(err, unix.ENOSPC) {
		t.Fatalf("Build into a full spill dir: %v, want ENOSPC", err)
	}
	if ents, _ := os.ReadDir(full); len(ents) != 0 {
		t.Fatalf("failed build left %d files in the spill dir", len(ents))
	}
}
