// Command ctools prints what a container really has, the way procps and
// coreutils print it, computed from the container's cgroup by cgroupx: no
// lxcfs needed.
//
//	ctools [--cgroup PATH | --pid PID] [--json] [--root DIR] COMMAND [ARGS]
//
// The global flags may also follow the command: ctools free -m --pid 4242.
//
// Commands:
//
//	free [-b|-k|-m|-g]      memory, as free(1): used = total - available
//	uptime                  the uptime(1) line, with the container's uptime and load
//	nproc                   the container's CPU count, as nproc(1)
//	df [-h]                 the container's file systems, as df(1)
//	top [-d SEC] [-n N]     the busiest processes over an interval
//	loadavg [-w]            a /proc/loadavg line; -w keeps the kernel's averages every 5 s
//	stats [-all PARENT] [-i 1s] [-no-stream]
//	                        live CPU, memory, net, block I/O and pids, as docker stats
//
// Without --cgroup or --pid, ctools reads its own cgroup, as a tool inside a
// container would. A one-shot load average is the instantaneous count of
// runnable and uninterruptible threads (the averages need history: use
// loadavg -w, or a long-running cgroupx.LoadTracker).
package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"github.com/shoalkit/shoal/cgroupx"
	"github.com/shoalkit/shoal/examples/internal/daemon"
)

func main() {
	daemon.Main("ctools", func(ctx context.Context, args []string, stdout, stderr io.Writer) error {
		return newCLI(time.Now).Run(ctx, args, stdout, stderr)
	})
}

// globals are the flags every command takes, before or after its name.
type globals struct {
	cgroup string
	pid    int
	json   bool
	root   string
	now    func() time.Time
}

func (g *globals) register(fs *flag.FlagSet) {
	fs.StringVar(&g.cgroup, "cgroup", "", "cgroup path relative to the hierarchy root, e.g. /kubepods/pod1/ctr")
	fs.IntVar(&g.pid, "pid", 0, "read the cgroup of this process")
	fs.BoolVar(&g.json, "json", false, "print JSON")
	fs.StringVar(&g.root, "root", "", "read /proc and /sys under this directory (a fixture tree)")
}

// newCLI is ctools with its commands; now is the clock uptime prints.
func newCLI(now func() time.Time) *daemon.CLI {
	g := &globals{now: now}
	return &daemon.CLI{
		Name:    "ctools",
		Summary: "ctools prints what a container really has, from its cgroup: without --cgroup or --pid, its own.",
		Globals: g.register,
		Commands: []daemon.Command{
			{Name: "free", Args: "[-b|-k|-m|-g]", Summary: "memory, as free(1): used = total - available", Flags: g.free},
			{Name: "uptime", Summary: "the uptime(1) line, with the container's uptime and load", Flags: g.noFlags(uptime)},
			{Name: "nproc", Summary: "the container's CPU count, as nproc(1)", Flags: g.noFlags(nproc)},
			{Name: "df", Args: "[-h]", Summary: "the container's file systems, as df(1)", Flags: g.df},
			{Name: "top", Args: "[-d SEC] [-n N]", Summary: "the busiest processes over an interval", Flags: g.top},
			{Name: "loadavg", Args: "[-w]", Summary: "a /proc/loadavg line; -w keeps the kernel's averages every 5 s", Flags: g.loadavg},
			{Name: "stats", Args: "[-all PARENT] [-i 1s] [-no-stream]", Summary: "live CPU, memory, net, block I/O and pids, as docker stats", Flags: g.stats},
		},
	}
}

// env is what every command gets.
type env struct {
	cg     *cgroupx.Cgroup
	json   bool
	out    io.Writer
	now    func() time.Time
	target int // --pid, 0 when not given
}

// action opens the cgroup the global flags name and runs f on it; commands
// take no arguments besides their flags.
func (g *globals) action(f func(context.Context, env) error) daemon.Action {
	return func(ctx context.Context, args []string, stdout, stderr io.Writer) error {
		if len(args) > 0 {
			return daemon.UsageError(stderr, "ctools: unexpected arguments %q", args)
		}
		if g.cgroup != "" && g.pid != 0 {
			return daemon.UsageError(stderr, "ctools: --cgroup and --pid name two cgroups; give one")
		}
		var opts []cgroupx.Option
		if g.root != "" {
			opts = append(opts, cgroupx.WithRoot(g.root))
		}
		host, err := cgroupx.NewHost(ctx, opts...)
		if err != nil {
			return err
		}
		var cg *cgroupx.Cgroup
		switch {
		case g.cgroup != "":
			cg, err = host.Open(ctx, g.cgroup)
		case g.pid != 0:
			cg, err = host.OpenPID(ctx, g.pid)
		default:
			cg, err = host.OpenPID(ctx, os.Getpid())
		}
		if err != nil {
			return err
		}
		err = f(ctx, env{cg: cg, json: g.json, out: stdout, now: g.now, target: g.pid})
		if errors.Is(err, context.Canceled) {
			return nil
		}
		return err
	}
}

// noFlags is a command without flags of its own.
func (g *globals) noFlags(f func(context.Context, env) error) func(*flag.FlagSet) daemon.Action {
	return func(*flag.FlagSet) daemon.Action { return g.action(f) }
}

func printJSON(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}

func (g *globals) free(fs *flag.FlagSet) daemon.Action {
	b := fs.Bool("b", false, "bytes")
	fs.Bool("k", false, "KiB (default)")
	m := fs.Bool("m", false, "MiB")
	gib := fs.Bool("g", false, "GiB")
	return g.action(func(ctx context.Context, e env) error { return free(ctx, e, *b, *m, *gib) })
}

func free(ctx context.Context, e env, b, m, g bool) error {
	mi, err := e.cg.Meminfo(ctx)
	if err != nil {
		return err
	}
	if e.json {
		return printJSON(e.out, mi)
	}
	unit := uint64(1024)
	switch {
	case b:
		unit = 1
	case m:
		unit = 1 << 20
	case g:
		unit = 1 << 30
	}
	cache := mi.Buffers + mi.Cached + mi.SReclaimable
	used := mi.MemTotal - min(mi.MemAvailable, mi.MemTotal)
	fmt.Fprintf(e.out, "%-8s%12s%12s%12s%12s%12s%12s\n", "", "total", "used", "free", "shared", "buff/cache", "available")
	fmt.Fprintf(e.out, "%-8s%12d%12d%12d%12d%12d%12d\n", "Mem:", mi.MemTotal/unit, used/unit, mi.MemFree/unit, mi.Shmem/unit, cache/unit, mi.MemAvailable/unit)
	fmt.Fprintf(e.out, "%-8s%12d%12d%12d\n", "Swap:", mi.SwapTotal/unit, (mi.SwapTotal-mi.SwapFree)/unit, mi.SwapFree/unit)
	return nil
}

// instantLoad is the one-shot load: the runnable and uninterruptible
// threads now, for all three averages.
func instantLoad(ctx context.Context, cg *cgroupx.Cgroup) (cgroupx.LoadAvg, error) {
	tc, err := cg.CountTasks(ctx)
	if err != nil {
		return cgroupx.LoadAvg{}, err
	}
	a := uint64(tc.Running+tc.Uninterruptible) * cgroupx.Fixed1 //nolint:gosec // counts are non-negative
	f := float64(tc.Running + tc.Uninterruptible)
	return cgroupx.LoadAvg{
		Avenrun: [3]uint64{a, a, a}, Load1: f, Load5: f, Load15: f,
		Running: tc.Running, Total: tc.Total, LastPID: tc.LastPID, Samples: 1,
	}, nil
}

func uptime(ctx context.Context, e env) error {
	u, err := e.cg.Uptime(ctx)
	if err != nil {
		return err
	}
	l, err := instantLoad(ctx, e.cg)
	if err != nil {
		return err
	}
	if e.json {
		return printJSON(e.out, struct {
			Uptime, Idle float64 // seconds
			InitPID      int
			Load         [3]float64
		}{u.Uptime.Seconds(), u.Idle.Seconds(), u.InitPID, [3]float64{l.Load1, l.Load5, l.Load15}})
	}
	_, err = io.WriteString(e.out, uptimeLine(e.now(), u.Uptime, l))
	return err
}

// uptimeLine formats the line procps uptime prints:
// " 02:11:32 up  1:19,  0 user,  load average: 3.85, 5.19, 3.98".
func uptimeLine(now time.Time, up time.Duration, l cgroupx.LoadAvg) string {
	var b strings.Builder
	fmt.Fprintf(&b, " %02d:%02d:%02d up ", now.Hour(), now.Minute(), now.Second())
	mins := int(up / time.Minute)
	if days := mins / 1440; days > 0 {
		s := "s"
		if days == 1 {
			s = ""
		}
		fmt.Fprintf(&b, "%d day%s, ", days, s)
	}
	if h, m := mins/60%24, mins%60; h > 0 {
		fmt.Fprintf(&b, "%2d:%02d, ", h, m)
	} else {
		fmt.Fprintf(&b, "%d min, ", m)
	}
	// Users come from the container's utmp, which a cgroup does not know.
	fmt.Fprintf(&b, " 0 user,  load average: %.2f, %.2f, %.2f\n", l.Load1, l.Load5, l.Load15)
	return b.String()
}

func nproc(ctx context.Context, e env) error {
	c, err := e.cg.CPUs(ctx)
	if err != nil {
		return err
	}
	if e.json {
		return printJSON(e.out, c)
	}
	_, err = fmt.Fprintln(e.out, c.Effective)
	return err
}

func (g *globals) df(fs *flag.FlagSet) daemon.Action {
	human := fs.Bool("h", false, "sizes in powers of 1024 (K, M, G)")
	return g.action(func(ctx context.Context, e env) error { return df(ctx, e, *human) })
}

func df(ctx context.Context, e env, human bool) error {
	du, err := e.cg.DiskUsage(ctx, e.target)
	if err != nil {
		return err
	}
	if e.json {
		return printJSON(e.out, du)
	}
	size := func(n uint64) string {
		if !human {
			return fmt.Sprint(n / 1024)
		}
		return humanSize(n)
	}
	head := "1K-blocks"
	if human {
		head = "Size"
	}
	fmt.Fprintf(e.out, "%-14s %9s %8s %9s %4s %s\n", "Filesystem", head, "Used", "Available", "Use%", "Mounted on")
	for _, d := range du {
		pct := "-"
		if d.Used+d.Avail > 0 {
			pct = fmt.Sprintf("%d%%", (d.Used*100+d.Used+d.Avail-1)/(d.Used+d.Avail))
		}
		fmt.Fprintf(e.out, "%-14s %9s %8s %9s %4s %s\n", d.Source, size(d.Total), size(d.Used), size(d.Avail), pct, d.MountPoint)
	}
	return nil
}

// humanSize formats like df -h: one decimal below 10, rounded up.
func humanSize(n uint64) string {
	const units = "KMGTPE"
	f := float64(n)
	u := -1
	for f >= 1024 && u < len(units)-1 {
		f /= 1024
		u++
	}
	if u < 0 {
		return fmt.Sprint(n)
	}
	if f < 10 {
		return fmt.Sprintf("%.1f%c", float64(int(f*10+0.999))/10, units[u])
	}
	return fmt.Sprintf("%d%c", int(f+0.999), units[u])
}

func (g *globals) top(fs *flag.FlagSet) daemon.Action {
	delay := fs.Float64("d", 1, "interval in seconds")
	n := fs.Int("n", 20, "processes to show")
	return g.action(func(ctx context.Context, e env) error { return top(ctx, e, *delay, *n) })
}

func top(ctx context.Context, e env, delay float64, n int) error {
	if delay <= 0 {
		return fmt.Errorf("top: interval %v must be positive", delay)
	}
	entries, err := e.cg.Top(ctx, time.Duration(delay*float64(time.Second)))
	if err != nil {
		return err
	}
	if len(entries) > n {
		entries = entries[:max(n, 0)]
	}
	if e.json {
		return printJSON(e.out, entries)
	}
	fmt.Fprintf(e.out, "%7s %-16s %1s %6s %10s %7s\n", "PID", "COMMAND", "S", "%CPU", "RES", "THREADS")
	for _, t := range entries {
		fmt.Fprintf(e.out, "%7d %-16s %c %6.1f %10d %7d\n", t.PID, t.Comm, t.State, t.CPUPercent, t.RSS/1024, t.Threads)
	}
	return nil
}

func (g *globals) loadavg(fs *flag.FlagSet) daemon.Action {
	watch := fs.Bool("w", false, "keep the kernel's 1/5/15-minute averages, printing every 5 s until interrupted")
	return g.action(func(ctx context.Context, e env) error { return loadavg(ctx, e, *watch) })
}

func loadavg(ctx context.Context, e env, watch bool) error {
	emit := func(l cgroupx.LoadAvg) error {
		if e.json {
			return printJSON(e.out, l)
		}
		return cgroupx.WriteLoadavg(e.out, l)
	}
	if !watch {
		l, err := instantLoad(ctx, e.cg)
		if err != nil {
			return err
		}
		return emit(l)
	}
	lt := cgroupx.NewLoadTracker(e.cg, cgroupx.LoadConfig{})
	if err := lt.Sample(ctx); err != nil {
		return err
	}
	if err := emit(lt.Load()); err != nil {
		return err
	}
	tk := time.NewTicker(cgroupx.LoadFreq)
	defer tk.Stop()
	for {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-tk.C:
			if err := lt.Sample(ctx); err != nil {
				return err
			}
			if err := emit(lt.Load()); err != nil {
				return err
			}
		}
	}
}
