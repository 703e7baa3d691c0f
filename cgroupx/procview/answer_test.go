package procview

import (
	"bufio"
	"context"
	"encoding/binary"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/shoalkit/shoal/cgroupx/cgroupxtest"
	"github.com/shoalkit/shoal/internal/testenv"
)

func TestQuick(t *testing.T) {
	s, tree := fakeServerTree(t, func(*Config) {})
	// This process is in the container: its reads find renderings kept
	// (a kept entry needs a pidfd of a live thread; pid 42 has none).
	me := uint32(os.Getpid()) //nolint:gosec // pids fit
	tree.AddProcess("/shoal/web", cgroupxtest.Process{PID: int(me), StartTime: 95000})
	meminfo, cpuinfo := lookup(2, "meminfo"), lookup(2, "cpuinfo")
	if _, err := s.content(t.Context(), kindMeminfo, me); err != nil {
		t.Fatal(err)
	}
	s.fs.open[77] = []byte("kept") // a handle read past its first chunk
	atOffset := func(r []byte, fh, off uint64) []byte {
		binary.NativeEndian.PutUint64(r[inHeaderSize:], fh)
		binary.NativeEndian.PutUint64(r[inHeaderSize+8:], off)
		return r
	}
	cases := []struct {
		name string
		req  []byte
		want bool
	}{
		{"short request", []byte{1, 2, 3}, true},
		{"open", request(14, 1, meminfo, 42, make([]byte, 8)), true},
		{"release", request(18, 1, meminfo, 42, make([]byte, 24)), true},
		{"write", request(16, 1, meminfo, 42, make([]byte, 48)), true},
		{"getattr of a directory", request(opGetAttr, 1, 2, 42, make([]byte, 16)), true},
		{"read of an unknown node", readRequest(999, me, 0, 4096), true},
		{"lookup", request(opLookup, 1, 2, me, []byte("meminfo\x00")), false},
		{"readdirplus", request(opReadDirPlus, 1, 2, me, make([]byte, 40)), false},
		{"read, rendering kept", readRequest(meminfo, me, 0, 4096), true},
		{"getattr, rendering kept", request(opGetAttr, 1, meminfo, me, make([]byte, 16)), true},
		{"read of a file not rendered yet", readRequest(cpuinfo, me, 0, 4096), false},
		{"read by a caller not looked up yet", readRequest(meminfo, 42, 0, 4096), false},
		{"read past the first chunk of a kept handle", atOffset(readRequest(cpuinfo, 42, 0, 4096), 77, 4096), true},
		{"read past the first chunk of a handle not kept", atOffset(readRequest(cpuinfo, 42, 0, 4096), 78, 4096), false},
	}
	for _, c := range cases {
		if got := s.fs.quick(c.req); got != c.want {
			t.Errorf("%s: quick = %v, want %v", c.name, got, c.want)
		}
	}
}

// TestSlowRenderingHoldsUpNoOne: a container whose memory.stat does not
// answer (a FIFO nobody writes) keeps its reader waiting, and meanwhile a
// host process's read of the same file is answered: the reader that met
// the slow request passed the lead on. The fake host is the server's;
// the mount and the reading processes are real.
func TestSlowRenderingHoldsUpNoOne(t *testing.T) {
	testenv.RequireFUSE(t)
	ctx := t.Context()
	s, tree := fakeServerTree(t, func(cfg *Config) { cfg.ReadTimeout = time.Minute })
	tree.SetMemory("/shoal/slow", cgroupxtest.Memory{Limit: 64 << 20, Usage: 1 << 20})
	mnt := filepath.Join(t.TempDir(), "view")
	if err := os.Mkdir(mnt, 0o755); err != nil {
		t.Fatal(err)
	}
	conn, err := Mount(ctx, mnt)
	if err != nil {
		t.Fatal(err)
	}
	sctx, stop := context.WithCancel(context.Background())
	served := make(chan error, 1)
	go func() { served <- s.Serve(sctx, conn) }()
	t.Cleanup(func() {
		_ = Unmount(mnt)
		stop()
		if err := <-served; err != nil && !errors.Is(err, context.Canceled) && !errors.Is(err, ErrClosed) {
			t.Errorf("Serve: %v", err)
		}
		_ = conn.Close()
	})
	// Each reader waits for a line on its stdin, then reads the view's
	// meminfo: it is put in the fake tree (under its real pid) first.
	meminfo := filepath.Join(mnt, "proc", "meminfo")
	// Names are kept an hour: looked up now, the readers' path walks ask
	// nothing (a lookup answers the file's size, which is rendered).
	if _, err := os.Stat(meminfo); err != nil {
		t.Fatal(err)
	}
	start := func(cgroup string) (*exec.Cmd, chan string, func()) {
		cmd := exec.Command("/bin/sh", "-c", `read _ && exec cat "$0"`, meminfo)
		in, err := cmd.StdinPipe()
		if err != nil {
			t.Fatal(err)
		}
		out, err := cmd.StdoutPipe()
		if err != nil {
			t.Fatal(err)
		}
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })
		tree.AddProcess(cgroup, cgroupxtest.Process{PID: cmd.Process.Pid, StartTime: 95000})
		got := make(chan string, 1)
		go func() {
			sc := bufio.NewScanner(out)
			sc.Scan()
			got <- sc.Text()
		}()
		return cmd, got, func() { _, _ = in.Write([]byte("go\n")) }
	}
	_, slowGot, slowGo := start("/shoal/slow")
	_, hostGot, hostGo := start("/user.slice")
	stat := filepath.Join(tree.Dir("memory", "/shoal/slow"), "memory.stat")
	if err := os.Remove(stat); err != nil {
		t.Fatal(err)
	}
	if err := syscall.Mkfifo(stat, 0o600); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { // a read still waiting for a writer gets an empty file
		if w, err := os.OpenFile(stat, os.O_RDWR, 0); err == nil {
			_ = w.Close()
		}
	})

	slowGo()
	time.Sleep(200 * time.Millisecond) // the slow read reaches the server first
	hostGo()
	select {
	case line := <-hostGot:
		if line != "MemTotal:       16777216 kB" {
			t.Errorf("host read %q, want the host's MemTotal", line)
		}
	case <-slowGot:
		t.Fatal("the slow container's read was answered before its memory.stat was")
	case <-time.After(20 * time.Second):
		t.Fatal("a host read waited behind a container whose cgroup files do not answer")
	}

	// memory.stat answers at last (and is a plain file again for the
	// reads after): the slow read gets its container's numbers.
	w, err := os.OpenFile(stat, os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	const content = "anon 1048576\nfile 0\nshmem 0\nactive_file 0\ninactive_file 0\n"
	plain := filepath.Join(filepath.Dir(stat), "memory.stat.new")
	if err := os.WriteFile(plain, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(plain, stat); err != nil {
		t.Fatal(err)
	}
	_, _ = w.WriteString(content)
	_ = w.Close()
	select {
	case line := <-slowGot:
		if !strings.HasPrefix(line, "MemTotal:") || !strings.Contains(line, " 65536 kB") {
			t.Errorf("slow read %q, want MemTotal 65536 kB", line)
		}
	case <-time.After(20 * time.Second):
		t.Fatal("the slow read was not answered after memory.stat was")
	}
}
