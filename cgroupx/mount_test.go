package cgroupx

import (
	"errors"
	"os"
	"slices"
	"strings"
	"testing"

	"github.com/shoalkit/shoal/internal/errs"
)

func TestParseMountinfo(t *testing.T) {
	for _, tc := range []struct {
		file string
		mode Mode
	}{
		{"testdata/mountinfo-hybrid.txt", ModeHybrid},
		{"testdata/mountinfo-v2.txt", ModeV2},
		{"testdata/mountinfo-v1.txt", ModeV1},
	} {
		f, err := os.Open(tc.file)
		if err != nil {
			t.Fatal(err)
		}
		mounts, err := ParseMountinfo(f)
		f.Close()
		if err != nil {
			t.Fatalf("%s: %v", tc.file, err)
		}
		if got := DetectMode(mounts); got != tc.mode {
			t.Errorf("%s: mode %v, want %v", tc.file, got, tc.mode)
		}
	}
}

func TestParseMountinfoFields(t *testing.T) {
	f, err := os.Open("testdata/mountinfo-v1.txt")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	mounts, err := ParseMountinfo(f)
	if err != nil {
		t.Fatal(err)
	}
	m := mounts[3]
	if m.Root != "/docker/abc" || m.MountPoint != "/sys/fs/cgroup/cpu,cpuacct" || m.FSType != "cgroup" {
		t.Errorf("mount = %+v", m)
	}
	if got := m.Controllers(); !slices.Equal(got, []string{"cpu", "cpuacct"}) {
		t.Errorf("controllers = %q", got)
	}
	if got := mounts[1].Controllers(); got != nil {
		t.Errorf("tmpfs controllers = %q", got)
	}

	f2, err := os.Open("testdata/mountinfo-v2.txt")
	if err != nil {
		t.Fatal(err)
	}
	defer f2.Close()
	mounts, err = ParseMountinfo(f2)
	if err != nil {
		t.Fatal(err)
	}
	if got := mounts[4]; got.MountPoint != "/mnt/with space" || got.Source != "tmp fs" {
		t.Errorf("escaped mount = %+v", got)
	}
}

func TestParseMountinfoBad(t *testing.T) {
	for _, in := range []string{
		"1 2 3",
		"36 35 98:0 /mnt1 /mnt2 rw,noatime master:1 ext3 /dev/root rw",
		"36 35 98:0 /mnt1 /mnt2 rw,noatime - ext3",
	} {
		if _, err := ParseMountinfo(strings.NewReader(in)); !errors.Is(err, ErrInvalid) {
			t.Errorf("%q: err = %v, want ErrInvalid", in, err)
		}
	}
}

func TestParseProcCgroup(t *testing.T) {
	in := "12:memory:/docker/abc\n11:cpu,cpuacct:/docker/abc\n1:name=systemd:/x\n0::/system.slice/a.service\n"
	got, err := ParseProcCgroup(strings.NewReader(in))
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 4 || got[1].ID != 11 || !slices.Equal(got[1].Controllers, []string{"cpu", "cpuacct"}) ||
		got[3].ID != 0 || got[3].Controllers != nil || got[3].Path != "/system.slice/a.service" {
		t.Errorf("got %+v", got)
	}
	for _, bad := range []string{"x:memory:/a", "1:memory", "1:memory:relative", "-1::/"} {
		if _, err := ParseProcCgroup(strings.NewReader(bad)); !errors.Is(err, ErrInvalid) {
			t.Errorf("%q: err = %v, want ErrInvalid", bad, err)
		}
	}
}

func FuzzParseMountinfo(f *testing.F) {
	for _, name := range []string{"testdata/mountinfo-hybrid.txt", "testdata/mountinfo-v2.txt", "testdata/mountinfo-v1.txt"} {
		b, err := os.ReadFile(name)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(string(b))
	}
	f.Fuzz(func(t *testing.T, in string) {
		mounts, err := ParseMountinfo(strings.NewReader(in))
		if err != nil {
			if !errors.Is(err, ErrInvalid) {
				t.Fatalf("error %v does not wrap ErrInvalid", err)
			}
			return
		}
		_ = DetectMode(mounts)
		for _, m := range mounts {
			_ = m.Controllers()
		}
	})
}

func FuzzParseProcCgroup(f *testing.F) {
	f.Add("12:memory:/docker/abc\n0::/\n")
	f.Add("1:name=systemd:/\n")
	f.Fuzz(func(t *testing.T, in string) {
		lines, err := ParseProcCgroup(strings.NewReader(in))
		if err != nil {
			if !errors.Is(err, ErrInvalid) {
				t.Fatalf("error %v does not wrap ErrInvalid", err)
			}
			return
		}
		for _, l := range lines {
			if l.ID < 0 || !strings.HasPrefix(l.Path, "/") {
				t.Fatalf("accepted %+v", l)
			}
		}
	})
}

func TestRelToMount(t *testing.T) {
	for _, tc := range []struct{ path, root, want string }{
		{"/docker/abc", "/", "/docker/abc"},
		{"/docker/abc", "/docker/abc", "/"},
		{"/docker/abc/sub", "/docker/abc", "/sub"},
		{"/docker/abcdef", "/docker/abc", "/docker/abcdef"},
		{"/other", "/docker/abc", "/other"},
	} {
		if got := relToMount(tc.path, tc.root); got != tc.want {
			t.Errorf("relToMount(%q, %q) = %q, want %q", tc.path, tc.root, got, tc.want)
		}
	}
}

// A line longer than the parsers' 1 MiB bound is bad input like any other:
// ErrInvalid, one prefix, and a message that does not carry the line.
func TestParseLongLine(t *testing.T) {
	long := strings.Repeat("x", 1<<20+1)
	for _, tc := range []struct {
		name  string
		parse func(string) error
		in    string
	}{
		{
			"mountinfo", func(s string) error { _, err := ParseMountinfo(strings.NewReader(s)); return err },
			"22 1 0:21 / /proc rw - proc proc rw\n36 35 98:0 /" + long + " /mnt rw - ext4 /dev/root rw\n",
		},
		{
			"proc cgroup", func(s string) error { _, err := ParseProcCgroup(strings.NewReader(s)); return err },
			"0::/a\n0::/" + long + "\n",
		},
	} {
		err := tc.parse(tc.in)
		if !errors.Is(err, ErrInvalid) {
			t.Errorf("%s: err = %.200v, want ErrInvalid", tc.name, err)
			continue
		}
		if err := errs.CheckShape(err, "cgroupx", ErrNotFound, ErrInvalid, ErrUnsupported, ErrClosed, ErrUnavailable); err != nil {
			t.Errorf("%s: %.300v", tc.name, err)
		}
		if msg := err.Error(); len(msg) > 200 || !strings.Contains(msg, "line 2") {
			t.Errorf("%s: message %.300q should name line 2 and stay short", tc.name, msg)
		}
	}
}
