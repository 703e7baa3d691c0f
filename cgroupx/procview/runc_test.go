package procview_test

import (
	"context"
	"encoding/json"
	"errors"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/shoalkit/shoal/cgroupx/procview"
	"github.com/shoalkit/shoal/internal/testenv"
)

// TestRuncContainer runs BusyBox in a real runc container with 256 MiB
// and half a CPU under the parent, with the view's files bind-mounted as
// BindMounts lists them (runc lets exactly these into /proc): cat, top
// and grep inside see the container's memory, one CPU and its uptime.
func TestRuncContainer(t *testing.T) {
	f := newFixture(t)
	f.startServer(t)
	b := testenv.NewBundle(t, "/bin/sh", "-c",
		// BusyBox cat copies with sendfile(2) first (see the package doc).
		"cat /proc/meminfo | head -1; echo ==; cat /proc/meminfo | grep -c kB; echo ==; cat /proc/uptime; echo ==; head -1 /proc/meminfo; echo ==; head -1 /sys/devices/system/cpu/online; echo ==; grep -c ^processor /proc/cpuinfo; "+
			"echo ==; head -1 /proc/uptime; echo ==; top -bn1 | head -1; echo ==; grep -c ^cpu /proc/stat")
	editConfig(t, b, func(c map[string]any) {
		mounts, _ := c["mounts"].([]any)
		for _, m := range procview.BindMounts(f.mnt) {
			mounts = append(mounts, map[string]any{"destination": m.Destination, "type": "bind", "source": m.Source, "options": []string{"bind", "ro"}})
		}
		c["mounts"] = mounts
		f.limitRunc(c)
	})
	out := b.Run(t, "procview-"+filepath.Base(f.parent))
	parts := strings.Split(out, "==\n")
	if len(parts) != 9 {
		t.Fatalf("output:\n%s", out)
	}
	// BusyBox cat: the whole file, the container's.
	if got := strings.TrimSpace(parts[0]); got != "MemTotal:         262144 kB" {
		t.Errorf("cat meminfo: %q", got)
	}
	if n, err := strconv.Atoi(strings.TrimSpace(parts[1])); err != nil || n < 20 {
		t.Errorf("cat meminfo has %q lines in kB, want the whole file", parts[1])
	}
	if up := strings.Fields(parts[2]); len(up) != 2 || len(up[0]) > 5 {
		t.Errorf("cat uptime: %q", parts[2])
	}
	parts = parts[3:]
	if got := strings.TrimSpace(parts[0]); got != "MemTotal:         262144 kB" {
		t.Errorf("meminfo: %q", got)
	}
	if got := strings.TrimSpace(parts[1]); got != "0" {
		t.Errorf("cpu/online: %q", got)
	}
	if got := strings.TrimSpace(parts[2]); got != "1" {
		t.Errorf("cpuinfo processors: %q", got)
	}
	if up := strings.Fields(parts[3]); len(up) != 2 || len(up[0]) > 5 { // "12.34": under 100 s
		t.Errorf("uptime: %q", parts[3])
	}
	// BusyBox top's first line: "Mem: <used>K used, <free>K free, ...".
	if fields := strings.Fields(parts[4]); len(fields) < 5 || fields[0] != "Mem:" {
		t.Errorf("top: %q", parts[4])
	} else {
		used := strings.TrimSuffix(fields[1], "K")
		free := strings.TrimSuffix(fields[3], "K")
		var u, fr int
		if _, err := fmtSscan(used, &u); err != nil {
			t.Errorf("top used %q", used)
		}
		if _, err := fmtSscan(free, &fr); err != nil {
			t.Errorf("top free %q", free)
		}
		if u+fr != memLimit/1024 {
			t.Errorf("top: used %d + free %d KiB, want %d", u, fr, memLimit/1024)
		}
	}
	if got := strings.TrimSpace(parts[5]); got != "2" { // "cpu" and "cpu0"
		t.Errorf("stat cpu lines: %q", got)
	}
	t.Logf("inside the container:\n%s", out)
}

// limitRunc puts a runc container under the fixture's parent with 256 MiB
// and half a CPU.
func (f *fixture) limitRunc(c map[string]any) {
	linux, _ := c["linux"].(map[string]any)
	linux["cgroupsPath"] = f.parent + "/runc1"
	linux["resources"] = map[string]any{
		"memory": map[string]any{"limit": memLimit},
		"cpu":    map[string]any{"quota": 50000, "period": 100000},
	}
}

// editConfig rewrites a bundle's config.json through edit.
func editConfig(t *testing.T, b *testenv.Bundle, edit func(map[string]any)) {
	t.Helper()
	file := filepath.Join(b.Dir, "config.json")
	raw, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	var c map[string]any
	if err := json.Unmarshal(raw, &c); err != nil {
		t.Fatal(err)
	}
	edit(c)
	if raw, err = json.Marshal(c); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(file, raw, 0o644); err != nil {
		t.Fatal(err)
	}
}

// TestRuncSysinfo: with the view bind-mounted as in TestRuncContainer,
// runc hands the container's seccomp listener (sysinfo
// → SCMP_ACT_NOTIFY, specs.LinuxSeccomp.ListenerPath) to AcceptSeccomp;
// BusyBox free and uptime, which call sysinfo(2), show the container's
// 256 MiB and its uptime.
func TestRuncSysinfo(t *testing.T) {
	f := newFixture(t)
	f.startServer(t) // free reads buff/cache from /proc/meminfo
	srv, err := procview.New(t.Context(), procview.Config{Parents: []string{f.parent}})
	if err != nil {
		t.Fatal(err)
	}
	sock := filepath.Join(t.TempDir(), "seccomp.sock")
	ln, err := net.ListenUnix("unix", &net.UnixAddr{Name: sock, Net: "unix"})
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- srv.AcceptSeccomp(ctx, ln) }()
	defer func() {
		cancel()
		if err := <-done; !errors.Is(err, context.Canceled) {
			t.Errorf("AcceptSeccomp: %v", err)
		}
	}()
	b := testenv.NewBundle(t, "/bin/sh", "-c", "free; echo ==; uptime")
	editConfig(t, b, func(c map[string]any) {
		f.limitRunc(c)
		mounts, _ := c["mounts"].([]any)
		for _, m := range procview.BindMounts(f.mnt) {
			mounts = append(mounts, map[string]any{"destination": m.Destination, "type": "bind", "source": m.Source, "options": []string{"bind", "ro"}})
		}
		c["mounts"] = mounts
		linux, _ := c["linux"].(map[string]any)
		linux["seccomp"] = map[string]any{
			"defaultAction": "SCMP_ACT_ALLOW",
			"listenerPath":  sock,
			"architectures": []string{"SCMP_ARCH_X86_64"},
			"syscalls":      []any{map[string]any{"names": []string{"sysinfo"}, "action": "SCMP_ACT_NOTIFY"}},
		}
	})
	out := b.Run(t, "sysinfo-"+filepath.Base(f.parent))
	t.Logf("inside the container:\n%s", out)
	parts := strings.Split(out, "==\n")
	if len(parts) != 2 {
		t.Fatalf("output:\n%s", out)
	}
	var total int
	for _, l := range strings.Split(parts[0], "\n") {
		if fields := strings.Fields(l); len(fields) > 1 && fields[0] == "Mem:" {
			_, _ = fmtSscan(fields[1], &total)
		}
	}
	if total != memLimit/1024 {
		t.Errorf("free says total %d KiB, want %d", total, memLimit/1024)
	}
	if !strings.Contains(parts[1], "up 0 min") {
		t.Errorf("uptime %q: want the container's minutes", parts[1])
	}
}
