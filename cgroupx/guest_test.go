package cgroupx_test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/shoalkit/shoal/cgroupx"
	"github.com/shoalkit/shoal/internal/testenv"
)

// The cgroup v2 tests on a real kernel: this host is hybrid, so they run in
// a user-mode-Linux guest (testenv.RunGuest), a pure cgroup2 machine with
// cpu, io, memory and pids enforced. That kernel has no cpuset controller
// and no PSI: those stay on fixture trees.

// guestChildEnv names what a child of the guest test does: the test binary
// runs itself again, forked straight into the test cgroup.
const guestChildEnv = "CGROUPX_GUEST_CHILD"

func TestMain(m *testing.M) {
	testenv.GuestInit()
	if role := os.Getenv(guestChildEnv); role != "" {
		os.Exit(guestChild(role))
	}
	os.Exit(m.Run())
}

// guestChild is a child process of the guest test: "burn" spins until
// killed, "hog" touches 100 MiB, "disk" reads 1 MiB of the guest's disk.
func guestChild(role string) int {
	switch role {
	case "burn":
		n := 0
		for n >= 0 {
			n = (n + 1) & 0xffff
		}
		return n
	case "hog":
		// MAP_POPULATE faults the 100 MiB in inside the kernel: a fault
		// from user space costs a round trip through the host in UML.
		b, err := unix.Mmap(-1, 0, 100<<20, unix.PROT_READ|unix.PROT_WRITE, unix.MAP_PRIVATE|unix.MAP_ANONYMOUS|unix.MAP_POPULATE)
		if err != nil {
			return 5
		}
		b[len(b)-1] = 1
		return 0 // survived: the test fails
	case "disk":
		f, err := os.Open("/dev/ubda")
		if err != nil {
			return 2
		}
		defer f.Close()
		buf := make([]byte, 1<<20)
		if _, err := f.ReadAt(buf, 0); err != nil {
			return 3
		}
		return 0
	}
	return 4
}

func TestV2OnRealKernel(t *testing.T) {
	res := testenv.RunGuest(t, testenv.GuestConfig{Run: "^TestGuestV2$", Args: []string{"-test.v", "-test.timeout=60s"}})
	if res.ExitCode != 0 || !strings.Contains(res.Output, "--- PASS: TestGuestV2") {
		t.Fatalf("guest exit code %d. Console:\n%s", res.ExitCode, res.Output)
	}
	if testing.Verbose() {
		t.Logf("guest console:\n%s", res.Output)
	}
}

// startIn forks the test binary with role straight into the cgroup at dir
// (clone3 with CLONE_INTO_CGROUP), so it never runs elsewhere.
func startIn(t *testing.T, dir, role string) (*exec.Cmd, error) {
	t.Helper()
	fd, err := unix.Open(dir, unix.O_PATH|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer unix.Close(fd)
	cmd := exec.Command("/proc/self/exe")
	cmd.Env = append(os.Environ(), guestChildEnv+"="+role)
	cmd.SysProcAttr = &syscall.SysProcAttr{UseCgroupFD: true, CgroupFD: fd}
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
	})
	return cmd, nil
}

func TestGuestV2(t *testing.T) {
	if !testenv.InGuest() {
		t.Skip("runs inside the user-mode-Linux guest of TestV2OnRealKernel")
	}
	ctx, cancel := context.WithTimeout(t.Context(), time.Minute)
	defer cancel()
	host, err := cgroupx.NewHost(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if host.Mode() != cgroupx.ModeV2 {
		t.Fatalf("mode %v, want v2", host.Mode())
	}
	if got := host.Controllers(); !slices.Equal(got, []string{"cpu", "io", "memory", "pids"}) {
		t.Errorf("controllers %q, want cpu io memory pids", got)
	}
	const dir = "/sys/fs/cgroup/ctr"
	if err := os.Mkdir(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	cg, err := host.Open(ctx, "/ctr")
	if err != nil {
		t.Fatal(err)
	}

	// Limits written are the limits read back, in the kernel's own files.
	set := cgroupx.Limits{
		CPUShares: ptr(uint64(1024)), CPUQuota: ptr(int64(20000)), CPUPeriod: ptr(uint64(100000)),
		Memory: ptr(int64(64 << 20)), Pids: ptr(int64(32)),
		ReadBPS:   []cgroupx.DeviceRate{{Major: 98, Minor: 0, Rate: 8 << 20}},
		WriteIOPS: []cgroupx.DeviceRate{{Major: 98, Minor: 0, Rate: 100}},
	}
	if err := cg.SetLimits(ctx, set); err != nil {
		t.Fatal(err)
	}
	got, err := cg.Limits(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if got.CPUQuota == nil || *got.CPUQuota != 20000 || got.CPUPeriod == nil || *got.CPUPeriod != 100000 ||
		got.Memory == nil || *got.Memory != 64<<20 || got.Pids == nil || *got.Pids != 32 ||
		got.CPUShares == nil || cgroupx.SharesToWeight(*got.CPUShares) != cgroupx.SharesToWeight(1024) {
		t.Errorf("limits read back %s", fmtLimits(got))
	}
	if !slices.Equal(got.ReadBPS, set.ReadBPS) || !slices.Equal(got.WriteIOPS, set.WriteIOPS) || got.WriteBPS != nil || got.ReadIOPS != nil {
		t.Errorf("io.max read back rbps %v wiops %v wbps %v riops %v", got.ReadBPS, got.WriteIOPS, got.WriteBPS, got.ReadIOPS)
	}
	if b, _ := os.ReadFile(dir + "/cpu.max"); string(b) != "20000 100000\n" {
		t.Errorf("cpu.max %q", b)
	}
	if b, _ := os.ReadFile(dir + "/memory.max"); string(b) != "67108864\n" {
		t.Errorf("memory.max %q", b)
	}
	if got.Cpuset != nil {
		t.Errorf("cpuset %q on a kernel without the cpuset controller", *got.Cpuset)
	}

	// What the container sees.
	mem, err := cg.Meminfo(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if mem.MemTotal != 64<<20 || mem.Limit != 64<<20 {
		t.Errorf("MemTotal %d, Limit %d, want 64 MiB", mem.MemTotal, mem.Limit)
	}
	cpus, err := cg.CPUs(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if cpus.Effective != 1 || cpus.Quota != 0.2 || cpus.QuotaMicros != 20000 || cpus.PeriodMicros != 100000 {
		t.Errorf("cpus %+v", cpus)
	}

	// A spinning process: counted, loaded, throttled.
	burn, err := startIn(t, dir, "burn")
	if err != nil {
		t.Fatal(err)
	}
	pid := burn.Process.Pid
	waitFor(t, "the burner to be throttled", func() (bool, string) {
		th, err := cg.Throttling(ctx)
		return err == nil && th.ThrottledPeriods > 0 && th.Throttled > 0, fmtAny(th, err)
	})
	th, err := cg.Throttling(ctx)
	if err != nil || th.Periods < th.ThrottledPeriods {
		t.Errorf("throttling %+v %v", th, err)
	}
	pids, err := cg.PIDs(ctx)
	if err != nil || !slices.Equal(pids, []int{pid}) {
		t.Errorf("pids %v %v, want [%d]", pids, err, pid)
	}
	lt := cgroupx.NewLoadTracker(cg, cgroupx.LoadConfig{})
	waitFor(t, "a runnable thread", func() (bool, string) {
		tc, err := cg.CountTasks(ctx)
		if err == nil && tc.Running > 0 {
			lt.Fold(tc, 1)
		}
		return err == nil && tc.Running > 0 && tc.LastPID >= pid, fmtAny(tc, err)
	})
	if l := lt.Load(); l.Load1 <= 0 || l.Running < 1 || l.Total < 1 {
		t.Errorf("load %+v", l)
	}
	used, err := cg.CPUTime(ctx)
	if err != nil || used.Total <= 0 || used.User <= 0 {
		t.Errorf("cpu time %+v %v", used, err)
	}
	procs, err := cg.Processes(ctx)
	if err != nil || len(procs) != 1 || procs[0].PID != pid || procs[0].CPU <= 0 {
		t.Errorf("processes %+v %v", procs, err)
	}
	up, err := cg.Uptime(ctx)
	if err != nil || up.InitPID != pid || up.Uptime <= 0 {
		t.Errorf("uptime %+v %v", up, err)
	}
	kept := cg.KeepOpen()
	s, err := kept.Sample(ctx)
	if err != nil || s.Memory.MemTotal != 64<<20 || s.CPUs.Effective != 1 || s.Tasks.Total < 1 || s.Pressure != nil {
		t.Errorf("sample %+v %v (no PSI on this kernel: Pressure nil)", s, err)
	}
	if err := kept.Close(); err != nil {
		t.Fatal(err)
	}
	_ = burn.Process.Kill()
	_ = burn.Wait()

	// Disk reads are counted on ubd0.
	disk, err := startIn(t, dir, "disk")
	if err != nil {
		t.Fatal(err)
	}
	if err := disk.Wait(); err != nil {
		t.Fatalf("disk reader: %v", err)
	}
	ios, err := cg.IO(ctx)
	if err != nil || len(ios) == 0 || ios[0].Major != 98 || ios[0].Minor != 0 || ios[0].ReadBytes < 1<<20 {
		t.Errorf("io %+v %v, want ≥ 1 MiB read from 98:0", ios, err)
	}

	// 100 MiB under a 64 MiB limit: the OOM killer takes it, and it counts.
	// (Unthrottled, or reclaim at 20 % of a UML CPU takes long.)
	if err := cg.SetLimits(ctx, cgroupx.Limits{CPUQuota: ptr(int64(-1))}); err != nil {
		t.Fatal(err)
	}
	if b, _ := os.ReadFile(dir + "/cpu.max"); string(b) != "max 100000\n" {
		t.Errorf("cpu.max after quota -1: %q", b)
	}
	before, err := cg.MemoryEvents(ctx)
	if err != nil {
		t.Fatal(err)
	}
	hog, err := startIn(t, dir, "hog")
	if err != nil {
		t.Fatal(err)
	}
	err = waitBounded(t, hog, 30*time.Second)
	var ee *exec.ExitError
	if !errors.As(err, &ee) || ee.Sys().(syscall.WaitStatus).Signal() != syscall.SIGKILL {
		t.Errorf("hog ended with %v, want killed by SIGKILL", err)
	}
	after, err := cg.MemoryEvents(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if after.OOMKill != before.OOMKill+1 || after.OOM < before.OOM+1 || after.Max <= before.Max {
		t.Errorf("memory events %+v → %+v, want one more OOM kill", before, after)
	}

	// At pids.max a fork into the cgroup is refused; below it, allowed.
	if err := cg.SetLimits(ctx, cgroupx.Limits{Pids: ptr(int64(0))}); err != nil {
		t.Fatal(err)
	}
	if _, err := startIn(t, dir, "disk"); !errors.Is(err, syscall.EAGAIN) {
		t.Errorf("fork at pids.max 0: %v, want EAGAIN", err)
	}
	if err := cg.SetLimits(ctx, cgroupx.Limits{Pids: ptr(int64(-1))}); err != nil {
		t.Fatal(err)
	}
	if l, err := cg.Limits(ctx); err != nil || l.Pids == nil || *l.Pids != -1 {
		t.Errorf("pids read back %v %v, want -1", l.Pids, err)
	}
	ok, err := startIn(t, dir, "disk")
	if err != nil {
		t.Fatalf("fork with pids.max max: %v", err)
	}
	if err := ok.Wait(); err != nil {
		t.Errorf("disk reader: %v", err)
	}
}

func fmtAny(v any, err error) string {
	if err != nil {
		return err.Error()
	}
	return fmt.Sprintf("%+v", v)
}

// fmtLimits prints the set fields of l with their values.
func fmtLimits(l cgroupx.Limits) string {
	var b strings.Builder
	show := func(name string, p any) {
		switch v := p.(type) {
		case *uint64:
			if v != nil {
				fmt.Fprintf(&b, "%s=%d ", name, *v)
			}
		case *int64:
			if v != nil {
				fmt.Fprintf(&b, "%s=%d ", name, *v)
			}
		}
	}
	show("shares", l.CPUShares)
	show("quota", l.CPUQuota)
	show("period", l.CPUPeriod)
	show("memory", l.Memory)
	show("swap", l.MemorySwap)
	show("pids", l.Pids)
	return b.String()
}

// waitBounded waits for cmd, killing it after limit.
func waitBounded(t *testing.T, cmd *exec.Cmd, limit time.Duration) error {
	t.Helper()
	tm := time.AfterFunc(limit, func() {
		t.Errorf("%s still running after %v; killing it", cmd.Env[len(cmd.Env)-1], limit)
		_ = cmd.Process.Kill()
	})
	defer tm.Stop()
	return cmd.Wait()
}
