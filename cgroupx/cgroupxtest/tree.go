package cgroupxtest

import (
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strconv"
	"strings"
	"testing"
)

// Layout is the cgroup layout of a fake host.
type Layout int

// The layouts New can write.
const (
	// V1 has one hierarchy per controller under /sys/fs/cgroup/<name>.
	V1 Layout = iota + 1
	// V2 has one cgroup2 hierarchy at /sys/fs/cgroup.
	V2
	// Hybrid has the v1 hierarchies and cgroup2 at /sys/fs/cgroup/unified.
	Hybrid
)

// V1Hierarchies returns the v1 hierarchies a V1 or Hybrid tree mounts,
// each named by its controllers; "cpu" and "cpuacct" share one hierarchy as
// on most distributions.
func V1Hierarchies() []string {
	return []string{"cpu,cpuacct", "cpuset", "memory", "blkio", "pids", "freezer"}
}

// Host holds the host-wide values a tree writes under /proc and /sys. A
// zero swap, uptime or idle time is a host without them; MemTotal and CPUs
// are required (SetHost refuses a host without memory or CPUs).
type Host struct {
	MemTotal, MemFree, SwapTotal, SwapFree uint64 // bytes
	CPUs                                   int    // online CPUs, numbered from 0
	Uptime, Idle                           float64
}

// DefaultHost is a 4-CPU host with 16 GiB of memory and 2 GiB of swap, up
// for 1000 s.
func DefaultHost() Host {
	return Host{MemTotal: 16 << 30, MemFree: 12 << 30, SwapTotal: 2 << 30, SwapFree: 2 << 30, CPUs: 4, Uptime: 1000, Idle: 3500}
}

// Tree is a fake host written under Root.
type Tree struct {
	// Root is the directory to pass to cgroupx.WithRoot.
	Root   string
	Layout Layout
	t      testing.TB
	err    error
	mem    map[string]Memory
}

// fatalf stops the test, or records the first error of a tree made by
// NewAt.
func (tr *Tree) fatalf(format string, args ...any) {
	if tr.t != nil {
		tr.t.Helper()
		tr.t.Fatalf(format, args...)
		return
	}
	if tr.err == nil {
		tr.err = fmt.Errorf(format, args...)
	}
}

func (tr *Tree) helper() {
	if tr.t != nil {
		tr.t.Helper()
	}
}

// Err returns the first error a tree made by NewAt met, or nil. (A tree
// made by New fails its test instead.)
func (tr *Tree) Err() error { return tr.err }

// New writes an empty host of the given layout into t.TempDir(), with
// DefaultHost values.
func New(t testing.TB, layout Layout) *Tree {
	t.Helper()
	tr := &Tree{Root: t.TempDir(), Layout: layout, t: t, mem: map[string]Memory{}}
	tr.init()
	return tr
}

// NewAt writes an empty host of the given layout into dir, for Examples
// and programs that have no testing.TB. Errors are recorded, not fatal:
// check Err after building the tree. The caller removes dir.
func NewAt(dir string, layout Layout) *Tree {
	tr := &Tree{Root: dir, Layout: layout, mem: map[string]Memory{}}
	tr.init()
	return tr
}

func (tr *Tree) init() {
	layout := tr.Layout
	var mi strings.Builder
	id := 30
	line := func(mp, fstype, opts string) {
		id++
		fmt.Fprintf(&mi, "%d 25 0:%d / %s rw,nosuid,nodev,noexec,relatime shared:%d - %s %s %s\n", id, id, mp, id, fstype, fstype, opts)
	}
	fmt.Fprintf(&mi, "25 1 254:0 / / rw,relatime - ext4 /dev/vda rw\n")
	switch layout {
	case V1, Hybrid:
		line("/sys/fs/cgroup", "tmpfs", "rw,mode=755")
		for _, c := range V1Hierarchies() {
			line("/sys/fs/cgroup/"+c, "cgroup", "rw,"+c)
			tr.mkdirAll(tr.hierarchy(c))
		}
		line("/sys/fs/cgroup/systemd", "cgroup", "rw,xattr,name=systemd")
		if layout == Hybrid {
			line("/sys/fs/cgroup/unified", "cgroup2", "rw,nsdelegate")
			tr.mkdirAll(tr.v2Root())
			tr.write(filepath.Join(tr.v2Root(), "cgroup.controllers"), "")
		}
	case V2:
		line("/sys/fs/cgroup", "cgroup2", "rw,nsdelegate,memory_recursiveprot")
		tr.mkdirAll(tr.v2Root())
		tr.write(filepath.Join(tr.v2Root(), "cgroup.controllers"), "cpuset cpu io memory hugetlb pids rdma misc\n")
	default:
		tr.fatalf("cgroupxtest: Layout %d is not V1, V2 or Hybrid", layout)
		return
	}
	tr.write(filepath.Join(tr.Root, "proc/self/mountinfo"), mi.String())
	tr.SetHost(DefaultHost())
	tr.Mkdir("/")
}

// SetHost (re)writes /proc/meminfo, /proc/uptime, /proc/cpuinfo, /proc/stat
// and /sys/devices/system/cpu/online.
func (tr *Tree) SetHost(h Host) {
	tr.helper()
	if h.MemTotal == 0 || h.CPUs < 1 {
		tr.fatalf("cgroupxtest: Host.MemTotal %d, Host.CPUs %d: a host needs memory and at least one CPU (see DefaultHost)", h.MemTotal, h.CPUs)
		return
	}
	kb := func(b uint64) uint64 { return b / 1024 }
	tr.write(filepath.Join(tr.Root, "proc/meminfo"), fmt.Sprintf(
		"MemTotal:       %8d kB\nMemFree:        %8d kB\nMemAvailable:   %8d kB\nBuffers:        %8d kB\nCached:         %8d kB\n"+
			"SwapCached:            0 kB\nActive:           100000 kB\nInactive:         200000 kB\nSwapTotal:      %8d kB\nSwapFree:       %8d kB\n"+
			"Dirty:                 8 kB\nShmem:               16 kB\nHugePages_Total:       0\nHugepagesize:       2048 kB\n",
		kb(h.MemTotal), kb(h.MemFree), kb(h.MemFree), 4096, 1<<20, kb(h.SwapTotal), kb(h.SwapFree)))
	tr.write(filepath.Join(tr.Root, "proc/uptime"), fmt.Sprintf("%.2f %.2f\n", h.Uptime, h.Idle))
	var ci, st strings.Builder
	st.WriteString("cpu  1000 0 500 100000 20 0 10 0 0 0\n")
	for i := range h.CPUs {
		fmt.Fprintf(&ci, "processor\t: %d\nvendor_id\t: GenuineIntel\nmodel name\t: Fake CPU @ 2.00GHz\ncpu MHz\t\t: 2000.000\ncore id\t\t: %d\ncpu cores\t: %d\napicid\t\t: %d\nflags\t\t: fpu sse2\n\n", i, i, h.CPUs, i)
		fmt.Fprintf(&st, "cpu%d 250 0 125 25000 5 0 2 0 0 0\n", i)
	}
	st.WriteString("intr 0\nctxt 0\nbtime 1700000000\nprocesses 100\nprocs_running 1\nprocs_blocked 0\n")
	tr.write(filepath.Join(tr.Root, "proc/cpuinfo"), ci.String())
	tr.write(filepath.Join(tr.Root, "proc/stat"), st.String())
	online := "0\n"
	if h.CPUs > 1 {
		online = fmt.Sprintf("0-%d\n", h.CPUs-1)
	}
	tr.write(filepath.Join(tr.Root, "sys/devices/system/cpu/online"), online)
}

func (tr *Tree) hierarchy(controller string) string {
	return filepath.Join(tr.Root, "sys/fs/cgroup", controller)
}

func (tr *Tree) v2Root() string {
	if tr.Layout == Hybrid {
		return filepath.Join(tr.Root, "sys/fs/cgroup/unified")
	}
	return filepath.Join(tr.Root, "sys/fs/cgroup")
}

// hierarchyOf returns the v1 hierarchy directory holding controller.
func (tr *Tree) hierarchyOf(controller string) (string, bool) {
	for _, h := range V1Hierarchies() {
		if slices.Contains(strings.Split(h, ","), controller) {
			return tr.hierarchy(h), true
		}
	}
	return "", false
}

// Dir returns the directory of cgroup path for controller: the v1
// hierarchy that holds it on V1 and Hybrid trees (on Hybrid, controller ""
// is the cgroup2 directory), the cgroup2 directory on V2.
func (tr *Tree) Dir(controller, path string) string {
	if tr.Layout == V2 || (tr.Layout == Hybrid && controller == "") {
		return filepath.Join(tr.v2Root(), path)
	}
	h, ok := tr.hierarchyOf(controller)
	if !ok {
		tr.fatalf("cgroupxtest: no v1 hierarchy for controller %q", controller)
	}
	return filepath.Join(h, path)
}

// dirs returns every directory of cgroup path.
func (tr *Tree) dirs(path string) []string {
	var out []string
	if tr.Layout != V2 {
		for _, h := range V1Hierarchies() {
			out = append(out, filepath.Join(tr.hierarchy(h), path))
		}
		out = append(out, filepath.Join(tr.Root, "sys/fs/cgroup/systemd", path))
	}
	if tr.Layout != V1 {
		out = append(out, filepath.Join(tr.v2Root(), path))
	}
	return out
}

// Mkdir creates cgroup path (and its parents) in every hierarchy, with the
// files of an unlimited, empty cgroup.
func (tr *Tree) Mkdir(path string) {
	tr.helper()
	parts := strings.Split(strings.Trim(path, "/"), "/")
	p := "/"
	tr.mkdirOne(p)
	for _, part := range parts {
		if part == "" {
			continue
		}
		p = filepath.Join(p, part)
		tr.mkdirOne(p)
	}
}

func (tr *Tree) mkdirOne(path string) {
	if _, ok := tr.mem[path]; ok {
		return
	}
	for _, d := range tr.dirs(path) {
		tr.mkdirAll(d)
		tr.write(filepath.Join(d, "cgroup.procs"), "")
	}
	tr.mem[path] = Memory{}
	root := path == "/"
	switch tr.Layout {
	case V1, Hybrid:
		cpu := tr.Dir("cpu", path)
		tr.write(filepath.Join(cpu, "cpu.cfs_quota_us"), "-1\n")
		tr.write(filepath.Join(cpu, "cpu.cfs_period_us"), "100000\n")
		tr.write(filepath.Join(cpu, "cpu.shares"), "1024\n")
		tr.write(filepath.Join(cpu, "cpuacct.usage"), "0\n")
		tr.write(filepath.Join(cpu, "cpuacct.stat"), "user 0\nsystem 0\n")
		tr.write(filepath.Join(tr.Dir("cpuset", path), "cpuset.cpus"), tr.onlineList())
		tr.write(filepath.Join(tr.Dir("cpuset", path), "cpuset.effective_cpus"), tr.onlineList())
		for _, d := range tr.dirs(path) {
			tr.write(filepath.Join(d, "tasks"), "")
		}
		if !root {
			tr.write(filepath.Join(tr.Dir("pids", path), "pids.max"), "max\n")
		}
		blk := tr.Dir("blkio", path)
		for _, f := range []string{"blkio.throttle.io_service_bytes_recursive", "blkio.throttle.io_serviced_recursive"} {
			tr.write(filepath.Join(blk, f), "Total 0\n")
		}
		for _, f := range []string{"blkio.throttle.read_bps_device", "blkio.throttle.write_bps_device", "blkio.throttle.read_iops_device", "blkio.throttle.write_iops_device"} {
			tr.write(filepath.Join(blk, f), "")
		}
		if tr.Layout == Hybrid {
			tr.writePressure(tr.Dir("", path))
		}
	case V2:
		d := tr.Dir("", path)
		tr.write(filepath.Join(d, "cgroup.threads"), "")
		tr.write(filepath.Join(d, "cpu.stat"), "usage_usec 0\nuser_usec 0\nsystem_usec 0\n")
		tr.write(filepath.Join(d, "cpuset.cpus.effective"), tr.onlineList())
		tr.write(filepath.Join(d, "io.stat"), "")
		tr.writePressure(d)
		if !root {
			tr.write(filepath.Join(d, "cpu.max"), "max 100000\n")
			tr.write(filepath.Join(d, "cpu.weight"), "100\n")
			tr.write(filepath.Join(d, "cpuset.cpus"), "")
			tr.write(filepath.Join(d, "pids.max"), "max\n")
			tr.write(filepath.Join(d, "io.max"), "")
			tr.write(filepath.Join(d, "memory.max"), "max\n")
			tr.write(filepath.Join(d, "memory.swap.max"), "max\n")
			tr.write(filepath.Join(d, "memory.swap.current"), "0\n")
		}
	}
	tr.writeMemory()
}

func (tr *Tree) writePressure(d string) {
	p := "some avg10=0.00 avg60=0.00 avg300=0.00 total=0\nfull avg10=0.00 avg60=0.00 avg300=0.00 total=0\n"
	for _, f := range []string{"cpu.pressure", "memory.pressure", "io.pressure"} {
		tr.write(filepath.Join(d, f), p)
	}
}

func (tr *Tree) onlineList() string {
	b, err := os.ReadFile(filepath.Join(tr.Root, "sys/devices/system/cpu/online"))
	if err != nil {
		tr.fatalf("cgroupxtest: %v", err)
	}
	return string(b)
}

// Memory is the memory state of one cgroup. Zero limits mean unlimited.
// The counters are the cgroup's own and its descendants' together, as the
// kernel reports them (total_* on v1).
type Memory struct {
	Limit, SwapLimit uint64 // SwapLimit is swap only, not memory+swap
	Usage, Swap      uint64

	Cache, RSS, Shmem, Mapped, Dirty, Writeback, SwapCached uint64
	ActiveAnon, InactiveAnon, ActiveFile, InactiveFile      uint64
	Unevictable, SlabReclaimable, SlabUnreclaimable         uint64
}

// SetMemory creates cgroup path if needed and writes its memory files:
// memory.limit_in_bytes, memory.memsw.*, memory.usage_in_bytes and
// memory.stat with hierarchical_memory_limit on v1; memory.max,
// memory.swap.*, memory.current and memory.stat on v2.
func (tr *Tree) SetMemory(path string, m Memory) {
	tr.helper()
	tr.Mkdir(path)
	tr.mem[filepath.Clean("/"+path)] = m
	tr.writeMemory()
}

// writeMemory rewrites the memory files of every cgroup, so that v1's
// hierarchical limits follow the limits of the ancestors.
func (tr *Tree) writeMemory() {
	const v1Max = uint64(9223372036854771712)
	for path, m := range tr.mem {
		if tr.Layout == V2 {
			d := tr.Dir("", path)
			tr.write(filepath.Join(d, "memory.current"), fmt.Sprintf("%d\n", m.Usage))
			tr.write(filepath.Join(d, "memory.stat"), fmt.Sprintf(
				"anon %d\nfile %d\nkernel 0\nshmem %d\nfile_mapped %d\nfile_dirty %d\nfile_writeback %d\nswapcached %d\n"+
					"inactive_anon %d\nactive_anon %d\ninactive_file %d\nactive_file %d\nunevictable %d\nslab_reclaimable %d\nslab_unreclaimable %d\nslab %d\n",
				m.RSS, m.Cache, m.Shmem, m.Mapped, m.Dirty, m.Writeback, m.SwapCached,
				m.InactiveAnon, m.ActiveAnon, m.InactiveFile, m.ActiveFile, m.Unevictable,
				m.SlabReclaimable, m.SlabUnreclaimable, m.SlabReclaimable+m.SlabUnreclaimable))
			if path != "/" {
				tr.write(filepath.Join(d, "memory.max"), limitV2(m.Limit))
				tr.write(filepath.Join(d, "memory.swap.max"), limitV2(m.SwapLimit))
				tr.write(filepath.Join(d, "memory.swap.current"), fmt.Sprintf("%d\n", m.Swap))
			}
			continue
		}
		d := tr.Dir("memory", path)
		lim, sw := v1Max, v1Max
		hier, hierSw := v1Max, v1Max
		if m.Limit != 0 {
			lim = m.Limit
			if m.SwapLimit != 0 {
				sw = m.Limit + m.SwapLimit
			}
		}
		for p := path; ; p = filepath.Dir(p) {
			a := tr.mem[p]
			if a.Limit != 0 {
				hier = min(hier, a.Limit)
				if a.SwapLimit != 0 {
					hierSw = min(hierSw, a.Limit+a.SwapLimit)
				}
			}
			if p == "/" {
				break
			}
		}
		tr.write(filepath.Join(d, "memory.limit_in_bytes"), fmt.Sprintf("%d\n", lim))
		tr.write(filepath.Join(d, "memory.memsw.limit_in_bytes"), fmt.Sprintf("%d\n", sw))
		tr.write(filepath.Join(d, "memory.usage_in_bytes"), fmt.Sprintf("%d\n", m.Usage))
		tr.write(filepath.Join(d, "memory.memsw.usage_in_bytes"), fmt.Sprintf("%d\n", m.Usage+m.Swap))
		tr.write(filepath.Join(d, "memory.stat"), fmt.Sprintf(
			"cache %d\nrss %d\nshmem %d\nmapped_file %d\n"+
				"hierarchical_memory_limit %d\nhierarchical_memsw_limit %d\n"+
				"total_cache %d\ntotal_rss %d\ntotal_rss_huge 0\ntotal_shmem %d\ntotal_mapped_file %d\ntotal_dirty %d\ntotal_writeback %d\n"+
				"total_swap %d\ntotal_swapcached %d\ntotal_pgpgin 0\ntotal_inactive_anon %d\ntotal_active_anon %d\n"+
				"total_inactive_file %d\ntotal_active_file %d\ntotal_unevictable %d\n",
			m.Cache, m.RSS, m.Shmem, m.Mapped, hier, hierSw,
			m.Cache, m.RSS, m.Shmem, m.Mapped, m.Dirty, m.Writeback, m.Swap, m.SwapCached,
			m.InactiveAnon, m.ActiveAnon, m.InactiveFile, m.ActiveFile, m.Unevictable))
	}
}

func limitV2(n uint64) string {
	if n == 0 {
		return "max\n"
	}
	return fmt.Sprintf("%d\n", n)
}

// SetCPU writes the CFS bandwidth limit of cgroup path: quota < 0 means
// unlimited. It writes cpu.cfs_quota_us and cpu.cfs_period_us on v1,
// cpu.max on v2.
func (tr *Tree) SetCPU(path string, quota int64, period uint64) {
	tr.helper()
	tr.Mkdir(path)
	if tr.Layout == V2 {
		q := "max"
		if quota >= 0 {
			q = strconv.FormatInt(quota, 10)
		}
		tr.write(filepath.Join(tr.Dir("", path), "cpu.max"), fmt.Sprintf("%s %d\n", q, period))
		return
	}
	d := tr.Dir("cpu", path)
	tr.write(filepath.Join(d, "cpu.cfs_quota_us"), fmt.Sprintf("%d\n", quota))
	tr.write(filepath.Join(d, "cpu.cfs_period_us"), fmt.Sprintf("%d\n", period))
}

// SetCpuset writes the CPUs of cgroup path (a list such as "0-1,3"), as
// both the configured and the effective set.
func (tr *Tree) SetCpuset(path, cpus string) {
	tr.helper()
	tr.Mkdir(path)
	d := tr.Dir("cpuset", path)
	if tr.Layout == V2 {
		tr.write(filepath.Join(d, "cpuset.cpus"), cpus+"\n")
		tr.write(filepath.Join(d, "cpuset.cpus.effective"), cpus+"\n")
		return
	}
	tr.write(filepath.Join(d, "cpuset.cpus"), cpus+"\n")
	tr.write(filepath.Join(d, "cpuset.effective_cpus"), cpus+"\n")
}

// SetCPUUsage writes the CPU time cgroup path has used, in nanoseconds of
// user and system time (cpuacct.usage and cpuacct.stat on v1, cpu.stat on v2).
func (tr *Tree) SetCPUUsage(path string, userNs, systemNs uint64) {
	tr.helper()
	tr.Mkdir(path)
	if tr.Layout == V2 {
		tr.write(filepath.Join(tr.Dir("", path), "cpu.stat"), fmt.Sprintf("usage_usec %d\nuser_usec %d\nsystem_usec %d\n",
			(userNs+systemNs)/1000, userNs/1000, systemNs/1000))
		return
	}
	d := tr.Dir("cpuacct", path)
	tr.write(filepath.Join(d, "cpuacct.usage"), fmt.Sprintf("%d\n", userNs+systemNs))
	tr.write(filepath.Join(d, "cpuacct.stat"), fmt.Sprintf("user %d\nsystem %d\n", userNs/1e7, systemNs/1e7))
}

// Thread is one thread of a fake process.
type Thread struct {
	TID   int
	State byte // 'R', 'S', 'D', ...
}

// Process is a fake process. The leader thread (TID == PID) is added when
// Threads does not list it.
type Process struct {
	PID          int    // required, above 0
	Comm         string // "proc" when empty
	State        byte   // the leader's state; 'S' when zero
	StartTime    uint64 // clock ticks (1/100 s) after boot
	UTime, STime uint64 // clock ticks
	RSSPages     uint64
	Threads      []Thread
}

// AddProcess writes /proc/<pid>/stat, /proc/<pid>/task/<tid>/stat for
// every thread and /proc/<pid>/cgroup, and appends the pid to cgroup.procs
// (and its threads to tasks or cgroup.threads) of cgroup path in every
// hierarchy.
func (tr *Tree) AddProcess(path string, p Process) {
	tr.helper()
	if p.PID <= 0 {
		tr.fatalf("cgroupxtest: Process.PID %d: want a pid above 0", p.PID)
		return
	}
	tr.Mkdir(path)
	if p.State == 0 {
		p.State = 'S'
	}
	if p.Comm == "" {
		p.Comm = "proc"
	}
	threads := p.Threads
	if !slices.ContainsFunc(threads, func(th Thread) bool { return th.TID == p.PID }) {
		threads = append([]Thread{{TID: p.PID, State: p.State}}, threads...)
	}
	sort.Slice(threads, func(i, j int) bool { return threads[i].TID < threads[j].TID })
	pdir := filepath.Join(tr.Root, "proc", strconv.Itoa(p.PID))
	tr.write(filepath.Join(pdir, "stat"), StatLine(p.PID, p.Comm, p.State, len(threads), p))
	var tids []string
	for _, th := range threads {
		tr.write(filepath.Join(pdir, "task", strconv.Itoa(th.TID), "stat"), StatLine(th.TID, p.Comm, th.State, len(threads), p))
		tids = append(tids, strconv.Itoa(th.TID))
	}
	var cg strings.Builder
	clean := filepath.Clean("/" + path)
	if tr.Layout != V2 {
		for i, h := range V1Hierarchies() {
			fmt.Fprintf(&cg, "%d:%s:%s\n", len(V1Hierarchies())-i+1, h, clean)
		}
		fmt.Fprintf(&cg, "1:name=systemd:%s\n", clean)
	}
	if tr.Layout != V1 {
		fmt.Fprintf(&cg, "0::%s\n", clean)
	}
	tr.write(filepath.Join(pdir, "cgroup"), cg.String())
	for _, d := range tr.dirs(clean) {
		tr.appendLine(filepath.Join(d, "cgroup.procs"), strconv.Itoa(p.PID))
		name := "tasks"
		if tr.Layout == V2 || strings.HasPrefix(d, tr.v2Root()+"/") || d == tr.v2Root() {
			name = "cgroup.threads"
		}
		tr.appendLine(filepath.Join(d, name), strings.Join(tids, "\n"))
	}
}

// StatLine formats a /proc/<pid>/stat line the way the kernel does (52
// fields), with the values of p that matter to cgroupx.
func StatLine(pid int, comm string, state byte, threads int, p Process) string {
	return fmt.Sprintf("%d (%s) %c 1 %d %d 0 -1 4194560 100 0 0 0 %d %d 0 0 20 0 %d 0 %d 10000000 %d 18446744073709551615 1 1 0 0 0 0 0 0 0 0 0 0 17 0 0 0 0 0 0 0 0 0 0 0 0 0 0\n",
		pid, comm, state, p.PID, p.PID, p.UTime, p.STime, threads, p.StartTime, p.RSSPages)
}

// WriteFile writes a file of cgroup path for controller (see Dir), for
// values the typed setters do not cover.
func (tr *Tree) WriteFile(controller, path, name, content string) {
	tr.helper()
	tr.Mkdir(path)
	tr.write(filepath.Join(tr.Dir(controller, path), name), content)
}

// WriteHostFile writes a file under the tree's root, such as
// "proc/loadavg".
func (tr *Tree) WriteHostFile(rel, content string) {
	tr.helper()
	tr.write(filepath.Join(tr.Root, rel), content)
}

func (tr *Tree) appendLine(path, line string) {
	f, err := os.OpenFile(path, os.O_APPEND|os.O_WRONLY|os.O_CREATE, 0o644)
	if err != nil {
		tr.fatalf("cgroupxtest: %v", err)
	}
	if _, err := f.WriteString(line + "\n"); err != nil {
		tr.fatalf("cgroupxtest: %v", err)
	}
	if err := f.Close(); err != nil {
		tr.fatalf("cgroupxtest: %v", err)
	}
}

func (tr *Tree) mkdirAll(d string) {
	if err := os.MkdirAll(d, 0o755); err != nil {
		tr.fatalf("cgroupxtest: %v", err)
	}
}

func (tr *Tree) write(path, content string) {
	tr.mkdirAll(filepath.Dir(path))
	if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
		tr.fatalf("cgroupxtest: %v", err)
	}
}
