package procview_test

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/shoalkit/shoal/cgroupx"
	"github.com/shoalkit/shoal/cgroupx/procview"
	"github.com/shoalkit/shoal/internal/testenv"
)

const memLimit = 256 << 20

// fixture is a mounted view, a container cgroup with 256 MiB and half a
// CPU under a parent cgroup made for the test, and a holder.
type fixture struct {
	mnt, sock, parent string
	ctrDirs           []string
	ctr               *cgroupx.Cgroup
	holder            *procview.Holder
}

func newFixture(t *testing.T) *fixture {
	t.Helper()
	return newFixtureTB(t, true)
}

// newFixtureTB is newFixture for tests and benchmarks; cpu adds the
// quota of half a CPU.
func newFixtureTB(t testing.TB, cpu bool) *fixture {
	t.Helper()
	return newFixtureOf(t, cpu, true)
}

// newFixtureOf is newFixtureTB; without inProcessHolder, no holder
// mounts the view (the test starts holder processes).
func newFixtureOf(t testing.TB, cpu, inProcessHolder bool) *fixture {
	t.Helper()
	testenv.RequireFUSE(t)
	ctx := t.Context()
	parent := testenv.NewCgroup(t)
	f := &fixture{parent: "/" + parent.Name}
	for _, d := range parent.Dirs() {
		dir := filepath.Join(d, "ctr")
		if err := os.Mkdir(dir, 0o755); err != nil {
			t.Fatal(err)
		}
		for _, name := range []string{"cpuset.cpus", "cpuset.mems"} {
			if b, err := os.ReadFile(filepath.Join(d, name)); err == nil {
				if err := os.WriteFile(filepath.Join(dir, name), b, 0o644); err != nil {
					t.Fatal(err)
				}
			}
		}
		f.ctrDirs = append(f.ctrDirs, dir)
	}
	// Removed before the parent (cleanups run last-in first-out).
	t.Cleanup(func() {
		for _, d := range f.ctrDirs {
			killAll(d)
			for range 50 {
				if err := os.Remove(d); err == nil || os.IsNotExist(err) {
					break
				}
				time.Sleep(20 * time.Millisecond)
			}
		}
	})
	host, err := cgroupx.NewHost(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if f.ctr, err = host.Open(ctx, f.parent+"/ctr"); err != nil {
		t.Fatal(err)
	}
	mem, quota, period := int64(memLimit), int64(50000), uint64(100000)
	limits := cgroupx.Limits{Memory: &mem}
	if cpu {
		limits.CPUQuota, limits.CPUPeriod = &quota, &period
	}
	if err := f.ctr.SetLimits(ctx, limits); err != nil {
		t.Fatal(err)
	}
	tmp := t.TempDir()
	f.mnt, f.sock = filepath.Join(tmp, "view"), filepath.Join(tmp, "holder.sock")
	if err := os.Mkdir(f.mnt, 0o755); err != nil {
		t.Fatal(err)
	}
	if !inProcessHolder {
		// Holder processes killed by the test leave the view mounted.
		t.Cleanup(func() { _ = procview.Unmount(f.mnt) })
		return f
	}
	f.holder, err = procview.NewHolder(ctx, procview.HolderConfig{MountPoint: f.mnt, Socket: f.sock})
	if err != nil {
		t.Fatal(err)
	}
	hctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- f.holder.Run(hctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; !errors.Is(err, context.Canceled) {
			t.Errorf("holder Run: %v", err)
		}
		if err := f.holder.Close(); err != nil {
			t.Error(err)
		}
	})
	return f
}

// killAll kills the processes of a cgroup directory.
// openView opens a file of the view as an *os.File the runtime never
// polls, and readView reads one so. A test process that serves the view
// must not let the runtime poll its files: os.Open registers a file with
// the runtime's epoll instance, which for a FUSE file asks the server
// (POLL, until it has answered ENOSYS once) inside a system call the
// runtime does not count as one; a garbage collection that starts
// meanwhile waits for that goroutine, and the server's goroutines, which
// would answer, wait for the collection (a CI run hung so for 15 min).
// A descriptor opened blocking and wrapped by os.NewFile is not polled.
func openView(path string) (*os.File, error) {
	fd, err := unix.Open(path, unix.O_RDONLY|unix.O_CLOEXEC, 0)
	if err != nil {
		return nil, &os.PathError{Op: "open", Path: path, Err: err}
	}
	return os.NewFile(uintptr(fd), path), nil
}

func readView(path string) ([]byte, error) {
	f, err := openView(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	return io.ReadAll(f)
}

func killAll(dir string) {
	b, _ := os.ReadFile(filepath.Join(dir, "cgroup.procs"))
	for _, l := range strings.Fields(string(b)) {
		if pid, err := strconv.Atoi(l); err == nil {
			_ = syscallKill(pid)
		}
	}
}

// enter moves process pid into the fixture's container, in every hierarchy.
func (f *fixture) enter(t testing.TB, pid int) {
	t.Helper()
	for _, d := range f.ctrDirs {
		if err := os.WriteFile(filepath.Join(d, "cgroup.procs"), []byte(strconv.Itoa(pid)), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

// startServer runs a server in this process until the test ends.
func (f *fixture) startServer(t testing.TB) {
	t.Helper()
	srv, err := procview.New(t.Context(), procview.Config{Parents: []string{f.parent}})
	if err != nil {
		t.Fatal(err)
	}
	conn, err := procview.Dial(t.Context(), f.sock)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- srv.Serve(ctx, conn) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; !errors.Is(err, context.Canceled) {
			t.Errorf("Serve: %v", err)
		}
		_ = conn.Close()
	})
}

// startChild re-executes the test binary with env set and waits until it
// prints ready.
func startChild(t testing.TB, env map[string]string, ready string) *testenv.Process {
	t.Helper()
	for k, v := range env {
		t.Setenv(k, v)
	}
	p := testenv.StartProcess(t, os.Args[0], "-test.run=^$")
	for k := range env {
		_ = os.Unsetenv(k)
	}
	deadline := time.Now().Add(10 * time.Second)
	for !strings.Contains(p.Output(), ready) {
		select {
		case <-p.Done():
			t.Fatalf("child exited: %v\n%s", p.Err(), p.Output())
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("child did not say %q:\n%s", ready, p.Output())
		}
		time.Sleep(10 * time.Millisecond)
	}
	return p
}

// startServerProcess re-executes the test binary as a server: a process
// that can be killed like a crashing agent.
func (f *fixture) startServerProcess(t testing.TB) *testenv.Process {
	t.Helper()
	return startChild(t, map[string]string{envServeSocket: f.sock, envServeParent: f.parent}, "serving")
}

// inContainer runs a shell script inside the container cgroup and returns
// its output.
func (f *fixture) inContainer(t *testing.T, script string) string {
	t.Helper()
	out, err := f.containerCommand(t, script).CombinedOutput()
	if err != nil {
		t.Fatalf("%s: %v\n%s", script, err, out)
	}
	return string(out)
}

// meminfoKB returns the value of one /proc/meminfo line, in kB.
func meminfoKB(t *testing.T, text, key string) uint64 {
	t.Helper()
	sc := bufio.NewScanner(strings.NewReader(text))
	for sc.Scan() {
		k, v, ok := strings.Cut(sc.Text(), ":")
		if ok && k == key {
			n, err := strconv.ParseUint(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 10, 64)
			if err != nil {
				t.Fatalf("%s: %v", key, err)
			}
			return n
		}
	}
	t.Fatalf("no %s in\n%s", key, text)
	return 0
}

func TestContainerSeesItsOwnNumbers(t *testing.T) {
	f := newFixture(t)
	f.startServer(t)
	proc := filepath.Join(f.mnt, "proc")
	out := f.inContainer(t, "cat "+proc+"/meminfo; echo ==; cat "+filepath.Join(f.mnt, "sys/devices/system/cpu/online")+
		"; echo ==; grep -c ^processor "+proc+"/cpuinfo; echo ==; cat "+proc+"/uptime; echo ==; cat "+proc+"/loadavg"+
		"; echo ==; head -2 "+proc+"/stat; echo ==; cat "+proc+"/swaps; echo ==; cat "+proc+"/diskstats")
	parts := strings.Split(out, "==\n")
	if len(parts) != 8 {
		t.Fatalf("output:\n%s", out)
	}
	if got := meminfoKB(t, parts[0], "MemTotal"); got != memLimit/1024 {
		t.Errorf("MemTotal = %d kB, want %d", got, memLimit/1024)
	}
	free := meminfoKB(t, parts[0], "MemFree")
	m, err := f.ctr.Meminfo(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	// The usage moves between the read and this one by a few pages.
	if diff := int64(free) - int64((memLimit-m.Usage)/1024); diff > 1024 || diff < -1024 || free == 0 || free >= memLimit/1024 {
		t.Errorf("MemFree = %d kB, want about %d (usage %d)", free, (memLimit-m.Usage)/1024, m.Usage)
	}
	if got := strings.TrimSpace(parts[1]); got != "0" {
		t.Errorf("cpu/online = %q, want 0 (half a CPU)", got)
	}
	if got := strings.TrimSpace(parts[2]); got != "1" {
		t.Errorf("cpuinfo has %s processors, want 1", got)
	}
	up, _, err := cgroupx.ParseUptime(strings.NewReader(parts[3]))
	if err != nil || up > time.Minute {
		t.Errorf("uptime %q (%v): want the container's few seconds", parts[3], err)
	}
	if fields := strings.Fields(parts[4]); len(fields) != 5 || !strings.Contains(fields[3], "/") {
		t.Errorf("loadavg %q", parts[4])
	}
	if !strings.HasPrefix(parts[5], "cpu  ") || !strings.HasPrefix(strings.SplitN(parts[5], "\n", 2)[1], "cpu0 ") {
		t.Errorf("stat %q", parts[5])
	}
	if !strings.HasPrefix(parts[6], "Filename") {
		t.Errorf("swaps %q", parts[6])
	}

	// The test process is outside every container: it sees the host.
	hostMem, err := os.ReadFile("/proc/meminfo")
	if err != nil {
		t.Fatal(err)
	}
	viewMem, err := readView(filepath.Join(proc, "meminfo"))
	if err != nil {
		t.Fatal(err)
	}
	if a, b := meminfoKB(t, string(viewMem), "MemTotal"), meminfoKB(t, string(hostMem), "MemTotal"); a != b {
		t.Errorf("host sees MemTotal %d kB through the view, %d in /proc", a, b)
	}
	if ok, err := procview.Mounted(f.mnt); !ok || err != nil {
		t.Errorf("Mounted(%s) = %v, %v", f.mnt, ok, err)
	}
	if ok, err := procview.Mounted(t.TempDir()); ok || err != nil {
		t.Errorf("Mounted(empty dir) = %v, %v", ok, err)
	}
	// Nobody writes.
	if err := os.WriteFile(filepath.Join(proc, "meminfo"), []byte("x"), 0o644); err == nil {
		t.Error("write to meminfo succeeded")
	}
}

// TestServerRestartLosesNoRead kills the serving process three times while
// a process in the container reads /proc/meminfo in a loop and the test
// reads it as fast as it can: no read fails, every value is right.
func TestServerRestartLosesNoRead(t *testing.T) {
	f := newFixture(t)
	srv := f.startServerProcess(t)
	meminfo := filepath.Join(f.mnt, "proc/meminfo")
	log := filepath.Join(t.TempDir(), "reads")
	script := "i=0; while [ $i -lt 100000 ]; do if ! grep MemTotal " + meminfo + " >> " + log + "; then echo FAIL >> " + log + "; fi; sleep 0.1; i=$((i+1)); done"
	done := make(chan struct{})
	go func() {
		defer close(done)
		f.inContainerBackground(t, script)
	}()
	// The test's own reads: host numbers, as fast as they come.
	hostDone := make(chan []error, 1)
	hostReads := 0
	stopHost := make(chan struct{})
	go func() {
		var errs []error
		for {
			select {
			case <-stopHost:
				hostDone <- errs
				return
			default:
			}
			if _, err := readView(meminfo); err != nil {
				errs = append(errs, err)
			}
			hostReads++
		}
	}()
	seen := readsAfter(t, log, 0)
	for range 3 {
		srv.Kill(t)
		time.Sleep(300 * time.Millisecond) // reads queue in the kernel
		srv = f.startServerProcess(t)
		seen = readsAfter(t, log, seen) // the container reads on
	}
	close(stopHost)
	if errs := <-hostDone; len(errs) > 0 {
		t.Errorf("%d host reads failed, first: %v", len(errs), errs[0])
	}
	for _, d := range f.ctrDirs {
		killAll(d)
	}
	<-done
	b, err := os.ReadFile(log)
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSpace(string(b)), "\n")
	want := "MemTotal:         " + strconv.Itoa(memLimit/1024) + " kB"
	for i, l := range lines {
		if l != want {
			t.Errorf("read %d: %q, want %q", i, l, want)
		}
	}
	t.Logf("%d container reads, %d host reads, 3 server kills", len(lines), hostReads)
	if bytes.Contains(b, []byte("FAIL")) {
		t.Error("a read failed")
	}
}

// inContainerBackground runs a script in the container until it is
// killed.
func (f *fixture) inContainerBackground(t *testing.T, script string) {
	_ = f.containerCommand(t, script).Run()
}

// containerCommand is a shell that moves itself into the container
// cgroup, then runs script.
func (f *fixture) containerCommand(t *testing.T, script string) *exec.Cmd {
	var join strings.Builder
	for _, d := range f.ctrDirs {
		join.WriteString("echo $$ > '" + filepath.Join(d, "cgroup.procs") + "' || exit 99; ")
	}
	return exec.CommandContext(t.Context(), "/bin/sh", "-c", join.String()+script)
}

// TestRequestOfADeadServerIsResent: a server takes a read's request and
// dies without answering; the next server answers it (FUSE_NOTIFY_RESEND),
// and the reader gets the container's numbers, not an error or a hang.
func TestRequestOfADeadServerIsResent(t *testing.T) {
	f := newFixture(t)
	// The first server answers INIT and the lookups, then goes.
	first := f.startServerProcess(t)
	meminfo := filepath.Join(f.mnt, "proc/meminfo")
	if _, err := os.Stat(meminfo); err != nil {
		t.Fatal(err)
	}
	first.Kill(t)
	stuck := startChild(t, map[string]string{envStuckSocket: f.sock}, "")
	type result struct {
		out string
		err error
	}
	res := make(chan result, 1)
	go func() {
		var join strings.Builder
		for _, d := range f.ctrDirs {
			join.WriteString("echo $$ > '" + filepath.Join(d, "cgroup.procs") + "'; ")
		}
		out, err := exec.Command("/bin/sh", "-c", join.String()+"exec cat "+meminfo).CombinedOutput()
		res <- result{string(out), err}
	}()
	deadline := time.Now().Add(10 * time.Second)
	for !strings.Contains(stuck.Output(), "took request") {
		if time.Now().After(deadline) {
			t.Fatalf("the stuck server took no request:\n%s", stuck.Output())
		}
		time.Sleep(10 * time.Millisecond)
	}
	t.Logf("stuck server: %s", stuck.Output())
	stuck.Kill(t)
	select {
	case r := <-res:
		t.Fatalf("the read ended without a server: %v\n%s", r.err, r.out)
	case <-time.After(200 * time.Millisecond):
	}
	f.startServerProcess(t)
	select {
	case r := <-res:
		if r.err != nil {
			t.Fatalf("read: %v\n%s", r.err, r.out)
		}
		if got := meminfoKB(t, r.out, "MemTotal"); got != memLimit/1024 {
			t.Errorf("MemTotal = %d kB, want %d", got, memLimit/1024)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("the request a dead server took was never answered")
	}
}

// addContainer makes another container under the fixture's parent with a
// memory limit and returns its directories.
func (f *fixture) addContainer(t *testing.T, name string, mem int64) []string {
	t.Helper()
	var dirs []string
	for _, d := range f.ctrDirs {
		dir := filepath.Join(filepath.Dir(d), name)
		if err := os.Mkdir(dir, 0o755); err != nil {
			t.Fatal(err)
		}
		for _, n := range []string{"cpuset.cpus", "cpuset.mems"} {
			if b, err := os.ReadFile(filepath.Join(filepath.Dir(d), n)); err == nil {
				_ = os.WriteFile(filepath.Join(dir, n), b, 0o644)
			}
		}
		dirs = append(dirs, dir)
	}
	t.Cleanup(func() {
		for _, d := range dirs {
			killAll(d)
			for range 50 {
				if err := os.Remove(d); err == nil || os.IsNotExist(err) {
					break
				}
				time.Sleep(20 * time.Millisecond)
			}
		}
	})
	host, err := cgroupx.NewHost(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	cg, err := host.Open(t.Context(), f.parent+"/"+name)
	if err != nil {
		t.Fatal(err)
	}
	if err := cg.SetLimits(t.Context(), cgroupx.Limits{Memory: &mem}); err != nil {
		t.Fatal(err)
	}
	return dirs
}

// TestTwoContainersReadAtOnce: two containers read meminfo in loops at
// the same time through the one mount; each sees its own limit.
func TestTwoContainersReadAtOnce(t *testing.T) {
	f := newFixture(t)
	f.startServer(t)
	other := f.addContainer(t, "ctr2", 128<<20)
	meminfo := filepath.Join(f.mnt, "proc/meminfo")
	run := func(dirs []string, out chan<- string) {
		var join strings.Builder
		for _, d := range dirs {
			join.WriteString("echo $$ > '" + filepath.Join(d, "cgroup.procs") + "' || exit 99; ")
		}
		b, err := exec.Command("/bin/sh", "-c", join.String()+"for i in 1 2 3 4 5 6 7 8 9 10 11 12 13 14 15 16 17 18 19 20; do grep MemTotal "+meminfo+"; done").CombinedOutput()
		if err != nil {
			out <- "error: " + err.Error() + "\n" + string(b)
			return
		}
		out <- string(b)
	}
	a, b := make(chan string, 1), make(chan string, 1)
	go run(f.ctrDirs, a)
	go run(other, b)
	for _, c := range []struct {
		out  string
		kb   int
		name string
	}{{<-a, memLimit / 1024, "ctr"}, {<-b, 128 << 10, "ctr2"}} {
		lines := strings.Split(strings.TrimSpace(c.out), "\n")
		if len(lines) != 20 {
			t.Errorf("%s: %d reads:\n%s", c.name, len(lines), c.out)
		}
		want := "MemTotal:       " + fmt.Sprintf("%8d", c.kb) + " kB"
		for _, l := range lines {
			if l != want {
				t.Errorf("%s read %q, want %q", c.name, l, want)
				break
			}
		}
	}
}

// startHolderProcess re-executes the test binary as a holder of the
// fixture's mount point, a process the test can kill.
func (f *fixture) startHolderProcess(t testing.TB) *testenv.Process {
	t.Helper()
	return startChild(t, map[string]string{envHoldMount: f.mnt, envHoldSocket: f.sock}, "holding")
}

// TestHolderRestartLosesNoRead kills the holder and the server in turns
// while a process in the container reads /proc/meminfo ten times a
// second and the test reads it as fast as it can: a new holder takes the
// connection back from the running server, a new server takes it from
// the new holder, and no read fails.
func TestHolderRestartLosesNoRead(t *testing.T) {
	f := newFixtureOf(t, true, false)
	holder := f.startHolderProcess(t)
	srv := f.startServerProcess(t)
	// Read through a bind mount of the view's file, as a container's
	// /proc/meminfo is: it keeps the connection of the mount it was made
	// from, whatever is mounted on the mount point later.
	meminfo := filepath.Join(t.TempDir(), "meminfo")
	if err := os.WriteFile(meminfo, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := unix.Mount(filepath.Join(f.mnt, "proc/meminfo"), meminfo, "", unix.MS_BIND|unix.MS_RDONLY, ""); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = unix.Unmount(meminfo, unix.MNT_DETACH) })
	log := filepath.Join(t.TempDir(), "reads")
	script := "i=0; while [ $i -lt 100000 ]; do if ! grep MemTotal " + meminfo + " >> " + log + "; then echo FAIL >> " + log + "; fi; sleep 0.1; i=$((i+1)); done"
	done := make(chan struct{})
	go func() {
		defer close(done)
		f.inContainerBackground(t, script)
	}()
	hostDone := make(chan []error, 1)
	hostReads := 0
	stopHost := make(chan struct{})
	go func() {
		var errs []error
		for {
			select {
			case <-stopHost:
				hostDone <- errs
				return
			default:
			}
			if _, err := readView(meminfo); err != nil {
				errs = append(errs, err)
			}
			hostReads++
		}
	}()
	seen := readsAfter(t, log, 0)
	for range 2 {
		holder.Kill(t)
		time.Sleep(300 * time.Millisecond) // the server alone holds the connection
		holder = f.startHolderProcess(t)
		seen = readsAfter(t, log, seen)
		srv.Kill(t)
		time.Sleep(300 * time.Millisecond) // reads queue in the kernel
		srv = f.startServerProcess(t)
		seen = readsAfter(t, log, seen)
	}
	close(stopHost)
	if errs := <-hostDone; len(errs) > 0 {
		t.Errorf("%d host reads failed, first: %v", len(errs), errs[0])
	}
	for _, d := range f.ctrDirs {
		killAll(d)
	}
	<-done
	b, err := os.ReadFile(log)
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSpace(string(b)), "\n")
	want := "MemTotal:         " + strconv.Itoa(memLimit/1024) + " kB"
	for i, l := range lines {
		if l != want {
			t.Errorf("read %d: %q, want %q", i, l, want)
		}
	}
	if hostReads < 10 {
		t.Errorf("only %d host reads", hostReads)
	}
	t.Logf("%d container reads, %d host reads, 2 holder and 2 server kills; holder: %s", len(lines), hostReads, holder.Output())
}

// TestHolderAfterBothDied: when the holder dies while no server runs,
// nobody keeps the connection; the next holder finds nobody to hand it
// back, mounts the view anew, and reads work again through the mount
// point.
func TestHolderAfterBothDied(t *testing.T) {
	f := newFixtureOf(t, true, false)
	f.startHolderProcess(t).Kill(t)
	if _, err := readView(filepath.Join(f.mnt, "proc/meminfo")); err == nil {
		t.Fatal("a view without holder or server answered")
	}
	f.startHolderProcess(t)
	f.startServerProcess(t)
	out := f.inContainer(t, "cat "+filepath.Join(f.mnt, "proc/meminfo"))
	if got := meminfoKB(t, out, "MemTotal"); got != memLimit/1024 {
		t.Errorf("MemTotal = %d kB, want %d", got, memLimit/1024)
	}
}

// TestSendfileReaders: splice and sendfile from a view file (served by
// Linux 6.5+ from the page cache, which all containers share) are refused
// with EINVAL, never answered with another caller's or an empty text;
// readers that fall back to read(2) on EINVAL — Go's io.Copy here,
// BusyBox cat in TestRuncContainer — get the whole file. stat gives the
// caller's own length.
func TestSendfileReaders(t *testing.T) {
	f := newFixture(t)
	f.startServer(t)
	meminfo := filepath.Join(f.mnt, "proc/meminfo")
	src, err := openView(meminfo)
	if err != nil {
		t.Fatal(err)
	}
	defer src.Close()
	dst, err := os.Create(filepath.Join(t.TempDir(), "copy"))
	if err != nil {
		t.Fatal(err)
	}
	defer dst.Close()
	n, err := unix.Sendfile(int(dst.Fd()), int(src.Fd()), nil, 1<<20)
	if !errors.Is(err, unix.EINVAL) {
		t.Errorf("sendfile = %d, %v; want EINVAL", n, err)
	}
	// io.Copy tries copy_file_range, splice and sendfile before read(2).
	if _, err := src.Seek(0, 0); err != nil {
		t.Fatal(err)
	}
	copied, err := io.Copy(dst, src)
	if err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(dst.Name())
	if err != nil {
		t.Fatal(err)
	}
	if int64(len(b)) != copied || meminfoKB(t, string(b), "MemTotal") == 0 || !strings.Contains(string(b), "\nSwapFree:") {
		t.Errorf("io.Copy copied %d bytes:\n%s", copied, b)
	}
	// In the container: stat's size is the container's text's length,
	// and cat (GNU, read(2)) and tail see the container's numbers.
	out := f.inContainer(t, "stat -c %s "+meminfo+"; cat "+meminfo+" | wc -c; tail -n +1 "+meminfo+" | head -1")
	lines := strings.Split(strings.TrimSpace(out), "\n")
	if len(lines) != 3 || lines[0] != lines[1] {
		t.Errorf("stat size and length differ:\n%s", out)
	}
	if len(lines) == 3 && lines[2] != "MemTotal:         "+strconv.Itoa(memLimit/1024)+" kB" {
		t.Errorf("tail: %q", lines[2])
	}
}

// readsAfter waits until the container's read loop has logged more than n
// lines (a read answered after whatever the test just did) and returns
// how many it has. It waits on progress, not a clock: a loaded machine
// forks the loop's grep slowly.
func readsAfter(t *testing.T, log string, n int) int {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		b, _ := os.ReadFile(log)
		if got := bytes.Count(b, []byte("\n")); got > n {
			return got
		}
		if time.Now().After(deadline) {
			t.Fatalf("the container's reads stopped at %d", n)
		}
		time.Sleep(20 * time.Millisecond)
	}
}
