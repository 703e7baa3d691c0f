package metrics_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/shoalkit/shoal/cgroupx/cgroupxtest"
	"github.com/shoalkit/shoal/metrics"
)

const fixtureNetDev = `Inter-|   Receive                                                |  Transmit
 face |bytes    packets errs drop fifo frame compressed multicast|bytes    packets errs drop fifo colls carrier compressed
    lo:     100       2    0    0    0     0          0         0      100       2    0    0    0     0       0          0
  eth0: %d   %d    1    2    0     0          0         0   %d    %d    3    4    0     0       0          0
`

const fixtureSockstat = `sockets: used 120
TCP: inuse %d orphan 3 tw %d alloc 90 mem 4
UDP: inuse 1 mem 0
UDPLITE: inuse 0
RAW: inuse 0
FRAG: inuse 0 memory 0
`

// fixture is a fake host with one container, "/app", whose process 42
// has a network namespace and open files, and a clock the test moves.
type fixture struct {
	tree *cgroupxtest.Tree
	now  time.Time
}

// tick moves the fixture's clock by one second.
func (f *fixture) tick() { f.now = f.now.Add(time.Second) }

func newFixture(t *testing.T, layout cgroupxtest.Layout) *fixture {
	t.Helper()
	tr := cgroupxtest.New(t, layout)
	tr.SetMemory("/app", cgroupxtest.Memory{
		Limit: 256 << 20, Usage: 100 << 20, Cache: 40 << 20, RSS: 60 << 20, Mapped: 5 << 20,
		ActiveFile: 10 << 20, InactiveFile: 30 << 20,
	})
	tr.SetCPU("/app", 50000, 100000)
	tr.AddProcess("/app", cgroupxtest.Process{PID: 42, Comm: "app", Threads: []cgroupxtest.Thread{{TID: 42}, {TID: 43}}})
	tr.AddProcess("/app", cgroupxtest.Process{PID: 44, Comm: "worker"})
	f := &fixture{tree: tr, now: time.Unix(1_700_000_000, 0)}
	f.setCPU(2*time.Second, time.Second, 10, 4, 300*time.Millisecond)
	f.setOOM(3)
	f.setNet(1000, 10, 2000, 20, 7, 2)
	f.setPids(3, "100")
	tr.WriteHostFile("proc/42/ns/net", "")
	for pid, n := range map[int]int{42: 5, 44: 2} {
		dir := filepath.Join(tr.Root, "proc", fmt.Sprint(pid), "fd")
		if err := os.MkdirAll(dir, 0o755); err != nil {
			t.Fatal(err)
		}
		for i := range n {
			tr.WriteHostFile(fmt.Sprintf("proc/%d/fd/%d", pid, i), "")
		}
	}
	tr.WriteHostFile("proc/loadavg", "0.52 0.58 0.59 2/315 12345\n")
	tr.WriteHostFile("proc/sys/kernel/pid_max", "32768\n")
	tr.WriteHostFile("proc/sys/kernel/threads-max", "192739\n")
	tr.WriteHostFile("proc/sys/fs/file-nr", "5363\t0\t2466293\n")
	tr.WriteHostFile("proc/net/sockstat", fmt.Sprintf(fixtureSockstat, 9, 1))
	return f
}

func (f *fixture) setCPU(user, system time.Duration, periods, throttled int, throttledTime time.Duration) {
	tr := f.tree
	if tr.Layout == cgroupxtest.V2 {
		tr.WriteFile("cpu", "/app", "cpu.stat", fmt.Sprintf("usage_usec %d\nuser_usec %d\nsystem_usec %d\nnr_periods %d\nnr_throttled %d\nthrottled_usec %d\n",
			(user+system).Microseconds(), user.Microseconds(), system.Microseconds(), periods, throttled, throttledTime.Microseconds()))
		return
	}
	tr.SetCPUUsage("/app", uint64(user), uint64(system))
	tr.WriteFile("cpu", "/app", "cpu.stat", fmt.Sprintf("nr_periods %d\nnr_throttled %d\nthrottled_time %d\n", periods, throttled, throttledTime.Nanoseconds()))
}

func (f *fixture) setOOM(kills int) {
	if f.tree.Layout == cgroupxtest.V2 {
		f.tree.WriteFile("memory", "/app", "memory.events", fmt.Sprintf("low 0\nhigh 0\nmax 9\noom %d\noom_kill %d\noom_group_kill 0\n", kills+1, kills))
		return
	}
	f.tree.WriteFile("memory", "/app", "memory.oom_control", fmt.Sprintf("oom_kill_disable 0\nunder_oom 0\noom_kill %d\n", kills))
}

func (f *fixture) setNet(rx, rxp, tx, txp, inuse, tw int) {
	f.tree.WriteHostFile("proc/42/net/dev", fmt.Sprintf(fixtureNetDev, rx, rxp, tx, txp))
	f.tree.WriteHostFile("proc/42/net/sockstat", fmt.Sprintf(fixtureSockstat, inuse, tw))
	f.tree.WriteHostFile("proc/42/net/sockstat6", "TCP6: inuse 1\nUDP6: inuse 0\n")
}

func (f *fixture) setPids(current int, limit string) {
	f.tree.WriteFile("pids", "/app", "pids.current", fmt.Sprintln(current))
	f.tree.WriteFile("pids", "/app", "pids.max", limit+"\n")
}

// collector returns a collector on the fixture, on its clock, with /app
// added.
func (f *fixture) collector(t *testing.T) *metrics.Collector {
	t.Helper()
	c, err := metrics.New(context.Background(), metrics.Config{
		Root:         f.tree.Root,
		DiskInterval: -1,
		Now:          func() time.Time { return f.now },
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c.Close() })
	if err := c.Add(metrics.Target{ID: "app-1", App: "app", Cgroup: "/app"}); err != nil {
		t.Fatal(err)
	}
	return c
}

func sampleOne(t *testing.T, c *metrics.Collector) (*metrics.Snapshot, metrics.ContainerSample) {
	t.Helper()
	s, err := c.Sample(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if len(s.Containers) != 1 {
		t.Fatalf("%d containers, errors %+v", len(s.Containers), s.Errors)
	}
	return s, s.Containers[0]
}

func TestFixtureValues(t *testing.T) {
	for _, layout := range []cgroupxtest.Layout{cgroupxtest.V1, cgroupxtest.V2, cgroupxtest.Hybrid} {
		t.Run(fmt.Sprint(layout), func(t *testing.T) {
			f := newFixture(t, layout)
			c := f.collector(t)
			snap, s := sampleOne(t, c)
			if s.CPU.Usage != 3*time.Second || s.CPU.User != 2*time.Second || s.CPU.System != time.Second {
				t.Errorf("cpu %+v", s.CPU)
			}
			if s.CPU.Periods != 10 || s.CPU.ThrottledPeriods != 4 || s.CPU.Throttled != 300*time.Millisecond || s.CPU.LimitCores != 0.5 {
				t.Errorf("throttling %+v", s.CPU)
			}
			m := s.Memory
			want := metrics.MemoryStats{Usage: 100 << 20, WorkingSet: 70 << 20, Limit: 256 << 20, Cache: 40 << 20, RSS: 60 << 20, MappedFile: 5 << 20, OOMKills: 3, OOMEvents: 3}
			if layout == cgroupxtest.V2 {
				want.OOMEvents = 4
			}
			if m != want {
				t.Errorf("memory\n got %+v\nwant %+v", m, want)
			}
			eth := iface(s, "eth0")
			if len(s.Net) != 2 || eth == nil || *eth != (metrics.InterfaceStats{Name: "eth0", RxBytes: 1000, RxPackets: 10, RxErrors: 1, RxDropped: 2, TxBytes: 2000, TxPackets: 20, TxErrors: 3, TxDropped: 4}) {
				t.Errorf("net %+v", s.Net)
			}
			if s.TCP != (metrics.TCPStats{InUse: 7, InUse6: 1, TimeWait: 2}) {
				t.Errorf("tcp %+v", s.TCP)
			}
			if s.Processes != (metrics.ProcessStats{Processes: 2, Threads: 3, FDs: 7, PidsLimit: 100}) {
				t.Errorf("processes %+v", s.Processes)
			}
			if s.Rates.Valid {
				t.Error("rates valid on the first sample")
			}
			n := snap.Node
			if n.Load1 != 0.52 || n.Threads != 315 || n.PidMax != 32768 || n.ThreadsMax != 192739 {
				t.Errorf("node load/pids %+v", n)
			}
			if n.Files != (metrics.Usage{Used: 5363, Max: 2466293}) || n.TCP != (metrics.NodeTCP{InUse: 9, TimeWait: 1, Orphaned: 3, Alloc: 90}) {
				t.Errorf("node files %+v tcp %+v", n.Files, n.TCP)
			}
			if n.Conntrack != nil {
				t.Errorf("conntrack %+v on a host without the module, want absent", n.Conntrack)
			}
			if n.CPUs != 4 || n.Memory.MemTotal != 16<<30 {
				t.Errorf("node cpus %d memory %d", n.CPUs, n.Memory.MemTotal)
			}
			if snap.Totals.NodeErrors != 0 {
				t.Errorf("%d node errors", snap.Totals.NodeErrors)
			}

			// One second later: rates.
			f.tick()
			f.setCPU(2500*time.Millisecond, 1500*time.Millisecond, 20, 9, 800*time.Millisecond)
			f.setNet(1000+4096, 20, 2000+1024, 30, 7, 2)
			f.tree.WriteHostFile("proc/sys/net/netfilter/nf_conntrack_count", "120\n")
			f.tree.WriteHostFile("proc/sys/net/netfilter/nf_conntrack_max", "262144\n")
			// Whether the module is loaded is looked at with the limits.
			c.LimitsChanged()
			snap, s = sampleOne(t, c)
			r := s.Rates
			if !r.Valid || r.Interval != time.Second || r.CPUCores != 1 || r.CPUPercent != 200 || r.Throttled != 0.5 || r.NetRx != 4096 || r.NetTx != 1024 {
				t.Errorf("rates %+v", r)
			}
			if snap.Node.Conntrack == nil || *snap.Node.Conntrack != (metrics.Usage{Used: 120, Max: 262144}) {
				t.Errorf("conntrack %+v", snap.Node.Conntrack)
			}
		})
	}
}

func TestFixtureCounterReset(t *testing.T) {
	f := newFixture(t, cgroupxtest.V1)
	c := f.collector(t)
	sampleOne(t, c)
	// The interface counters drop (the namespace was made again) while the
	// cgroup stays: a reset, and the counters keep counting from where
	// they were.
	f.setNet(300, 3, 400, 4, 7, 2)
	f.tick()
	_, s := sampleOne(t, c)
	eth := iface(s, "eth0")
	if s.Resets != 1 || eth.RxBytes != 1300 || eth.TxBytes != 2400 {
		t.Errorf("after a reset: resets %d, rx %d tx %d; want 1, 1300, 2400", s.Resets, eth.RxBytes, eth.TxBytes)
	}
	if !s.Rates.Valid || s.Rates.NetRx != 300 || s.Rates.NetTx != 400 {
		t.Errorf("rates across the reset %+v, want 300 and 400 B/s", s.Rates)
	}
	f.setNet(500, 5, 600, 6, 7, 2)
	_, s = sampleOne(t, c)
	if eth := iface(s, "eth0"); s.Resets != 1 || eth.RxBytes != 1500 {
		t.Errorf("after growth: resets %d, rx %d; want 1, 1500", s.Resets, eth.RxBytes)
	}
}

func TestFixtureMalformedFileDropsContainer(t *testing.T) {
	f := newFixture(t, cgroupxtest.V1)
	c := f.collector(t)
	f.tree.WriteFile("cpu", "/app", "cpu.stat", "nr_periods ten\n")
	s, err := c.Sample(context.Background())
	if err != nil {
		t.Fatalf("a malformed file failed the sample: %v", err)
	}
	if len(s.Containers) != 0 || len(s.Errors) != 1 || s.Errors[0].Reason != metrics.ReasonInvalid {
		t.Fatalf("containers %d errors %+v, want the container left out as invalid", len(s.Containers), s.Errors)
	}
	if s.Totals.ContainerErrors[metrics.ReasonInvalid] != 1 {
		t.Errorf("totals %+v", s.Totals)
	}
}

func TestFixtureMissingContainer(t *testing.T) {
	f := newFixture(t, cgroupxtest.V2)
	c := f.collector(t)
	if err := c.Add(metrics.Target{ID: "ghost", Cgroup: "/ghost"}); err != nil {
		t.Fatal(err)
	}
	s, err := c.Sample(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if len(s.Containers) != 1 || len(s.Errors) != 1 || s.Errors[0].ID != "ghost" || s.Errors[0].Reason != metrics.ReasonVanished {
		t.Errorf("containers %d errors %+v", len(s.Containers), s.Errors)
	}
}

// TestFixtureRefreshIntervals checks what is read less often than every
// sample: limits every LimitInterval or after LimitsChanged, open files
// every FDInterval; usage at every sample.
func TestFixtureRefreshIntervals(t *testing.T) {
	for _, layout := range []cgroupxtest.Layout{cgroupxtest.V1, cgroupxtest.V2} {
		t.Run(fmt.Sprint(layout), func(t *testing.T) {
			f := newFixture(t, layout)
			c := f.collector(t)
			check := func(what string, cores float64, pids, fds, usage uint64, memLimit uint64) {
				t.Helper()
				_, s := sampleOne(t, c)
				if s.CPU.LimitCores != cores || s.Processes.PidsLimit != pids || s.Processes.FDs != fds || s.Memory.Usage != usage || s.Memory.Limit != memLimit {
					t.Errorf("%s: cores %v pids.max %d fds %d usage %d limit %d; want %v %d %d %d %d", what,
						s.CPU.LimitCores, s.Processes.PidsLimit, s.Processes.FDs, s.Memory.Usage, s.Memory.Limit, cores, pids, fds, usage, memLimit)
				}
			}
			const mib = 1 << 20
			check("first sample", 0.5, 100, 7, 100*mib, 256*mib)

			// Everything changes; a second later only usage is read again
			// (and on v1 the memory limit, which memory.stat reports).
			f.tree.SetCPU("/app", 150000, 100000)
			f.setPids(3, "200")
			f.tree.SetMemory("/app", cgroupxtest.Memory{Limit: 512 * mib, Usage: 120 * mib, Cache: 40 * mib, RSS: 80 * mib, InactiveFile: 30 * mib})
			f.tree.WriteHostFile("proc/44/fd/2", "")
			f.tick()
			memLimit := uint64(256 * mib)
			if layout != cgroupxtest.V2 {
				memLimit = 512 * mib
			}
			check("within the intervals", 0.5, 100, 7, 120*mib, memLimit)

			c.LimitsChanged("app-1")
			f.tick()
			check("after LimitsChanged", 1.5, 200, 7, 120*mib, 512*mib)

			f.now = f.now.Add(30 * time.Second)
			check("after FDInterval", 1.5, 200, 8, 120*mib, 512*mib)

			f.setPids(3, "max")
			f.now = f.now.Add(time.Minute)
			check("after LimitInterval", 1.5, metrics.Unlimited, 8, 120*mib, 512*mib)
		})
	}
}
