package procview

import (
	"bytes"
	"encoding/binary"
	"errors"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/hanwen/go-fuse/v2/fuse"

	"github.com/shoalkit/shoal/cgroupx"
	"github.com/shoalkit/shoal/cgroupx/cgroupxtest"
)

// fakeServer is a server on a fake v2 host with a container
// /shoal/web (256 MiB, 100 MiB used, half a CPU, pid 42) and a host
// process (pid 7).
func fakeServer(t testing.TB) *Server {
	t.Helper()
	return fakeServerWith(t, func(*Config) {})
}

// fakeServerWith is fakeServer with cfg edited; every server it makes
// for one test shares one fake host.
func fakeServerWith(t testing.TB, edit func(*Config)) *Server {
	t.Helper()
	s, _ := fakeServerTree(t, edit)
	return s
}

// fakeServerTree is fakeServerWith that also returns the fake tree, to
// change it under the server.
func fakeServerTree(t testing.TB, edit func(*Config)) (*Server, *cgroupxtest.Tree) {
	t.Helper()
	tree := cgroupxtest.New(t, cgroupxtest.V2)
	tree.SetMemory("/shoal/web", cgroupxtest.Memory{Limit: 256 << 20, Usage: 100 << 20})
	tree.SetCPU("/shoal/web", 50000, 100000)
	tree.AddProcess("/shoal/web", cgroupxtest.Process{PID: 42, StartTime: 90000, Threads: []cgroupxtest.Thread{{TID: 43, State: 'R'}}})
	tree.AddProcess("/user.slice", cgroupxtest.Process{PID: 7})
	tree.AddProcess("/shoal/nolimits", cgroupxtest.Process{PID: 50, StartTime: 50000})
	tree.WriteHostFile("proc/diskstats", "   8       0 sda 1 2 3 4 5 6 7 8 9 10 11\n")
	tree.WriteHostFile("proc/swaps", "Filename\tType\tSize\tUsed\tPriority\n")
	host, err := cgroupx.NewHost(t.Context(), cgroupx.WithRoot(tree.Root))
	if err != nil {
		t.Fatal(err)
	}
	cfg := Config{Host: host, Root: tree.Root}
	edit(&cfg)
	s, err := New(t.Context(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	return s, tree
}

func TestContentPerCaller(t *testing.T) {
	s := fakeServer(t)
	ctx := t.Context()
	cases := []struct {
		kind nodeKind
		pid  uint32
		want string // a part of the content
	}{
		{kindMeminfo, 42, "MemTotal:         262144 kB\nMemFree:          159744 kB\n"},
		{kindMeminfo, 7, "MemTotal:       16777216 kB\n"},
		{kindMeminfo, 50, "MemTotal:       16777216 kB\n"}, // a container without limits: the host's
		{kindCPUOnline, 50, "0-3\n"},
		{kindUptime, 50, "500.00 "},
		{kindCPUOnline, 42, "0\n"},
		{kindCPUOnline, 7, "0-3\n"},
		{kindCPUInfo, 42, "processor\t: 0\n"},
		{kindUptime, 42, "100.00 "}, // host up 1000 s, container started at 900 s
		{kindUptime, 7, "1000.00 3500.00\n"},
		{kindLoadavg, 42, " 1/2 43\n"}, // one R thread of two, first scan
		{kindStat, 42, "cpu  0 0 0 "},
		{kindSwaps, 42, "Filename\t\t\t\tType\t\tSize\t\tUsed\t\tPriority\n"},
		{kindDiskstats, 7, "sda 1 2 3"},
	}
	for _, c := range cases {
		b, err := s.content(ctx, c.kind, c.pid)
		if err != nil {
			t.Errorf("%s for pid %d: %v", fileTable()[nodeIndex(c.kind)].path, c.pid, err)
			continue
		}
		if !strings.Contains(string(b), c.want) {
			t.Errorf("%s for pid %d = %q, want %q in it", fileTable()[nodeIndex(c.kind)].path, c.pid, b, c.want)
		}
	}
	// Half a CPU is one processor block.
	b, _ := s.content(ctx, kindCPUInfo, 42)
	if n := strings.Count(string(b), "processor"); n != 1 {
		t.Errorf("cpuinfo has %d processors, want 1", n)
	}
	// No I/O: an empty diskstats.
	if b, _ := s.content(ctx, kindDiskstats, 42); len(b) != 0 {
		t.Errorf("diskstats = %q, want empty", b)
	}
}

func TestContentOfAGoneCaller(t *testing.T) {
	s := fakeServer(t)
	_, err := s.content(t.Context(), kindMeminfo, 999)
	if !errors.Is(err, ErrNotFound) {
		t.Fatalf("err = %v, want ErrNotFound", err)
	}
	if st := errnoOf(err); st != fuse.Status(syscall.ESRCH) {
		t.Errorf("errno %v, want ESRCH", st)
	}
	if _, err := s.content(t.Context(), kindMeminfo, 0); !errors.Is(err, ErrNotFound) {
		t.Errorf("pid 0: %v", err)
	}
}

// request builds a FUSE request: header then body.
func request(op uint32, unique, node uint64, pid uint32, body []byte) []byte {
	b := make([]byte, inHeaderSize, inHeaderSize+len(body))
	b = append(b, body...)
	binary.NativeEndian.PutUint32(b[0:], uint32(len(b)))
	binary.NativeEndian.PutUint32(b[4:], op)
	binary.NativeEndian.PutUint64(b[8:], unique)
	binary.NativeEndian.PutUint64(b[16:], node)
	binary.NativeEndian.PutUint32(b[32:], pid)
	return b
}

// initRequest is a FUSE_INIT as Linux 6.x sends it (7.41).
func initRequest() []byte {
	body := make([]byte, 64)
	binary.NativeEndian.PutUint32(body[0:], 7)
	binary.NativeEndian.PutUint32(body[4:], 41)
	binary.NativeEndian.PutUint32(body[8:], 128<<10)
	return request(opInit, 1, 0, 0, body)
}

// readRequest is a FUSE_READ of size bytes at off of node for pid, as
// read(2) of a direct-I/O file sends it (with the lock owner).
func readRequest(node uint64, pid uint32, off uint64, size uint32) []byte {
	b := pageCacheRead(node, pid, off, size)
	binary.NativeEndian.PutUint32(b[inHeaderSize+20:], fuse.READ_LOCKOWNER) // read_flags
	binary.NativeEndian.PutUint64(b[inHeaderSize+24:], 0x5eed)              // lock_owner
	return b
}

// pageCacheRead is a FUSE_READ as the kernel sends it to fill the page
// cache (splice, sendfile): without a lock owner.
func pageCacheRead(node uint64, pid uint32, off uint64, size uint32) []byte {
	body := make([]byte, 40)
	binary.NativeEndian.PutUint64(body[0:], 1) // fh
	binary.NativeEndian.PutUint64(body[8:], off)
	binary.NativeEndian.PutUint32(body[16:], size)
	return request(15, 2, node, pid, body)
}

// protocol returns a protocol server for s that has seen INIT.
func protocol(t testing.TB, s *Server) *fuse.ProtocolServer {
	ps := fuse.NewProtocolServer(s.fs, &fuse.MountOptions{MaxWrite: maxRead, Logger: nil})
	out := make([]byte, requestBuf)
	if _, st := ps.HandleRequest([][]byte{initRequest()}, [][]byte{out}); !st.Ok() {
		t.Fatalf("INIT: %v", st)
	}
	return ps
}

func TestReadRequest(t *testing.T) {
	s := fakeServer(t)
	ps := protocol(t, s)
	out := make([]byte, requestBuf)
	n, st := ps.HandleRequest([][]byte{readRequest(3, 42, 0, 4096)}, [][]byte{out})
	if !st.Ok() || n < outHeaderSize {
		t.Fatalf("READ: %v, %d bytes", st, n)
	}
	if errno := int32(binary.NativeEndian.Uint32(out[4:])); errno != 0 {
		t.Fatalf("READ answered errno %d", -errno)
	}
	if !bytes.HasPrefix(out[outHeaderSize:n], []byte("MemTotal:         262144 kB\n")) {
		t.Errorf("READ = %q", out[outHeaderSize:n])
	}
	// A read to fill the shared page cache is refused.
	n, _ = ps.HandleRequest([][]byte{pageCacheRead(3, 42, 0, 4096)}, [][]byte{out})
	if errno := -int32(binary.NativeEndian.Uint32(out[4:])); n < outHeaderSize || syscall.Errno(errno) != syscall.EINVAL {
		t.Errorf("page-cache READ answered errno %d, want EINVAL", errno)
	}
	// A write is refused.
	n, _ = ps.HandleRequest([][]byte{request(16, 3, 3, 42, make([]byte, 48))}, [][]byte{out})
	if errno := -int32(binary.NativeEndian.Uint32(out[4:])); n < outHeaderSize || syscall.Errno(errno) != syscall.EACCES {
		t.Errorf("WRITE answered errno %d, want EACCES", errno)
	}
}

// FuzzHandleRequest feeds arbitrary requests, as the kernel would pass
// them on from any process, to the server's request handling: nothing
// panics, every answer fits the buffer.
func FuzzHandleRequest(f *testing.F) {
	f.Add(readRequest(3, 42, 0, 4096))
	f.Add(readRequest(4, 7, 100, 10))
	f.Add(request(1, 5, 1, 42, []byte("proc\x00")))  // LOOKUP
	f.Add(request(3, 6, 14, 42, make([]byte, 16)))   // GETATTR
	f.Add(request(14, 7, 7, 42, make([]byte, 8)))    // OPEN
	f.Add(request(28, 8, 2, 42, make([]byte, 40)))   // READDIR
	f.Add(request(44, 9, 2, 42, make([]byte, 40)))   // READDIRPLUS
	f.Add(request(16, 10, 3, 42, make([]byte, 100))) // WRITE
	s := fakeServer(f)
	ps := protocol(f, s)
	out := make([]byte, requestBuf)
	f.Fuzz(func(t *testing.T, req []byte) {
		if len(req) > requestBuf {
			return
		}
		_ = s.fs.quick(req) // the reader's look at a request, before the protocol server's
		n, _ := ps.HandleRequest([][]byte{req}, [][]byte{out})
		if n > len(out) {
			t.Fatalf("answer of %d bytes", n)
		}
	})
}

func FuzzParseHandover(f *testing.F) {
	f.Add(append([]byte(handoverMagic), initRequest()...))
	f.Add([]byte("PVW1"))
	f.Add([]byte("nope"))
	f.Fuzz(func(t *testing.T, b []byte) {
		init, err := parseHandover(b)
		if err != nil {
			if !errors.Is(err, ErrInvalid) && !errors.Is(err, ErrUnsupported) {
				t.Fatalf("error of no kind: %v", err)
			}
			return
		}
		if len(init) < inHeaderSize || binary.NativeEndian.Uint32(init[4:]) != opInit {
			t.Fatalf("accepted %q", b)
		}
	})
}

func FuzzParseNotif(f *testing.F) {
	f.Add(make([]byte, notifSize))
	f.Add([]byte{1, 2, 3})
	f.Fuzz(func(t *testing.T, b []byte) {
		n, err := parseNotif(b)
		if err == nil && len(b) != notifSize {
			t.Fatalf("accepted %d bytes", len(b))
		}
		if err == nil && n.id != binary.NativeEndian.Uint64(b) {
			t.Fatalf("id %d", n.id)
		}
	})
}

func FuzzParseProcessState(f *testing.F) {
	f.Add([]byte(`{"ociVersion":"1.0.2","fds":["seccompFd"],"pid":4242,"state":{"id":"c1"}}`), 1)
	f.Add([]byte(`{"fds":[],"pid":1}`), 0)
	f.Add([]byte(`{"fds":["x","seccompFd"],"pid":-1}`), 2)
	f.Fuzz(func(t *testing.T, b []byte, nfds int) {
		h, err := parseProcessState(b, nfds)
		if err != nil {
			if !errors.Is(err, ErrInvalid) {
				t.Fatalf("error of no kind: %v", err)
			}
			return
		}
		if h.index < 0 || h.index >= nfds || h.pid <= 0 {
			t.Fatalf("index %d of %d, pid %d", h.index, nfds, h.pid)
		}
		if h.id != "" && validListenerID(h.id) != nil {
			t.Fatalf("id %q", h.id)
		}
	})
}

// TestLoadStateAcrossServers: a server's averages, saved at each scan, are
// where the next server starts; the intervals between decay as the
// kernel's calc_load_n.
func TestLoadStateAcrossServers(t *testing.T) {
	state := filepath.Join(t.TempDir(), "load.json")
	var host *cgroupx.Host
	var root string
	first := fakeServerWith(t, func(c *Config) { c.StateFile = state; host, root = c.Host, c.Root })
	ctx := t.Context()
	t0 := time.Unix(1000, 0)
	for i := range 12 { // a minute of one runnable thread
		first.reg.tick(ctx, t0.Add(time.Duration(i)*cgroupx.LoadFreq))
	}
	c, err := first.reg.get(ctx, "/shoal/web")
	if err != nil {
		t.Fatal(err)
	}
	saved := c.load.Load()
	if saved.Avenrun[0] == 0 {
		t.Fatal("no load after a minute")
	}
	second, err := New(ctx, Config{Host: host, Root: root, StateFile: state})
	if err != nil {
		t.Fatal(err)
	}
	at := t0.Add(11 * cgroupx.LoadFreq)
	if err := second.reg.restore(ctx, state, at); err != nil {
		t.Fatal(err)
	}
	got, err := second.reg.get(ctx, "/shoal/web")
	if err != nil {
		t.Fatal(err)
	}
	if got.load.Load().Avenrun != saved.Avenrun {
		t.Errorf("restored %v, saved %v", got.load.Load().Avenrun, saved.Avenrun)
	}
	// Restored 3 intervals later: folded as calc_load_n of the count now.
	third, err := New(ctx, Config{Host: host, Root: root, StateFile: state})
	if err != nil {
		t.Fatal(err)
	}
	if err := third.reg.restore(ctx, state, at.Add(3*cgroupx.LoadFreq)); err != nil {
		t.Fatal(err)
	}
	want := cgroupx.NewLoadTracker(nil, cgroupx.LoadConfig{})
	want.Restore(saved)
	want.Fold(cgroupx.TaskCount{Running: 1, Total: 2}, 3)
	c3, _ := third.reg.get(ctx, "/shoal/web")
	if c3.load.Load().Avenrun != want.Load().Avenrun {
		t.Errorf("3 intervals later: %v, want %v", c3.load.Load().Avenrun, want.Load().Avenrun)
	}
}

func FuzzParseSavedLoads(f *testing.F) {
	f.Add([]byte(`{"at":1,"containers":{"/shoal/web":{"Avenrun":[100,50,20]},"/etc":{},"/shoal/a/b":{}}}`))
	f.Add([]byte(`{}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		s, err := parseSavedLoads(b, []string{"/shoal"}, 10)
		if err != nil {
			return
		}
		if len(s.Containers) > 10 {
			t.Fatalf("%d containers kept", len(s.Containers))
		}
		for p := range s.Containers {
			if !isContainerPath(p, []string{"/shoal"}) {
				t.Fatalf("kept %q", p)
			}
		}
	})
}

func FuzzParseListenerMessage(f *testing.F) {
	for _, s := range []string{
		"PVL1 keep web-1", "PVL1 take", "PVL1 ok", "PVL1 end", "PVL1 listener a.b+c_d",
		"PVL1 err invalid procview: bad", "PVL1 err other x", "PVL1 keep ..", "PVL1 take x", "PVL0 take", "PVL1 keep \xff",
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		verb, arg, err := parseListenerMessage(b)
		if err != nil {
			if !errors.Is(err, ErrInvalid) {
				t.Fatalf("error of no kind: %v", err)
			}
			return
		}
		if len(b) > maxListenerMessage {
			t.Fatalf("accepted %d bytes", len(b))
		}
		if got := string(listenerMessage(verb, arg)); got != string(b) {
			t.Fatalf("%q parsed as %q %q, which makes %q", b, verb, arg, got)
		}
		if (verb == verbKeep || verb == verbListener) && validListenerID(arg) != nil {
			t.Fatalf("accepted id %q", arg)
		}
	})
}

// TestOldestProcessKept: a container's oldest process is looked for once
// a second (every process's stat is read to find it), not at every read;
// with a negative MaxAge at every read.
func TestOldestProcessKept(t *testing.T) {
	cases := []struct {
		name   string
		maxAge time.Duration
		want   string // /proc/uptime after an older process joined
	}{
		{"default: kept", 0, "100.00 "},
		{"MaxAge -1: found again", -1, "500.00 "},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			s, tree := fakeServerTree(t, func(cfg *Config) { cfg.MaxAge = c.maxAge })
			b, err := s.content(t.Context(), kindUptime, 42)
			if err != nil || !strings.HasPrefix(string(b), "100.00 ") {
				t.Fatalf("uptime %q, %v; want 100.00 (host up 1000 s, the container's oldest from 900 s)", b, err)
			}
			// Started at 500 s: had it been there, the container would be up 500 s.
			tree.AddProcess("/shoal/web", cgroupxtest.Process{PID: 44, StartTime: 50000})
			time.Sleep(20 * time.Millisecond) // past MaxAge: the file is rendered again
			if b, err = s.content(t.Context(), kindUptime, 42); err != nil || !strings.HasPrefix(string(b), c.want) {
				t.Errorf("uptime %q, %v; want %q", b, err, c.want)
			}
		})
	}
}
