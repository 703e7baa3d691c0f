package main

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/shoalkit/shoal/cgroupx"
	"github.com/shoalkit/shoal/cgroupx/cgroupxtest"
	"github.com/shoalkit/shoal/examples/internal/daemon"
	"github.com/shoalkit/shoal/internal/testenv"
)

// fixture is a hybrid host with one container holding pid 4242, limited to
// 256 MiB and 1.5 CPUs, up for 600 s of the host's 1000.
func fixture(t *testing.T) *cgroupxtest.Tree {
	t.Helper()
	tree := cgroupxtest.New(t, cgroupxtest.Hybrid)
	tree.SetMemory("/ctr", cgroupxtest.Memory{
		Limit: 256 << 20, Usage: 100 << 20, RSS: 60 << 20, Cache: 40 << 20, Shmem: 8 << 20,
		ActiveFile: 20 << 20, InactiveFile: 12 << 20,
	})
	tree.SetCPU("/ctr", 150000, 100000)
	tree.AddProcess("/ctr", cgroupxtest.Process{
		PID: 4242, Comm: "app", State: 'R', StartTime: 40000, RSSPages: 256,
		Threads: []cgroupxtest.Thread{{TID: 4243, State: 'D'}},
	})
	tree.WriteHostFile("proc/4242/mountinfo", "27 1 254:0 / / rw,relatime - ext4 /dev/vda rw\n22 27 0:21 / /proc rw - proc proc rw\n")
	if err := os.MkdirAll(filepath.Join(tree.Root, "proc/4242/root"), 0o755); err != nil {
		t.Fatal(err)
	}
	return tree
}

func ctools(t *testing.T, tree *cgroupxtest.Tree, args ...string) (string, string, int) {
	t.Helper()
	var out, errOut bytes.Buffer
	if tree != nil {
		args = append([]string{"--root", tree.Root}, args...)
	}
	now := func() time.Time { return time.Date(2026, 11, 24, 2, 11, 32, 0, time.UTC) }
	code := daemon.ExitCode(newCLI(now).Run(t.Context(), args, &out, &errOut))
	return out.String(), errOut.String(), code
}

func TestCommands(t *testing.T) {
	tree := fixture(t)
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"free", "-m", "--cgroup", "/ctr"}, "" +
			"               total        used        free      shared  buff/cache   available\n" +
			"Mem:             256          68         156           8          40         188\n" +
			"Swap:           2048           0        2048\n"},
		{[]string{"--cgroup", "/ctr", "free", "-m"}, "" +
			"               total        used        free      shared  buff/cache   available\n" +
			"Mem:             256          68         156           8          40         188\n" +
			"Swap:           2048           0        2048\n"},
		{[]string{"--pid", "4242", "free"}, "" +
			"               total        used        free      shared  buff/cache   available\n" +
			"Mem:          262144       69632      159744        8192       40960      192512\n" +
			"Swap:        2097152           0     2097152\n"},
		{[]string{"--pid", "4242", "nproc"}, "2\n"},
		{[]string{"--pid", "4242", "uptime"}, " 02:11:32 up 10 min,  0 user,  load average: 2.00, 2.00, 2.00\n"},
		{[]string{"--pid", "4242", "loadavg"}, "2.00 2.00 2.00 1/2 4243\n"},
	} {
		out, errOut, code := ctools(t, tree, tc.args...)
		if code != 0 || out != tc.want {
			t.Errorf("ctools %s: exit %d, stderr %q\n got:\n%s\nwant:\n%s", strings.Join(tc.args, " "), code, errOut, out, tc.want)
		}
	}
}

func TestTopAndDf(t *testing.T) {
	tree := fixture(t)
	out, errOut, code := ctools(t, tree, "--pid", "4242", "top", "-d", "0.01")
	if code != 0 || !strings.HasPrefix(out, "    PID COMMAND          S   %CPU        RES THREADS\n") ||
		!strings.Contains(out, "   4242 app              R    0.0       1024       2\n") {
		t.Errorf("top: %d %q\n%s", code, errOut, out)
	}
	out, errOut, code = ctools(t, tree, "--pid", "4242", "df")
	lines := strings.Split(out, "\n")
	if code != 0 || len(lines) != 3 || !strings.HasPrefix(lines[1], "/dev/vda ") || !strings.HasSuffix(lines[1], "% /") {
		t.Errorf("df: %d %q\n%s", code, errOut, out)
	}
}

func TestJSON(t *testing.T) {
	tree := fixture(t)
	out, _, code := ctools(t, tree, "--json", "--cgroup", "/ctr", "free")
	var m cgroupx.Meminfo
	if err := json.Unmarshal([]byte(out), &m); code != 0 || err != nil || m.MemTotal != 256<<20 {
		t.Errorf("free --json: %d %v %+v", code, err, m)
	}
	out, _, code = ctools(t, tree, "--json", "--cgroup", "/ctr", "nproc")
	var c cgroupx.CPUs
	if err := json.Unmarshal([]byte(out), &c); code != 0 || err != nil || c.Effective != 2 || c.Quota != 1.5 {
		t.Errorf("nproc --json: %d %v %+v", code, err, c)
	}
}

func TestErrors(t *testing.T) {
	tree := fixture(t)
	for _, tc := range []struct {
		args []string
		code int
	}{
		{[]string{}, 2},
		{[]string{"--cgroup", "/ctr", "--pid", "1", "free"}, 2},
		{[]string{"--cgroup", "/ctr", "frob"}, 2},
		{[]string{"--cgroup", "/nope", "free"}, 1},
		{[]string{"--cgroup", "/../x", "free"}, 1},
		{[]string{"--cgroup", "/ctr", "top", "-d", "0"}, 1},
		{[]string{"--cgroup", "/ctr", "free", "-x"}, 2},
		{[]string{"--cgroup", "/ctr", "free", "extra"}, 2},
		{[]string{"free", "--cgroup", "/ctr", "--pid", "1"}, 2},
	} {
		if _, _, code := ctools(t, tree, tc.args...); code != tc.code {
			t.Errorf("ctools %v: exit %d, want %d", tc.args, code, tc.code)
		}
	}
}

func TestUptimeLine(t *testing.T) {
	at := time.Date(2026, 1, 1, 9, 5, 7, 0, time.UTC)
	l := cgroupx.LoadAvg{Load1: 0.5, Load5: 1.25, Load15: 3}
	for up, want := range map[time.Duration]string{
		59 * time.Second:              " 09:05:07 up 0 min,  0 user,  load average: 0.50, 1.25, 3.00\n",
		(3*60 + 7) * time.Minute:      " 09:05:07 up  3:07,  0 user,  load average: 0.50, 1.25, 3.00\n",
		(24*60 + 5) * time.Minute:     " 09:05:07 up 1 day, 5 min,  0 user,  load average: 0.50, 1.25, 3.00\n",
		(3*24*60 + 600) * time.Minute: " 09:05:07 up 3 days, 10:00,  0 user,  load average: 0.50, 1.25, 3.00\n",
	} {
		if got := uptimeLine(at, up, l); got != want {
			t.Errorf("%v: %q, want %q", up, got, want)
		}
	}
}

// TestIntegrationLoadavgWatch runs ctools on a real cgroup with one busy
// loop and checks the first line of loadavg -w.
func TestIntegrationLoadavgWatch(t *testing.T) {
	testenv.Require(t, testenv.Cgroups)
	cg := testenv.NewCgroup(t)
	p := cg.Start(t, "sh", "-c", "exec yes >/dev/null")
	// testenv's shell joins every hierarchy, then execs: wait for yes.
	deadline := time.Now().Add(10 * time.Second)
	for {
		b, _ := os.ReadFile("/proc/" + strconv.Itoa(p.Pid) + "/comm")
		if strings.TrimSpace(string(b)) == "yes" {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("yes did not start: %q", b)
		}
		time.Sleep(10 * time.Millisecond)
	}
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	var out, errOut bytes.Buffer
	time.AfterFunc(time.Second, cancel)
	code := daemon.ExitCode(newCLI(time.Now).Run(ctx, []string{"--pid", strconv.Itoa(p.Pid), "loadavg", "-w"}, &out, &errOut))
	// One 5-second step from zero with one runnable thread, as the kernel
	// computes it.
	var want [3]uint64
	for i, e := range []uint64{cgroupx.Exp1, cgroupx.Exp5, cgroupx.Exp15} {
		want[i] = cgroupx.CalcLoad(0, e, cgroupx.Fixed1)
	}
	var line bytes.Buffer
	if err := cgroupx.WriteLoadavg(&line, cgroupx.LoadAvg{Avenrun: want, Running: 1, Total: 1, LastPID: p.Pid}); err != nil {
		t.Fatal(err)
	}
	if code != 0 || out.String() != line.String() {
		t.Errorf("loadavg -w: exit %d %q: %q, want %q", code, errOut.String(), out.String(), line.String())
	}
}

// TestIntegrationFreeNproc limits a real cgroup to 256 MiB and half a CPU and
// checks what free -m and nproc print for it.
func TestIntegrationFreeNproc(t *testing.T) {
	testenv.Require(t, testenv.Cgroups)
	ctx := t.Context()
	cg := testenv.NewCgroup(t)
	host, err := cgroupx.NewHost(ctx)
	if err != nil {
		t.Fatal(err)
	}
	ctr, err := host.Open(ctx, cg.Name)
	if err != nil {
		t.Fatal(err)
	}
	mem, quota, period := int64(256<<20), int64(50000), uint64(100000)
	if err := ctr.SetLimits(ctx, cgroupx.Limits{Memory: &mem, CPUQuota: &quota, CPUPeriod: &period}); err != nil {
		t.Fatal(err)
	}
	out, errOut, code := ctools(t, nil, "--cgroup", "/"+cg.Name, "free", "-m")
	lines := strings.Split(out, "\n")
	if code != 0 || len(lines) < 2 || !strings.HasPrefix(lines[1], "Mem:             256 ") {
		t.Errorf("free -m: exit %d %q\n%s", code, errOut, out)
	}
	out, errOut, code = ctools(t, nil, "--cgroup", "/"+cg.Name, "nproc")
	if code != 0 || out != "1\n" {
		t.Errorf("nproc: exit %d %q: %q", code, errOut, out)
	}
}

func TestIntegrationStats(t *testing.T) {
	testenv.Require(t, testenv.Cgroups)
	ctx := t.Context()
	cg := testenv.NewCgroup(t)
	host, err := cgroupx.NewHost(ctx)
	if err != nil {
		t.Fatal(err)
	}
	ctr, err := host.Open(ctx, cg.Name)
	if err != nil {
		t.Fatal(err)
	}
	mem, pids := int64(256<<20), int64(40)
	if err := ctr.SetLimits(ctx, cgroupx.Limits{Memory: &mem, Pids: &pids}); err != nil {
		t.Fatal(err)
	}
	cg.Start(t, "sh", "-c", "while :; do :; done") // one spinning thread
	out, errOut, code := ctools(t, nil, "--cgroup", "/"+cg.Name, "stats", "-no-stream", "-i", "300ms")
	lines := strings.Split(strings.TrimSpace(out), "\n")
	if code != 0 || len(lines) != 2 {
		t.Fatalf("stats: exit %d %q\n%s", code, errOut, out)
	}
	f := strings.Fields(lines[1])
	// CONTAINER CPU% USAGE / LIMIT MEM% RX / TX READ / WRITE PIDS
	if len(f) != 13 || f[0] != cg.Name || f[4] != "256M" || f[12] != "1" {
		t.Errorf("stats line %q: want %s, a 256M limit and 1 thread", lines[1], cg.Name)
	}
	cpu, err := strconv.ParseFloat(strings.TrimSuffix(f[1], "%"), 64)
	if err != nil || cpu <= 1 {
		// A spinning thread gets well over 1 % of the machine's CPUs even
		// on a loaded machine; an idle container shows 0.
		t.Errorf("CPU %% %q: want a spinning thread's share above 1%%", f[1])
	}

	// The same container among all children of its parent (the test
	// cgroups' parent is the hierarchy root), as JSON.
	out, errOut, code = ctools(t, nil, "--json", "stats", "-all", "/", "-no-stream", "-i", "200ms")
	if code != 0 || !strings.Contains(out, `"ID": "`+cg.Name+`"`) {
		t.Errorf("stats -all /: exit %d %q; %s not in the output", code, errOut, cg.Name)
	}
	if _, _, code := ctools(t, nil, "--cgroup", "/"+cg.Name, "stats", "-all", "/"); code != 2 {
		t.Errorf("stats with both -all and --cgroup: exit %d, want 2", code)
	}
}
