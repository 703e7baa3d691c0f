package imagefs_test

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"

	"github.com/shoalkit/shoal/imagefs"
)

// TestZeroConfigsMeanDefaults checks that every zero configuration field
// means its documented default, and that what has none is refused naming
// the field.
func TestZeroConfigsMeanDefaults(t *testing.T) {
	ctx := context.Background()
	if got := (imagefs.Limits{}).WithDefaults(); got != imagefs.DefaultLimits() {
		t.Errorf("zero Limits = %+v, want DefaultLimits %+v", got, imagefs.DefaultLimits())
	}

	rc, err := imagefs.RemoteConfig{}.WithDefaults()
	if err != nil || rc != imagefs.DefaultRemoteConfig() {
		t.Errorf("zero RemoteConfig = %+v, %v; want DefaultRemoteConfig %+v", rc, err, imagefs.DefaultRemoteConfig())
	}
	if rc, err := (imagefs.RemoteConfig{Retries: -1}).WithDefaults(); err != nil || rc.Retries != 0 {
		t.Errorf("Retries -1 = %d, %v; want no retry", rc.Retries, err)
	}

	dc, err := imagefs.DistributeConfig{}.WithDefaults()
	want := imagefs.DefaultDistributeConfig()
	if err != nil || dc.Fanout != want.Fanout || dc.PeerTimeout != want.PeerTimeout || dc.Logger == nil || dc.Client != nil {
		t.Errorf("zero DistributeConfig = %+v, %v; want DefaultDistributeConfig %+v and a discarding logger", dc, err, want)
	}

	_, err = imagefs.OpenStore(ctx, imagefs.StoreConfig{})
	if !errors.Is(err, imagefs.ErrInvalid) || !strings.Contains(err.Error(), "StoreConfig.Root") {
		t.Errorf("OpenStore of the zero StoreConfig = %v, want ErrInvalid naming StoreConfig.Root", err)
	}
	root := t.TempDir()
	s, err := imagefs.OpenStore(ctx, imagefs.StoreConfig{Root: root})
	if err != nil {
		t.Fatal(err)
	}
	got, def := imagefs.StoreConfigOf(s), imagefs.DefaultStoreConfig(root)
	if got.Root != def.Root || got.Parallel != runtime.GOMAXPROCS(0) || got.Limits != def.Limits || got.Logger == nil {
		t.Errorf("StoreConfig with only Root = %+v, want DefaultStoreConfig %+v", got, def)
	}

	for name, call := range map[string]func() error{
		"StoreConfig.Parallel": func() error {
			_, err := imagefs.OpenStore(ctx, imagefs.StoreConfig{Root: root, Parallel: -1})
			return err
		},
		"RemoteConfig.Jobs":            func() error { _, err := imagefs.RemoteConfig{Jobs: -1}.WithDefaults(); return err },
		"RemoteConfig.RetryDelay":      func() error { _, err := imagefs.RemoteConfig{RetryDelay: -1}.WithDefaults(); return err },
		"DistributeConfig.Fanout":      func() error { _, err := imagefs.DistributeConfig{Fanout: -1}.WithDefaults(); return err },
		"DistributeConfig.PeerTimeout": func() error { _, err := imagefs.DistributeConfig{PeerTimeout: -1}.WithDefaults(); return err },
	} {
		if err := call(); !errors.Is(err, imagefs.ErrInvalid) || !strings.Contains(err.Error(), name) {
			t.Errorf("negative %s: err = %v, want ErrInvalid naming it", name, err)
		}
	}
}

// TestOpenStoreThroughLink checks that a store root that is a symlink to
// the store's directory (/var/lib/shoal -> /data/shoal) opens, and that
// the directory it points to is made root-only.
func TestOpenStoreThroughLink(t *testing.T) {
	dir := t.TempDir()
	data := filepath.Join(dir, "data")
	if err := os.Mkdir(data, 0o755); err != nil {
		t.Fatal(err)
	}
	link := filepath.Join(dir, "link")
	if err := os.Symlink(data, link); err != nil {
		t.Fatal(err)
	}
	if _, err := imagefs.OpenStore(t.Context(), imagefs.DefaultStoreConfig(link)); err != nil {
		t.Fatal(err)
	}
	fi, err := os.Stat(data)
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode().Perm() != 0o700 {
		t.Fatalf("store directory mode %o, want 0700", fi.Mode().Perm())
	}
}
