package cgroupx_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/shoalkit/shoal/cgroupx"
	"github.com/shoalkit/shoal/internal/testenv"
)

// waitFor polls cond every 50 ms until it holds or 15 s pass.
func waitFor(t *testing.T, what string, cond func() (bool, string)) {
	t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for {
		ok, state := cond()
		if ok {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s: %s", what, state)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func ptr[T any](v T) *T { return &v }

func btoi(b bool) int {
	if b {
		return 1
	}
	return 0
}

// mkChild makes a sub-cgroup of cg in every hierarchy (testenv removes it
// with cg), giving a v1 cpuset group its parent's CPUs and memory nodes.
func mkChild(t *testing.T, cg *testenv.Cgroup, name string) {
	t.Helper()
	for _, d := range cg.Dirs() {
		child := filepath.Join(d, name)
		if err := os.Mkdir(child, 0o755); err != nil {
			t.Fatal(err)
		}
		for _, f := range []string{"cpuset.cpus", "cpuset.mems"} {
			if b, err := os.ReadFile(filepath.Join(d, f)); err == nil && d != cg.V2 {
				if err := os.WriteFile(filepath.Join(child, f), b, 0o644); err != nil {
					t.Fatal(err)
				}
			}
		}
	}
}

// TestIntegrationContainer runs a small container on the real cgroups of
// the machine: a cgroup limited to 256 MiB and half a CPU, holding a
// process that allocates 64 MiB, one that wrote 32 MiB to tmpfs and 8 MiB
// to disk with O_DIRECT, a busy loop, a sleeper frozen by the v1 freezer
// (shown in state D) and a vfork parent waiting for its sleeping child
// (state D, counted in load by the kernel too). Every value cgroupx reports
// is checked against what was done.
func TestIntegrationContainer(t *testing.T) {
	testenv.Require(t, testenv.Cgroups)
	ctx := t.Context()
	cg := testenv.NewCgroup(t)
	host, err := cgroupx.NewHost(ctx)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("host mode %v, controllers %v", host.Mode(), host.Controllers())
	ctr, err := host.Open(ctx, cg.Name)
	if err != nil {
		t.Fatal(err)
	}

	// Limits, set and read back.
	const memLimit = 256 << 20
	if err := ctr.SetLimits(ctx, cgroupx.Limits{
		Memory: ptr(int64(memLimit)), CPUQuota: ptr(int64(50000)), CPUPeriod: ptr(uint64(100000)),
		CPUShares: ptr(uint64(512)), Pids: ptr(int64(100)),
	}); err != nil {
		t.Fatal(err)
	}
	lim, err := ctr.Limits(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if lim.Memory == nil || *lim.Memory != memLimit || lim.CPUQuota == nil || *lim.CPUQuota != 50000 ||
		lim.CPUPeriod == nil || *lim.CPUPeriod != 100000 || lim.Pids == nil || *lim.Pids != 100 {
		t.Errorf("limits read back: %+v", lim)
	}
	if ctr.Version() == 1 && (lim.CPUShares == nil || *lim.CPUShares != 512) {
		t.Errorf("shares read back: %v", lim.CPUShares)
	}

	// Block I/O knobs: the weight needs CFQ or BFQ, and a host without
	// either must say which knob it lacks.
	var rootDev syscall.Stat_t
	if err := syscall.Stat(t.TempDir(), &rootDev); err != nil {
		t.Fatal(err)
	}
	major, minor := uint32(rootDev.Dev>>8&0xfff), uint32(rootDev.Dev&0xff|(rootDev.Dev>>12)&0xfff00) //nolint:gosec // device numbers
	err = ctr.SetLimits(ctx, cgroupx.Limits{BlkioWeight: ptr(uint16(300))})
	if err != nil {
		if !errors.Is(err, cgroupx.ErrUnsupported) || !strings.Contains(err.Error(), "weight") {
			t.Errorf("blkio weight: %v", err)
		}
		t.Logf("blkio weight: %v", err)
	} else if lim, err := ctr.Limits(ctx); err != nil || lim.BlkioWeight == nil || *lim.BlkioWeight != 300 {
		t.Errorf("blkio weight read back: %v %v", lim.BlkioWeight, err)
	}
	// The temp dir's file system sits on a block device here; on an
	// overlay or tmpfs (major 0) there is no device to throttle or count.
	blockDev := major != 0
	if !blockDev {
		t.Logf("temp dir on device %d:%d, not a block device: throttle and I/O checks skipped", major, minor)
	}
	bps := []cgroupx.DeviceRate{{Major: major, Minor: minor, Rate: 512 << 20}}
	if blockDev {
		if err := ctr.SetLimits(ctx, cgroupx.Limits{WriteBPS: bps}); err != nil {
			t.Errorf("write bps on %d:%d: %v", major, minor, err)
		} else if lim, err := ctr.Limits(ctx); err != nil || !slices.Equal(lim.WriteBPS, bps) {
			t.Errorf("write bps read back: %v %v", lim.WriteBPS, err)
		}
	}

	// A child with looser limits of its own sees its parent's.
	mkChild(t, cg, "inner")
	inner, err := host.Open(ctx, cg.Name+"/inner")
	if err != nil {
		t.Fatal(err)
	}
	if err := inner.SetLimits(ctx, cgroupx.Limits{Memory: ptr(int64(1 << 30)), Cpuset: ptr("0")}); err != nil {
		t.Fatal(err)
	}
	if m, err := inner.Meminfo(ctx); err != nil || m.MemTotal != memLimit || m.Limit != memLimit {
		t.Errorf("inner meminfo: %+v %v", m, err)
	}
	if c, err := inner.CPUs(ctx); err != nil || c.Quota != 0.5 || c.QuotaMicros != 50000 || c.Effective != 1 || !slices.Equal(c.Cpuset, []int{0}) {
		t.Errorf("inner cpus: %+v %v", c, err)
	}

	// A KeepOpen handle re-reads its open files: it must see the workload
	// arrive exactly as a fresh open does.
	kept := ctr.KeepOpen()
	defer kept.Close()
	if m, err := kept.Meminfo(ctx); err != nil || m.MemTotal != memLimit {
		t.Fatalf("kept meminfo before: %+v %v", m, err)
	}

	keptInner := inner.KeepOpen()
	defer keptInner.Close()
	if _, err := keptInner.Meminfo(ctx); err != nil {
		t.Fatal(err)
	}
	for _, d := range cg.Dirs() {
		if err := os.Remove(filepath.Join(d, "inner")); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := keptInner.Meminfo(ctx); !errors.Is(err, cgroupx.ErrNotFound) {
		t.Errorf("kept handle on a removed cgroup: %v", err)
	}

	// The workload.
	started := time.Now()
	hog := cg.Start(t, "perl", "-e", `my $x = "a" x (64 << 20); sleep 1000`)
	shm := filepath.Join("/dev/shm", "shoal-cgroupx-"+strconv.Itoa(os.Getpid())+"-"+cg.Name)
	t.Cleanup(func() { os.Remove(shm) })
	disk := filepath.Join(t.TempDir(), "direct")
	writer := cg.Start(t, "sh", "-c", `dd if=/dev/zero of="$1" bs=1M count=32 2>/dev/null && dd if=/dev/zero of="$2" bs=1M count=8 oflag=direct 2>/dev/null && exec sleep 1000`, "sh", shm, disk)
	spin := cg.Start(t, "sh", "-c", "while :; do :; done")
	sleeper := cg.Start(t, "sleep", "1000")
	pids := []int{hog.Pid, writer.Pid, spin.Pid, sleeper.Pid}
	// A vfork parent waits for its child in uninterruptible sleep, state D,
	// and counts in the kernel's load: the child sleeps and never execs.
	// perl's syscall(58) is vfork on amd64.
	vforks := runtime.GOARCH == "amd64"
	if vforks {
		vf := cg.Start(t, "perl", "-e", `my $pid = syscall(58); if ($pid == 0) { select(undef, undef, undef, 1000); exit 0 } sleep 1000`)
		pids = append(pids, vf.Pid)
		waitFor(t, "the vfork parent in D", func() (bool, string) {
			b, _ := os.ReadFile("/proc/" + strconv.Itoa(vf.Pid) + "/stat")
			st, err := cgroupx.ParseProcStat(bytes.NewReader(b))
			return err == nil && st.Comm == "perl" && st.State == 'D', string(b)
		})
	}
	// testenv's shell joins every hierarchy and then execs: wait for the
	// exec, so that no process is caught half-way.
	for _, p := range []struct {
		pid  int
		comm string
	}{{hog.Pid, "perl"}, {writer.Pid, "sleep"}, {sleeper.Pid, "sleep"}} {
		waitFor(t, "exec of "+p.comm, func() (bool, string) {
			b, _ := os.ReadFile("/proc/" + strconv.Itoa(p.pid) + "/comm")
			return strings.TrimSpace(string(b)) == p.comm, string(b)
		})
	}

	frozen := false
	if fz := cg.V1["freezer"]; fz != "" {
		dir := filepath.Join(fz, "frozen")
		if err := os.Mkdir(dir, 0o755); err != nil {
			t.Fatal(err)
		}
		// A frozen task cannot die: thaw before the processes' Stop
		// cleanups, which were registered earlier and so run later.
		t.Cleanup(func() { _ = os.WriteFile(filepath.Join(dir, "freezer.state"), []byte("THAWED"), 0o644) })
		if err := os.WriteFile(filepath.Join(dir, "cgroup.procs"), []byte(strconv.Itoa(sleeper.Pid)), 0o644); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, "freezer.state"), []byte("FROZEN"), 0o644); err != nil {
			t.Fatal(err)
		}
		waitFor(t, "freezer", func() (bool, string) {
			b, _ := os.ReadFile(filepath.Join(dir, "freezer.state"))
			return strings.TrimSpace(string(b)) == "FROZEN", string(b)
		})
		frozen = true
	} else {
		t.Log("no v1 freezer: the D-state part is skipped")
	}

	var m cgroupx.Meminfo
	waitFor(t, "the workload's memory", func() (bool, string) {
		m, err = ctr.Meminfo(ctx)
		if err != nil {
			t.Fatal(err)
		}
		_, derr := os.Stat(disk)
		return m.AnonPages >= 64<<20 && m.Shmem >= 32<<20 && derr == nil, strconv.FormatUint(m.AnonPages, 10)
	})
	t.Logf("meminfo: %+v", m)
	const slack = 4 << 20
	if m.MemTotal != memLimit || m.Limit != memLimit {
		t.Errorf("MemTotal %d, Limit %d, want %d", m.MemTotal, m.Limit, memLimit)
	}
	if m.Usage < 96<<20 || m.MemFree != m.MemTotal-m.Usage {
		t.Errorf("usage %d, free %d", m.Usage, m.MemFree)
	}
	if m.MemAvailable > m.MemTotal || m.MemAvailable < m.MemFree || m.MemAvailable > m.MemTotal-m.AnonPages-m.Shmem+slack {
		t.Errorf("MemAvailable %d counts anon or shmem (free %d, anon %d, shmem %d)", m.MemAvailable, m.MemFree, m.AnonPages, m.Shmem)
	}
	if m.Cached < m.Shmem || m.Active+m.Inactive < m.AnonPages+m.Shmem-slack {
		t.Errorf("cached %d, active %d, inactive %d", m.Cached, m.Active, m.Inactive)
	}

	// Renderers over the real host file round-trip the container's values.
	hostMeminfo, err := os.ReadFile("/proc/meminfo")
	if err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	if err := cgroupx.WriteMeminfo(&buf, m, bytes.NewReader(hostMeminfo)); err != nil {
		t.Fatal(err)
	}
	if back, err := cgroupx.ParseMeminfo(&buf); err != nil || back.MemTotal != memLimit || back.MemFree != m.MemFree/1024*1024 {
		t.Errorf("rendered meminfo parses back as %+v, %v", back, err)
	}

	cpus, err := ctr.CPUs(ctx)
	if err != nil || cpus.Quota != 0.5 || cpus.Effective != 1 || len(cpus.Online) == 0 {
		t.Errorf("cpus: %+v %v", cpus, err)
	}

	got, err := ctr.PIDs(ctx)
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range pids {
		if !slices.Contains(got, p) {
			t.Errorf("pids %v lack %d", got, p)
		}
	}

	// Single-threaded processes: the busy loop runs (throttled or not, it
	// stays R), the frozen sleeper and the vfork parent are D.
	wantD, wantTotal := 0, 4
	if frozen {
		wantD++
	}
	if vforks {
		wantD, wantTotal = wantD+1, wantTotal+2
	}
	var tc cgroupx.TaskCount
	waitFor(t, "task states", func() (bool, string) {
		tc, err = ctr.CountTasks(ctx)
		if err != nil {
			t.Fatal(err)
		}
		return tc.Total == wantTotal && tc.Running == 1 && tc.Uninterruptible == wantD, fmt.Sprintf("%+v", tc)
	})
	if ktc, err := kept.CountTasks(ctx); err != nil || ktc != tc {
		t.Errorf("kept count %+v %v, plain %+v", ktc, err, tc)
	}
	if km, err := kept.Meminfo(ctx); err != nil || km.AnonPages < 64<<20 || km.Shmem < 32<<20 {
		t.Errorf("kept meminfo after the workload: %+v %v", km, err)
	}
	if tc.LastPID < slices.Max(pids) {
		t.Errorf("last pid %d < %d", tc.LastPID, slices.Max(pids))
	}
	lt := cgroupx.NewLoadTracker(ctr, cgroupx.LoadConfig{})
	want := [3]uint64{}
	for range 3 {
		if err := lt.Sample(ctx); err != nil {
			t.Fatal(err)
		}
		for i, e := range []uint64{cgroupx.Exp1, cgroupx.Exp5, cgroupx.Exp15} {
			want[i] = cgroupx.CalcLoad(want[i], e, uint64(1+wantD)*cgroupx.Fixed1)
		}
	}
	if l := lt.Load(); l.Avenrun != want || l.Total != wantTotal || l.Running != 1 {
		t.Errorf("load %+v, want avenrun %v", l, want)
	}

	// Half a CPU: over two seconds the busy loop gets at most one second.
	before, err := ctr.CPUTime(ctx)
	if err != nil {
		t.Fatal(err)
	}
	top, err := ctr.Top(ctx, 2*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	after, err := ctr.CPUTime(ctx)
	if err != nil {
		t.Fatal(err)
	}
	// The quota is a ceiling, not a guarantee: on a busy machine the loop
	// may get less, never more (one period of slack for the edges).
	if used := after.Total - before.Total; used <= 0 || used > 1100*time.Millisecond {
		t.Errorf("cpu used over 2 s at 0.5 cpu: %v", used)
	}
	if len(top) != len(pids)+btoi(vforks) || top[0].PID != spin.Pid || top[0].CPUPercent <= 0 || top[0].CPUPercent > 55 {
		t.Errorf("top: %+v", top)
	}
	for _, e := range top {
		if e.PID == hog.Pid && e.RSS < 64<<20 {
			t.Errorf("hog rss %d", e.RSS)
		}
	}

	up, err := ctr.Uptime(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if up.InitPID != hog.Pid || up.Uptime <= 0 || up.Uptime > time.Since(started)+time.Second || up.Idle > up.Uptime {
		t.Errorf("uptime %+v (started %v ago)", up, time.Since(started))
	}

	ios, err := ctr.IO(ctx)
	if err != nil {
		t.Fatal(err)
	}
	i := slices.IndexFunc(ios, func(d cgroupx.DeviceIO) bool { return d.Major == major && d.Minor == minor })
	if blockDev && (i < 0 || ios[i].WriteBytes < 8<<20 || ios[i].WriteOps < 8) {
		t.Errorf("io on %d:%d: %+v", major, minor, ios)
	}

	du, err := ctr.DiskUsage(ctx, hog.Pid)
	if err != nil {
		t.Fatal(err)
	}
	var st syscall.Statfs_t
	if err := syscall.Statfs("/", &st); err != nil {
		t.Fatal(err)
	}
	j := slices.IndexFunc(du, func(d cgroupx.DiskUsage) bool { return d.MountPoint == "/" })
	if j < 0 || du[j].Total != st.Blocks*uint64(st.Bsize) { //nolint:gosec // positive
		t.Errorf("disk usage of /: %+v", du)
	}

	if cg.V2 != "" {
		if _, err := ctr.Pressure(ctx); err != nil {
			t.Errorf("pressure from %s: %v", cg.V2, err)
		}
	} else if _, err := ctr.Pressure(ctx); !errors.Is(err, cgroupx.ErrUnsupported) {
		t.Errorf("pressure without cgroup2: %v", err)
	}

	byPID, err := host.OpenPID(ctx, spin.Pid)
	if err != nil || byPID.Path() != "/"+cg.Name {
		t.Errorf("open by pid: %v %v", byPID, err)
	}
}

// TestIntegrationOwnCgroup reads the cgroup this test runs in, whatever it
// is, and checks it against the host.
func TestIntegrationOwnCgroup(t *testing.T) {
	testenv.Require(t, testenv.Cgroups)
	ctx := context.Background()
	host, err := cgroupx.NewHost(ctx)
	if err != nil {
		t.Fatal(err)
	}
	cg, err := host.OpenPID(ctx, os.Getpid())
	if err != nil {
		t.Fatal(err)
	}
	m, err := cg.Meminfo(ctx)
	if err != nil {
		t.Fatal(err)
	}
	hm, err := host.HostMeminfo(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if m.MemTotal == 0 || m.MemTotal > hm.MemTotal || m.SwapTotal > hm.SwapTotal {
		t.Errorf("meminfo %+v, host %+v", m, hm)
	}
	tc, err := cg.CountTasks(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if tc.Total < 1 || tc.Running < 1 { // this thread runs
		t.Errorf("tasks %+v", tc)
	}
}
