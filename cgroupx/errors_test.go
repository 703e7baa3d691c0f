package cgroupx_test

import (
	"context"
	"errors"
	"io"
	"os"
	"strings"
	"testing"

	"github.com/shoalkit/shoal/cgroupx"
	"github.com/shoalkit/shoal/cgroupx/cgroupxtest"
	"github.com/shoalkit/shoal/internal/errs"
)

var kinds = []error{cgroupx.ErrNotFound, cgroupx.ErrInvalid, cgroupx.ErrUnsupported, cgroupx.ErrClosed, cgroupx.ErrUnavailable}

type failWriter struct{}

func (failWriter) Write([]byte) (int, error) { return 0, errors.New("disk full") }

// TestErrorShape runs the package's error paths on fixture trees and checks
// each error's shape: the prefix once, the kind matched by errors.Is, the
// kind's own text never printed, and the message naming what was wrong.
func TestErrorShape(t *testing.T) {
	ctx := t.Context()
	v2 := func(t *testing.T) (*cgroupxtest.Tree, *cgroupx.Host) {
		tree := cgroupxtest.New(t, cgroupxtest.V2)
		tree.Mkdir("/ctr")
		return tree, newHost(ctx, t, tree)
	}
	v1 := func(t *testing.T) (*cgroupxtest.Tree, *cgroupx.Host) {
		tree := cgroupxtest.New(t, cgroupxtest.V1)
		tree.Mkdir("/ctr")
		return tree, newHost(ctx, t, tree)
	}
	cases := []struct {
		name string
		kind error
		want string // the whole message, or a part of it after "..."
		run  func(t *testing.T) error
	}{
		{"relative root", cgroupx.ErrInvalid, `cgroupx: WithRoot("rel"): not an absolute path`, func(t *testing.T) error {
			_, err := cgroupx.NewHost(ctx, cgroupx.WithRoot("rel"))
			return err
		}},
		{"empty root", cgroupx.ErrInvalid, `cgroupx: WithRoot(""): not an absolute path`, func(t *testing.T) error {
			_, err := cgroupx.NewHost(ctx, cgroupx.WithRoot(""))
			return err
		}},
		{"no mountinfo", cgroupx.ErrNotFound, "...proc/self/mountinfo: no such file or directory", func(t *testing.T) error {
			_, err := cgroupx.NewHost(ctx, cgroupx.WithRoot(t.TempDir()))
			return err
		}},
		{"no cgroup fs", cgroupx.ErrUnsupported, "cgroupx: no cgroup file system mounted", func(t *testing.T) error {
			tree := cgroupxtest.New(t, cgroupxtest.V2)
			tree.WriteHostFile("proc/self/mountinfo", "25 1 254:0 / / rw - ext4 /dev/vda rw\n")
			_, err := cgroupx.NewHost(ctx, cgroupx.WithRoot(tree.Root))
			return err
		}},
		{"bad mountinfo", cgroupx.ErrInvalid, `cgroupx: mountinfo line 1: "1 2 3"`, func(t *testing.T) error {
			_, err := cgroupx.ParseMountinfo(strings.NewReader("1 2 3\n"))
			return err
		}},
		{"bad proc cgroup", cgroupx.ErrInvalid, `cgroupx: /proc/pid/cgroup line 1: "x::/"`, func(t *testing.T) error {
			_, err := cgroupx.ParseProcCgroup(strings.NewReader("x::/\n"))
			return err
		}},
		{"negative pid", cgroupx.ErrInvalid, "cgroupx: pid -1", func(t *testing.T) error {
			_, h := v2(t)
			_, err := h.OpenPID(ctx, -1)
			return err
		}},
		{"missing pid", cgroupx.ErrNotFound, "...proc/4242/cgroup: no such file or directory", func(t *testing.T) error {
			_, h := v2(t)
			_, err := h.OpenPID(ctx, 4242)
			return err
		}},
		{"path leaves", cgroupx.ErrInvalid, `cgroupx: cgroup path "/a/../../b" leaves the hierarchy`, func(t *testing.T) error {
			_, h := v2(t)
			_, err := h.Open(ctx, "/a/../../b")
			return err
		}},
		{"empty path", cgroupx.ErrInvalid, "cgroupx: empty cgroup path", func(t *testing.T) error {
			_, h := v2(t)
			_, err := h.Open(ctx, "")
			return err
		}},
		{"missing cgroup", cgroupx.ErrNotFound, `cgroupx: cgroup "/nope"`, func(t *testing.T) error {
			_, h := v2(t)
			_, err := h.Open(ctx, "/nope")
			return err
		}},
		{"bad memory.stat", cgroupx.ErrInvalid, `cgroupx: memory.stat: bad value for "anon"`, func(t *testing.T) error {
			tree, h := v2(t)
			tree.WriteFile("", "/ctr", "memory.stat", "anon x\n")
			_, err := open(ctx, t, h, "/ctr").Meminfo(ctx)
			return err
		}},
		{"bad cpu.max", cgroupx.ErrInvalid, `cgroupx: cpu.max "lots"`, func(t *testing.T) error {
			tree, h := v2(t)
			tree.WriteFile("", "/ctr", "cpu.max", "lots\n")
			_, err := open(ctx, t, h, "/ctr").CPUs(ctx)
			return err
		}},
		{"unreadable memory.max", cgroupx.ErrUnavailable, "...memory.max: is a directory", func(t *testing.T) error {
			tree, h := v2(t)
			dir := tree.Dir("", "/ctr")
			if err := os.Remove(dir + "/memory.max"); err != nil {
				t.Fatal(err)
			}
			if err := os.Mkdir(dir+"/memory.max", 0o755); err != nil {
				t.Fatal(err)
			}
			_, err := open(ctx, t, h, "/ctr").Meminfo(ctx)
			return err
		}},
		{"missing knob", cgroupx.ErrUnsupported, "cgroupx: host lacks knob pids.max", func(t *testing.T) error {
			tree, h := v2(t)
			if err := os.Remove(tree.Dir("", "/ctr") + "/pids.max"); err != nil {
				t.Fatal(err)
			}
			return open(ctx, t, h, "/ctr").SetLimits(ctx, cgroupx.Limits{Pids: ptr(int64(5))})
		}},
		{"no weight file", cgroupx.ErrUnsupported, "cgroupx: host lacks knob blkio.weight (no CFQ or BFQ I/O scheduler)", func(t *testing.T) error {
			_, h := v1(t)
			return open(ctx, t, h, "/ctr").SetLimits(ctx, cgroupx.Limits{BlkioWeight: ptr(uint16(100))})
		}},
		{"swap below memory", cgroupx.ErrInvalid, "cgroupx: memory+swap 1024 below memory 4096", func(t *testing.T) error {
			_, h := v2(t)
			return open(ctx, t, h, "/ctr").SetLimits(ctx, cgroupx.Limits{Memory: ptr(int64(4096)), MemorySwap: ptr(int64(1024))})
		}},
		{"bad pids.max", cgroupx.ErrInvalid, `cgroupx: pids.max: limit "some"`, func(t *testing.T) error {
			tree, h := v2(t)
			tree.WriteFile("", "/ctr", "pids.max", "some\n")
			_, err := open(ctx, t, h, "/ctr").Limits(ctx)
			return err
		}},
		{"bad io.max", cgroupx.ErrInvalid, `cgroupx: io.max line "8:0 rbps"`, func(t *testing.T) error {
			tree, h := v2(t)
			tree.WriteFile("", "/ctr", "io.max", "8:0 rbps\n")
			_, err := open(ctx, t, h, "/ctr").Limits(ctx)
			return err
		}},
		{"pressure on v1", cgroupx.ErrUnsupported, "cgroupx: cgroup /ctr has no cgroup2 group for pressure", func(t *testing.T) error {
			_, h := v1(t)
			_, err := open(ctx, t, h, "/ctr").Pressure(ctx)
			return err
		}},
		{"uptime without processes", cgroupx.ErrNotFound, "cgroupx: cgroup /ctr has no processes", func(t *testing.T) error {
			_, h := v2(t)
			_, err := open(ctx, t, h, "/ctr").Uptime(ctx)
			return err
		}},
		{"closed handle", cgroupx.ErrClosed, "...memory.stat after Close", func(t *testing.T) error {
			_, h := v2(t)
			kept := open(ctx, t, h, "/ctr").KeepOpen()
			if err := kept.Close(); err != nil {
				t.Fatal(err)
			}
			_, err := kept.Meminfo(ctx)
			return err
		}},
		{"bad proc stat", cgroupx.ErrInvalid, `cgroupx: stat "7 (x": no command`, func(t *testing.T) error {
			_, err := cgroupx.ParseProcStat(strings.NewReader("7 (x"))
			return err
		}},
		{"bad uptime", cgroupx.ErrInvalid, `cgroupx: uptime "up"`, func(t *testing.T) error {
			_, _, err := cgroupx.ParseUptime(strings.NewReader("up"))
			return err
		}},
		{"bad pressure", cgroupx.ErrInvalid, `cgroupx: pressure line "some avg10=x"`, func(t *testing.T) error {
			_, err := cgroupx.ParsePressure(strings.NewReader("some avg10=x\n"))
			return err
		}},
		{"bad cpu list", cgroupx.ErrInvalid, `cgroupx: cpu list "3-1"`, func(t *testing.T) error {
			_, err := cgroupx.ParseCPUList(strings.NewReader("3-1"))
			return err
		}},
		{"bad io.stat", cgroupx.ErrInvalid, `cgroupx: io.stat line "8:0 rbytes"`, func(t *testing.T) error {
			_, err := cgroupx.ParseIOStat(strings.NewReader("8:0 rbytes\n"))
			return err
		}},
		{"bad meminfo", cgroupx.ErrInvalid, "cgroupx: meminfo has no MemTotal", func(t *testing.T) error {
			_, err := cgroupx.ParseMeminfo(strings.NewReader("MemFree: 1 kB\n"))
			return err
		}},
		{"zero cpus", cgroupx.ErrInvalid, "cgroupx: 0 online cpus", func(t *testing.T) error {
			return cgroupx.WriteCPUOnline(io.Discard, 0)
		}},
		{"failed writer", cgroupx.ErrUnavailable, "cgroupx: write: disk full", func(t *testing.T) error {
			return cgroupx.WriteUptime(failWriter{}, cgroupx.Uptime{})
		}},
		{"long host stat line", cgroupx.ErrInvalid, "cgroupx: host stat has a line too long", func(t *testing.T) error {
			return cgroupx.WriteStat(io.Discard, cgroupx.StatCPU{CPUs: 1}, strings.NewReader(strings.Repeat("x", 5<<20)))
		}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			err := tc.run(t)
			if err == nil {
				t.Fatal("no error")
			}
			if !errors.Is(err, tc.kind) {
				t.Errorf("%v: not %v", err, tc.kind)
			}
			if serr := errs.CheckShape(err, "cgroupx", kinds...); serr != nil {
				t.Error(serr)
			}
			msg := err.Error()
			if part, ok := strings.CutPrefix(tc.want, "..."); ok {
				if !strings.HasPrefix(msg, "cgroupx: ") || !strings.Contains(msg, part) {
					t.Errorf("message %q, want it to contain %q", msg, part)
				}
			} else if msg != tc.want {
				t.Errorf("message %q, want %q", msg, tc.want)
			}
		})
	}
}

// A done context's error is returned as it is: errors.Is(err,
// context.Canceled) is the contract, not a cgroupx kind.
func TestErrorContextDone(t *testing.T) {
	cctx, cancel := context.WithCancel(t.Context())
	cancel()
	tree := cgroupxtest.New(t, cgroupxtest.V2)
	if _, err := cgroupx.NewHost(cctx, cgroupx.WithRoot(tree.Root)); err != context.Canceled { //nolint:errorlint // exactly the context's error
		t.Errorf("err = %v, want context.Canceled", err)
	}
}
