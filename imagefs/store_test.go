package imagefs_test

import (
	"archive/tar"
	"bytes"
	"context"
	"errors"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/types"
	"golang.org/x/sys/unix"

	"github.com/shoalkit/shoal/imagefs"
	"github.com/shoalkit/shoal/imagefs/imagefstest"
	"github.com/shoalkit/shoal/internal/testenv"
)

func tarLayer(t testing.TB, c imagefs.Compression, role string, entries ...imagefstest.Entry) imagefs.AnnotatedLayer {
	t.Helper()
	l, err := imagefs.LayerFromTar(bytes.NewReader(imagefstest.Tar(t, entries...)), c)
	if err != nil {
		t.Fatalf("LayerFromTar: %v", err)
	}
	al := imagefs.AnnotatedLayer{Layer: l}
	if role != "" {
		al.Annotations = map[string]string{imagefs.AnnotationRole: role}
	}
	return al
}

func newImage(t testing.TB, layers ...imagefs.AnnotatedLayer) v1.Image {
	t.Helper()
	img, err := imagefs.NewImage(nil, layers...)
	if err != nil {
		t.Fatalf("NewImage: %v", err)
	}
	return img
}

// threeLayers is a base with files, a layer deleting and hiding some of
// them, and an app layer.
func threeLayers(t testing.TB, c imagefs.Compression) v1.Image {
	return newImage(t,
		tarLayer(t, c, imagefs.RoleBase,
			imagefstest.Entry{Name: "etc/", Type: tar.TypeDir},
			imagefstest.Entry{Name: "etc/a", Body: []byte("a from base")},
			imagefstest.Entry{Name: "gone", Body: []byte("deleted above")},
			imagefstest.Entry{Name: "d/", Type: tar.TypeDir},
			imagefstest.Entry{Name: "d/x", Body: []byte("hidden by opaque")},
			imagefstest.Entry{Name: "d/y", Body: []byte("hidden by opaque")},
		),
		tarLayer(t, c, imagefs.RoleRuntime,
			imagefstest.Entry{Name: ".wh.gone"},
			imagefstest.Entry{Name: "d/", Type: tar.TypeDir},
			imagefstest.Entry{Name: "d/.wh..wh..opq"},
			imagefstest.Entry{Name: "d/z", Body: []byte("z")},
		),
		tarLayer(t, c, imagefs.RoleApp,
			imagefstest.Entry{Name: "app/run", Body: []byte("#!/bin/sh\necho hi\n"), Mode: 0o755},
			imagefstest.Entry{Name: "etc/a", Body: []byte("a from app")},
		),
	)
}

func openStore(t testing.TB) *imagefs.Store {
	t.Helper()
	return openStoreCtx(t.Context(), t)
}

func openStoreCtx(ctx context.Context, t testing.TB) *imagefs.Store {
	t.Helper()
	s, err := imagefs.OpenStore(ctx, imagefs.DefaultStoreConfig(t.TempDir()))
	if err != nil {
		t.Fatalf("OpenStore: %v", err)
	}
	return s
}

func readFile(t *testing.T, p string) string {
	t.Helper()
	b, err := os.ReadFile(p)
	if err != nil {
		t.Fatalf("read: %v", err)
	}
	return string(b)
}

func TestStoreAddPrepareRelease(t *testing.T) {
	requireRoot(t)
	ctx := context.Background()
	for _, c := range []imagefs.Compression{{}, {Algorithm: imagefs.Gzip}} {
		t.Run(string(c.Algorithm), func(t *testing.T) {
			s := openStoreCtx(ctx, t)
			img := threeLayers(t, c)
			res, err := s.Add(ctx, img, "app:1")
			if err != nil {
				t.Fatalf("Add: %v", err)
			}
			if res.Unpacked != 3 || res.Fetched != 3 {
				t.Fatalf("Add = %+v, want 3 fetched and unpacked", res)
			}
			again, err := s.Add(ctx, img, "app:1")
			if err != nil || again.Unpacked != 0 || again.Fetched != 0 {
				t.Fatalf("second Add = %+v, %v; want nothing to do", again, err)
			}
			r, err := s.Prepare(ctx, "app:1", "c1")
			if err != nil {
				t.Fatalf("Prepare: %v", err)
			}
			if got := readFile(t, filepath.Join(r.Path, "etc/a")); got != "a from app" {
				t.Errorf("etc/a = %q", got)
			}
			if _, err := os.Lstat(filepath.Join(r.Path, "gone")); !errors.Is(err, os.ErrNotExist) {
				t.Errorf("whiteout: gone still visible (%v)", err)
			}
			ents, _ := os.ReadDir(filepath.Join(r.Path, "d"))
			if len(ents) != 1 || ents[0].Name() != "z" {
				t.Errorf("opaque d lists %v, want only z", ents)
			}
			if err := os.WriteFile(filepath.Join(r.Path, "new"), []byte("w"), 0o644); err != nil {
				t.Fatal(err)
			}
			if got := readFile(t, filepath.Join(r.Upper, "new")); got != "w" {
				t.Errorf("upper/new = %q", got)
			}
			if _, err := s.Prepare(ctx, "app:1", "c1"); !errors.Is(err, imagefs.ErrExist) {
				t.Errorf("second Prepare err = %v, want ErrExist", err)
			}
			if _, err := s.Prepare(ctx, "nope", "c2"); !errors.Is(err, imagefs.ErrNotFound) {
				t.Errorf("Prepare of a missing image err = %v, want ErrNotFound", err)
			}
			if _, err := s.Prepare(ctx, "app:1", "../x"); !errors.Is(err, imagefs.ErrInvalid) {
				t.Errorf("Prepare with bad id err = %v, want ErrInvalid", err)
			}
			if err := s.Remove(ctx, "app:1"); !errors.Is(err, imagefs.ErrInUse) {
				t.Errorf("Remove while prepared err = %v, want ErrInUse", err)
			}
			if err := s.Release(ctx, "c1"); err != nil {
				t.Fatalf("Release: %v", err)
			}
			if isMount(t, r.Path) {
				t.Error("rootfs still mounted after Release")
			}
			if _, err := os.Stat(filepath.Dir(r.Path)); !errors.Is(err, os.ErrNotExist) {
				t.Errorf("container dir left after Release: %v", err)
			}
			if err := s.Release(ctx, "c1"); err != nil {
				t.Errorf("second Release: %v", err)
			}
		})
	}
}

func isMount(t *testing.T, p string) bool {
	t.Helper()
	b, err := os.ReadFile("/proc/self/mountinfo")
	if err != nil {
		t.Fatal(err)
	}
	for _, line := range strings.Split(string(b), "\n") {
		if f := strings.Fields(line); len(f) > 4 && f[4] == p {
			return true
		}
	}
	return false
}

// corruptLayer returns the bytes of l with one flipped, or cut short.
type corruptLayer struct {
	v1.Layer
	truncate bool
	mt       types.MediaType
}

func (c corruptLayer) Compressed() (io.ReadCloser, error) {
	rc, err := c.Layer.Compressed()
	if err != nil {
		return nil, err
	}
	b, err := io.ReadAll(rc)
	_ = rc.Close()
	if err != nil {
		return nil, err
	}
	if c.truncate {
		b = b[:len(b)/2]
	} else {
		b[len(b)/2] ^= 0xff
	}
	return io.NopCloser(bytes.NewReader(b)), nil
}

func (c corruptLayer) MediaType() (types.MediaType, error) {
	if c.mt != "" {
		return c.mt, nil
	}
	return c.Layer.MediaType()
}

func TestStoreRefusesBadContentAndLeavesNothing(t *testing.T) {
	requireRoot(t)
	ctx := context.Background()
	big := bytes.Repeat([]byte("0123456789abcdef"), 1<<14)
	good := tarLayer(t, imagefs.Compression{}, "", imagefstest.Entry{Name: "f", Body: big}, imagefstest.Entry{Name: "g", Body: big[:777]})
	cases := []struct {
		name  string
		layer v1.Layer
		want  error
	}{
		{"flipped byte", corruptLayer{Layer: good.Layer}, nil},
		{"truncated", corruptLayer{Layer: good.Layer, truncate: true}, nil},
		{"unknown media type", corruptLayer{Layer: good.Layer, mt: "application/x-mystery"}, imagefs.ErrUnsupportedMediaType},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			s := openStoreCtx(ctx, t)
			// The manifest is made from the good layer; the blob served is bad.
			img := fakeServe{Image: newImage(t, good), layer: c.layer}
			_, err := s.Add(ctx, img, "bad")
			if err == nil {
				t.Fatal("Add accepted bad content")
			}
			if c.want != nil && !errors.Is(err, c.want) {
				t.Fatalf("err = %v, want %v", err, c.want)
			}
			if c.want == nil && !errors.Is(err, imagefs.ErrDigestMismatch) && !errors.Is(err, imagefs.ErrCorrupt) {
				t.Fatalf("err = %v, want ErrDigestMismatch or ErrCorrupt", err)
			}
			assertEmptyStore(ctx, t, s)
		})
	}
}

// fakeServe is an image whose layer blobs are served by layer, as a
// misbehaving registry would.
type fakeServe struct {
	v1.Image
	layer v1.Layer
}

func (f fakeServe) LayerByDigest(v1.Hash) (v1.Layer, error) { return f.layer, nil }

func (f fakeServe) Layers() ([]v1.Layer, error) { return []v1.Layer{f.layer}, nil }

func (f fakeServe) MediaType() (types.MediaType, error) { return types.OCIManifestSchema1, nil }

func (f fakeServe) RawManifest() ([]byte, error) {
	if _, ok := f.layer.(corruptLayer); ok && f.layer.(corruptLayer).mt != "" {
		m, _ := f.Image.Manifest()
		m.Layers[0].MediaType = f.layer.(corruptLayer).mt
		return jsonMarshal(m)
	}
	return f.Image.RawManifest()
}

func assertEmptyStore(ctx context.Context, t *testing.T, s *imagefs.Store) {
	t.Helper()
	for _, d := range []string{"layers", "tmp", "oci/blobs/sha256", "containers"} {
		ents, err := os.ReadDir(filepath.Join(s.Root(), d))
		if err != nil {
			t.Fatal(err)
		}
		if len(ents) != 0 {
			t.Errorf("%s holds %d entries after a failed Add (first %s)", d, len(ents), ents[0].Name())
		}
	}
	imgs, err := s.Images(ctx)
	if err != nil || len(imgs) != 0 {
		t.Errorf("Images = %v, %v; want none", imgs, err)
	}
}

func TestStoreWrongDiffID(t *testing.T) {
	requireRoot(t)
	l := tarLayer(t, imagefs.Compression{}, "", imagefstest.Entry{Name: "f", Body: []byte("x")})
	other := tarLayer(t, imagefs.Compression{}, "", imagefstest.Entry{Name: "f", Body: []byte("y")})
	img := newImage(t, l)
	cfg, _ := img.ConfigFile()
	cfg.RootFS.DiffIDs[0], _ = other.Layer.DiffID()
	bad := lyingConfig{Image: img, cfg: cfg}
	s := openStore(t)
	if _, err := s.Add(context.Background(), bad, "x"); !errors.Is(err, imagefs.ErrDigestMismatch) {
		t.Fatalf("err = %v, want ErrDigestMismatch", err)
	}
	assertEmptyStore(t.Context(), t, s)
}

type lyingConfig struct {
	v1.Image
	cfg *v1.ConfigFile
}

func (l lyingConfig) RawConfigFile() ([]byte, error) { return jsonMarshal(l.cfg) }

func (l lyingConfig) ConfigFile() (*v1.ConfigFile, error) {
	return l.cfg, nil
}

func (l lyingConfig) RawManifest() ([]byte, error) {
	m, _ := l.Manifest()
	b, _ := l.RawConfigFile()
	m.Config.Digest, m.Config.Size = sha(b), int64(len(b))
	return jsonMarshal(m)
}

func TestStoreGCAndRefs(t *testing.T) {
	requireRoot(t)
	ctx := context.Background()
	c := imagefs.Compression{}
	base := tarLayer(t, c, imagefs.RoleBase, imagefstest.Entry{Name: "bin/sh", Body: []byte("shell")})
	a := newImage(t, base, tarLayer(t, c, imagefs.RoleApp, imagefstest.Entry{Name: "a", Body: []byte("a")}))
	b := newImage(t, base, tarLayer(t, c, imagefs.RoleApp, imagefstest.Entry{Name: "b", Body: []byte("b")}))
	s := openStore(t)
	if _, err := s.Add(ctx, a, "a"); err != nil {
		t.Fatal(err)
	}
	res, err := s.Add(ctx, b, "b")
	if err != nil {
		t.Fatal(err)
	}
	if res.Unpacked != 1 {
		t.Fatalf("shared base unpacked again: %+v", res)
	}
	refs, err := s.LayerRefs(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	baseID, _ := base.Layer.DiffID()
	if refs[baseID] != 2 || len(refs) != 3 {
		t.Fatalf("refs = %v, want base 2 of 3 layers", refs)
	}
	if err := s.Remove(ctx, "a"); err != nil {
		t.Fatal(err)
	}
	gc, err := s.GC(ctx)
	if err != nil {
		t.Fatal(err)
	}
	// a's layer blob, config and manifest; a's unpacked layer.
	if len(gc.Layers) != 1 || len(gc.Blobs) != 3 {
		t.Fatalf("GC = %+v, want 1 layer and 3 blobs", gc)
	}
	if _, err := os.Stat(s.LayerDir(baseID)); err != nil {
		t.Fatalf("shared base removed: %v", err)
	}
	r, err := s.Prepare(ctx, "b", "cb")
	if err != nil {
		t.Fatal(err)
	}
	defer s.Release(ctx, "cb") //nolint:errcheck // cleanup
	if got := readFile(t, filepath.Join(r.Path, "bin/sh")); got != "shell" {
		t.Fatalf("bin/sh = %q", got)
	}
	if err := s.Remove(ctx, "a"); !errors.Is(err, imagefs.ErrNotFound) {
		t.Fatalf("Remove twice err = %v, want ErrNotFound", err)
	}
}

// TestPrepareRunsWithRunc builds an image from a busybox rootfs, stores it
// and runs a container with runc on the prepared overlay.
func TestPrepareRunsWithRunc(t *testing.T) {
	testenv.Require(t, testenv.Runc)
	ctx := context.Background()
	src := t.TempDir()
	testenv.BusyboxRootfs(t, src)
	img, _, err := imagefs.Build(ctx, src, imagefs.Recipe{Role: imagefs.RoleBase, Entrypoint: []string{"/bin/sh"}})
	if err != nil {
		t.Fatalf("Build: %v", err)
	}
	s := openStore(t)
	if _, err := s.Add(ctx, img, "busybox"); err != nil {
		t.Fatalf("Add: %v", err)
	}
	r, err := s.Prepare(ctx, "busybox", "runc1")
	if err != nil {
		t.Fatalf("Prepare: %v", err)
	}
	t.Cleanup(func() { _ = s.Release(ctx, "runc1") })
	b := testenv.NewBundle(t, "sh", "-c", "echo from-overlay > /marker && cat /marker && ls /bin/busybox")
	if err := unix.Mount(r.Path, b.Rootfs, "", unix.MS_BIND, ""); err != nil {
		t.Fatalf("bind rootfs: %v", err)
	}
	t.Cleanup(func() { _ = unix.Unmount(b.Rootfs, unix.MNT_DETACH) })
	out := b.Run(t, "imagefs-prepare")
	if !strings.Contains(out, "from-overlay") || !strings.Contains(out, "/bin/busybox") {
		t.Fatalf("container output %q", out)
	}
	if got := readFile(t, filepath.Join(r.Upper, "marker")); got != "from-overlay\n" {
		t.Fatalf("upper marker = %q", got)
	}
}

func (f fakeServe) Digest() (v1.Hash, error) {
	b, err := f.RawManifest()
	if err != nil {
		return v1.Hash{}, err
	}
	return sha(b), nil
}

func (f fakeServe) Manifest() (*v1.Manifest, error) {
	b, err := f.RawManifest()
	if err != nil {
		return nil, err
	}
	return v1.ParseManifest(bytes.NewReader(b))
}

func TestOpenStoreCleansCrashLeftovers(t *testing.T) {
	root := t.TempDir()
	s, err := imagefs.OpenStore(context.Background(), imagefs.DefaultStoreConfig(root))
	if err != nil {
		t.Fatal(err)
	}
	// What a crash mid-unpack leaves: a half layer in tmp/.
	half := filepath.Join(s.Root(), "tmp", "layer-123", "rootfs", "usr")
	if err := os.MkdirAll(half, 0o755); err != nil {
		t.Fatal(err)
	}
	if _, err := imagefs.OpenStore(context.Background(), imagefs.DefaultStoreConfig(root)); err != nil {
		t.Fatal(err)
	}
	if ents, _ := os.ReadDir(filepath.Join(root, "tmp")); len(ents) != 0 {
		t.Fatalf("tmp/ after reopen holds %v", ents)
	}
	if _, err := imagefs.OpenStore(context.Background(), imagefs.StoreConfig{}); !errors.Is(err, imagefs.ErrInvalid) {
		t.Fatalf("empty root err = %v, want ErrInvalid", err)
	}
}

func TestStoreConcurrentAddsUnpackOnce(t *testing.T) {
	ctx := context.Background()
	img := newImage(t,
		tarLayer(t, imagefs.Compression{}, imagefs.RoleBase, imagefstest.Entry{Name: "a", Body: bytes.Repeat([]byte("a"), 1<<20)}),
		tarLayer(t, imagefs.Compression{}, imagefs.RoleApp, imagefstest.Entry{Name: "b", Body: []byte("b")}),
	)
	s := openStore(t)
	results := make(chan imagefs.AddResult, 4)
	errs := make(chan error, 4)
	for range 4 {
		go func() {
			r, err := s.Add(ctx, img, "img")
			results <- r
			errs <- err
		}()
	}
	unpacked := 0
	for range 4 {
		if err := <-errs; err != nil {
			t.Fatal(err)
		}
		unpacked += (<-results).Unpacked
	}
	if unpacked != 2 {
		t.Fatalf("layers unpacked %d times in all, want 2", unpacked)
	}
	imgs, _ := s.Images(context.Background())
	if len(imgs) != 1 {
		t.Fatalf("images %v, want one entry", imgs)
	}
}

func TestStoreUncompressedLayers(t *testing.T) {
	ctx := context.Background()
	good := tarLayer(t, imagefs.Compression{Algorithm: imagefs.None}, "", imagefstest.Entry{Name: "f", Body: []byte("plain")})
	s := openStore(t)
	if _, err := s.Add(ctx, newImage(t, good), "plain"); err != nil {
		t.Fatalf("Add: %v", err)
	}
	d, _ := good.Layer.DiffID()
	if got := readFile(t, filepath.Join(s.LayerDir(d), "f")); got != "plain" {
		t.Fatalf("f = %q", got)
	}
	s2 := openStore(t)
	if _, err := s2.Add(ctx, fakeServe{Image: newImage(t, good), layer: corruptLayer{Layer: good.Layer}}, "bad"); !errors.Is(err, imagefs.ErrDigestMismatch) && !errors.Is(err, imagefs.ErrCorrupt) {
		t.Fatalf("corrupt tar layer: err = %v", err)
	}
	assertEmptyStore(t.Context(), t, s2)
}

// TestPrepareManyLayers stacks more layers than mount(2)'s one-page option
// string can name, which the new mount API's lowerdir+ allows.
func TestPrepareManyLayers(t *testing.T) {
	requireRoot(t)
	ctx := context.Background()
	var layers []imagefs.AnnotatedLayer
	for k := range 70 {
		layers = append(layers, tarLayer(t, imagefs.Compression{}, "",
			imagefstest.Entry{Name: "top", Body: []byte{byte('a' + k%26)}},
			imagefstest.Entry{Name: "l/" + strings.Repeat("x", k+1), Body: []byte("x")}))
	}
	s := openStore(t)
	if _, err := s.Add(ctx, newImage(t, layers...), "deep"); err != nil {
		t.Fatal(err)
	}
	r, err := s.Prepare(ctx, "deep", "deep")
	if err != nil {
		t.Fatalf("Prepare of 70 layers: %v", err)
	}
	defer s.Release(ctx, "deep") //nolint:errcheck // cleanup
	if got := readFile(t, filepath.Join(r.Path, "top")); got != string(rune('a'+69%26)) {
		t.Fatalf("top = %q, want the topmost layer's", got)
	}
	ents, _ := os.ReadDir(filepath.Join(r.Path, "l"))
	if len(ents) != 70 {
		t.Fatalf("l/ has %d entries, want 70", len(ents))
	}
}

// TestStoreAcceptsDockerImages stores a Docker v2 schema 2 image (what
// mutate.Time makes, and what most registries still serve).
func TestStoreAcceptsDockerImages(t *testing.T) {
	ctx := context.Background()
	img := newImage(t, tarLayer(t, imagefs.Compression{Algorithm: imagefs.Gzip}, "", imagefstest.Entry{Name: "f", Body: []byte("docker")}))
	docker, err := mutate.Time(img, time.Unix(1, 0))
	if err != nil {
		t.Fatal(err)
	}
	if mt, _ := docker.MediaType(); mt != types.DockerManifestSchema2 {
		t.Fatalf("mutate.Time gave %s", mt)
	}
	s := openStore(t)
	res, err := s.Add(ctx, docker, "docker")
	if err != nil {
		t.Fatalf("Add: %v", err)
	}
	back, err := s.Image(context.Background(), "docker")
	if err != nil {
		t.Fatal(err)
	}
	if d, _ := back.Digest(); d != res.Digest {
		t.Fatalf("stored digest %s, Add said %s", d, res.Digest)
	}
	if err := imagefs.Validate(ctx, back, imagefs.ValidateOptions{AllowDocker: true}); err != nil {
		t.Fatalf("Validate stored image: %v", err)
	}
}
