package cgroupx

import (
	"path/filepath"
	"sort"
	"strings"
)

// Cgroup is one container's cgroup, on whichever hierarchies the host has.
// Its methods read the kernel's files on every call, and it is safe for
// concurrent use. A handle from [Cgroup.KeepOpen] keeps those files open
// between calls and must be closed.
type Cgroup struct {
	host *Host
	path string
	v1   map[string]string // controller → absolute directory
	v2   string            // absolute directory in cgroup2, "" when absent
	pid  int

	files *fileCache // open files of a KeepOpen handle; nil otherwise
}

// Path returns the cgroup's path relative to the hierarchy root (the memory
// controller's on a v1 host when opened by pid).
func (c *Cgroup) Path() string { return c.path }

// Host returns the host the cgroup was opened on.
func (c *Cgroup) Host() *Host { return c.host }

// Version returns 2 when the cgroup's resources are read from cgroup2 (a
// unified host), else 1. On a hybrid host it is 1; pressure files still come
// from cgroup2 when the group exists there.
func (c *Cgroup) Version() int {
	if c.host.mode == ModeV2 {
		return 2
	}
	return 1
}

// Dirs returns the cgroup's directories: one per v1 controller, keyed by
// controller, and the cgroup2 directory under the key "" when the group
// exists there.
func (c *Cgroup) Dirs() map[string]string {
	out := make(map[string]string, len(c.v1)+1)
	for k, v := range c.v1 {
		out[k] = v
	}
	if c.v2 != "" {
		out[""] = c.v2
	}
	return out
}

// where tells where the files of a controller are: the directory, the root
// of its hierarchy, and whether it is cgroup2.
type where struct {
	dir, base string
	v2        bool
}

func (c *Cgroup) controller(name string) (where, error) {
	if d, ok := c.v1[name]; ok {
		return where{dir: d, base: c.host.v1[name].dir}, nil
	}
	if c.v2 != "" && c.host.v2Ctrl[name] {
		return where{dir: c.v2, base: c.host.v2.dir, v2: true}, nil
	}
	return where{}, newError(ErrUnsupported, "controller %s not available for %s", name, c.path)
}

// ancestors returns dir and each parent up to and including base,
// nearest first.
func ancestors(dir, base string) []string {
	out := []string{dir}
	for dir != base && strings.HasPrefix(dir, base+"/") {
		dir = filepath.Dir(dir)
		out = append(out, dir)
	}
	return out
}

// procsDir returns the directory whose cgroup.procs lists the container's
// processes: cgroup2 on a unified host, else a v1 hierarchy that every
// process is in.
func (c *Cgroup) procsDir() (where, error) {
	if c.host.mode == ModeV2 && c.v2 != "" {
		return where{dir: c.v2, base: c.host.v2.dir, v2: true}, nil
	}
	for _, name := range []string{"memory", "pids", "cpu", "cpuacct", "freezer", "name=systemd"} {
		if d, ok := c.v1[name]; ok {
			return where{dir: d, base: c.host.v1[name].dir}, nil
		}
	}
	names := make([]string, 0, len(c.v1))
	for n := range c.v1 {
		names = append(names, n)
	}
	sort.Strings(names)
	if len(names) > 0 {
		return where{dir: c.v1[names[0]], base: c.host.v1[names[0]].dir}, nil
	}
	if c.v2 != "" {
		return where{dir: c.v2, base: c.host.v2.dir, v2: true}, nil
	}
	return where{}, newError(ErrUnsupported, "no hierarchy lists processes for %s", c.path)
}
