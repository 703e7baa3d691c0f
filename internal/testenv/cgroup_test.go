package testenv

import (
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
)

func TestParseCgroupMounts(t *testing.T) {
	tests := []struct {
		name string
		in   string
		want []cgroupMount
	}{
		{
			name: "hybrid",
			in: `31 23 0:28 / /sys/fs/cgroup rw,relatime - tmpfs tmpfs rw,mode=755
32 31 0:29 / /sys/fs/cgroup/cpu,cpuacct rw,relatime - cgroup cgroup rw,cpu,cpuacct
35 31 0:32 / /sys/fs/cgroup/memory rw,relatime - cgroup cgroup rw,memory
40 31 0:37 / /sys/fs/cgroup/systemd rw,relatime - cgroup cgroup rw,xattr,name=systemd
41 31 0:38 / /sys/fs/cgroup/unified rw,relatime - cgroup2 cgroup2 rw,nsdelegate
`,
			want: []cgroupMount{
				{dir: "/sys/fs/cgroup/cpu,cpuacct", controllers: []string{"cpu", "cpuacct"}},
				{dir: "/sys/fs/cgroup/memory", controllers: []string{"memory"}},
				{dir: "/sys/fs/cgroup/systemd", named: true},
				{dir: "/sys/fs/cgroup/unified", v2: true},
			},
		},
		{
			name: "unified",
			in:   "29 23 0:26 / /sys/fs/cgroup rw,nosuid,nodev,noexec,relatime shared:4 - cgroup2 cgroup2 rw,nsdelegate,memory_recursiveprot\n",
			want: []cgroupMount{{dir: "/sys/fs/cgroup", v2: true}},
		},
		{
			name: "garbage lines",
			in:   "no separator here\n1 2 - cgroup\n\n",
			want: nil,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := parseCgroupMounts(strings.NewReader(tt.in))
			if err != nil {
				t.Fatal(err)
			}
			if len(got) != len(tt.want) {
				t.Fatalf("got %+v, want %+v", got, tt.want)
			}
			for i := range got {
				if got[i].dir != tt.want[i].dir || got[i].v2 != tt.want[i].v2 || got[i].named != tt.want[i].named || !slices.Equal(got[i].controllers, tt.want[i].controllers) {
					t.Errorf("mount %d = %+v, want %+v", i, got[i], tt.want[i])
				}
			}
		})
	}
}

// TestCgroup puts a process into a test cgroup and checks that it is there
// in every hierarchy from its first instruction, and that a memory limit
// written to the group reads back.
func TestCgroup(t *testing.T) {
	cg := NewCgroup(t)
	if len(cg.Dirs()) == 0 {
		t.Fatal("no cgroup directories made")
	}
	p := cg.Start(t, "sleep", "60")
	// Start returns once the process has joined: no polling.
	b, err := os.ReadFile("/proc/" + strconv.Itoa(p.Pid) + "/cgroup")
	if err != nil {
		t.Fatal(err)
	}
	lines := string(b)
	for _, d := range cg.Dirs() {
		procs, err := os.ReadFile(filepath.Join(d, "cgroup.procs"))
		if err != nil {
			t.Fatal(err)
		}
		if !slices.Contains(strings.Fields(string(procs)), strconv.Itoa(p.Pid)) {
			t.Errorf("pid %d not in %s/cgroup.procs (%q)", p.Pid, d, procs)
		}
	}
	if !strings.Contains(lines, "/"+cg.Name+"\n") {
		t.Errorf("/proc/%d/cgroup does not name %s:\n%s", p.Pid, cg.Name, lines)
	}
	if mem, ok := cg.V1["memory"]; ok {
		limit := filepath.Join(mem, "memory.limit_in_bytes")
		if err := os.WriteFile(limit, []byte("268435456"), 0o644); err != nil {
			t.Fatal(err)
		}
		if b, _ := os.ReadFile(limit); strings.TrimSpace(string(b)) != "268435456" {
			t.Errorf("memory.limit_in_bytes = %q, want 268435456", b)
		}
	}
	p.Stop(t)
	for _, d := range cg.Dirs() {
		if procs, _ := os.ReadFile(filepath.Join(d, "cgroup.procs")); len(strings.TrimSpace(string(procs))) != 0 {
			t.Errorf("%s still holds %q after Stop", d, procs)
		}
	}
}

// TestCgroupFrozenCleanup freezes a test's cgroup with its process inside
// and checks that cleanup still kills the process and removes the group.
func TestCgroupFrozenCleanup(t *testing.T) {
	var pid int
	var dirs []string
	t.Run("frozen", func(t *testing.T) {
		cg := NewCgroup(t)
		freezer, ok := cg.V1["freezer"]
		if !ok {
			t.Skip("no v1 freezer hierarchy on this host")
		}
		pid = cg.Start(t, "sleep", "60").Pid
		dirs = cg.Dirs()
		if err := os.WriteFile(filepath.Join(freezer, "freezer.state"), []byte("FROZEN"), 0o644); err != nil {
			t.Fatal(err)
		}
	})
	if pid == 0 {
		t.Skip("subtest skipped")
	}
	if err := syscall.Kill(pid, 0); err == nil {
		t.Errorf("frozen pid %d survived cleanup", pid)
	}
	for _, d := range dirs {
		if _, err := os.Stat(d); err == nil {
			t.Errorf("cgroup %s survived cleanup", d)
		}
	}
}
