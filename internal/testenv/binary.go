package testenv

import (
	"bufio"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// maxLibraries bounds the shared libraries CopyBinary follows for one
// binary (ldd's list; procps free needs five).
const maxLibraries = 64

// CopyBinary copies the host's executable at path (absolute, or a command
// looked up on PATH) into rootfs at the same path, with every shared
// library and the dynamic loader it needs (as ldd lists them) at theirs,
// so that a dynamically linked Debian tool (procps free, coreutils nproc)
// runs in a BusyBox rootfs. It returns the path inside rootfs. A binary
// already in place is overwritten; directories are made 0755.
func CopyBinary(t testing.TB, rootfs, path string) string {
	t.Helper()
	if !filepath.IsAbs(path) {
		p, err := exec.LookPath(path)
		if err != nil {
			t.Fatalf("testenv: copy %s: %v", path, err)
		}
		path = p
	}
	path, err := filepath.EvalSymlinks(path)
	if err != nil {
		t.Fatalf("testenv: copy binary: %v", err)
	}
	for _, f := range append([]string{path}, sharedLibraries(t, path)...) {
		copyInto(t, rootfs, f)
	}
	return path
}

// sharedLibraries returns the absolute paths ldd names for bin: "lib =>
// /path (addr)" and the loader's "/path (addr)"; a static binary has none.
func sharedLibraries(t testing.TB, bin string) []string {
	t.Helper()
	out, err := exec.CommandContext(t.Context(), "ldd", bin).CombinedOutput() //nolint:gosec // a test's own binary
	if err != nil {
		if strings.Contains(string(out), "not a dynamic executable") {
			return nil
		}
		t.Fatalf("testenv: ldd %s: %v\n%s", bin, err, out)
	}
	var libs []string
	sc := bufio.NewScanner(strings.NewReader(string(out)))
	for sc.Scan() {
		fields := strings.Fields(sc.Text())
		var p string
		switch {
		case len(fields) >= 3 && fields[1] == "=>":
			p = fields[2]
		case len(fields) >= 1:
			p = fields[0]
		}
		if !filepath.IsAbs(p) {
			continue // linux-vdso.so.1, or "not found"
		}
		if len(libs) == maxLibraries {
			t.Fatalf("testenv: ldd %s: more than %d libraries", bin, maxLibraries)
		}
		libs = append(libs, p)
	}
	return libs
}

// copyInto copies the host file at abs to rootfs/abs, following symbolic
// links so the copy is the file itself, with its mode.
func copyInto(t testing.TB, rootfs, abs string) {
	t.Helper()
	b, err := os.ReadFile(abs) //nolint:gosec // a test's own binary
	if err != nil {
		t.Fatalf("testenv: copy binary: %v", err)
	}
	fi, err := os.Stat(abs)
	if err != nil {
		t.Fatalf("testenv: copy binary: %v", err)
	}
	dst := filepath.Join(rootfs, abs)
	if err := os.MkdirAll(filepath.Dir(dst), 0o755); err != nil {
		t.Fatalf("testenv: copy binary: %v", err)
	}
	_ = os.Remove(dst) // a BusyBox applet link of the same name
	if err := os.WriteFile(dst, b, fi.Mode().Perm()); err != nil {
		t.Fatalf("testenv: copy binary: %v", err)
	}
}

// sysinfoProbe is a static program calling sysinfo(2): once, printing
// what it got or its errno; with -n N, N times, printing the mean time.
const sysinfoProbe = `package main

import (
	"errors"
	"fmt"
	"os"
	"strconv"
	"syscall"
	"time"
)

func main() {
	n := 1
	if len(os.Args) == 3 && os.Args[1] == "-n" {
		v, err := strconv.Atoi(os.Args[2])
		if err != nil || v < 1 || v > 100000000 {
			fmt.Println("usage: probe [-n 1..100000000]")
			os.Exit(2)
		}
		n = v
	}
	var si syscall.Sysinfo_t
	start := time.Now()
	for range n {
		if err := syscall.Sysinfo(&si); err != nil {
			var errno syscall.Errno
			errors.As(err, &errno)
			fmt.Printf("sysinfo error=%d %v\n", int(errno), err)
			os.Exit(1)
		}
	}
	d := time.Since(start)
	fmt.Printf("sysinfo totalram=%d unit=%d uptime=%d procs=%d\n", si.Totalram, si.Unit, si.Uptime, si.Procs)
	if n > 1 {
		fmt.Printf("calls=%d ns/call=%d\n", n, d.Nanoseconds()/int64(n))
	}
}
`

// SysinfoProbe builds a small static program (no cgo) into dir and
// returns its path: run with no argument it calls sysinfo(2) once and
// prints "sysinfo totalram=N unit=N uptime=S procs=N", or "sysinfo
// error=ERRNO text" and exits 1; with -n N it calls it N times and adds
// "calls=N ns/call=T". Tests copy it into a container's rootfs to see what
// sysinfo answers there, and how fast.
func SysinfoProbe(t testing.TB, dir string) string {
	t.Helper()
	src := t.TempDir()
	for name, body := range map[string]string{"go.mod": "module probe\n\ngo 1.22\n", "main.go": sysinfoProbe} {
		if err := os.WriteFile(filepath.Join(src, name), []byte(body), 0o644); err != nil {
			t.Fatalf("testenv: sysinfo probe: %v", err)
		}
	}
	out := filepath.Join(dir, "sysinfo-probe")
	goCmd, err := exec.LookPath("go")
	if err != nil {
		t.Fatalf("testenv: no go command in PATH to build the sysinfo probe: %v", err)
	}
	cmd := exec.CommandContext(t.Context(), goCmd, "build", "-o", out, ".") //nolint:gosec // the test's own toolchain
	cmd.Dir = src
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0", "GOWORK=off", "GOFLAGS=")
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("testenv: build sysinfo probe: %v\n%s", err, b)
	}
	return out
}
