package cgroupx_test

import (
	"bytes"
	"errors"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/shoalkit/shoal/cgroupx"
	"github.com/shoalkit/shoal/cgroupx/cgroupxtest"
)

func TestUptime(t *testing.T) {
	ctx := t.Context()
	for _, l := range layouts {
		t.Run(l.name, func(t *testing.T) {
			tree := cgroupxtest.New(t, l.layout) // host up 1000 s, 4 CPUs
			tree.AddProcess("/ctr", cgroupxtest.Process{PID: 7, StartTime: 40000})
			tree.AddProcess("/ctr/sub", cgroupxtest.Process{PID: 5, StartTime: 25000}) // started first
			tree.SetCPU("/ctr", 200000, 100000)                                        // 2 CPUs
			tree.SetCPUUsage("/ctr", 100e9, 50e9)
			h := newHost(ctx, t, tree)
			u, err := open(ctx, t, h, "/ctr").Uptime(ctx)
			if err != nil {
				t.Fatal(err)
			}
			want := cgroupx.Uptime{Uptime: 750 * time.Second, Idle: (1500 - 150) * time.Second, InitPID: 5}
			if u != want {
				t.Errorf("uptime %+v, want %+v", u, want)
			}
			// Oldest then UptimeSince is Uptime; UptimeSince with a kept
			// oldest process reads no stat (pid 5 is gone from /proc).
			ctr := open(ctx, t, h, "/ctr")
			first, err := ctr.Oldest(ctx)
			if err != nil || first.PID != 5 || first.StartTime != 25000 {
				t.Fatalf("Oldest = %+v, %v; want pid 5 started at 25000", first, err)
			}
			if err := os.RemoveAll(tree.Root + "/proc/5"); err != nil {
				t.Fatal(err)
			}
			if again, err := ctr.Oldest(ctx); err != nil || again.PID != 7 {
				t.Fatalf("Oldest after pid 5 exited = %+v, %v; want pid 7", again, err)
			}
			if u, err := ctr.UptimeSince(ctx, first); err != nil || u != want {
				t.Errorf("UptimeSince = %+v, %v; want %+v", u, err, want)
			}
			var b bytes.Buffer
			if err := cgroupx.WriteUptime(&b, cgroupx.Uptime{Uptime: 350735*time.Second + 479*time.Millisecond, Idle: 2 * time.Second}); err != nil {
				t.Fatal(err)
			}
			if b.String() != "350735.47 2.00\n" {
				t.Errorf("rendered %q", b.String())
			}
			tree.Mkdir("/empty")
			if _, err := open(ctx, t, h, "/empty").Uptime(ctx); !errors.Is(err, cgroupx.ErrNotFound) {
				t.Errorf("empty cgroup: %v", err)
			}
		})
	}
}

func TestParseUptime(t *testing.T) {
	up, idle, err := cgroupx.ParseUptime(strings.NewReader("2882.24 5544.44\n"))
	if err != nil || up != 2882*time.Second+240*time.Millisecond || idle != 5544*time.Second+440*time.Millisecond {
		t.Errorf("%v %v %v", up, idle, err)
	}
	for _, bad := range []string{"", "1.00", "1 2", "1.0 2.00", "x.00 1.00", "99999999999999999.00 1.00"} {
		if _, _, err := cgroupx.ParseUptime(strings.NewReader(bad)); !errors.Is(err, cgroupx.ErrInvalid) {
			t.Errorf("%q: %v", bad, err)
		}
	}
}

func FuzzParseUptime(f *testing.F) {
	f.Add("2882.24 5544.44\n")
	f.Fuzz(func(t *testing.T, in string) {
		up, idle, err := cgroupx.ParseUptime(strings.NewReader(in))
		if err != nil {
			if !errors.Is(err, cgroupx.ErrInvalid) {
				t.Fatal(err)
			}
			return
		}
		if up < 0 || idle < 0 {
			t.Fatalf("negative %v %v", up, idle)
		}
		var b bytes.Buffer
		if err := cgroupx.WriteUptime(&b, cgroupx.Uptime{Uptime: up, Idle: idle}); err != nil {
			t.Fatal(err)
		}
		up2, idle2, err := cgroupx.ParseUptime(&b)
		if err != nil || up2 != up || idle2 != idle {
			t.Fatalf("round trip %q: %v %v %v", b.String(), up2, idle2, err)
		}
	})
}

func TestWriteMeminfo(t *testing.T) {
	m := cgroupx.Meminfo{MemTotal: 256 << 20, MemFree: 100 << 20, MemAvailable: 150 << 20, Active: 1 << 30 * 100, Shmem: 4096}
	var b bytes.Buffer
	if err := cgroupx.WriteMeminfo(&b, m, nil); err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(b.String(), "\n")
	for i, want := range map[int]string{
		0:  "MemTotal:         262144 kB",
		1:  "MemFree:          102400 kB",
		6:  "Active:         104857600 kB",
		8:  "Active(anon):          0 kB",
		19: "Shmem:                 4 kB",
	} {
		if lines[i] != want {
			t.Errorf("line %d = %q, want %q", i, lines[i], want)
		}
	}
	// Over the host's file: the format of every line the kernel wrote is
	// kept byte for byte, and the container's values replace the host's.
	host, err := os.ReadFile("testdata/meminfo")
	if err != nil {
		t.Fatal(err)
	}
	parsed, err := cgroupx.ParseMeminfo(bytes.NewReader(host))
	if err != nil {
		t.Fatal(err)
	}
	b.Reset()
	if err := cgroupx.WriteMeminfo(&b, parsed, bytes.NewReader(host)); err != nil {
		t.Fatal(err)
	}
	if b.String() != string(host) {
		t.Errorf("host meminfo does not round-trip:\n%s", b.String())
	}
	b.Reset()
	if err := cgroupx.WriteMeminfo(&b, m, bytes.NewReader(host)); err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(b.String(), "MemTotal:         262144 kB\n") || !strings.Contains(b.String(), "\nHugePages_Total:       0\n") {
		t.Errorf("over host:\n%s", b.String())
	}
}

func TestWriteLoadavg(t *testing.T) {
	var b bytes.Buffer
	l := cgroupx.LoadAvg{Avenrun: [3]uint64{2048 + 1024, 20, 0}, Running: 2, Total: 315, LastPID: 12345}
	if err := cgroupx.WriteLoadavg(&b, l); err != nil {
		t.Fatal(err)
	}
	if b.String() != "1.50 0.01 0.00 2/315 12345\n" {
		t.Errorf("%q", b.String())
	}
}

func TestWriteCPUFiles(t *testing.T) {
	var b bytes.Buffer
	for n, want := range map[int]string{1: "0\n", 3: "0-2\n"} {
		b.Reset()
		if err := cgroupx.WriteCPUOnline(&b, n); err != nil || b.String() != want {
			t.Errorf("online %d: %q %v", n, b.String(), err)
		}
	}
	if err := cgroupx.WriteCPUOnline(&b, 0); !errors.Is(err, cgroupx.ErrInvalid) {
		t.Errorf("0 cpus: %v", err)
	}

	tree := cgroupxtest.New(t, cgroupxtest.V1)
	host, err := os.ReadFile(tree.Root + "/proc/cpuinfo")
	if err != nil {
		t.Fatal(err)
	}
	b.Reset()
	if err := cgroupx.WriteCPUInfo(&b, bytes.NewReader(host), cgroupx.CPUs{Effective: 2, Cpuset: []int{1, 3}}); err != nil {
		t.Fatal(err)
	}
	out := b.String()
	if strings.Count(out, "processor\t: ") != 2 || !strings.Contains(out, "processor\t: 0\n") || !strings.Contains(out, "processor\t: 1\n") ||
		!strings.Contains(out, "core id\t\t: 1\n") || !strings.Contains(out, "core id\t\t: 3\n") || strings.Contains(out, "core id\t\t: 0\n") {
		t.Errorf("cpuinfo:\n%s", out)
	}

	b.Reset()
	st := cgroupx.StatCPU{Used: cgroupx.CPUTime{User: 10 * time.Second, System: 5*time.Second + 10*time.Millisecond}, Idle: 100 * time.Second, CPUs: 2}
	stat, err := os.ReadFile(tree.Root + "/proc/stat")
	if err != nil {
		t.Fatal(err)
	}
	if err := cgroupx.WriteStat(&b, st, bytes.NewReader(stat)); err != nil {
		t.Fatal(err)
	}
	want := "cpu  1000 0 501 10000 0 0 0 0 0 0\ncpu0 500 0 251 5000 0 0 0 0 0 0\ncpu1 500 0 250 5000 0 0 0 0 0 0\nintr 0\n"
	if !strings.HasPrefix(b.String(), want) || !strings.HasSuffix(b.String(), "procs_blocked 0\n") {
		t.Errorf("stat:\n%s", b.String())
	}
}
