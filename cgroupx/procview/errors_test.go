package procview_test

import (
	"path/filepath"
	"testing"

	"github.com/shoalkit/shoal/cgroupx"
	"github.com/shoalkit/shoal/cgroupx/cgroupxtest"
	"github.com/shoalkit/shoal/cgroupx/procview"
	"github.com/shoalkit/shoal/internal/errs"
)

var kinds = []error{procview.ErrInvalid, procview.ErrNotFound, procview.ErrUnsupported, procview.ErrUnavailable, procview.ErrClosed}

// TestErrorShape runs the package's error paths and checks each error's
// shape: the prefix once, the kind matched by errors.Is, the kind's own
// text never printed, the message naming what was wrong.
func TestErrorShape(t *testing.T) {
	ctx := t.Context()
	fake := func(t *testing.T) *cgroupx.Host {
		tree := cgroupxtest.New(t, cgroupxtest.V2)
		h, err := cgroupx.NewHost(ctx, cgroupx.WithRoot(tree.Root))
		if err != nil {
			t.Fatal(err)
		}
		return h
	}
	cases := []struct {
		name string
		kind error
		want string
		run  func(t *testing.T) error
	}{
		{"relative parent", procview.ErrInvalid, `procview: Config.Parents: "shoal" is not a clean absolute cgroup path below /`, func(t *testing.T) error {
			_, err := procview.New(ctx, procview.Config{Host: fake(t), Parents: []string{"shoal"}})
			return err
		}},
		{"root parent", procview.ErrInvalid, `procview: Config.Parents: "/" is not a clean absolute cgroup path below /`, func(t *testing.T) error {
			_, err := procview.New(ctx, procview.Config{Host: fake(t), Parents: []string{"/"}})
			return err
		}},
		{"readers", procview.ErrInvalid, "procview: Config.Readers -1 out of range 1..64", func(t *testing.T) error {
			_, err := procview.New(ctx, procview.Config{Host: fake(t), Readers: -1})
			return err
		}},
		{"relative root", procview.ErrInvalid, `procview: Config.Root "proc" is not absolute`, func(t *testing.T) error {
			_, err := procview.New(ctx, procview.Config{Host: fake(t), Root: "proc"})
			return err
		}},
		{"relative mount point", procview.ErrInvalid, `procview: mount point "view" is not absolute`, func(t *testing.T) error {
			_, err := procview.Mount(ctx, "view")
			return err
		}},
		{"holder without mount point", procview.ErrInvalid, `procview: HolderConfig.MountPoint "" is not an absolute path`, func(t *testing.T) error {
			_, err := procview.NewHolder(ctx, procview.HolderConfig{Socket: "/run/x.sock"})
			return err
		}},
		{"holder relative socket", procview.ErrInvalid, `procview: HolderConfig.Socket "x.sock" is not an absolute path`, func(t *testing.T) error {
			_, err := procview.NewHolder(ctx, procview.HolderConfig{MountPoint: "/mnt", Socket: "x.sock"})
			return err
		}},
		{"no holder", procview.ErrUnavailable, "procview: dial holder ", func(t *testing.T) error {
			_, err := procview.Dial(ctx, filepath.Join(t.TempDir(), "none.sock"))
			return err
		}},
		{"bad diskstats", procview.ErrInvalid, `procview: diskstats line "8 x sda"`, func(t *testing.T) error {
			_, err := procview.ParseDiskstats([]byte("8 x sda\n"))
			return err
		}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			err := c.run(t)
			if err := errs.CheckShape(err, "procview", kinds...); err != nil {
				t.Fatal(err)
			}
			if !errorsIs(err, c.kind) {
				t.Errorf("%v: not %v", err, c.kind)
			}
			if got := err.Error(); len(got) < len(c.want) || got[:len(c.want)] != c.want {
				t.Errorf("message %q, want it to start with %q", got, c.want)
			}
		})
	}
}
