// Command ctools prints what a container really has, the way procps and
// coreutils print it, computed from the container's cgroup by cgroupx: no
// lxcfs needed.
//
//	ctools [--cgroup PATH | --pid PID] [--json] [--root DIR] COMMAND [ARGS]
//
// Commands:
//
//	free [-b|-k|-m|-g]      memory, as free(1): used = total - available
//	uptime                  the uptime(1) line, with the container's uptime and load
//	nproc                   the container's CPU count, as nproc(1)
//	df [-h]                 the container's file systems, as df(1)
//	top [-d SEC] [-n N]     the busiest processes over an interval
//	loadavg [-w]            a /proc/loadavg line; -w keeps the kernel's averages every 5 s
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
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/shoalkit/shoal/cgroupx"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := run(ctx, os.Args[1:], os.Stdout, os.Stderr, time.Now)
	stop()
	os.Exit(code)
}

// env is what every command gets.
type env struct {
	cg     *cgroupx.Cgroup
	json   bool
	out    io.Writer
	now    func() time.Time
	target int // --pid, 0 when not given
}

func run(ctx context.Context, args []string, stdout, stderr io.Writer, now func() time.Time) int {
	fs := flag.NewFlagSet("ctools", flag.ContinueOnError)
	fs.SetOutput(stderr)
	cgPath := fs.String("cgroup", "", "cgroup path relative to the hierarchy root, e.g. /kubepods/pod1/ctr")
	pid := fs.Int("pid", 0, "read the cgroup of this process")
	asJSON := fs.Bool("json", false, "print JSON")
	root := fs.String("root", "", "read /proc and /sys under this directory (a fixture tree)")
	fs.Usage = func() {
		fmt.Fprintln(stderr, "usage: ctools [--cgroup PATH | --pid PID] [--json] [--root DIR] free|uptime|nproc|df|top|loadavg [ARGS]")
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		return 2
	}
	if fs.NArg() == 0 || (*cgPath != "" && *pid != 0) {
		fs.Usage()
		return 2
	}
	var opts []cgroupx.Option
	if *root != "" {
		opts = append(opts, cgroupx.WithRoot(*root))
	}
	host, err := cgroupx.NewHost(ctx, opts...)
	if err != nil {
		fmt.Fprintln(stderr, "ctools:", err)
		return 1
	}
	var cg *cgroupx.Cgroup
	switch {
	case *cgPath != "":
		cg, err = host.Open(ctx, *cgPath)
	case *pid != 0:
		cg, err = host.OpenPID(ctx, *pid)
	default:
		cg, err = host.OpenPID(ctx, os.Getpid())
	}
	if err != nil {
		fmt.Fprintln(stderr, "ctools:", err)
		return 1
	}
	e := env{cg: cg, json: *asJSON, out: stdout, now: now, target: *pid}
	cmds := map[string]func(context.Context, env, []string) error{
		"free": free, "uptime": uptime, "nproc": nproc, "df": df, "top": top, "loadavg": loadavg,
	}
	cmd, ok := cmds[fs.Arg(0)]
	if !ok {
		fmt.Fprintf(stderr, "ctools: unknown command %q\n", fs.Arg(0))
		fs.Usage()
		return 2
	}
	if err := cmd(ctx, e, fs.Args()[1:]); err != nil {
		var ue usageError
		if errors.Is(err, flag.ErrHelp) || errors.As(err, &ue) {
			return 2
		}
		if errors.Is(err, context.Canceled) {
			return 0
		}
		fmt.Fprintln(stderr, "ctools:", err)
		return 1
	}
	return 0
}

// usageError is a bad command line for a command; its flag set has
// already printed the usage.
type usageError struct{ error }

func parse(fs *flag.FlagSet, args []string) error {
	if err := fs.Parse(args); err != nil {
		return usageError{err}
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(fs.Output(), "%s: unexpected arguments %q\n", fs.Name(), fs.Args())
		return usageError{errors.New("unexpected arguments")}
	}
	return nil
}

func printJSON(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}

func free(ctx context.Context, e env, args []string) error {
	fs := flag.NewFlagSet("free", flag.ContinueOnError)
	b := fs.Bool("b", false, "bytes")
	k := fs.Bool("k", false, "KiB (default)")
	m := fs.Bool("m", false, "MiB")
	g := fs.Bool("g", false, "GiB")
	if err := parse(fs, args); err != nil {
		return err
	}
	_ = k
	mi, err := e.cg.Meminfo(ctx)
	if err != nil {
		return err
	}
	if e.json {
		return printJSON(e.out, mi)
	}
	unit := uint64(1024)
	switch {
	case *b:
		unit = 1
	case *m:
		unit = 1 << 20
	case *g:
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

func uptime(ctx context.Context, e env, _ []string) error {
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

func nproc(ctx context.Context, e env, _ []string) error {
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

func df(ctx context.Context, e env, args []string) error {
	fs := flag.NewFlagSet("df", flag.ContinueOnError)
	human := fs.Bool("h", false, "sizes in powers of 1024 (K, M, G)")
	if err := parse(fs, args); err != nil {
		return err
	}
	du, err := e.cg.DiskUsage(ctx, e.target)
	if err != nil {
		return err
	}
	if e.json {
		return printJSON(e.out, du)
	}
	size := func(n uint64) string {
		if !*human {
			return fmt.Sprint(n / 1024)
		}
		return humanSize(n)
	}
	head := "1K-blocks"
	if *human {
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

func top(ctx context.Context, e env, args []string) error {
	fs := flag.NewFlagSet("top", flag.ContinueOnError)
	delay := fs.Float64("d", 1, "interval in seconds")
	n := fs.Int("n", 20, "processes to show")
	if err := parse(fs, args); err != nil {
		return err
	}
	if *delay <= 0 {
		return fmt.Errorf("top: interval %v must be positive", *delay)
	}
	entries, err := e.cg.Top(ctx, time.Duration(*delay*float64(time.Second)))
	if err != nil {
		return err
	}
	if len(entries) > *n {
		entries = entries[:*n]
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

func loadavg(ctx context.Context, e env, args []string) error {
	fs := flag.NewFlagSet("loadavg", flag.ContinueOnError)
	watch := fs.Bool("w", false, "keep the kernel's 1/5/15-minute averages, printing every 5 s until interrupted")
	if err := parse(fs, args); err != nil {
		return err
	}
	emit := func(l cgroupx.LoadAvg) error {
		if e.json {
			return printJSON(e.out, l)
		}
		return cgroupx.WriteLoadavg(e.out, l)
	}
	if !*watch {
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
