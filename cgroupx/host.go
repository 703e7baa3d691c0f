package cgroupx

import (
	"bytes"
	"context"
	"errors"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"
)

// Host is the view of one machine's cgroup file systems and /proc. It is
// safe for concurrent use. Open cgroups from it with [Host.Open] or
// [Host.OpenPID].
type Host struct {
	root   string
	mode   Mode
	v1     map[string]hierarchy // controller name → hierarchy
	v2     *hierarchy
	v2Ctrl map[string]bool // controllers enabled at the cgroup2 root
	bufs   sync.Pool

	// Host-wide values that change only on hotplug or swapon, cached for
	// hostTTL so that a container's Meminfo or CPUs does not pay for
	// generating the host's /proc/meminfo each time.
	cacheMu   sync.Mutex
	cacheAt   time.Time
	memTotal  uint64
	swapTotal uint64
	online    []int
}

// hostTTL is how long host totals (MemTotal, SwapTotal, online CPUs) are
// cached.
const hostTTL = time.Second

// totals returns the host's MemTotal and SwapTotal and its online CPUs,
// read at most once per hostTTL.
func (h *Host) totals(ctx context.Context) (memTotal, swapTotal uint64, online []int, err error) {
	h.cacheMu.Lock()
	defer h.cacheMu.Unlock()
	if !h.cacheAt.IsZero() && time.Since(h.cacheAt) < hostTTL {
		return h.memTotal, h.swapTotal, h.online, nil
	}
	m, err := h.HostMeminfo(ctx)
	if err != nil {
		return 0, 0, nil, err
	}
	var cpus []int
	h.withBuf(func(buf []byte) []byte {
		if buf, err = readInto(h.abs("/sys/devices/system/cpu/online"), buf); err == nil {
			cpus, err = parseCPUList(buf)
		}
		return buf
	})
	if err != nil {
		return 0, 0, nil, err
	}
	h.memTotal, h.swapTotal, h.online, h.cacheAt = m.MemTotal, m.SwapTotal, cpus, time.Now()
	return h.memTotal, h.swapTotal, h.online, nil
}

// hierarchy is one mounted cgroup hierarchy.
type hierarchy struct {
	dir       string // absolute directory of the mount point, root prefix included
	mountRoot string // the cgroup mounted there (mountinfo's root field)
}

// Option configures [NewHost].
type Option func(*hostOptions) error

type hostOptions struct {
	root string
}

// WithRoot makes the host read every file under dir instead of "/": its
// mount table from dir/proc/self/mountinfo, cgroup files under
// dir/<mount point>, and dir/proc, dir/sys. Tests point it at a fixture tree
// written by the cgroupxtest package.
func WithRoot(dir string) Option {
	return func(o *hostOptions) error {
		if dir == "" || !filepath.IsAbs(dir) {
			return newError(ErrInvalid, "WithRoot(%q): not an absolute path", dir)
		}
		o.root = filepath.Clean(dir)
		return nil
	}
}

// NewHost reads the mount table and detects the host's cgroup layout. With
// no options it reads the machine's own files under "/".
// It returns an error wrapping [ErrUnsupported] when no cgroup file system
// is mounted.
func NewHost(ctx context.Context, opts ...Option) (*Host, error) {
	o := hostOptions{root: "/"}
	for _, opt := range opts {
		if err := opt(&o); err != nil {
			return nil, err
		}
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	h := &Host{root: o.root, v1: map[string]hierarchy{}}
	h.bufs.New = func() any { b := make([]byte, 0, 8192); return &b }
	// The calling thread's mount table: /proc/self is the main thread's,
	// which a library that setns()es on a locked thread (libcontainer,
	// starting containers in this process) can leave wedged in a
	// container's mount namespace. Fixture trees have only self/.
	data, err := h.readAll(h.proc("thread-self/mountinfo"))
	if errors.Is(err, ErrNotFound) {
		data, err = h.readAll(h.proc("self/mountinfo"))
	}
	if err != nil {
		return nil, err
	}
	mounts, err := ParseMountinfo(bytes.NewReader(data))
	if err != nil {
		return nil, err
	}
	h.mode = DetectMode(mounts)
	if h.mode == ModeUnknown {
		return nil, newError(ErrUnsupported, "no cgroup file system mounted")
	}
	for _, m := range mounts {
		hy := hierarchy{dir: h.abs(m.MountPoint), mountRoot: m.Root}
		switch m.FSType {
		case "cgroup":
			for _, c := range m.Controllers() {
				if _, dup := h.v1[c]; !dup {
					h.v1[c] = hy
				}
			}
		case "cgroup2":
			if h.v2 == nil {
				h.v2 = &hy
			}
		}
	}
	if h.v2 != nil {
		h.v2Ctrl = map[string]bool{}
		if b, err := h.readAll(filepath.Join(h.v2.dir, "cgroup.controllers")); err == nil {
			for _, c := range strings.Fields(string(b)) {
				if _, onV1 := h.v1[c]; !onV1 {
					h.v2Ctrl[c] = true
				}
			}
		}
	}
	return h, nil
}

// Mode returns the host's cgroup layout.
func (h *Host) Mode() Mode { return h.mode }

// Controllers returns the controllers the host has, sorted, whether they
// are bound to v1 hierarchies or enabled in cgroup2.
func (h *Host) Controllers() []string {
	var out []string
	for c := range h.v1 {
		if !strings.HasPrefix(c, "name=") {
			out = append(out, c)
		}
	}
	for c := range h.v2Ctrl {
		out = append(out, c)
	}
	sort.Strings(out)
	return out
}

// abs maps a path as the host sees it to the path under the injected root.
func (h *Host) abs(p string) string {
	if h.root == "/" {
		return p
	}
	return filepath.Join(h.root, p)
}

// proc returns the path of a file under the host's /proc.
func (h *Host) proc(rel string) string { return h.abs("/proc/" + rel) }

// Open opens the cgroup at path, relative to the root of every hierarchy
// (as /proc/<pid>/cgroup shows it, e.g. "/docker/abc" or
// "/system.slice/x.service"). The cgroup must exist in at least one
// hierarchy; on a v1 or hybrid host the controllers where it is missing are
// left out. A path with ".." is refused with [ErrInvalid].
func (h *Host) Open(ctx context.Context, path string) (*Cgroup, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	clean, err := cleanCgroupPath(path)
	if err != nil {
		return nil, err
	}
	paths := map[string]string{}
	for c := range h.v1 {
		paths[c] = clean
	}
	v2 := ""
	if h.v2 != nil {
		v2 = clean
	}
	return h.open(clean, paths, v2, 0)
}

// OpenPID opens the cgroup of process pid, read from /proc/<pid>/cgroup.
func (h *Host) OpenPID(ctx context.Context, pid int) (*Cgroup, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	if pid <= 0 {
		return nil, newError(ErrInvalid, "pid %d", pid)
	}
	data, err := h.readAll(h.proc(strconv.Itoa(pid) + "/cgroup"))
	if err != nil {
		return nil, err
	}
	lines, err := ParseProcCgroup(bytes.NewReader(data))
	if err != nil {
		return nil, err
	}
	paths := map[string]string{}
	v2 := ""
	display := ""
	for _, l := range lines {
		if l.ID == 0 && len(l.Controllers) == 0 {
			if h.v2 != nil {
				v2 = relToMount(l.Path, h.v2.mountRoot)
				if h.mode == ModeV2 || display == "" {
					display = v2
				}
			}
			continue
		}
		for _, c := range l.Controllers {
			hy, ok := h.v1[c]
			if !ok {
				continue
			}
			p := relToMount(l.Path, hy.mountRoot)
			paths[c] = p
			if c == "memory" || display == "" {
				display = p
			}
		}
	}
	for c, p := range paths {
		if p, err = cleanCgroupPath(p); err != nil {
			return nil, err
		}
		paths[c] = p
	}
	if v2 != "" {
		if v2, err = cleanCgroupPath(v2); err != nil {
			return nil, err
		}
	}
	cg, err := h.open(display, paths, v2, pid)
	if err != nil {
		return nil, annotate(err, "cgroup of pid %d", pid)
	}
	return cg, nil
}

func (h *Host) open(display string, paths map[string]string, v2 string, pid int) (*Cgroup, error) {
	cg := &Cgroup{host: h, path: display, v1: map[string]string{}, pid: pid}
	for c, p := range paths {
		dir := filepath.Join(h.v1[c].dir, p)
		if isDir(dir) {
			cg.v1[c] = dir
		}
	}
	if h.v2 != nil && v2 != "" {
		dir := filepath.Join(h.v2.dir, v2)
		if isDir(dir) {
			cg.v2 = dir
		}
	}
	if len(cg.v1) == 0 && cg.v2 == "" {
		return nil, newError(ErrNotFound, "cgroup %q", display)
	}
	return cg, nil
}

// relToMount returns a /proc/<pid>/cgroup path relative to a mount of
// the hierarchy whose root is mountRoot (a container's view of its own
// cgroup, mounted at /sys/fs/cgroup/... with root /docker/abc, shows
// /docker/abc as "/").
func relToMount(path, mountRoot string) string {
	if mountRoot == "/" || mountRoot == "" {
		return path
	}
	if path == mountRoot {
		return "/"
	}
	if rest, ok := strings.CutPrefix(path, mountRoot+"/"); ok {
		return "/" + rest
	}
	return path
}

// cleanCgroupPath returns path cleaned and rooted at "/", refusing ".."
// components that would leave the hierarchy.
func cleanCgroupPath(path string) (string, error) {
	if path == "" {
		return "", newError(ErrInvalid, "empty cgroup path")
	}
	for _, part := range strings.Split(path, "/") {
		if part == ".." {
			return "", newError(ErrInvalid, "cgroup path %q leaves the hierarchy", path)
		}
	}
	if strings.ContainsRune(path, 0) {
		return "", newError(ErrInvalid, "cgroup path %q has a NUL byte", path)
	}
	return filepath.Clean("/" + path), nil
}

// notFound reports whether err says a file is missing.
func notFound(err error) bool { return errors.Is(err, ErrNotFound) }
