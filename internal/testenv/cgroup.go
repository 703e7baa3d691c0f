package testenv

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// Cgroup is a cgroup made for one test: a directory of the same name under
// every cgroup v1 controller hierarchy and under the cgroup2 hierarchy when
// one is mounted (on a hybrid host, both). It is removed in t.Cleanup: the
// processes inside it are killed, then every directory, sub-cgroups the test
// made first.
type Cgroup struct {
	Name string            // the path relative to each hierarchy's root
	V1   map[string]string // v1 controller ("memory", "cpu", "cpuset", ...) to its absolute directory
	V2   string            // absolute directory in the cgroup2 hierarchy; "" when none is mounted
}

// cgroupMount is one cgroup hierarchy from mountinfo.
type cgroupMount struct {
	dir         string
	v2          bool
	controllers []string // v1 only
	// named is a v1 hierarchy without controllers (name=systemd): tests
	// make no group there, but runtimes (runc) join it, so a test's
	// group may appear there and is removed with the others.
	named bool
}

// parseCgroupMounts reads /proc/self/mountinfo and returns the cgroup v1
// hierarchies, the named ones without controllers (name=systemd) marked
// named, and the cgroup2 hierarchy.
func parseCgroupMounts(r io.Reader) ([]cgroupMount, error) {
	var out []cgroupMount
	sc := bufio.NewScanner(r)
	for sc.Scan() {
		pre, post, ok := strings.Cut(sc.Text(), " - ")
		if !ok {
			continue
		}
		pf, qf := strings.Fields(pre), strings.Fields(post)
		if len(pf) < 5 || len(qf) < 3 {
			continue
		}
		switch qf[0] {
		case "cgroup2":
			out = append(out, cgroupMount{dir: pf[4], v2: true})
		case "cgroup":
			var ctrls []string
			named := false
			for o := range strings.SplitSeq(qf[2], ",") {
				named = named || strings.HasPrefix(o, "name=")
				if o == "rw" || o == "ro" || strings.Contains(o, "=") || o == "clone_children" || o == "noprefix" || o == "xattr" || o == "cpuset_v2_mode" || o == "favordynmods" {
					continue
				}
				ctrls = append(ctrls, o)
			}
			switch {
			case len(ctrls) > 0:
				out = append(out, cgroupMount{dir: pf[4], controllers: ctrls})
			case named:
				out = append(out, cgroupMount{dir: pf[4], named: true})
			}
		}
	}
	return out, sc.Err()
}

func hostCgroupMounts() ([]cgroupMount, error) {
	// The calling thread's mounts: /proc/self is the main thread's, which
	// a library that setns()es on a locked thread (libcontainer) can leave
	// wedged in a container's mount namespace.
	f, err := os.Open("/proc/thread-self/mountinfo")
	if err != nil {
		return nil, err
	}
	defer f.Close()
	return parseCgroupMounts(f)
}

// checkCgroups is the Cgroups component's probe: a hierarchy is mounted and
// writable.
func checkCgroups() error {
	ms, err := hostCgroupMounts()
	if err != nil {
		return err
	}
	if len(ms) == 0 {
		return errors.New("no cgroup hierarchy mounted")
	}
	for _, m := range ms {
		if m.named {
			continue
		}
		if err := syscall.Access(m.dir, 2 /* W_OK */); err != nil {
			return fmt.Errorf("cgroup hierarchy %s not writable: %w", m.dir, err)
		}
	}
	return nil
}

// NewCgroup creates a cgroup for the test under every hierarchy and removes
// it in t.Cleanup.
func NewCgroup(t testing.TB) *Cgroup {
	t.Helper()
	Require(t, Cgroups)
	ms, err := hostCgroupMounts()
	if err != nil {
		t.Fatalf("testenv: cgroup mounts: %v", err)
	}
	cg := &Cgroup{Name: uniqueName("shoal-test-"), V1: map[string]string{}}
	var dirs []string
	t.Cleanup(func() { removeCgroups(t, dirs) })
	for _, m := range ms {
		dir := filepath.Join(m.dir, cg.Name)
		if m.named {
			dirs = append(dirs, dir) // a runtime may make it; removed if so
			continue
		}
		if err := os.Mkdir(dir, 0o755); err != nil {
			t.Fatalf("testenv: create cgroup: %v", err)
		}
		dirs = append(dirs, dir)
		if m.v2 {
			cg.V2 = dir
			continue
		}
		for _, c := range m.controllers {
			cg.V1[c] = dir
		}
		// A v1 cpuset group admits no task until it has CPUs and memory
		// nodes: give it its parent's.
		if slices.Contains(m.controllers, "cpuset") {
			for _, f := range []string{"cpuset.cpus", "cpuset.mems"} {
				b, err := os.ReadFile(filepath.Join(m.dir, f))
				if err != nil {
					t.Fatalf("testenv: cgroup: %v", err)
				}
				if err := os.WriteFile(filepath.Join(dir, f), b, 0o644); err != nil {
					t.Fatalf("testenv: cgroup: %v", err)
				}
			}
		}
	}
	t.Logf("testenv: started cgroup %s", cg.Name)
	return cg
}

// Dirs returns every directory of the cgroup, one per hierarchy.
func (c *Cgroup) Dirs() []string {
	var out []string
	for _, d := range c.V1 {
		if !slices.Contains(out, d) {
			out = append(out, d)
		}
	}
	if c.V2 != "" {
		out = append(out, c.V2)
	}
	slices.Sort(out)
	return out
}

// Start starts a command that is inside the cgroup, in every hierarchy,
// before it executes its first instruction: a shell writes its own pid to
// each cgroup.procs and then execs the command. Start returns once the shell
// has joined every hierarchy and is about to exec, so /proc/PID/cgroup is
// already right. A frozen group is thawed before the process is stopped.
func (c *Cgroup) Start(t testing.TB, name string, args ...string) *Process {
	t.Helper()
	// Fd 3 is closed just before the exec: EOF on r says the shell is in.
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatalf("testenv: %v", err)
	}
	defer r.Close()
	script := `for f in ` + shellQuoteProcs(c.Dirs()) + `; do echo $$ > "$f" || exit 99; done; exec 3>&-; exec "$@"`
	cmd := exec.Command("/bin/sh", append([]string{"-c", script, "sh", name}, args...)...) //nolint:noctx // stopped by pid
	cmd.ExtraFiles = []*os.File{w}
	p := startCmd(t, cmd)
	_ = w.Close()
	// Registered after the process's own stop, so it runs before it: a
	// frozen task would never die of SIGKILL.
	t.Cleanup(func() { thaw(c.Dirs()) })
	_ = r.SetReadDeadline(time.Now().Add(readyTimeout))
	if _, err := io.Copy(io.Discard, r); err != nil {
		t.Fatalf("testenv: %s did not join cgroup %s: %v\n%s", name, c.Name, err, p.Output())
	}
	return p
}

// AddPid moves a running process into the cgroup in every hierarchy.
func (c *Cgroup) AddPid(t testing.TB, pid int) {
	t.Helper()
	for _, d := range c.Dirs() {
		if err := os.WriteFile(filepath.Join(d, "cgroup.procs"), []byte(strconv.Itoa(pid)), 0o644); err != nil {
			t.Fatalf("testenv: add pid %d to %s: %v", pid, d, err)
		}
	}
}

func shellQuoteProcs(dirs []string) string {
	q := make([]string, len(dirs))
	for i, d := range dirs {
		q[i] = "'" + strings.ReplaceAll(filepath.Join(d, "cgroup.procs"), "'", `'\''`) + "'"
	}
	return strings.Join(q, " ")
}

// removeCgroups kills what is left inside the test's cgroups and removes
// them, sub-cgroups first.
func removeCgroups(t testing.TB, roots []string) {
	t.Helper()
	for _, root := range roots {
		var tree []string
		_ = filepath.WalkDir(root, func(p string, d os.DirEntry, err error) error {
			if err == nil && d.IsDir() {
				tree = append(tree, p)
			}
			return nil
		})
		thaw(tree)
		slices.Reverse(tree) // deepest last in walk order, so first now
		for _, d := range tree {
			if err := killAndRemove(d); err != nil {
				t.Errorf("testenv: remove cgroup %s: %v", d, err)
			}
		}
	}
}

// thaw thaws every group in dirs and below (v1 freezer and cgroup2): a
// frozen task cannot be killed.
func thaw(dirs []string) {
	for _, root := range dirs {
		_ = filepath.WalkDir(root, func(p string, d os.DirEntry, err error) error {
			if err != nil || !d.IsDir() {
				return nil //nolint:nilerr // a group that vanished needs no thawing
			}
			if _, err := os.Stat(filepath.Join(p, "freezer.state")); err == nil {
				_ = os.WriteFile(filepath.Join(p, "freezer.state"), []byte("THAWED"), 0o644)
			}
			if _, err := os.Stat(filepath.Join(p, "cgroup.freeze")); err == nil {
				_ = os.WriteFile(filepath.Join(p, "cgroup.freeze"), []byte("0"), 0o644)
			}
			return nil
		})
	}
}

// killAndRemove kills every process listed in dir (only processes a test
// put into its own cgroup) and removes the directory, retrying while the
// kernel finishes the exits.
func killAndRemove(dir string) error {
	deadline := time.Now().Add(10 * time.Second)
	for {
		b, err := os.ReadFile(filepath.Join(dir, "cgroup.procs"))
		if errors.Is(err, os.ErrNotExist) {
			return nil
		}
		for f := range strings.FieldsSeq(string(b)) {
			if pid, err := strconv.Atoi(f); err == nil && pid > 0 {
				_ = syscall.Kill(pid, syscall.SIGKILL)
			}
		}
		err = syscall.Rmdir(dir)
		if err == nil || errors.Is(err, syscall.ENOENT) {
			return nil
		}
		if time.Now().After(deadline) {
			return err
		}
		time.Sleep(20 * time.Millisecond)
	}
}
