package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
	"golang.org/x/sync/errgroup"

	"github.com/shoalkit/shoal/examples/internal/state"
	"github.com/shoalkit/shoal/internal/testenv"
)

// The benchmarks below run the agent binary and, beside it in the same
// run, containerd 1.6 driven by ctr on the same busybox image (pulled into
// containerd before timing, as the agent's store holds it before timing):
//
//	fifty   50 instances written at once → all running
//	adopt   daemon SIGKILLed with 50 containers → restarted and holding all 50
//	idle    CPU and RSS of the daemon(s) over 30 s with 50 containers
const fleet = 50

// ctrParallel is how many ctr run -d go at once: the agent's default
// Config.Parallel, so both sides get the same concurrency.
const ctrParallel = 8

func fleetIDs() []string {
	ids := make([]string, fleet)
	for i := range ids {
		ids[i] = fmt.Sprintf("f-%d", i)
	}
	return ids
}

// putFleet writes the fleet's desired instances in one transaction, as a
// controller placing 50 replicas would.
func (w *world) putFleet(requestID string) {
	w.tb.Helper()
	ops := make([]clientv3.Op, 0, fleet)
	for _, id := range fleetIDs() {
		val, _ := json.Marshal(w.sleeper(id, requestID))
		ops = append(ops, clientv3.OpPut(state.DesiredKey("n1", id), string(val)))
	}
	if _, err := w.cli.Txn(w.tb.Context()).Then(ops...).Commit(); err != nil {
		w.tb.Fatal(err)
	}
}

// runningPIDs polls until n instances report Running and returns their pids.
func (w *world) runningPIDs(n int, agent *testenv.Process) map[string]int {
	w.tb.Helper()
	deadline := time.Now().Add(120 * time.Second)
	for {
		resp, err := w.cli.Get(w.tb.Context(), state.StatusPrefix("n1"), clientv3.WithPrefix())
		pids := map[string]int{}
		if err == nil {
			for _, kv := range resp.Kvs {
				var st state.Status
				if json.Unmarshal(kv.Value, &st) == nil && st.Phase == state.Running && st.PID > 0 {
					pids[st.ID] = st.PID
				}
			}
		}
		if len(pids) == n {
			return pids
		}
		select {
		case <-agent.Done():
			w.tb.Fatalf("the agent exited: %v\n%s", agent.Err(), agent.Output())
		default:
		}
		if time.Now().After(deadline) {
			w.tb.Fatalf("%d of %d running", len(pids), n)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// ctrFleet starts the fleet under containerd, ctrParallel at a time.
func (c *containerd) ctrFleet(ref string) {
	c.tb.Helper()
	var g errgroup.Group
	g.SetLimit(ctrParallel)
	for _, id := range fleetIDs() {
		g.Go(func() error {
			out, err := c.ctr("run", "-d", "--runc-root", c.runcRoot(), "--memory-limit", strconv.Itoa(32<<20), ref, id, "/bin/sleep", "100000").CombinedOutput()
			if err != nil {
				return fmt.Errorf("ctr run %s: %w\n%s", id, err, out)
			}
			return nil
		})
	}
	if err := g.Wait(); err != nil {
		c.tb.Fatal(err)
	}
}

func newPeer(b *testing.B, w *world) *containerd {
	c := startContainerd(b)
	c.run("images", "pull", "--plain-http", w.ref)
	return c
}

// BenchmarkFifty: 50 desired instances written in one transaction → all 50
// report Running with a pid, against 50 ctr run -d (8 at a time) returning;
// agent-serial is the agent creating one instance at a time (-parallel 1).
func BenchmarkFifty(b *testing.B) {
	w := newWorld(b)
	b.Run("agent", func(b *testing.B) {
		w.tb = b
		agent := w.start("-resync", "10s")
		var cpu time.Duration
		for b.Loop() {
			c0 := cpuTime(b, []int{agent.Pid})
			w.putFleet("req-fifty")
			w.runningPIDs(fleet, agent)
			cpu += cpuTime(b, []int{agent.Pid}) - c0
			b.StopTimer()
			w.deleteAll(agent)
			b.StartTimer()
		}
		reportCPU(b, cpu)
		agent.Stop(b)
	})
	b.Run("agent-serial", func(b *testing.B) {
		w.tb = b
		agent := w.start("-resync", "10s", "-parallel", "1")
		var cpu time.Duration
		for b.Loop() {
			c0 := cpuTime(b, []int{agent.Pid})
			w.putFleet("req-fifty")
			w.runningPIDs(fleet, agent)
			cpu += cpuTime(b, []int{agent.Pid}) - c0
			b.StopTimer()
			w.deleteAll(agent)
			b.StartTimer()
		}
		reportCPU(b, cpu)
		agent.Stop(b)
	})
	b.Run("ctr", func(b *testing.B) {
		c := newPeer(b, w)
		var cpu time.Duration
		for b.Loop() {
			c0 := cpuTime(b, []int{c.proc.Pid})
			c.ctrFleet(w.ref)
			cpu += cpuTime(b, []int{c.proc.Pid}) - c0
			b.StopTimer()
			c.remove(fleetIDs())
			b.StartTimer()
		}
		reportCPU(b, cpu)
	})
}

// BenchmarkAdopt: the daemon is SIGKILLed with 50 containers running and
// started again; timed from the new process's start until it holds them
// all — for the agent, until it has registered the node (which it does
// after adopting every container), for containerd until ctr tasks ls lists
// 50 RUNNING (a ctr call costs ~30 ms, the resolution of that side).
// No container may be restarted by either.
func BenchmarkAdopt(b *testing.B) {
	w := newWorld(b)
	b.Run("agent", func(b *testing.B) {
		w.tb = b
		agent := w.start("-resync", "10s")
		w.putFleet("req-adopt")
		before := w.runningPIDs(fleet, agent)
		for b.Loop() {
			b.StopTimer()
			if err := syscall.Kill(agent.Pid, syscall.SIGKILL); err != nil {
				b.Fatal(err)
			}
			<-agent.Done()
			b.StartTimer()
			t0 := time.Now()
			agent = w.start("-resync", "10s")
			w.waitRegistered(t0, agent)
		}
		after := w.runningPIDs(fleet, agent)
		for id, pid := range before {
			if after[id] != pid {
				b.Errorf("%s: pid %d after the restarts, was %d", id, after[id], pid)
			}
		}
		w.deleteAll(agent)
		agent.Stop(b)
	})
	b.Run("containerd", func(b *testing.B) {
		c := newPeer(b, w)
		c.ctrFleet(w.ref)
		for b.Loop() {
			b.StopTimer()
			if err := syscall.Kill(c.proc.Pid, syscall.SIGKILL); err != nil {
				b.Fatal(err)
			}
			<-c.proc.Done()
			b.StartTimer()
			c.start()
			deadline := time.Now().Add(time.Minute)
			for n := c.running(); n != fleet; n = c.running() {
				if time.Now().After(deadline) {
					b.Fatalf("containerd holds %d of %d tasks a minute after its restart\n%s", n, fleet, c.proc.Output())
				}
				time.Sleep(time.Millisecond)
			}
		}
	})
}

// waitRegistered waits until the node's registration was written after t0.
func (w *world) waitRegistered(t0 time.Time, agent *testenv.Process) {
	w.tb.Helper()
	deadline := time.Now().Add(60 * time.Second)
	for {
		resp, err := w.cli.Get(w.tb.Context(), state.NodeKey("n1"))
		if err == nil && len(resp.Kvs) == 1 {
			var n state.Node
			if json.Unmarshal(resp.Kvs[0].Value, &n) == nil && n.StartedAt.After(t0) {
				return
			}
		}
		select {
		case <-agent.Done():
			w.tb.Fatalf("the agent exited: %v\n%s", agent.Err(), agent.Output())
		default:
		}
		if time.Now().After(deadline) {
			w.tb.Fatal("the agent never registered")
		}
		time.Sleep(2 * time.Millisecond)
	}
}

// idleWindow is how long one idle sample lasts: three of the agent's
// 10 s resync and metrics periods.
const idleWindow = 30 * time.Second

// BenchmarkIdle: with 50 containers running and nothing changing, the CPU
// share of one core and the resident memory of the agent (resync and
// metrics every 10 s, its defaults) against containerd plus its 50 shims.
func BenchmarkIdle(b *testing.B) {
	w := newWorld(b)
	b.Run("agent", func(b *testing.B) {
		w.tb = b
		agent := w.start("-resync", "10s")
		w.putFleet("req-idle")
		w.runningPIDs(fleet, agent)
		time.Sleep(idleWindow / 2) // past the first resync and metrics passes
		measureIdle(b, []int{agent.Pid})
		w.deleteAll(agent)
		agent.Stop(b)
	})
	b.Run("containerd", func(b *testing.B) {
		c := newPeer(b, w)
		c.ctrFleet(w.ref)
		time.Sleep(idleWindow / 2)
		pids := append([]int{c.proc.Pid}, c.shimPIDs()...)
		if len(pids) != fleet+1 {
			b.Fatalf("%d shims, want %d", len(pids)-1, fleet)
		}
		measureIdle(b, pids)
	})
}

// measureIdle samples the pids' CPU time over idleWindow per iteration and
// reports the share of one core and their summed RSS at the end.
func measureIdle(b *testing.B, pids []int) {
	var cpu time.Duration
	var windows time.Duration
	var rss int64
	for b.Loop() {
		c0 := cpuTime(b, pids)
		time.Sleep(idleWindow)
		cpu += cpuTime(b, pids) - c0
		windows += idleWindow
		rss = rssBytes(b, pids)
	}
	b.ReportMetric(100*cpu.Seconds()/windows.Seconds(), "cpu-%")
	b.ReportMetric(float64(rss)/(1<<20), "rss-MiB")
}

// cpuTime is the user and system time the pids have used (all threads),
// from /proc/PID/stat in ticks of 1/100 s.
func cpuTime(b *testing.B, pids []int) time.Duration {
	var sum int64
	for _, pid := range pids {
		raw, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
		if err != nil {
			b.Fatal(err)
		}
		i := bytes.LastIndexByte(raw, ')')
		f := strings.Fields(string(raw[i+1:]))
		ut, _ := strconv.ParseInt(f[11], 10, 64)
		st, _ := strconv.ParseInt(f[12], 10, 64)
		sum += ut + st
	}
	return time.Duration(sum) * 10 * time.Millisecond
}

// rssBytes is the pids' summed VmRSS.
func rssBytes(b *testing.B, pids []int) int64 {
	var sum int64
	for _, pid := range pids {
		raw, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
		if err != nil {
			b.Fatal(err)
		}
		for _, l := range strings.Split(string(raw), "\n") {
			if v, ok := strings.CutPrefix(l, "VmRSS:"); ok {
				kb, _ := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 10, 64)
				sum += kb << 10
			}
		}
	}
	return sum
}

// BenchmarkOne: one desired instance written → its Running status seen
// through a watch (the agent daemon, image in its store, -resync 10s),
// against one ctr run -d of the same image returning; p50 and p99 beside
// the mean. Removal is not timed.
func BenchmarkOne(b *testing.B) {
	w := newWorld(b)
	b.Run("agent", func(b *testing.B) {
		w.tb = b
		agent := w.start("-resync", "10s")
		w.put(w.sleeper("warm", "req-warm")) // the first instance pulls the image
		w.runningPIDs(1, agent)
		var lat []time.Duration
		var cpu time.Duration
		i := 0
		for b.Loop() {
			id := fmt.Sprintf("one-%d", i)
			i++
			wch := w.cli.Watch(b.Context(), state.StatusKey("n1", id))
			c0 := cpuTime(b, []int{agent.Pid})
			start := time.Now()
			w.put(w.sleeper(id, id))
		wait:
			for wr := range wch {
				for _, ev := range wr.Events {
					var st state.Status
					if json.Unmarshal(ev.Kv.Value, &st) == nil && st.Phase == state.Running && st.PID > 0 {
						break wait
					}
				}
			}
			lat = append(lat, time.Since(start))
			cpu += cpuTime(b, []int{agent.Pid}) - c0
			b.StopTimer()
			if _, err := w.cli.Delete(b.Context(), state.DesiredKey("n1", id)); err != nil {
				b.Fatal(err)
			}
			w.runningPIDs(1, agent) // only warm is left
			b.StartTimer()
		}
		reportPercentiles(b, lat)
		reportCPU(b, cpu)
		w.deleteAll(agent)
		agent.Stop(b)
	})
	b.Run("ctr", func(b *testing.B) {
		c := newPeer(b, w)
		var lat []time.Duration
		var cpu time.Duration
		i := 0
		for b.Loop() {
			id := fmt.Sprintf("one-%d", i)
			i++
			c0 := cpuTime(b, []int{c.proc.Pid})
			start := time.Now()
			c.run("run", "-d", "--runc-root", c.runcRoot(), "--memory-limit", strconv.Itoa(32<<20), w.ref, id, "/bin/sleep", "100000")
			lat = append(lat, time.Since(start))
			cpu += cpuTime(b, []int{c.proc.Pid}) - c0
			b.StopTimer()
			c.remove([]string{id})
			b.StartTimer()
		}
		reportPercentiles(b, lat)
		reportCPU(b, cpu)
	})
}

// reportCPU reports the daemon's CPU time per operation: the agent's
// process, or containerd's (not its shims, runc or ctr, as the agent's
// figure leaves out the containers' inits).
func reportCPU(b *testing.B, cpu time.Duration) {
	b.ReportMetric(float64(cpu.Microseconds())/1000/float64(b.N), "daemon-cpu-ms/op")
}

func reportPercentiles(b *testing.B, lat []time.Duration) {
	slices.Sort(lat)
	b.ReportMetric(float64(lat[len(lat)/2].Microseconds())/1000, "p50-ms")
	b.ReportMetric(float64(lat[len(lat)*99/100].Microseconds())/1000, "p99-ms")
}
