package imagefs_test

import (
	"context"
	"encoding/json"
	"errors"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/shoalkit/shoal/imagefs"
	"github.com/shoalkit/shoal/imagefs/imagefstest"
	"github.com/shoalkit/shoal/internal/testenv"
)

func fastRemote() imagefs.RemoteConfig {
	c := imagefs.DefaultRemoteConfig()
	c.Insecure = true
	c.RetryDelay = 10 * time.Millisecond
	return c
}

func TestPushPullInProcessRegistry(t *testing.T) {
	ctx := context.Background()
	proxy := imagefstest.StartProxy(t, imagefstest.StartRegistry(t))
	img := threeLayers(t, imagefs.Compression{})
	ref := proxy.Addr + "/shoal/app:1"
	// Three injected 503s: retries must carry the push through.
	proxy.FailNext(3)
	d, err := imagefs.Push(ctx, img, ref, fastRemote())
	if err != nil {
		t.Fatalf("Push: %v", err)
	}
	if d != digestOf(t, img) {
		t.Fatalf("pushed digest %s, want %s", d, digestOf(t, img))
	}
	pulled, err := imagefs.Pull(ctx, ref, fastRemote())
	if err != nil {
		t.Fatalf("Pull: %v", err)
	}
	if digestOf(t, pulled) != d {
		t.Fatal("pulled a different digest")
	}
	if err := imagefs.Validate(ctx, pulled, imagefs.ValidateOptions{}); err != nil {
		t.Fatalf("Validate pulled: %v", err)
	}
	if _, err := imagefs.Pull(ctx, proxy.Addr+"/shoal/missing:1", fastRemote()); !errors.Is(err, imagefs.ErrNotFound) {
		t.Fatalf("Pull of a missing image err = %v, want ErrNotFound", err)
	}
	if _, err := imagefs.Pull(ctx, "UPPER/Case::bad", fastRemote()); !errors.Is(err, imagefs.ErrInvalid) {
		t.Fatalf("bad reference err = %v, want ErrInvalid", err)
	}
}

func TestPullCorruptedBlobIsRefused(t *testing.T) {
	requireRoot(t)
	ctx := context.Background()
	proxy := imagefstest.StartProxy(t, imagefstest.StartRegistry(t))
	img := threeLayers(t, imagefs.Compression{})
	ref := proxy.Addr + "/shoal/app:1"
	if _, err := imagefs.Push(ctx, img, ref, fastRemote()); err != nil {
		t.Fatal(err)
	}
	pulled, err := imagefs.Pull(ctx, ref, fastRemote())
	if err != nil {
		t.Fatal(err)
	}
	proxy.Corrupt(true)
	s := openStore(t)
	if _, err := s.Add(ctx, pulled, "app"); err == nil {
		t.Fatal("Add accepted corrupted blobs")
	}
	assertEmptyStore(t.Context(), t, s)
}

// TestRealRegistryAndSkopeo pushes gzip and zstd images built by imagefs to
// the real docker-registry, has skopeo inspect and copy them, restarts the
// registry and pulls them back into a store.
func TestRealRegistryAndSkopeo(t *testing.T) {
	testenv.Require(t, testenv.OCIRegistry, testenv.Skopeo)
	ctx := context.Background()
	reg := testenv.StartRegistry(t)
	src := t.TempDir()
	imagefstest.WriteTree(t, src, imagefstest.TreeSpec{Seed: 3, Files: 200, Bytes: 2 << 20})
	for _, c := range []imagefs.Compression{{Algorithm: imagefs.Gzip}, {Algorithm: imagefs.Zstd, Level: 9}} {
		t.Run(string(c.Algorithm), func(t *testing.T) {
			img, _, err := imagefs.Build(ctx, src, imagefs.Recipe{Compression: c, Labels: map[string]string{"c": string(c.Algorithm)}, Entrypoint: []string{"/bin/sh"}})
			if err != nil {
				t.Fatal(err)
			}
			ref := reg.Addr + "/shoal/tree:" + string(c.Algorithm)
			d, err := imagefs.Push(ctx, img, ref, fastRemote())
			if err != nil {
				t.Fatalf("Push: %v", err)
			}
			out, err := exec.CommandContext(ctx, "skopeo", "inspect", "--tls-verify=false", "docker://"+ref).CombinedOutput()
			if err != nil {
				t.Fatalf("skopeo inspect: %v\n%s", err, out)
			}
			var info struct {
				Digest string
				Labels map[string]string
			}
			if err := json.Unmarshal(out, &info); err != nil {
				t.Fatalf("skopeo inspect output: %v\n%s", err, out)
			}
			if info.Digest != d.String() || info.Labels["c"] != string(c.Algorithm) {
				t.Fatalf("skopeo sees digest %s labels %v, want %s", info.Digest, info.Labels, d)
			}
			raw, err := exec.CommandContext(ctx, "skopeo", "inspect", "--raw", "--tls-verify=false", "docker://"+ref).Output()
			if err != nil {
				t.Fatalf("skopeo inspect --raw: %v", err)
			}
			var m struct {
				MediaType string
				Layers    []struct{ MediaType string }
			}
			if err := json.Unmarshal(raw, &m); err != nil || m.MediaType != "application/vnd.oci.image.manifest.v1+json" ||
				len(m.Layers) != 1 || !strings.HasSuffix(m.Layers[0].MediaType, "+"+string(c.Algorithm)) {
				t.Fatalf("skopeo raw manifest %s (%v)", raw, err)
			}
			dst := filepath.Join(t.TempDir(), "oci")
			if out, err := exec.CommandContext(ctx, "skopeo", "copy", "--src-tls-verify=false", "--preserve-digests", "docker://"+ref, "oci:"+dst+":copy").CombinedOutput(); err != nil {
				t.Fatalf("skopeo copy: %v\n%s", err, out)
			}
			// And skopeo pushes it back under another name, unchanged.
			back := reg.Addr + "/shoal/back:" + string(c.Algorithm)
			if out, err := exec.CommandContext(ctx, "skopeo", "copy", "--dest-tls-verify=false", "--preserve-digests", "oci:"+dst+":copy", "docker://"+back).CombinedOutput(); err != nil {
				t.Fatalf("skopeo copy back: %v\n%s", err, out)
			}
			pulled, err := imagefs.Pull(ctx, back, fastRemote())
			if err != nil {
				t.Fatalf("Pull: %v", err)
			}
			if digestOf(t, pulled) != d {
				t.Fatalf("round trip through skopeo changed the digest: %s", digestOf(t, pulled))
			}
			if err := imagefs.Validate(ctx, pulled, imagefs.ValidateOptions{}); err != nil {
				t.Fatalf("Validate: %v", err)
			}
		})
	}
	reg.Restart(t)
	pulled, err := imagefs.Pull(ctx, reg.Addr+"/shoal/tree:zstd", fastRemote())
	if err != nil {
		t.Fatalf("Pull after restart: %v", err)
	}
	s := openStore(t)
	res, err := s.Add(ctx, pulled, "tree")
	if err != nil || res.Unpacked != 1 {
		t.Fatalf("Add from the real registry = %+v, %v", res, err)
	}
}
