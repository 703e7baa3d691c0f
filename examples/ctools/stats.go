package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"os"
	"path"
	"sort"
	"time"

	"github.com/shoalkit/shoal/cgroupx"
	"github.com/shoalkit/shoal/examples/internal/daemon"
	"github.com/shoalkit/shoal/metrics"
)

// stats is `docker stats` for cgroups: CPU, memory, network, block I/O and
// pids of one container (--cgroup/--pid) or of every child of -all PARENT,
// every interval until interrupted, or once with -no-stream.
func (g *globals) stats(fs *flag.FlagSet) daemon.Action {
	all := fs.String("all", "", "every child cgroup of this parent, e.g. /shoal")
	interval := fs.Duration("i", time.Second, "interval between samples")
	noStream := fs.Bool("no-stream", false, "print one sample and exit")
	return func(ctx context.Context, args []string, stdout, stderr io.Writer) error {
		if len(args) > 0 {
			return daemon.UsageError(stderr, "ctools stats: unexpected arguments %q", args)
		}
		if *interval <= 0 {
			return daemon.UsageError(stderr, "ctools stats: -i %v must be positive", *interval)
		}
		if *all != "" && (g.cgroup != "" || g.pid != 0) {
			return daemon.UsageError(stderr, "ctools stats: -all and --cgroup/--pid name different containers; give one")
		}
		root := g.root
		if root == "" {
			root = "/"
		}
		col, err := metrics.New(ctx, metrics.Config{Root: root, DiskInterval: -1})
		if err != nil {
			return err
		}
		defer col.Close()
		targets, err := g.statsTargets(ctx, *all)
		if err != nil {
			return err
		}
		for _, t := range targets {
			if err := col.Add(t); err != nil {
				return err
			}
		}
		// Rates need two samples: the first is taken one interval early.
		if _, err := col.Sample(ctx); err != nil {
			return err
		}
		tick := time.NewTicker(*interval)
		defer tick.Stop()
		for {
			select {
			case <-ctx.Done():
				return nil
			case <-tick.C:
			}
			snap, err := col.Sample(ctx)
			if err != nil {
				return err
			}
			if g.json {
				err = printJSON(stdout, snap.Containers)
			} else {
				err = writeStats(stdout, snap)
			}
			if err != nil || *noStream {
				return err
			}
		}
	}
}

// statsTargets are the containers stats shows: the one the global flags
// name (this process's own by default), or every child cgroup of parent.
func (g *globals) statsTargets(ctx context.Context, parent string) ([]metrics.Target, error) {
	var opts []cgroupx.Option
	if g.root != "" {
		opts = append(opts, cgroupx.WithRoot(g.root))
	}
	host, err := cgroupx.NewHost(ctx, opts...)
	if err != nil {
		return nil, err
	}
	if parent == "" {
		var cg *cgroupx.Cgroup
		pid := g.pid
		switch {
		case g.cgroup != "":
			cg, err = host.Open(ctx, g.cgroup)
		case pid == 0:
			pid = os.Getpid()
			fallthrough
		default:
			cg, err = host.OpenPID(ctx, pid)
		}
		if err != nil {
			return nil, err
		}
		return []metrics.Target{{ID: path.Base(cg.Path()), Cgroup: cg.Path(), PID: pid}}, nil
	}
	cg, err := host.Open(ctx, parent)
	if err != nil {
		return nil, err
	}
	var targets []metrics.Target
	seen := map[string]bool{}
	for _, dir := range cg.Dirs() {
		entries, err := os.ReadDir(dir)
		if err != nil {
			return nil, err
		}
		for _, e := range entries {
			if e.IsDir() && !seen[e.Name()] {
				seen[e.Name()] = true
				targets = append(targets, metrics.Target{ID: e.Name(), Cgroup: path.Join(parent, e.Name())})
			}
		}
	}
	sort.Slice(targets, func(i, j int) bool { return targets[i].ID < targets[j].ID })
	return targets, nil
}

// writeStats prints a snapshot the way docker stats does.
func writeStats(w io.Writer, snap *metrics.Snapshot) error {
	fmt.Fprintf(w, "%-20s %7s %21s %7s %19s %19s %6s\n", "CONTAINER", "CPU %", "MEM USAGE / LIMIT", "MEM %", "NET I/O", "BLOCK I/O", "PIDS")
	for _, c := range snap.Containers {
		var rx, tx, rd, wr uint64
		for _, n := range c.Net {
			if n.Name != "lo" {
				rx, tx = rx+n.RxBytes, tx+n.TxBytes
			}
		}
		for _, d := range c.IO {
			rd, wr = rd+d.ReadBytes, wr+d.WriteBytes
		}
		limit, memPct := "-", "-"
		if c.Memory.Limit != metrics.Unlimited && c.Memory.Limit > 0 {
			limit = humanSize(c.Memory.Limit)
			memPct = fmt.Sprintf("%.2f%%", 100*float64(c.Memory.WorkingSet)/float64(c.Memory.Limit))
		}
		_, err := fmt.Fprintf(w, "%-20s %6.2f%% %21s %7s %19s %19s %6d\n", c.Target.ID, c.Rates.CPUPercent,
			humanSize(c.Memory.WorkingSet)+" / "+limit, memPct,
			humanSize(rx)+" / "+humanSize(tx), humanSize(rd)+" / "+humanSize(wr), c.Processes.Threads)
		if err != nil {
			return err
		}
	}
	for _, e := range snap.Errors {
		fmt.Fprintf(w, "%-20s left out: %s\n", e.ID, e.Reason)
	}
	return nil
}
