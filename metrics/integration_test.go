package metrics_test

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/shoalkit/shoal/internal/testenv"
	"github.com/shoalkit/shoal/metrics"
)

// newCollector returns a collector on the real host, closed in cleanup.
func newCollector(t *testing.T, cfg metrics.Config) *metrics.Collector {
	t.Helper()
	c, err := metrics.New(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c.Close() })
	return c
}

// add collects the test cgroup under id.
func add(t *testing.T, c *metrics.Collector, id string, cg *testenv.Cgroup) {
	t.Helper()
	if err := c.Add(metrics.Target{ID: id, App: "app", Cgroup: "/" + cg.Name}); err != nil {
		t.Fatal(err)
	}
}

// find returns container id of snapshot s.
func find(s *metrics.Snapshot, id string) (metrics.ContainerSample, bool) {
	for _, c := range s.Containers {
		if c.Target.ID == id {
			return c, true
		}
	}
	return metrics.ContainerSample{}, false
}

// sampleUntil samples every 50 ms until cond holds for container id, and
// fails the test after timeout with the last sample.
func sampleUntil(t *testing.T, c *metrics.Collector, id string, timeout time.Duration, what string, cond func(metrics.ContainerSample) bool) metrics.ContainerSample {
	t.Helper()
	deadline := time.Now().Add(timeout)
	var last metrics.ContainerSample
	for {
		s, err := c.Sample(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		cs, ok := find(s, id)
		if ok {
			last = cs
			if cond(cs) {
				return cs
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: not within %v; last sample %+v, errors %v", what, timeout, last, s.Errors)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func writeFile(t *testing.T, dir, name, value string) {
	t.Helper()
	if err := os.WriteFile(filepath.Join(dir, name), []byte(value), 0o644); err != nil {
		t.Fatal(err)
	}
}

func TestIntegrationCPUThrottled(t *testing.T) {
	cg := testenv.NewCgroup(t)
	writeFile(t, cg.V1["cpu"], "cpu.cfs_period_us", "100000")
	writeFile(t, cg.V1["cpu"], "cpu.cfs_quota_us", "20000") // 0.2 CPU
	name, args := helperArgs("spin")
	cg.Start(t, name, args...)
	c := newCollector(t, metrics.Config{})
	add(t, c, "spin", cg)
	first := sampleUntil(t, c, "spin", 5*time.Second, "first sample", func(metrics.ContainerSample) bool { return true })
	time.Sleep(2 * time.Second)
	s := sampleUntil(t, c, "spin", 5*time.Second, "second sample", func(metrics.ContainerSample) bool { return true })
	if s.CPU.LimitCores != 0.2 || s.CPU.QuotaMicros != 20000 || s.CPU.PeriodMicros != 100000 {
		t.Errorf("limit %v (%d/%d), want 0.2 (20000/100000)", s.CPU.LimitCores, s.CPU.QuotaMicros, s.CPU.PeriodMicros)
	}
	// The quota caps the spinner at 0.2 CPU; on a busy host it may get
	// less, never more.
	if !s.Rates.Valid || s.Rates.CPUCores < 0.01 || s.Rates.CPUCores > 0.25 {
		t.Errorf("CPU rate %.3f cores (valid %v), want up to 0.2", s.Rates.CPUCores, s.Rates.Valid)
	}
	if s.Rates.CPUPercent > 125 || s.Rates.CPUPercent != 100*s.Rates.CPUCores/0.2 {
		t.Errorf("CPU %.1f%% of its quota for %.3f cores", s.Rates.CPUPercent, s.Rates.CPUCores)
	}
	dPeriods := s.CPU.Periods - first.CPU.Periods
	dThrottled := s.CPU.ThrottledPeriods - first.CPU.ThrottledPeriods
	if dPeriods < 10 || dThrottled == 0 || dThrottled > dPeriods || s.Rates.Throttled <= 0 || s.Rates.Throttled > 1 {
		t.Errorf("over 2 s: %d periods, %d throttled, %.2f s/s throttled; a spinner at 0.2 CPU is throttled", dPeriods, dThrottled, s.Rates.Throttled)
	}
	// The kernel's own counters, read after the sample, are at least ours.
	b, err := os.ReadFile(filepath.Join(cg.V1["cpu"], "cpu.stat"))
	if err != nil {
		t.Fatal(err)
	}
	var periods, throttled uint64
	if _, err := fmt.Sscanf(string(b), "nr_periods %d\nnr_throttled %d", &periods, &throttled); err != nil {
		t.Fatalf("cpu.stat %q: %v", b, err)
	}
	if periods < s.CPU.Periods || periods > s.CPU.Periods+20 || throttled < s.CPU.ThrottledPeriods {
		t.Errorf("cpu.stat says %d periods %d throttled, the sample %d and %d", periods, throttled, s.CPU.Periods, s.CPU.ThrottledPeriods)
	}
	// PSI comes from the test's cgroup2 group (a hybrid host) and counts
	// the time the spinner waited for a CPU: throttled, or behind other
	// work.
	switch {
	case s.Pressure == nil || first.Pressure == nil:
		t.Errorf("no pressure read (%v, %v)", first.Pressure, s.Pressure)
	case s.Pressure.CPU.Some.Total <= first.Pressure.CPU.Some.Total:
		t.Errorf("cpu pressure %+v, want some waiting over 2 s", s.Pressure)
	}
	if s.CPU.User+s.CPU.System > s.CPU.Usage+100*time.Millisecond || s.CPU.User < s.CPU.Usage/2 {
		t.Errorf("user %v system %v of usage %v: a spinner is user time", s.CPU.User, s.CPU.System, s.CPU.Usage)
	}
}

func TestIntegrationMemory(t *testing.T) {
	cg := testenv.NewCgroup(t)
	writeFile(t, cg.V1["memory"], "memory.limit_in_bytes", strconv.Itoa(256<<20))
	name, args := helperArgs("alloc", strconv.Itoa(64<<20))
	cg.Start(t, name, args...)
	c := newCollector(t, metrics.Config{})
	add(t, c, "mem", cg)
	s := sampleUntil(t, c, "mem", 10*time.Second, "64 MiB resident", func(s metrics.ContainerSample) bool { return s.Memory.RSS >= 64<<20 })
	m := s.Memory
	if m.Limit != 256<<20 {
		t.Errorf("limit %d, want %d", m.Limit, 256<<20)
	}
	// The helper's runtime adds a few MiB, about 20 with the race
	// detector's; counting the 64 MiB twice would show 128.
	if m.RSS > 64<<20+32<<20 {
		t.Errorf("rss %d, want 64 MiB and the runtime's few", m.RSS)
	}
	if m.Usage < m.RSS || m.WorkingSet < m.RSS || m.WorkingSet > m.Usage {
		t.Errorf("usage %d, working set %d, rss %d: want rss <= working set <= usage", m.Usage, m.WorkingSet, m.RSS)
	}
	if s.Processes.Processes != 1 || s.Processes.PidsLimit != metrics.Unlimited {
		t.Errorf("processes %d limit %d, want 1 and unlimited", s.Processes.Processes, s.Processes.PidsLimit)
	}
}

func TestIntegrationOOMKill(t *testing.T) {
	cg := testenv.NewCgroup(t)
	writeFile(t, cg.V1["memory"], "memory.limit_in_bytes", strconv.Itoa(32<<20))
	c := newCollector(t, metrics.Config{})
	add(t, c, "oom", cg)
	// A process that stays, so the container is sampled after the kill.
	cg.Start(t, "sleep", "1000")
	before := sampleUntil(t, c, "oom", 5*time.Second, "first sample", func(metrics.ContainerSample) bool { return true })
	if before.Memory.OOMKills != 0 {
		t.Fatalf("OOM kills %d before any allocation", before.Memory.OOMKills)
	}
	name, args := helperArgs("alloc", strconv.Itoa(128<<20))
	p := cg.Start(t, name, args...)
	select {
	case <-p.Done():
	case <-time.After(30 * time.Second):
		t.Fatal("the 128 MiB allocation in a 32 MiB cgroup was not killed")
	}
	s := sampleUntil(t, c, "oom", 5*time.Second, "one OOM kill", func(s metrics.ContainerSample) bool { return s.Memory.OOMKills >= 1 })
	if s.Memory.OOMKills != 1 || s.Memory.OOMEvents != 1 {
		t.Errorf("OOM kills %d events %d, want 1 and 1", s.Memory.OOMKills, s.Memory.OOMEvents)
	}
}

func TestIntegrationForkBombHeld(t *testing.T) {
	cg := testenv.NewCgroup(t)
	writeFile(t, cg.V1["pids"], "pids.max", "16")
	// bash retries a failed fork and stays; dash would exit at the first.
	cg.Start(t, "bash", "-c", "while :; do sleep 1000 & done 2>/dev/null")
	c := newCollector(t, metrics.Config{})
	add(t, c, "bomb", cg)
	s := sampleUntil(t, c, "bomb", 10*time.Second, "16 tasks", func(s metrics.ContainerSample) bool { return s.Processes.Threads == 16 })
	if s.Processes.PidsLimit != 16 {
		t.Errorf("pids limit %d, want 16", s.Processes.PidsLimit)
	}
	// bash and 15 sleeps, one thread each: the bomb is held at the limit.
	if s.Processes.Processes != 16 {
		t.Errorf("processes %d, want 16", s.Processes.Processes)
	}
	snap, err := c.Sample(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	n := snap.Node
	if n.Threads < 16 || n.PidMax == 0 || n.Threads > n.PidMax || n.ThreadsMax == 0 {
		t.Errorf("node threads %d of pid_max %d, threads-max %d", n.Threads, n.PidMax, n.ThreadsMax)
	}
}

func TestIntegrationFDs(t *testing.T) {
	cg := testenv.NewCgroup(t)
	name, args := helperArgs("files", "200")
	p := cg.Start(t, name, args...)
	// Counted at every sample, to see the helper's files arrive.
	c := newCollector(t, metrics.Config{FDInterval: time.Nanosecond})
	add(t, c, "fds", cg)
	s := sampleUntil(t, c, "fds", 10*time.Second, "200 files", func(s metrics.ContainerSample) bool { return s.Processes.FDs >= 200 })
	ents, err := os.ReadDir("/proc/" + strconv.Itoa(p.Pid) + "/fd")
	if err != nil {
		t.Fatal(err)
	}
	if s.Processes.FDs != uint64(len(ents)) {
		t.Errorf("fds %d, /proc/%d/fd lists %d", s.Processes.FDs, p.Pid, len(ents))
	}
}

func TestIntegrationTCP(t *testing.T) {
	ns := testenv.NewNetns(t)
	cg := testenv.NewCgroup(t)
	name, args := helperArgs("tcp", "50", "20")
	p := cg.Start(t, "ip", append([]string{"netns", "exec", ns.Name, name}, args...)...)
	c := newCollector(t, metrics.Config{})
	add(t, c, "tcp", cg)
	// 50 clients, 50 accepted, one listener; nothing else in the namespace.
	s := sampleUntil(t, c, "tcp", 10*time.Second, "101 sockets", func(s metrics.ContainerSample) bool { return s.TCP.InUse == 101 })
	if s.TCP.TimeWait != 0 || s.TCP.InUse6 != 0 {
		t.Errorf("time-wait %d, tcp6 %d before closing, want 0", s.TCP.TimeWait, s.TCP.InUse6)
	}
	if len(s.Net) != 1 || s.Net[0].Name != "lo" || s.Net[0].RxPackets == 0 {
		t.Errorf("interfaces %+v, want the namespace's own lo with the handshakes", s.Net)
	}
	if err := syscall.Kill(p.Pid, syscall.SIGUSR1); err != nil {
		t.Fatal(err)
	}
	// Both ends closed: the clients' sockets wait in TIME-WAIT, the
	// servers' are gone.
	sampleUntil(t, c, "tcp", 10*time.Second, "20 in time-wait, 61 in use", func(s metrics.ContainerSample) bool {
		return s.TCP.TimeWait == 20 && s.TCP.InUse == 61
	})
}

func TestIntegrationNetworkBytes(t *testing.T) {
	testenv.Require(t, testenv.Ping)
	ns := testenv.NewNetns(t)
	v := testenv.NewVethNamed(t, nil, ns, "eth0")
	if out, err := runCmd("ip", "addr", "add", "10.213.7.1/30", "dev", v.A); err != nil {
		t.Fatal(out)
	}
	ns.Run(t, "ip", "addr", "add", "10.213.7.2/30", "dev", "eth0")
	cg := testenv.NewCgroup(t)
	cg.Start(t, "ip", "netns", "exec", ns.Name, "sleep", "1000")
	c := newCollector(t, metrics.Config{})
	add(t, c, "net", cg)
	before := sampleUntil(t, c, "net", 5*time.Second, "eth0", func(s metrics.ContainerSample) bool { return iface(s, "eth0") != nil })
	ns.Run(t, "ping", "-c", "20", "-i", "0.01", "-s", "1000", "-q", "10.213.7.1")
	s := sampleUntil(t, c, "net", 5*time.Second, "pings counted", func(s metrics.ContainerSample) bool {
		return iface(s, "eth0").TxPackets >= iface(before, "eth0").TxPackets+20
	})
	// 20 echo requests and 20 replies of 1000 bytes + ICMP, IP and
	// Ethernet headers (1042 bytes a frame).
	e, b := iface(s, "eth0"), iface(before, "eth0")
	if d := e.TxBytes - b.TxBytes; d < 20*1042 || d > 20*1042+2000 {
		t.Errorf("eth0 sent %d bytes for 20 pings of 1000, want %d and a few ARP", d, 20*1042)
	}
	if d := e.RxBytes - b.RxBytes; d < 20*1042 || d > 20*1042+2000 {
		t.Errorf("eth0 received %d bytes for 20 replies, want %d and a few ARP", d, 20*1042)
	}
	if !s.Rates.Valid || s.Rates.NetTx <= 0 {
		t.Errorf("tx rate %v (valid %v)", s.Rates.NetTx, s.Rates.Valid)
	}
}

func iface(s metrics.ContainerSample, name string) *metrics.InterfaceStats {
	for i := range s.Net {
		if s.Net[i].Name == name {
			return &s.Net[i]
		}
	}
	return nil
}

func runCmd(name string, args ...string) (string, error) {
	out, err := exec.Command(name, args...).CombinedOutput()
	return string(out), err
}

func TestIntegrationDiskWrites(t *testing.T) {
	dir := t.TempDir()
	if st, err := os.Stat(dir); err != nil || !st.IsDir() {
		t.Fatal(err)
	}
	cg := testenv.NewCgroup(t)
	c := newCollector(t, metrics.Config{})
	add(t, c, "disk", cg)
	p := cg.Start(t, "dd", "if=/dev/zero", "of="+filepath.Join(dir, "f"), "bs=1M", "count=8", "oflag=direct")
	<-p.Done()
	s := sampleUntil(t, c, "disk", 5*time.Second, "I/O counted", func(s metrics.ContainerSample) bool { return len(s.IO) > 0 })
	var written, ops uint64
	var devs []string
	for _, d := range s.IO {
		written += d.WriteBytes
		ops += d.WriteOps
		devs = append(devs, d.Device)
	}
	if written < 8<<20 || written > 9<<20 {
		t.Errorf("written %d bytes on %v, want 8 MiB", written, devs)
	}
	if ops < 8 {
		t.Errorf("%d write ops for 8 direct 1 MiB writes", ops)
	}
	if !strings.HasPrefix(devs[0], "/dev/") {
		t.Errorf("device %q, want its /dev name", devs[0])
	}
}

// TestIntegrationManyInterfaces: net/dev of a namespace with 80
// interfaces (40 veth pairs) is several pages long, and a seq_file read returns at most a
// page: every interface must be there all the same.
func TestIntegrationManyInterfaces(t *testing.T) {
	ns := testenv.NewNetns(t)
	var batch strings.Builder
	for i := range 40 {
		fmt.Fprintf(&batch, "link add va%d type veth peer name vb%d\n", i, i)
	}
	cmd := exec.Command("ip", "-n", ns.Name, "-batch", "-")
	cmd.Stdin = strings.NewReader(batch.String())
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("ip -batch: %v\n%s", err, out)
	}
	cg := testenv.NewCgroup(t)
	cg.Start(t, "ip", "netns", "exec", ns.Name, "sleep", "1000")
	c := newCollector(t, metrics.Config{})
	add(t, c, "many", cg)
	// Until ip netns exec has entered the namespace, the host's are read.
	sampleUntil(t, c, "many", 10*time.Second, "lo and 80 veths", func(s metrics.ContainerSample) bool {
		return len(s.Net) == 81 && iface(s, "vb39") != nil && iface(s, "lo") != nil
	})
}
