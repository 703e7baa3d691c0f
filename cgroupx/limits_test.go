package cgroupx_test

import (
	"errors"
	"os"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/shoalkit/shoal/cgroupx"
	"github.com/shoalkit/shoal/cgroupx/cgroupxtest"
)

func TestLimitsRoundTrip(t *testing.T) {
	ctx := t.Context()
	for _, l := range layouts {
		t.Run(l.name, func(t *testing.T) {
			tree := cgroupxtest.New(t, l.layout)
			tree.Mkdir("/ctr")
			ctrl := "blkio"
			if l.layout == cgroupxtest.V2 {
				ctrl = ""
				tree.WriteFile("", "/ctr", "io.weight", "default 100\n")
				tree.WriteFile("", "/ctr", "cpuset.mems", "")
			} else {
				tree.WriteFile("blkio", "/ctr", "blkio.weight", "100\n")
				tree.WriteFile("cpuset", "/ctr", "cpuset.mems", "")
			}
			cg := open(ctx, t, newHost(ctx, t, tree), "/ctr")
			set := cgroupx.Limits{
				Cpuset: ptr("0-1"), Mems: ptr("0"), CPUShares: ptr(uint64(1024)),
				CPUQuota: ptr(int64(50000)), CPUPeriod: ptr(uint64(100000)),
				Memory: ptr(int64(256 << 20)), MemorySwap: ptr(int64(512 << 20)), Pids: ptr(int64(64)),
				BlkioWeight: ptr(uint16(500)),
			}
			if err := cg.SetLimits(ctx, set); err != nil {
				t.Fatal(err)
			}
			got, err := cg.Limits(ctx)
			if err != nil {
				t.Fatal(err)
			}
			if *got.Cpuset != "0-1" || *got.Mems != "0" || *got.CPUQuota != 50000 || *got.CPUPeriod != 100000 ||
				*got.Memory != 256<<20 || *got.MemorySwap != 512<<20 || *got.Pids != 64 || *got.BlkioWeight != 500 {
				t.Errorf("read back %+v", got)
			}
			wantShares := uint64(1024)
			if l.layout == cgroupxtest.V2 {
				// cpu.weight 39 stands for shares 1024; back it reads as
				// the smallest shares with that weight.
				b, _ := os.ReadFile(tree.Dir("", "/ctr") + "/cpu.weight")
				if string(b) != "39" {
					t.Errorf("cpu.weight %q", b)
				}
				if cgroupx.SharesToWeight(*got.CPUShares) != 39 {
					t.Errorf("shares %d do not map back to weight 39", *got.CPUShares)
				}
				wantShares = *got.CPUShares
				if b, _ := os.ReadFile(tree.Dir("", "/ctr") + "/memory.swap.max"); string(b) != "268435456" {
					t.Errorf("memory.swap.max %q", b)
				}
			}
			if *got.CPUShares != wantShares {
				t.Errorf("shares %d", *got.CPUShares)
			}
			// Unlimited again.
			if err := cg.SetLimits(ctx, cgroupx.Limits{CPUQuota: ptr(int64(-1)), Memory: ptr(int64(-1)), Pids: ptr(int64(-1))}); err != nil {
				t.Fatal(err)
			}
			got, err = cg.Limits(ctx)
			if err != nil || *got.CPUQuota != -1 || *got.Memory != -1 || *got.Pids != -1 {
				t.Errorf("unlimited: %+v %v", got, err)
			}
			_ = ctrl
		})
	}
}

func TestLimitsThrottles(t *testing.T) {
	ctx := t.Context()
	// v1 files are one device a line; the fixture's file stands in for the
	// kernel's, which would merge writes, so write one device at a time.
	tree := cgroupxtest.New(t, cgroupxtest.V1)
	tree.Mkdir("/ctr")
	cg := open(ctx, t, newHost(ctx, t, tree), "/ctr")
	if err := cg.SetLimits(ctx, cgroupx.Limits{ReadBPS: []cgroupx.DeviceRate{{Major: 8, Minor: 0, Rate: 1 << 20}}, WriteIOPS: []cgroupx.DeviceRate{{Major: 254, Minor: 16, Rate: 100}}}); err != nil {
		t.Fatal(err)
	}
	got, err := cg.Limits(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(got.ReadBPS, []cgroupx.DeviceRate{{Major: 8, Minor: 0, Rate: 1 << 20}}) || !slices.Equal(got.WriteIOPS, []cgroupx.DeviceRate{{Major: 254, Minor: 16, Rate: 100}}) {
		t.Errorf("v1 throttles %+v", got)
	}

	tree2 := cgroupxtest.New(t, cgroupxtest.V2)
	tree2.WriteFile("", "/ctr", "io.max", "8:0 rbps=1048576 wbps=max riops=max wiops=300\n")
	cg2 := open(ctx, t, newHost(ctx, t, tree2), "/ctr")
	got, err = cg2.Limits(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(got.ReadBPS, []cgroupx.DeviceRate{{Major: 8, Minor: 0, Rate: 1 << 20}}) || !slices.Equal(got.WriteIOPS, []cgroupx.DeviceRate{{Major: 8, Minor: 0, Rate: 300}}) || got.WriteBPS != nil {
		t.Errorf("v2 throttles %+v", got)
	}
	if err := cg2.SetLimits(ctx, cgroupx.Limits{WriteBPS: []cgroupx.DeviceRate{{Major: 8, Minor: 0, Rate: 0}}}); err != nil {
		t.Fatal(err)
	}
	if b, _ := os.ReadFile(tree2.Dir("", "/ctr") + "/io.max"); string(b) != "8:0 wbps=max" {
		t.Errorf("io.max written %q", b)
	}
}

func TestLimitsMissingKnob(t *testing.T) {
	ctx := t.Context()
	for _, l := range layouts {
		t.Run(l.name, func(t *testing.T) {
			tree := cgroupxtest.New(t, l.layout)
			tree.Mkdir("/ctr")
			cg := open(ctx, t, newHost(ctx, t, tree), "/ctr")
			// No CFQ or BFQ: the fixture has no weight files.
			err := cg.SetLimits(ctx, cgroupx.Limits{BlkioWeight: ptr(uint16(100))})
			if !errors.Is(err, cgroupx.ErrUnsupported) || !strings.Contains(err.Error(), "weight") {
				t.Errorf("weight without a scheduler: %v", err)
			}
			// A knob removed from the tree is named in the error.
			name := "memory.limit_in_bytes"
			dir := tree.Dir("memory", "/ctr")
			if l.layout == cgroupxtest.V2 {
				name, dir = "memory.max", tree.Dir("", "/ctr")
			}
			if err := os.Remove(dir + "/" + name); err != nil {
				t.Fatal(err)
			}
			err = cg.SetLimits(ctx, cgroupx.Limits{Memory: ptr(int64(1 << 20))})
			if !errors.Is(err, cgroupx.ErrUnsupported) || !strings.Contains(err.Error(), name) {
				t.Errorf("missing %s: %v", name, err)
			}
		})
	}
}

func TestPressure(t *testing.T) {
	ctx := t.Context()
	for _, l := range layouts {
		t.Run(l.name, func(t *testing.T) {
			tree := cgroupxtest.New(t, l.layout)
			tree.Mkdir("/ctr")
			cg := open(ctx, t, newHost(ctx, t, tree), "/ctr")
			if l.layout == cgroupxtest.V1 {
				if _, err := cg.Pressure(ctx); !errors.Is(err, cgroupx.ErrUnsupported) {
					t.Errorf("v1 pressure: %v", err)
				}
				return
			}
			tree.WriteFile("", "/ctr", "memory.pressure", "some avg10=1.50 avg60=0.25 avg300=0.00 total=123456\nfull avg10=0.10 avg60=0.00 avg300=0.00 total=789\n")
			p, err := cg.Pressure(ctx)
			if err != nil {
				t.Fatal(err)
			}
			want := cgroupx.PressureStats{
				Some: cgroupx.PressureLine{Avg10: 1.5, Avg60: 0.25, Total: 123456 * time.Microsecond},
				Full: cgroupx.PressureLine{Avg10: 0.1, Total: 789 * time.Microsecond},
			}
			if p.Memory != want || p.CPU != (cgroupx.PressureStats{}) {
				t.Errorf("pressure %+v", p)
			}
		})
	}
}

func TestIO(t *testing.T) {
	ctx := t.Context()
	tree := cgroupxtest.New(t, cgroupxtest.V1)
	tree.WriteFile("blkio", "/ctr", "blkio.throttle.io_service_bytes_recursive", "8:0 Read 4096\n8:0 Write 8192\n8:0 Sync 0\n8:0 Async 12288\n8:0 Discard 0\n8:0 Total 12288\n254:0 Write 100\nTotal 12388\n")
	tree.WriteFile("blkio", "/ctr", "blkio.throttle.io_serviced_recursive", "8:0 Read 1\n8:0 Write 2\n8:0 Total 3\n254:0 Write 1\nTotal 4\n")
	got, err := open(ctx, t, newHost(ctx, t, tree), "/ctr").IO(ctx)
	if err != nil {
		t.Fatal(err)
	}
	want := []cgroupx.DeviceIO{{Major: 8, ReadBytes: 4096, WriteBytes: 8192, ReadOps: 1, WriteOps: 2}, {Major: 254, WriteBytes: 100, WriteOps: 1}}
	if !slices.Equal(got, want) {
		t.Errorf("v1 io %+v", got)
	}
	tree2 := cgroupxtest.New(t, cgroupxtest.V2)
	tree2.WriteFile("", "/ctr", "io.stat", "259:0 rbytes=10 wbytes=20 rios=1 wios=2 dbytes=0 dios=0\n8:0 rbytes=1 wbytes=2 rios=3 wios=4 dbytes=0 dios=0\n")
	got, err = open(ctx, t, newHost(ctx, t, tree2), "/ctr").IO(ctx)
	if err != nil {
		t.Fatal(err)
	}
	want = []cgroupx.DeviceIO{{Major: 8, ReadBytes: 1, WriteBytes: 2, ReadOps: 3, WriteOps: 4}, {Major: 259, ReadBytes: 10, WriteBytes: 20, ReadOps: 1, WriteOps: 2}}
	if !slices.Equal(got, want) {
		t.Errorf("v2 io %+v", got)
	}
}

func TestTop(t *testing.T) {
	ctx := t.Context()
	tree := cgroupxtest.New(t, cgroupxtest.V2)
	tree.AddProcess("/ctr", cgroupxtest.Process{PID: 1, Comm: "init", UTime: 100, RSSPages: 10})
	tree.AddProcess("/ctr", cgroupxtest.Process{PID: 2, Comm: "busy", UTime: 100, STime: 50})
	cg := open(ctx, t, newHost(ctx, t, tree), "/ctr")
	prev, err := cg.Processes(ctx)
	if err != nil {
		t.Fatal(err)
	}
	tree.AddProcess("/other", cgroupxtest.Process{PID: 2, Comm: "busy", UTime: 250, STime: 100}) // rewrites /proc/2
	tree.AddProcess("/ctr", cgroupxtest.Process{PID: 3, Comm: "new"})
	cur, err := cg.Processes(ctx)
	if err != nil {
		t.Fatal(err)
	}
	top := cgroupx.Top(prev, cur, 2*time.Second)
	if len(top) != 3 || top[0].PID != 2 || top[0].CPUPercent != 100 || top[1].PID != 1 || top[1].CPUPercent != 0 ||
		top[1].RSS != uint64(10*os.Getpagesize()) || top[2].PID != 3 { //nolint:gosec // positive
		t.Errorf("top %+v", top)
	}
}
