package metrics

import (
	"errors"
	"slices"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/shoalkit/shoal/internal/errs"
)

func TestParseCPUStat(t *testing.T) {
	tests := []struct {
		in      string
		want    throttling
		wantErr bool
	}{
		{"nr_periods 10\nnr_throttled 4\nthrottled_time 5000\n", throttling{periods: 10, throttledPeriods: 4, throttledNs: 5000}, false},
		{
			"usage_usec 7\nuser_usec 5\nsystem_usec 2\nnr_periods 10\nnr_throttled 4\nthrottled_usec 5\nnr_bursts 0\n",
			throttling{periods: 10, throttledPeriods: 4, throttledNs: 5000, usage: 7 * time.Microsecond, user: 5 * time.Microsecond, system: 2 * time.Microsecond},
			false,
		},
		{"usage_usec 18446744073709551615\n", throttling{}, true},
		{"throttled_usec 18446744073709551615\n", throttling{}, true},
		{"", throttling{}, false},
		{"nr_periods\n", throttling{}, true},
		{"nr_periods -1\n", throttling{}, true},
		{"nr_periods 99999999999999999999999\n", throttling{}, true},
	}
	for _, tt := range tests {
		got, err := parseCPUStat([]byte(tt.in))
		if (err != nil) != tt.wantErr || (err == nil && got != tt.want) {
			t.Errorf("parseCPUStat(%q) = %+v, %v; want %+v, error %v", tt.in, got, err, tt.want, tt.wantErr)
		}
	}
}

func TestParseOOM(t *testing.T) {
	tests := []struct {
		name, in string
		want     oomCounts
	}{
		{"memory.oom_control", "oom_kill_disable 0\nunder_oom 0\noom_kill 2\n", oomCounts{2, 2, false}},
		{"memory.oom_control", "oom_kill_disable 0\nunder_oom 0\n", oomCounts{}}, // before Linux 4.13
		{"memory.events", "low 0\nhigh 0\nmax 5\noom 3\noom_kill 2\n", oomCounts{2, 3, true}},
	}
	for _, tt := range tests {
		got, err := parseOOM(tt.name, []byte(tt.in))
		if err != nil || got != tt.want {
			t.Errorf("parseOOM(%q) = %+v, %v; want %+v", tt.in, got, err, tt.want)
		}
	}
}

func TestParseNetDev(t *testing.T) {
	in := "Inter-|   Receive |  Transmit\n face |bytes ...\n" +
		"    lo: 1 2 3 4 0 0 0 0 5 6 7 8 0 0 0 0\n" +
		"eth0:10 20 30 40 0 0 0 0 50 60 70 80 0 0 0 0\n"
	got, err := parseNetDev([]byte(in), nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	want := []InterfaceStats{
		{Name: "lo", RxBytes: 1, RxPackets: 2, RxErrors: 3, RxDropped: 4, TxBytes: 5, TxPackets: 6, TxErrors: 7, TxDropped: 8},
		{Name: "eth0", RxBytes: 10, RxPackets: 20, RxErrors: 30, RxDropped: 40, TxBytes: 50, TxPackets: 60, TxErrors: 70, TxDropped: 80},
	}
	if len(got) != 2 || got[0] != want[0] || got[1] != want[1] {
		t.Errorf("got %+v\nwant %+v", got, want)
	}
	for _, bad := range []string{
		"h\nh\nlo 1 2 3\n",
		"h\nh\nlo: 1 2 3\n",
		"h\nh\nlo: 1 2 3 x 0 0 0 0 5 6 7 8 0 0 0 0\n",
	} {
		if _, err := parseNetDev([]byte(bad), nil, nil); !errors.Is(err, ErrInvalid) {
			t.Errorf("parseNetDev(%q) error %v, want ErrInvalid", bad, err)
		}
	}
}

func TestParseSockstat(t *testing.T) {
	in := "sockets: used 20\nTCP: inuse 4 orphan 1 tw 7 alloc 5 mem 0\nUDP: inuse 0 mem 0\n"
	got, err := parseSockstat([]byte(in), "TCP:")
	if err != nil || got != (sockstat{4, 1, 7, 5}) {
		t.Errorf("got %+v, %v", got, err)
	}
	got, err = parseSockstat([]byte("TCP6: inuse 3\nUDP6: inuse 0\n"), "TCP6:")
	if err != nil || got.inUse != 3 {
		t.Errorf("tcp6 got %+v, %v", got, err)
	}
	for _, bad := range []string{"UDP: inuse 0\n", "TCP: inuse\n", "TCP: inuse x tw 1\n"} {
		if _, err := parseSockstat([]byte(bad), "TCP:"); !errors.Is(err, ErrInvalid) {
			t.Errorf("parseSockstat(%q) error %v, want ErrInvalid", bad, err)
		}
	}
}

func TestParseNodeFiles(t *testing.T) {
	cpu, n, err := parseProcStatCPU([]byte("cpu  100 2 30 400 5 0 6 0 0 0\ncpu0 50 1 15 200 2 0 3 0 0 0\ncpu1 50 1 15 200 3 0 3 0 0 0\nintr 1\n"))
	if err != nil || n != 2 || cpu.User != time.Second || cpu.Idle != 4*time.Second || cpu.SoftIRQ != 60*time.Millisecond {
		t.Errorf("proc/stat: %+v %d %v", cpu, n, err)
	}
	l, err := parseLoadavg([]byte("0.52 0.58 0.59 2/315 12345\n"))
	if err != nil || l != (loadavg{0.52, 0.58, 0.59, 315}) {
		t.Errorf("loadavg %+v %v", l, err)
	}
	u, err := parseFileNr([]byte("5363\t0\t2466293\n"))
	if err != nil || u != (Usage{5363, 2466293}) {
		t.Errorf("file-nr %+v %v", u, err)
	}
	if v, err := parseUintFile("pids.max", []byte("max\n")); err != nil || v != Unlimited {
		t.Errorf("pids.max max: %d %v", v, err)
	}
	if p, ok := busyPercent(NodeCPU{User: time.Second, Idle: time.Second}, NodeCPU{User: 2 * time.Second, Idle: 4 * time.Second}); !ok || p != 25 {
		t.Errorf("busy %v %v, want 25", p, ok)
	}
}

// TestErrorShape runs every error path of the package's parsers and
// constructors through errs.CheckShape.
func TestErrorShape(t *testing.T) {
	kinds := []error{ErrInvalid, ErrNotFound, ErrConflict, ErrClosed, ErrCanceled}
	_, e1 := parseCPUStat([]byte("nr_periods x\n"))
	_, e2 := parseNetDev([]byte("a\nb\nlo 1\n"), nil, nil)
	_, e3 := parseSockstat([]byte(""), "TCP:")
	_, _, e4 := parseProcStatCPU([]byte("intr 1\n"))
	_, e5 := parseLoadavg([]byte("1 2\n"))
	_, e6 := parseFileNr([]byte("1 2\n"))
	_, e7 := parseUintFile("pids.current", []byte("-3"))
	_, e8 := parseOOM("memory.events", []byte("oom\n"))
	for i, err := range []error{e1, e2, e3, e4, e5, e6, e7, e8} {
		if err := errs.CheckShape(err, "metrics", kinds...); err != nil {
			t.Errorf("error %d: %v", i+1, err)
		}
		if !errors.Is(err, ErrInvalid) {
			t.Errorf("error %d %v: not ErrInvalid", i+1, err)
		}
		if strings.Count(err.Error(), "metrics: ") != 1 {
			t.Errorf("error %d %q", i+1, err)
		}
	}
}

func TestParseMountinfo(t *testing.T) {
	in := "25 1 0:23 / /proc rw - proc proc rw\n" +
		"36 35 8:1 / / rw - ext4 /dev/sda1 rw\n" +
		"37 36 8:2 / /data\\040dir rw shared:1 - xfs /dev/sdb rw\n" +
		"38 36 0:52 / /fuse rw - fuse hung\\040server rw,user_id=0\n" +
		"39 36 0:53 / /data\\040dir rw - tmpfs tmpfs rw\n" +
		"40 36 0:54 / /var/lib/lxcfs rw - fuse.lxcfs lxcfs rw\n"
	got, err := parseMountinfo([]byte(in))
	if err != nil {
		t.Fatal(err)
	}
	want := []mountEntry{
		{dev: unix.Mkdev(8, 1), mountPoint: "/", fsType: "ext4", source: "/dev/sda1"},
		{dev: unix.Mkdev(0, 53), mountPoint: "/data dir", fsType: "tmpfs", source: "tmpfs"}, // hides xfs
		{dev: unix.Mkdev(0, 52), mountPoint: "/fuse", fsType: "fuse", source: "hung server"},
	}
	if !slices.Equal(got, want) {
		t.Errorf("got %+v\nwant %+v", got, want)
	}
	for _, bad := range []string{"1 2 3\n", "36 35 8 / / rw - ext4 /dev/sda1 rw\n", "36 35 8:x / / rw - ext4 /dev/sda1 rw\n", "36 35 8:1 / / rw - ext4\n"} {
		if _, err := parseMountinfo([]byte(bad)); !errors.Is(err, ErrInvalid) {
			t.Errorf("%q: %v", bad, err)
		}
	}
}
