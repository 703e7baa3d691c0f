package cgroupx_test

import (
	"context"
	"errors"
	"math"
	"os"
	"slices"
	"strings"
	"testing"

	"github.com/shoalkit/shoal/cgroupx"
	"github.com/shoalkit/shoal/cgroupx/cgroupxtest"
)

var layouts = []struct {
	name   string
	layout cgroupxtest.Layout
	mode   cgroupx.Mode
}{
	{"v1", cgroupxtest.V1, cgroupx.ModeV1},
	{"v2", cgroupxtest.V2, cgroupx.ModeV2},
	{"hybrid", cgroupxtest.Hybrid, cgroupx.ModeHybrid},
}

func newHost(ctx context.Context, t testing.TB, tree *cgroupxtest.Tree) *cgroupx.Host {
	t.Helper()
	h, err := cgroupx.NewHost(ctx, cgroupx.WithRoot(tree.Root))
	if err != nil {
		t.Fatal(err)
	}
	return h
}

func open(ctx context.Context, t testing.TB, h *cgroupx.Host, path string) *cgroupx.Cgroup {
	t.Helper()
	cg, err := h.Open(ctx, path)
	if err != nil {
		t.Fatal(err)
	}
	return cg
}

func TestOpen(t *testing.T) {
	ctx := t.Context()
	for _, l := range layouts {
		t.Run(l.name, func(t *testing.T) {
			tree := cgroupxtest.New(t, l.layout)
			tree.Mkdir("/kubepods/pod1/ctr")
			tree.AddProcess("/kubepods/pod1/ctr", cgroupxtest.Process{PID: 42})
			h := newHost(ctx, t, tree)
			if h.Mode() != l.mode {
				t.Errorf("mode %v, want %v", h.Mode(), l.mode)
			}
			if !slices.Contains(h.Controllers(), "memory") || !slices.Contains(h.Controllers(), "cpu") {
				t.Errorf("controllers %q", h.Controllers())
			}
			cg := open(ctx, t, h, "kubepods/pod1/ctr/")
			if cg.Path() != "/kubepods/pod1/ctr" {
				t.Errorf("path %q", cg.Path())
			}
			byPID, err := h.OpenPID(ctx, 42)
			if err != nil {
				t.Fatal(err)
			}
			if byPID.Path() != "/kubepods/pod1/ctr" {
				t.Errorf("by pid: path %q", byPID.Path())
			}
			wantV := 1
			if l.layout == cgroupxtest.V2 {
				wantV = 2
			}
			if cg.Version() != wantV {
				t.Errorf("version %d, want %d", cg.Version(), wantV)
			}
			if _, hasV2 := cg.Dirs()[""]; hasV2 != (l.layout != cgroupxtest.V1) {
				t.Errorf("dirs %v", cg.Dirs())
			}
			if _, err := h.Open(ctx, "/nope"); !errors.Is(err, cgroupx.ErrNotFound) {
				t.Errorf("missing cgroup: err %v", err)
			}
			if _, err := h.Open(ctx, "/kubepods/../../etc"); !errors.Is(err, cgroupx.ErrInvalid) {
				t.Errorf("escaping path: err %v", err)
			}
			if _, err := h.OpenPID(ctx, 999); !errors.Is(err, cgroupx.ErrNotFound) {
				t.Errorf("missing pid: err %v", err)
			}
			if _, err := h.OpenPID(ctx, -1); !errors.Is(err, cgroupx.ErrInvalid) {
				t.Errorf("bad pid: err %v", err)
			}
		})
	}
}

func TestNewHostErrors(t *testing.T) {
	ctx := t.Context()
	if _, err := cgroupx.NewHost(ctx, cgroupx.WithRoot("relative")); !errors.Is(err, cgroupx.ErrInvalid) {
		t.Errorf("relative root: %v", err)
	}
	if _, err := cgroupx.NewHost(ctx, cgroupx.WithRoot(t.TempDir())); !errors.Is(err, cgroupx.ErrNotFound) {
		t.Errorf("empty root: %v", err)
	}
	tree := cgroupxtest.New(t, cgroupxtest.V2)
	tree.WriteHostFile("proc/self/mountinfo", "25 1 254:0 / / rw - ext4 /dev/vda rw\n")
	if _, err := cgroupx.NewHost(ctx, cgroupx.WithRoot(tree.Root)); !errors.Is(err, cgroupx.ErrUnsupported) {
		t.Errorf("no cgroups: %v", err)
	}
	cctx, cancel := context.WithCancel(ctx)
	cancel()
	if _, err := cgroupx.NewHost(cctx, cgroupx.WithRoot(tree.Root)); !errors.Is(err, context.Canceled) {
		t.Errorf("canceled: %v", err)
	}
}

func TestMeminfoNested(t *testing.T) {
	ctx := t.Context()
	for _, l := range layouts {
		t.Run(l.name, func(t *testing.T) {
			tree := cgroupxtest.New(t, l.layout)
			// The parent's 512 MiB limit is below the child's 1 GiB: the
			// child sees 512 MiB.
			tree.SetMemory("/pod", cgroupxtest.Memory{Limit: 512 << 20, SwapLimit: 64 << 20})
			tree.SetMemory("/pod/ctr", cgroupxtest.Memory{
				Limit: 1 << 30, SwapLimit: 128 << 20, Usage: 300 << 20, Swap: 16 << 20,
				Cache: 120 << 20, RSS: 150 << 20, Shmem: 40 << 20, Mapped: 10 << 20, Dirty: 1 << 20, Writeback: 4096,
				ActiveAnon: 100 << 20, InactiveAnon: 90 << 20, ActiveFile: 50 << 20, InactiveFile: 30 << 20,
				Unevictable: 8192, SlabReclaimable: 5 << 20, SlabUnreclaimable: 3 << 20,
			})
			h := newHost(ctx, t, tree)
			m, err := open(ctx, t, h, "/pod/ctr").Meminfo(ctx)
			if err != nil {
				t.Fatal(err)
			}
			slabR := uint64(5 << 20)
			if l.layout != cgroupxtest.V2 {
				slabR = 0 // v1 memory.stat has no slab lines
			}
			want := cgroupx.Meminfo{
				Limit: 512 << 20, Usage: 300 << 20,
				MemTotal: 512 << 20, MemFree: 212 << 20,
				MemAvailable: 212<<20 + 80<<20 + slabR,
				Cached:       120 << 20, Active: 150 << 20, Inactive: 120 << 20,
				ActiveAnon: 100 << 20, InactiveAnon: 90 << 20, ActiveFile: 50 << 20, InactiveFile: 30 << 20,
				Unevictable: 8192, Dirty: 1 << 20, Writeback: 4096, AnonPages: 150 << 20, Mapped: 10 << 20, Shmem: 40 << 20,
				SwapTotal: 64 << 20, SwapFree: 48 << 20,
			}
			if l.layout == cgroupxtest.V2 {
				want.Slab, want.SReclaimable, want.SUnreclaim = 8<<20, 5<<20, 3<<20
			}
			if m != want {
				t.Errorf("meminfo\n got %+v\nwant %+v", m, want)
			}
		})
	}
}

func TestMeminfoHostCap(t *testing.T) {
	ctx := t.Context()
	for _, l := range layouts {
		t.Run(l.name, func(t *testing.T) {
			tree := cgroupxtest.New(t, l.layout)
			tree.SetMemory("/big", cgroupxtest.Memory{Usage: 1 << 30, ActiveFile: 1 << 30})
			tree.SetMemory("/over", cgroupxtest.Memory{Limit: 100 << 20, Usage: 200 << 20, InactiveFile: 1 << 30})
			h := newHost(ctx, t, tree)
			m, err := open(ctx, t, h, "/big").Meminfo(ctx)
			if err != nil {
				t.Fatal(err)
			}
			if m.Limit != cgroupx.Unlimited || m.MemTotal != 16<<30 || m.MemFree != 15<<30 || m.MemAvailable != 16<<30 || m.SwapTotal != 2<<30 {
				t.Errorf("unlimited: %+v", m)
			}
			m, err = open(ctx, t, h, "/over").Meminfo(ctx)
			if err != nil {
				t.Fatal(err)
			}
			if m.MemTotal != 100<<20 || m.MemFree != 0 || m.MemAvailable != 100<<20 {
				t.Errorf("over limit: %+v", m)
			}
		})
	}
}

func TestMeminfoErrors(t *testing.T) {
	ctx := t.Context()
	tree := cgroupxtest.New(t, cgroupxtest.V2)
	tree.SetMemory("/a", cgroupxtest.Memory{Limit: 1 << 20})
	tree.WriteFile("", "/a", "memory.max", "lots\n")
	h := newHost(ctx, t, tree)
	if _, err := open(ctx, t, h, "/a").Meminfo(ctx); !errors.Is(err, cgroupx.ErrInvalid) {
		t.Errorf("bad memory.max: %v", err)
	}
	tree.WriteFile("", "/a", "memory.max", "max\n")
	tree.WriteFile("", "/a", "memory.stat", "anon x\n")
	if _, err := open(ctx, t, h, "/a").Meminfo(ctx); !errors.Is(err, cgroupx.ErrInvalid) {
		t.Errorf("bad memory.stat: %v", err)
	}
}

func TestCPUs(t *testing.T) {
	ctx := t.Context()
	for _, l := range layouts {
		t.Run(l.name, func(t *testing.T) {
			tree := cgroupxtest.New(t, l.layout)
			tree.SetCPU("/pod", 150000, 100000)     // 1.5 CPUs
			tree.SetCPU("/pod/ctr", 300000, 100000) // 3 CPUs, but the parent caps it
			tree.SetCpuset("/pod/ctr", "0-2")
			tree.SetCPU("/quarter", 25000, 100000)
			tree.SetCpuset("/narrow", "3")
			tree.Mkdir("/free")
			h := newHost(ctx, t, tree)
			for _, tc := range []struct {
				path   string
				eff    int
				quota  float64
				q      int64
				cpuset []int
			}{
				{"/pod/ctr", 2, 1.5, 150000, []int{0, 1, 2}},
				{"/quarter", 1, 0.25, 25000, []int{0, 1, 2, 3}},
				{"/narrow", 1, 0, -1, []int{3}},
				{"/free", 4, 0, -1, []int{0, 1, 2, 3}},
			} {
				c, err := open(ctx, t, h, tc.path).CPUs(ctx)
				if err != nil {
					t.Fatal(err)
				}
				if c.Effective != tc.eff || math.Abs(c.Quota-tc.quota) > 1e-12 || c.QuotaMicros != tc.q ||
					!slices.Equal(c.Cpuset, tc.cpuset) || !slices.Equal(c.Online, []int{0, 1, 2, 3}) {
					t.Errorf("%s: %+v", tc.path, c)
				}
			}
		})
	}
}

func TestCPUTime(t *testing.T) {
	ctx := t.Context()
	for _, l := range layouts {
		t.Run(l.name, func(t *testing.T) {
			tree := cgroupxtest.New(t, l.layout)
			tree.SetCPUUsage("/a", 3e9, 1e9)
			ct, err := open(ctx, t, newHost(ctx, t, tree), "/a").CPUTime(ctx)
			if err != nil {
				t.Fatal(err)
			}
			if ct.Total.Seconds() != 4 || ct.User.Seconds() != 3 || ct.System.Seconds() != 1 {
				t.Errorf("%+v", ct)
			}
		})
	}
}

func TestParseCPUList(t *testing.T) {
	for in, want := range map[string][]int{
		"":            {},
		"0\n":         {0},
		"0-3":         {0, 1, 2, 3},
		"0-1,4,6-7\n": {0, 1, 4, 6, 7},
	} {
		got, err := cgroupx.ParseCPUList(strings.NewReader(in))
		if err != nil || !slices.Equal(got, want) {
			t.Errorf("%q: %v %v", in, got, err)
		}
		if f := cgroupx.FormatCPUList(got); f != strings.TrimSpace(in) {
			t.Errorf("format %v = %q", got, f)
		}
	}
	for _, bad := range []string{"a", "3-1", "1,1", "0-99999999", "-", "1,", "2,1"} {
		if _, err := cgroupx.ParseCPUList(strings.NewReader(bad)); !errors.Is(err, cgroupx.ErrInvalid) {
			t.Errorf("%q: %v", bad, err)
		}
	}
}

func FuzzParseCPUList(f *testing.F) {
	for _, s := range []string{"0-3", "0-1,4,6-7\n", "", "7"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, in string) {
		got, err := cgroupx.ParseCPUList(strings.NewReader(in))
		if err != nil {
			if !errors.Is(err, cgroupx.ErrInvalid) {
				t.Fatal(err)
			}
			return
		}
		for i := 1; i < len(got); i++ {
			if got[i] <= got[i-1] {
				t.Fatalf("%q: not strictly ascending: %v", in, got)
			}
		}
		again, err := cgroupx.ParseCPUList(strings.NewReader(cgroupx.FormatCPUList(got)))
		if err != nil || !slices.Equal(again, got) {
			t.Fatalf("round trip of %v: %v %v", got, again, err)
		}
	})
}

func FuzzParseMeminfo(f *testing.F) {
	f.Add("MemTotal:       24684084 kB\nMemFree:        24317152 kB\nHugePages_Total:       0\n")
	f.Fuzz(func(t *testing.T, in string) {
		m, err := cgroupx.ParseMeminfo(strings.NewReader(in))
		if err != nil {
			if !errors.Is(err, cgroupx.ErrInvalid) {
				t.Fatal(err)
			}
			return
		}
		if m.Usage > m.MemTotal {
			t.Fatalf("usage %d > total %d", m.Usage, m.MemTotal)
		}
	})
}

// TestKeepOpenMatchesPlain reads every layout through a plain handle and a
// KeepOpen one, before and after the files change.
func TestKeepOpenMatchesPlain(t *testing.T) {
	ctx := t.Context()
	for _, l := range layouts {
		t.Run(l.name, func(t *testing.T) {
			tree := cgroupxtest.New(t, l.layout)
			tree.SetMemory("/pod", cgroupxtest.Memory{Limit: 512 << 20})
			tree.SetMemory("/pod/ctr", cgroupxtest.Memory{Limit: 1 << 30, Usage: 100 << 20, ActiveFile: 10 << 20})
			tree.SetCPU("/pod/ctr", 50000, 100000)
			tree.AddProcess("/pod/ctr", cgroupxtest.Process{PID: 10, State: 'R', Threads: []cgroupxtest.Thread{{TID: 11, State: 'D'}}})
			plain := open(ctx, t, newHost(ctx, t, tree), "/pod/ctr")
			kept := plain.KeepOpen()
			defer kept.Close()
			for round := range 2 {
				a, err := plain.Sample(ctx)
				if err != nil {
					t.Fatal(err)
				}
				b, err := kept.Sample(ctx)
				if err != nil {
					t.Fatal(err)
				}
				if a.Memory != b.Memory || a.CPUs.Quota != b.CPUs.Quota || a.Tasks != b.Tasks || a.CPU != b.CPU {
					t.Errorf("round %d: plain %+v\nkept %+v", round, a, b)
				}
				// Change the files in place, as the kernel does.
				tree.SetMemory("/pod/ctr", cgroupxtest.Memory{Limit: 1 << 30, Usage: 200 << 20})
				tree.SetCPU("/pod/ctr", 25000, 100000)
				tree.AddProcess("/pod/ctr", cgroupxtest.Process{PID: 20, State: 'R'})
			}
			m, err := kept.Meminfo(ctx)
			if err != nil || m.Usage != 200<<20 {
				t.Errorf("kept handle did not see the change: %+v %v", m, err)
			}
		})
	}
}

func TestMeminfoV2Root(t *testing.T) {
	ctx := t.Context()
	tree := cgroupxtest.New(t, cgroupxtest.V2)
	m, err := open(ctx, t, newHost(ctx, t, tree), "/").Meminfo(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if m.MemTotal != 16<<30 || m.MemFree != 12<<30 || m.Limit != cgroupx.Unlimited {
		t.Errorf("root meminfo %+v", m)
	}
}

// TestOpenPIDInContainer reads a v1 mount table as a container sees it:
// each hierarchy mounted with its root at the container's cgroup.
func TestOpenPIDInContainer(t *testing.T) {
	ctx := t.Context()
	tree := cgroupxtest.New(t, cgroupxtest.V1)
	tree.SetMemory("/", cgroupxtest.Memory{Usage: 10 << 20})
	mi, err := os.ReadFile(tree.Root + "/proc/self/mountinfo")
	if err != nil {
		t.Fatal(err)
	}
	tree.WriteHostFile("proc/self/mountinfo", strings.ReplaceAll(string(mi), " / /sys/fs/cgroup/", " /docker/abc /sys/fs/cgroup/"))
	tree.WriteHostFile("proc/7/cgroup", "4:memory:/docker/abc\n3:cpu,cpuacct:/docker/abc\n")
	cg, err := newHost(ctx, t, tree).OpenPID(ctx, 7)
	if err != nil {
		t.Fatal(err)
	}
	if cg.Path() != "/" {
		t.Errorf("path %q", cg.Path())
	}
	if m, err := cg.Meminfo(ctx); err != nil || m.Usage != 10<<20 {
		t.Errorf("meminfo %+v %v", m, err)
	}
}
