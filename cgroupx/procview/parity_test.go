package procview_test

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/shoalkit/shoal/cgroupx"
	"github.com/shoalkit/shoal/internal/testenv"
)

// mib is one MiB in bytes: the parity the issue asks for.
const mib = 1 << 20

// TestParityWithLxcfs (issue 17): a container of 256 MiB and half a CPU
// with memory in use (64 MiB anonymous, 16 MiB on a tmpfs, 8 MiB of a
// file's page cache) and one busy process reads /proc through the view
// and through lxcfs on the same cgroup, and the test asks cgroupx (what
// ctools prints) while the shell that read is still in it. The container is a pid and mount namespace
// on the host's root file system with the view's files bind-mounted over
// its /proc (startNamespaced), so Debian's procps free, top and uptime
// run unmodified; lxcfs is mounted elsewhere and read by path. lxcfs runs
// with --enable-cfs, so that its CPU count follows the quota as the
// view's does (without it lxcfs counts the cpuset: 2 here).
//
// MemTotal is 256 MiB in all three; MemFree, Cached, SwapTotal and
// SwapFree agree within 1 MiB. MemAvailable is defined differently:
// lxcfs 5.0 counts all of memory.stat's total_cache as available,
// shmem and tmpfs included, which cannot be reclaimed without swap;
// cgroupx counts the file LRU (active_file + inactive_file), as the
// kernel's own MemAvailable leaves shmem out. So lxcfs's MemAvailable is
// the view's plus Shmem, within 1 MiB, and the 16 MiB tmpfs makes the
// difference visible.
func TestParityWithLxcfs(t *testing.T) {
	testenv.Require(t, testenv.Lxcfs, testenv.Procps)
	f := newFixture(t) // 256 MiB, half a CPU
	f.startServer(t)
	lxcfs, _ := startLxcfs(t, "--enable-cfs")
	dir := t.TempDir()
	shm := filepath.Join(dir, "shm")
	if err := os.Mkdir(shm, 0o755); err != nil {
		t.Fatal(err)
	}
	hold := filepath.Join(dir, "hold.log")
	init := f.startNamespaced(t, strings.Join([]string{
		"mount -t tmpfs -o size=32m parity " + shm + " || exit 97",
		"head -c 16M /dev/zero > " + shm + "/fill || exit 96",
		"head -c 8M /dev/urandom > " + filepath.Join(dir, "cache") + " || exit 95",
		envHoldAnon + "=64 " + os.Args[0] + " -test.run='^$' > " + hold + " 2>&1 &",
		"while ! grep -q holding " + hold + "; do sleep 0.05; done",
		"while :; do :; done &", // the container's load
	}, "\n"))
	// script writes a shell script for the container (its cgroup, pid and
	// mount namespaces) and returns the command that runs it there.
	script := func(text string) *exec.Cmd {
		file := filepath.Join(t.TempDir(), "script.sh")
		if err := os.WriteFile(file, []byte(text), 0o644); err != nil {
			t.Fatal(err)
		}
		return f.containerCommand(t, "exec nsenter -t "+strconv.Itoa(init)+" -m -p /bin/sh "+file)
	}
	// run runs text in the container and returns its output cut at "=="
	// lines.
	run := func(text string) []string {
		t.Helper()
		out, err := script(text).CombinedOutput()
		if err != nil {
			t.Fatalf("%s: %v\n%s", text, err, out)
		}
		return strings.Split(string(out), "==\n")
	}
	lx := func(path string) string { return filepath.Join(lxcfs, path) }

	// The view's load average: one scan every 5 s sees the busy process.
	deadline := time.Now().Add(30 * time.Second)
	for strings.HasPrefix(run("cat /proc/loadavg")[0], "0.00 ") {
		if time.Now().After(deadline) {
			t.Fatal("the container's load stayed 0.00 with a busy process")
		}
		time.Sleep(500 * time.Millisecond)
	}

	// Memory: the view and lxcfs read back to back by the container, and
	// cgroupx while the shell that read is still there (its pages and
	// nsenter's are the container's too); then the shell ends.
	ready, resume := filepath.Join(dir, "read"), filepath.Join(dir, "resume")
	if err := unix.Mkfifo(resume, 0o600); err != nil {
		t.Fatal(err)
	}
	var memOut bytes.Buffer
	cmd := script("cat /proc/meminfo; echo ==; cat " + lx("proc/meminfo") + "; : > " + ready + "; read x < " + resume)
	cmd.Stdout, cmd.Stderr = &memOut, &memOut
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	for {
		if _, err := os.Stat(ready); err == nil {
			break
		}
		select {
		case err := <-exited:
			t.Fatalf("reading meminfo: %v\n%s", err, memOut.String())
		case <-time.After(5 * time.Millisecond):
		}
	}
	want, err := f.ctr.Meminfo(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(resume, []byte("\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := <-exited; err != nil {
		t.Fatalf("reading meminfo: %v\n%s", err, memOut.String())
	}
	out := strings.Split(memOut.String(), "==\n")
	if len(out) != 2 {
		t.Fatalf("output:\n%s", memOut.String())
	}
	view, theirs := parseMeminfo(t, "view", out[0]), parseMeminfo(t, "lxcfs", out[1])
	t.Logf("MemFree %d / %d / %d kB, MemAvailable %d / %d / %d kB, Cached %d / %d / %d kB, Shmem %d kB (view / lxcfs / cgroupx)",
		view.MemFree>>10, theirs.MemFree>>10, want.MemFree>>10, view.MemAvailable>>10, theirs.MemAvailable>>10, want.MemAvailable>>10,
		view.Cached>>10, theirs.Cached>>10, want.Cached>>10, view.Shmem>>10)
	if view.MemTotal != memLimit || theirs.MemTotal != memLimit || want.MemTotal != memLimit {
		t.Errorf("MemTotal: view %d, lxcfs %d, cgroupx %d; want %d", view.MemTotal, theirs.MemTotal, want.MemTotal, memLimit)
	}
	// The memory the container holds is there.
	if used := memLimit - view.MemFree; used < 88*mib {
		t.Errorf("the container uses %d MiB, want at least 64 + 16 + 8", used/mib)
	}
	if view.Shmem < 15*mib {
		t.Errorf("Shmem %d kB, want the 16 MiB tmpfs", view.Shmem>>10)
	}
	for _, c := range []struct {
		field          string
		view, cgroupx  uint64
		lxcfs, lxcWant uint64 // lxcWant: what lxcfs should say, by its definition
	}{
		{"MemFree", view.MemFree, want.MemFree, theirs.MemFree, view.MemFree},
		{"MemAvailable", view.MemAvailable, want.MemAvailable, theirs.MemAvailable, view.MemAvailable + view.Shmem},
		{"Cached", view.Cached, want.Cached, theirs.Cached, view.Cached},
		{"SwapTotal", view.SwapTotal, want.SwapTotal, theirs.SwapTotal, view.SwapTotal},
		{"SwapFree", view.SwapFree, want.SwapFree, theirs.SwapFree, view.SwapFree},
	} {
		if d := absDiff(c.view, c.cgroupx); d > mib {
			t.Errorf("%s: view %d kB, cgroupx %d kB: %d kB apart", c.field, c.view>>10, c.cgroupx>>10, d>>10)
		}
		if d := absDiff(c.lxcfs, c.lxcWant); d > mib {
			t.Errorf("%s: lxcfs %d kB, want %d kB from the view's: %d kB apart", c.field, c.lxcfs>>10, c.lxcWant>>10, d>>10)
		}
	}

	// procps and the CPU, uptime and load files, in the container. The
	// view's meminfo is read again right after free and after top: the
	// first run of a program charges its pages to the container
	// (buff/cache grew by 1.2 MiB between the reads above and free in one
	// run).
	out = run(strings.Join([]string{
		"free -k", "cat /proc/meminfo", "nproc", "getconf _NPROCESSORS_ONLN",
		"grep -c ^processor /proc/cpuinfo", "grep -c ^processor " + lx("proc/cpuinfo"),
		"cat /sys/devices/system/cpu/online", "cat " + lx("sys/devices/system/cpu/online"),
		"cat /proc/uptime", "cat " + lx("proc/uptime"),
		"cat /proc/loadavg", "top -bn1 | head -5", "cat /proc/meminfo", "cat /proc/loadavg", "uptime", "cat /proc/loadavg",
	}, "; echo ==; "))
	cpus, err := f.ctr.CPUs(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	up, err := f.ctr.Uptime(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	hostUp, _, err := f.ctr.Host().HostUptime(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	if len(out) != 16 {
		t.Fatalf("output:\n%s", strings.Join(out, "==\n"))
	}
	t.Logf("inside the container:\n%s", strings.Join(out, "==\n"))
	free, afterFree := out[0], parseMeminfo(t, "view after free", out[1])
	afterTop := parseMeminfo(t, "view after top", out[12])
	out = slices.Delete(out, 12, 13)
	out = slices.Delete(out, 1, 2)
	top, procpsUptime := out[10], out[12]
	loads := []string{out[9], out[11], out[13]}

	// free -k: its Mem line is the view's meminfo.
	mem := fieldsAfter(t, free, "Mem:", 6) // total used free shared buff/cache available
	for i, c := range []struct {
		column string
		want   uint64
	}{
		{"total", memLimit},
		{"free", afterFree.MemFree},
		{"shared", afterFree.Shmem},
		{"buff/cache", afterFree.Buffers + afterFree.Cached + afterFree.SReclaimable},
		{"available", afterFree.MemAvailable},
	} {
		col := []int{0, 2, 3, 4, 5}[i]
		got, err := strconv.ParseUint(mem[col], 10, 64)
		if err != nil || absDiff(got<<10, c.want) > mib || (c.column == "total" && got<<10 != c.want) {
			t.Errorf("free -k %s = %q, want %d kB", c.column, mem[col], c.want>>10)
		}
	}
	if swap := fieldsAfter(t, free, "Swap:", 1); swap[0] != strconv.FormatUint(afterFree.SwapTotal>>10, 10) {
		t.Errorf("free -k swap total %s, want %d", swap[0], afterFree.SwapTotal>>10)
	}

	// CPUs: one, from the quota (cgroupx's Effective), through the view and
	// through lxcfs --enable-cfs.
	if cpus.Effective != 1 {
		t.Errorf("cgroupx CPUs.Effective = %d, want 1", cpus.Effective)
	}
	for _, c := range []struct{ what, got, want string }{
		// glibc's get_nprocs reads /sys/devices/system/cpu/online.
		{"getconf _NPROCESSORS_ONLN", out[2], "1"},
		{"/proc/cpuinfo processors, view", out[3], "1"},
		{"/proc/cpuinfo processors, lxcfs", out[4], "1"},
		{"cpu/online, view", out[5], "0"},
		{"cpu/online, lxcfs", out[6], "0"},
		// coreutils nproc counts the CPUs the process may run on (its
		// affinity: the cpuset), through the view as through lxcfs; the
		// agent sets OMP_NUM_THREADS from the quota, which nproc reads
		// first (examples/internal/agent, TestAgentSysinfo).
		{"nproc", out[1], strconv.Itoa(len(cpus.Cpuset))},
	} {
		if got := strings.TrimSpace(c.got); got != c.want {
			t.Errorf("%s: %q, want %s", c.what, got, c.want)
		}
	}

	// Uptime: the container's, as cgroupx and lxcfs (the age of the pid
	// namespace's init, started with it) count it, not the host's.
	viewUp, _, err := cgroupx.ParseUptime(strings.NewReader(out[7]))
	if err != nil {
		t.Fatal(err)
	}
	lxcfsUp, _, err := cgroupx.ParseUptime(strings.NewReader(out[8]))
	if err != nil {
		t.Fatal(err)
	}
	if viewUp >= hostUp || viewUp > 2*time.Minute {
		t.Errorf("uptime through the view %v, host %v: want the container's", viewUp, hostUp)
	}
	if d := (viewUp - lxcfsUp).Abs(); d > time.Second {
		t.Errorf("uptime: view %v, lxcfs %v", viewUp, lxcfsUp)
	}
	if d := (viewUp - up.Uptime).Abs(); d > 2*time.Second {
		t.Errorf("uptime: view %v, cgroupx %v (read after)", viewUp, up.Uptime)
	}
	if !strings.Contains(procpsUptime, " up 0 min,") && !strings.Contains(procpsUptime, " up 1 min,") {
		t.Errorf("procps uptime %q: want the container's minutes", procpsUptime)
	}

	// Load: top and uptime show the view's (the container's) load average,
	// one of the reads before and after them (the view scans every 5 s).
	for _, c := range []struct{ what, text string }{{"top -bn1", top}, {"uptime", procpsUptime}} {
		_, avg, ok := strings.Cut(c.text, "load average: ")
		if !ok {
			t.Errorf("%s shows no load average:\n%s", c.what, c.text)
			continue
		}
		avg, _, _ = strings.Cut(avg, "\n")
		if !loadIn(avg, loads) {
			t.Errorf("%s: load average %q, want the view's, one of %q", c.what, avg, loads)
		}
	}
	// top's memory, in MiB with one decimal: the view's total and
	// buff/cache; its free is the view's less top's own memory (its
	// anonymous pages and page tables, 2–3 MiB, are charged to the
	// container while it reads), so it may be up to 4 MiB lower.
	topMem := fieldsAfter(t, top, "MiB Mem :", 8) // total, free, used, buff/cache, each followed by its name
	topMiB := func(s string) uint64 {
		v, err := strconv.ParseFloat(s, 64)
		if err != nil {
			t.Errorf("top: %q is not MiB", s)
		}
		return uint64(v * mib)
	}
	if topMem[0] != "256.0" {
		t.Errorf("top: MiB Mem total %q, want 256.0", topMem[0])
	}
	if got, want := topMiB(topMem[2]), afterTop.MemFree; got > want+mib || got+4*mib < want {
		t.Errorf("top: MiB Mem free %q, want %.1f less top's own at most 4 MiB", topMem[2], float64(want)/mib)
	}
	if got, want := topMiB(topMem[6]), afterTop.Buffers+afterTop.Cached+afterTop.SReclaimable; absDiff(got, want) > mib {
		t.Errorf("top: MiB Mem buff/cache %q, want %.1f", topMem[6], float64(want)/mib)
	}
}

// parseMeminfo parses a /proc/meminfo text.
func parseMeminfo(t *testing.T, who, text string) cgroupx.Meminfo {
	t.Helper()
	m, err := cgroupx.ParseMeminfo(strings.NewReader(text))
	if err != nil {
		t.Fatalf("%s: %v\n%s", who, err, text)
	}
	return m
}

func absDiff(a, b uint64) uint64 {
	if a > b {
		return a - b
	}
	return b - a
}

// fieldsAfter returns the first n fields after prefix on the line of text
// that starts with it.
func fieldsAfter(t *testing.T, text, prefix string, n int) []string {
	t.Helper()
	for l := range strings.Lines(text) {
		if rest, ok := strings.CutPrefix(l, prefix); ok {
			if f := strings.Fields(strings.ReplaceAll(rest, ",", " ")); len(f) >= n {
				return f
			}
		}
	}
	t.Fatalf("no %q line of %d fields in\n%s", prefix, n, text)
	return nil
}

// loadIn reports whether avg ("0.08, 0.02, 0.01", procps's form) is the
// first three fields of one of the /proc/loadavg texts.
func loadIn(avg string, loadavgs []string) bool {
	for _, l := range loadavgs {
		if f := strings.Fields(l); len(f) >= 3 && strings.TrimSpace(avg) == fmt.Sprintf("%s, %s, %s", f[0], f[1], f[2]) {
			return true
		}
	}
	return false
}
