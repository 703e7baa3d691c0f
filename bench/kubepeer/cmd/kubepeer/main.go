// Command kubepeer runs sched beside kube-scheduler in this process on the
// same fleet and the same requests and prints the comparison as Markdown
// (make bench-kubepeer). GOMAXPROCS is set to -procs (2) for both.
package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"runtime"

	"github.com/shoalkit/shoal/bench/kubepeer"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	err := run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
}

func run(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	d := kubepeer.DefaultConfig()
	fs := flag.NewFlagSet("kubepeer", flag.ContinueOnError)
	fs.SetOutput(stderr)
	procs := fs.Int("procs", 2, "GOMAXPROCS for both schedulers")
	nodes := fs.Int("nodes", d.Nodes, "nodes in the fleet")
	racks := fs.Int("racks", d.Racks, "racks")
	switches := fs.Int("switches", d.Switches, "switches")
	seed := fs.Uint64("seed", d.Seed, "seed of the background occupancy")
	replicas := fs.Int("replicas", d.Replicas, "replicas per app")
	exactApps := fs.Int("exact-apps", d.ExactApps, "apps per scenario in exact mode")
	sampledApps := fs.Int("sampled-apps", d.SampledApps, "apps per scenario in sampled mode")
	runs := fs.Int("runs", d.Runs, "runs of each segment on each side")
	repeats := fs.Int("sched-repeats", d.SchedRepeats, "timed sched runs per run (median kept)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *procs < 1 {
		return fmt.Errorf("kubepeer: -procs %d: must be at least 1", *procs)
	}
	runtime.GOMAXPROCS(*procs)
	cfg := kubepeer.Config{
		Nodes: *nodes, Racks: *racks, Switches: *switches, Seed: *seed, Replicas: *replicas,
		ExactApps: *exactApps, SampledApps: *sampledApps, Runs: *runs, SchedRepeats: *repeats,
		Progress: stderr,
	}
	rep, err := kubepeer.Run(ctx, cfg)
	if rep != nil {
		if werr := rep.Write(stdout); werr != nil && err == nil {
			err = werr
		}
	}
	return err
}
