package procview_test

import (
	"bytes"
	"errors"
	"strings"
	"testing"

	"github.com/shoalkit/shoal/cgroupx"
	"github.com/shoalkit/shoal/cgroupx/procview"
)

func TestAppendDiskstats(t *testing.T) {
	devs, err := procview.ParseDiskstats([]byte("   8       0 sda 1 2 3\n   8       1 sda1 4 5 6\n 253       0 dm-0 7 8 9\n"))
	if err != nil {
		t.Fatal(err)
	}
	io := []cgroupx.DeviceIO{
		{Major: 8, Minor: 0, ReadBytes: 4096, WriteBytes: 1024, ReadOps: 3, WriteOps: 2},
		{Major: 253, Minor: 0},           // no I/O: left out, as lxcfs does
		{Major: 9, Minor: 9, ReadOps: 1}, // not on the host: left out
	}
	got := string(procview.AppendDiskstats(nil, devs, io))
	want := "   8       0 sda 3 0 8 0 2 0 2 0 0 0 0 0 0 0 0 0 0\n"
	if got != want {
		t.Errorf("got  %q\nwant %q", got, want)
	}
}

func TestAppendSwaps(t *testing.T) {
	header := "Filename\t\t\t\tType\t\tSize\t\tUsed\t\tPriority\n"
	if got := string(procview.AppendSwaps(nil, cgroupx.Meminfo{})); got != header {
		t.Errorf("no swap: %q", got)
	}
	got := string(procview.AppendSwaps(nil, cgroupx.Meminfo{SwapTotal: 1 << 30, SwapFree: 768 << 20}))
	want := header + "none" + strings.Repeat(" ", 36) + "virtual\t\t1048576\t\t262144\t\t0\n"
	if got != want {
		t.Errorf("got  %q\nwant %q", got, want)
	}
}

func TestParseDiskstatsRefuses(t *testing.T) {
	for _, in := range []string{"8 0\n", "x 0 sda\n", "8 99999999999 sda\n", strings.Repeat("8 0 sda\n", 4097)} {
		if _, err := procview.ParseDiskstats([]byte(in)); !errors.Is(err, procview.ErrInvalid) {
			t.Errorf("%.20q: %v, want ErrInvalid", in, err)
		}
	}
}

func FuzzParseDiskstats(f *testing.F) {
	f.Add([]byte("   8       0 sda 1 2 3 4 5 6 7 8 9 10 11\n 259 0 nvme0n1 1\n"))
	f.Add([]byte("\n\n8 1"))
	f.Fuzz(func(t *testing.T, b []byte) {
		devs, err := procview.ParseDiskstats(b)
		if err != nil {
			return
		}
		io := make([]cgroupx.DeviceIO, 0, len(devs))
		for _, d := range devs {
			if d.Name == "" || strings.ContainsAny(d.Name, " \t\n") {
				t.Fatalf("device name %q", d.Name)
			}
			io = append(io, cgroupx.DeviceIO{Major: d.Major, Minor: d.Minor, ReadOps: 1})
		}
		out := procview.AppendDiskstats(nil, devs, io)
		if bytes.Count(out, []byte("\n")) != len(devs) {
			t.Fatalf("%d lines for %d devices", bytes.Count(out, []byte("\n")), len(devs))
		}
	})
}

func TestContainerOf(t *testing.T) {
	parents := []string{"/shoal", "/kubepods"}
	cases := []struct {
		cgroup, want string
	}{
		{"0::/shoal/web-1\n", "/shoal/web-1"},
		{"0::/shoal/web-1/sub/deeper\n", "/shoal/web-1"},
		{"0::/shoal\n", ""},
		{"0::/shoalx/web\n", ""},
		{"0::/user.slice/session-1.scope\n", ""},
		{"0::/kubepods/pod1/ctr\n", "/kubepods/pod1"},
		// Hybrid: the memory controller's line decides.
		{"4:cpu,cpuacct:/other\n3:memory:/shoal/db\n0::/\n", "/shoal/db"},
		{"0::/shoal/../etc\n", ""},
	}
	for _, c := range cases {
		lines, err := cgroupx.ParseProcCgroup(strings.NewReader(c.cgroup))
		if err != nil {
			t.Fatalf("%q: %v", c.cgroup, err)
		}
		if got := procview.ContainerOf(parents, lines); got != c.want {
			t.Errorf("%q: %q, want %q", c.cgroup, got, c.want)
		}
	}
}

// FuzzContainerOf: whatever /proc/PID/cgroup says, the container is a
// direct child of a parent, or none.
func FuzzContainerOf(f *testing.F) {
	f.Add("0::/shoal/web-1/x\n")
	f.Add("3:memory:/shoal/db\n0::/\n")
	f.Add("0::/shoal/..\n")
	f.Fuzz(func(t *testing.T, s string) {
		lines, err := cgroupx.ParseProcCgroup(strings.NewReader(s))
		if err != nil {
			return
		}
		got := procview.ContainerOf([]string{"/shoal"}, lines)
		if got == "" {
			return
		}
		name, ok := strings.CutPrefix(got, "/shoal/")
		if !ok || name == "" || name == "." || name == ".." || strings.Contains(name, "/") {
			t.Fatalf("container %q", got)
		}
	})
}

func TestFilesAndBindMounts(t *testing.T) {
	want := []string{
		"/proc/meminfo", "/proc/cpuinfo", "/proc/stat", "/proc/uptime", "/proc/loadavg",
		"/proc/diskstats", "/proc/swaps", "/sys/devices/system/cpu/online",
	}
	ms := procview.BindMounts("/var/lib/shoal/procview")
	if len(ms) != len(want) {
		t.Fatalf("%d bind mounts, want %d", len(ms), len(want))
	}
	for i, m := range ms {
		if m.Destination != want[i] || m.Source != "/var/lib/shoal/procview"+want[i] {
			t.Errorf("mount %d: %+v", i, m)
		}
	}
}

func TestZeroConfigIsTheDefault(t *testing.T) {
	d := procview.DefaultConfig()
	if len(d.Parents) != 1 || d.Parents[0] != "/shoal" || d.Root != "/" || d.Readers != 4 ||
		d.MaxContainers != 4096 || d.ReadTimeout.Seconds() != 2 || d.LoadInterval != cgroupx.LoadFreq || d.Logger == nil {
		t.Errorf("DefaultConfig() = %+v", d)
	}
}
