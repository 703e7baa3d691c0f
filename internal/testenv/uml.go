package testenv

import (
	"context"
	"debug/elf"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// A user-mode-Linux guest is a Linux 6.1 kernel that runs as an ordinary
// process (Debian's user-mode-linux, no KVM), for what this host cannot
// show: a pure cgroup v2 machine with cpu, io, memory and pids enabled and
// enforced. Its root is a jail directory in the test's temp dir mounted
// through hostfs (hostfs=DIR confines it there); the program it runs is a
// static test binary linked into the jail. The binary is the guest's init:
// its TestMain calls GuestInit, which mounts /proc, /sys and cgroup2, runs
// the binary again as a child with the requested test flags, hands the
// child's exit code to the kernel through /proc/exitcode and powers off, so
// that linux.uml exits with it. KEY=val words of the kernel command line
// reach init as its environment, which is how the flags get in.
//
//	func TestMain(m *testing.M) { testenv.GuestInit(); os.Exit(m.Run()) }
//
//	func TestOnV2(t *testing.T) {
//		res := testenv.RunGuest(t, testenv.GuestConfig{Run: "^TestGuestV2$"})
//		if res.ExitCode != 0 { t.Fatalf("guest failed:\n%s", res.Output) }
//	}
//
//	func TestGuestV2(t *testing.T) {
//		if !testenv.InGuest() { t.Skip("runs inside the guest of TestOnV2") }
//		... // a real cgroup2 hierarchy at /sys/fs/cgroup
//	}

// guestEnv marks the init of a guest started by RunGuest; guestArgsEnv
// carries the test flags, comma-separated (the kernel command line splits
// on spaces, and dotted names such as test.run would be taken for module
// parameters).
const (
	guestEnv     = "SHOAL_UML_GUEST"
	guestArgsEnv = "SHOAL_UML_ARGS"
)

// The guest's fixed parts: its block device (for the io controller), its
// memory, and how long RunGuest waits by default.
const (
	GuestDisk           = "98:0" // major:minor of ubd0, the guest's disk
	guestDiskSize       = 64 << 20
	guestMemory         = "256M"
	guestTimeoutDefault = 2 * time.Minute
	guestBuildTimeout   = 5 * time.Minute
)

// GuestConfig says what a guest runs. The zero value runs every test of
// the binary.
type GuestConfig struct {
	// Run is the -test.run pattern of the tests the guest runs; "" runs all.
	Run string
	// Args are further test flags, such as "-test.v"; none may contain a
	// comma or a space.
	Args []string
	// Binary is the static program the guest runs as init; "" is the
	// running test binary, built again with CGO_ENABLED=0 when it is not
	// static (a -race binary never is).
	Binary string
	// Timeout bounds the guest's whole run; 0 is two minutes. When it
	// passes, linux.uml's process group is killed and the test fails.
	Timeout time.Duration
}

// GuestResult is how a guest ended.
type GuestResult struct {
	// ExitCode is the guest program's exit code (0 when its tests passed).
	ExitCode int
	// Output is the guest's console: the kernel's messages and the
	// program's stdout and stderr.
	Output string
}

// InGuest reports whether the test runs inside a guest started by RunGuest.
func InGuest() bool { return os.Getenv(guestEnv) == "1" && os.Getpid() != 1 }

// RunGuest boots a user-mode-Linux guest that runs the tests cfg names and
// waits for it to power off. It calls Require(t, UML) first. The guest's
// files (jail, disk image, UML's pid and socket directory) live in the
// test's temp dir; a guest that outlives cfg.Timeout is killed by its
// process group and fails the test.
func RunGuest(t testing.TB, cfg GuestConfig) GuestResult {
	t.Helper()
	p, cfg := startGuest(t, cfg)
	res, err := waitGuest(t, p, cfg.Timeout)
	if err != nil {
		t.Fatalf("testenv: %v. Console:\n%s", err, res.Output)
	}
	return res
}

// startGuest prepares the jail and disk and starts linux.uml.
func startGuest(t testing.TB, cfg GuestConfig) (*Process, GuestConfig) {
	t.Helper()
	Require(t, UML)
	if cfg.Timeout <= 0 {
		cfg.Timeout = guestTimeoutDefault
	}
	args := cfg.Args
	if cfg.Run != "" {
		args = append([]string{"-test.run=" + cfg.Run}, args...)
	}
	// The guest's tests time out first, so that a hang prints its
	// goroutines on the console instead of being killed mute.
	if !slices.ContainsFunc(args, func(a string) bool { return strings.HasPrefix(a, "-test.timeout=") }) {
		args = append(args, "-test.timeout="+(cfg.Timeout*3/4).String())
	}
	for _, a := range args {
		if strings.ContainsAny(a, ", \t\n\"") {
			t.Fatalf("testenv: guest argument %q has a comma, space or quote", a)
		}
	}
	dir := t.TempDir()
	jail := filepath.Join(dir, "jail")
	for _, d := range []string{"proc", "sys", "dev", "tmp"} {
		if err := os.MkdirAll(filepath.Join(jail, d), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	const initPath = "/guest.test"
	placeBinary(t, cfg.Binary, filepath.Join(jail, initPath))
	disk := filepath.Join(dir, "disk.img")
	if err := os.WriteFile(disk, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Truncate(disk, guestDiskSize); err != nil {
		t.Fatal(err)
	}
	umlDir := filepath.Join(dir, "uml")
	if err := os.Mkdir(umlDir, 0o700); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(path(t, "linux.uml"), //nolint:noctx // bounded below and stopped by its process group
		"mem="+guestMemory,
		"root=/dev/root", "rootfstype=hostfs", "hostfs="+jail, "rw",
		"init="+initPath,
		"ubd0="+disk,
		"umid=shoal", "uml_dir="+umlDir,
		"con=null", "con0=fd:0,fd:1", "quiet",
		guestEnv+"=1",
		guestArgsEnv+"="+strings.Join(args, ","),
	)
	// UML keeps the guest's memory in a file it unlinks at once, on
	// /dev/shm unless TMPDIR names a directory (which may be on disk).
	cmd.Env = withoutEnv(os.Environ(), "TMPDIR")
	cmd.Stdin = nil
	return startCmd(t, cmd), cfg
}

// groupGoneWait bounds the wait for a killed guest's helper processes to be
// reaped.
const groupGoneWait = 30 * time.Second

// waitGroupGone waits until no process is left in process group pgid.
func waitGroupGone(pgid int, limit time.Duration) error {
	deadline := time.Now().Add(limit)
	for {
		err := unix.Kill(-pgid, 0)
		if errors.Is(err, unix.ESRCH) {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("testenv: processes of group %d still there %v after the kill (signal 0: %w)", pgid, limit, err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// errGuestTimeout reports a guest killed because it outlived its timeout.
var errGuestTimeout = errors.New("user-mode-Linux guest outlived its timeout")

// waitGuest waits for the guest process p to exit, killing its process
// group when timeout passes first.
func waitGuest(t testing.TB, p *Process, timeout time.Duration) (GuestResult, error) {
	t.Helper()
	select {
	case <-p.Done():
	case <-time.After(timeout):
		p.Kill(t)
		// UML's helper processes die with the group but are reaped by
		// init, after linux.uml itself: wait until none is left.
		if err := waitGroupGone(p.Pid, groupGoneWait); err != nil {
			t.Error(err)
		}
		return GuestResult{Output: p.Output()}, fmt.Errorf("%w (%v): killed pid %d", errGuestTimeout, timeout, p.Pid)
	}
	res := GuestResult{Output: p.Output()}
	if err := p.Err(); err != nil {
		var ee *exec.ExitError
		if !errors.As(err, &ee) || ee.ExitCode() < 0 {
			return res, fmt.Errorf("user-mode-Linux guest: %w", err)
		}
		res.ExitCode = ee.ExitCode()
	}
	if !strings.Contains(res.Output, guestDoneMark) {
		return res, fmt.Errorf("user-mode-Linux guest powered off before its init finished (exit %d)", res.ExitCode)
	}
	return res, nil
}

// guestDoneMark is the line GuestInit prints when its child has exited, so
// that RunGuest can tell a guest whose program ran from one that never got
// there (a kernel panic also ends linux.uml).
const guestDoneMark = "testenv: guest program exited with code "

// StaticTestBinary returns a static build of the running test binary, for
// GuestConfig.Binary when several guests run one: the binary itself when it
// is static, else the package's tests built again with CGO_ENABLED=0 into
// the test's temp dir (go test runs a package's tests in its directory).
func StaticTestBinary(t testing.TB) string {
	t.Helper()
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	if isStatic(self) {
		return self
	}
	dst := filepath.Join(t.TempDir(), "static.test")
	buildStaticTest(t, dst)
	return dst
}

// placeBinary links or copies the static program bin (StaticTestBinary's
// when "") into the jail at dst.
func placeBinary(t testing.TB, bin, dst string) {
	t.Helper()
	if bin == "" {
		bin = StaticTestBinary(t)
	}
	if !isStatic(bin) {
		t.Fatalf("testenv: %s is not a static executable: the guest has no dynamic loader", bin)
	}
	if err := os.Link(bin, dst); err == nil {
		return
	}
	if err := copyFile(bin, dst); err != nil {
		t.Fatal(err)
	}
}

// isStatic reports whether the ELF file at p has no program interpreter.
func isStatic(p string) bool {
	f, err := elf.Open(p)
	if err != nil {
		return false
	}
	defer f.Close()
	for _, prog := range f.Progs {
		if prog.Type == elf.PT_INTERP {
			return false
		}
	}
	return true
}

// buildStaticTest builds the tests of the package in the working directory
// (go test runs a package's tests there) with CGO_ENABLED=0.
func buildStaticTest(t testing.TB, dst string) {
	t.Helper()
	goCmd, err := exec.LookPath("go")
	if err != nil {
		t.Fatalf("testenv: the test binary is not static and no go command is in PATH to build one: %v", err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), guestBuildTimeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, goCmd, "test", "-c", "-o", dst, ".")
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
	start := time.Now()
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("testenv: go test -c (CGO_ENABLED=0): %v\n%s", err, out)
	}
	t.Logf("testenv: built the static guest binary in %v", time.Since(start).Round(time.Millisecond))
}

// withoutEnv returns env without the variable name.
func withoutEnv(env []string, name string) []string {
	out := env[:0:0]
	for _, kv := range env {
		if !strings.HasPrefix(kv, name+"=") {
			out = append(out, kv)
		}
	}
	return out
}

func copyFile(src, dst string) error {
	in, err := os.Open(src)
	if err != nil {
		return err
	}
	defer in.Close()
	out, err := os.OpenFile(dst, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o755)
	if err != nil {
		return err
	}
	if _, err := io.Copy(out, in); err != nil {
		_ = out.Close()
		return err
	}
	return out.Close()
}

// GuestControllers are the controllers GuestInit enables for the children
// of the guest's cgroup2 root.
const GuestControllers = "+cpu +io +memory +pids"

// GuestInit makes a test binary the init of a guest started by RunGuest.
// Call it first in TestMain: outside a guest it returns at once. As the
// guest's init (pid 1) it mounts /proc, /sys, cgroup2 on /sys/fs/cgroup
// and a tmpfs on /tmp, enables GuestControllers at the cgroup2 root, runs
// the binary again with the flags RunGuest passed (the child is where the
// tests run: InGuest is true there), and powers the guest off with the
// child's exit code. It never returns there.
func GuestInit() {
	if os.Getpid() != 1 || os.Getenv(guestEnv) != "1" {
		return
	}
	code := 125
	if err := guestSetup(); err != nil {
		fmt.Fprintf(os.Stderr, "testenv: guest init: %v\n", err)
	} else {
		code = guestRunChild()
	}
	fmt.Fprintf(os.Stderr, "%s%d\n", guestDoneMark, code)
	// linux.uml exits with the code written here when the guest halts. The
	// kernel parses the write without a terminating NUL: end it with "\n".
	if err := os.WriteFile("/proc/exitcode", []byte(strconv.Itoa(code)+"\n"), 0); err != nil {
		fmt.Fprintf(os.Stderr, "testenv: guest init: %v\n", err)
	}
	unix.Sync()
	_ = unix.Reboot(unix.LINUX_REBOOT_CMD_POWER_OFF)
	// Reboot does not return for pid 1; if it did, the kernel panics on
	// init's exit, which RunGuest reports as a guest that never finished.
	os.Exit(code)
}

func guestSetup() error {
	for _, m := range []struct{ fs, dir string }{
		{"proc", "/proc"}, {"sysfs", "/sys"}, {"cgroup2", "/sys/fs/cgroup"}, {"tmpfs", "/tmp"},
	} {
		if err := unix.Mount(m.fs, m.dir, m.fs, 0, ""); err != nil {
			return fmt.Errorf("mount %s on %s: %w", m.fs, m.dir, err)
		}
	}
	if err := os.WriteFile("/sys/fs/cgroup/cgroup.subtree_control", []byte(GuestControllers), 0); err != nil {
		return fmt.Errorf("enable %s: %w", GuestControllers, err)
	}
	return nil
}

func guestRunChild() int {
	var args []string
	if a := os.Getenv(guestArgsEnv); a != "" {
		args = strings.Split(a, ",")
	}
	cmd := exec.Command("/proc/self/exe", args...) //nolint:noctx // the guest's whole life is bounded by RunGuest
	cmd.Stdout, cmd.Stderr = os.Stdout, os.Stderr
	cmd.Env = append(os.Environ(), "TMPDIR=/tmp", "HOME=/tmp")
	if err := cmd.Run(); err != nil {
		var ee *exec.ExitError
		if errors.As(err, &ee) && ee.ExitCode() >= 0 {
			return ee.ExitCode()
		}
		fmt.Fprintf(os.Stderr, "testenv: guest program: %v\n", err)
		return 126
	}
	return 0
}
