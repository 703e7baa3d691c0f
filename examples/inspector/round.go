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

	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/shoalkit/shoal/examples/internal/daemon"
	"github.com/shoalkit/shoal/examples/internal/fleetinspect"
	"github.com/shoalkit/shoal/inspect"
)

// errNotPassed is round -once's error when a member neither passed nor
// left (exit 1).
var errNotPassed = errors.New("not every member passed")

// roundOptions are round's own flags.
type roundOptions struct {
	interval, queryTimeout time.Duration
	once, json, details    bool
	fix                    inspect.RemediateOptions
	doFix                  bool
	fixKeyFile, checks     string
}

func roundCommand(fs *flag.FlagSet) daemon.Action {
	var nf nodeFlags
	nf.register(fs, "inspector-"+hostname(), "127.0.0.1:0", " (port 0: any free port)")
	var o roundOptions
	fs.DurationVar(&o.interval, "interval", time.Minute, "time between rounds")
	fs.DurationVar(&o.queryTimeout, "query-timeout", 2*time.Second, "bound on each query attempt")
	fs.BoolVar(&o.once, "once", false, "run one round and exit (1 when a member neither passed nor left)")
	fs.BoolVar(&o.json, "json", false, "print each round as one JSON line")
	fs.BoolVar(&o.details, "details", false, "fetch the full results of failed checks (stage two)")
	fs.BoolVar(&o.doFix, "fix", false, "run the spec's fixes of failed checks (needs -fix-key-file)")
	fs.BoolVar(&o.fix.DryRun, "dry-run", false, "with -fix: ask what the fixes would do, do nothing")
	fs.StringVar(&o.fixKeyFile, "fix-key-file", "", "file holding the secret fix requests are signed with")
	fs.StringVar(&o.checks, "checks", "", "with -fix: only these check ids, comma separated")
	fs.IntVar(&o.fix.MaxNodes, "max-nodes", 10, "with -fix: most nodes fixed per round")
	return func(ctx context.Context, args []string, stdout, stderr io.Writer) error {
		if len(args) > 0 {
			return daemon.UsageError(stderr, "inspector round: unexpected arguments %q", args)
		}
		m, err := nf.load(stderr)
		if err != nil {
			return err
		}
		if len(nf.joinAddrs()) == 0 && nf.etcd == "" {
			return daemon.UsageError(stderr, "inspector round: -join is required (or -etcd-endpoints)")
		}
		cli, err := nf.etcdClient()
		if err != nil {
			return daemon.UsageError(stderr, "inspector round: -etcd-endpoints: %v", err)
		}
		if cli != nil {
			defer cli.Close()
		}
		if o.doFix {
			if o.fixKeyFile == "" {
				return daemon.UsageError(stderr, "inspector round: -fix needs -fix-key-file")
			}
			if o.fix.Key, err = readSecret(stderr, o.fixKeyFile); err != nil {
				return err
			}
		}
		if o.checks != "" {
			o.fix.Checks = strings.Split(o.checks, ",")
		}
		log := daemon.Logger(stderr, nf.verbose)
		m.cfg.Logger = log
		// The round's own member holds no spec: the inspector leaves it out
		// of the report, and other inspectors prune it once it has left.
		agent, err := inspect.NewAgent(inspect.AgentConfig{Name: nf.name, Logger: log})
		if err != nil {
			return err
		}
		node, err := inspect.NewNode(m.cfg, agent)
		if err != nil {
			return err
		}
		defer node.Close()
		nodeCtx, stop := context.WithCancel(ctx)
		done := make(chan struct{})
		go func() { _ = node.Run(nodeCtx); close(done) }()
		defer func() { stop(); <-done }()
		in, err := inspect.NewInspector(node, inspect.InspectorConfig{QueryTimeout: o.queryTimeout, Logger: log})
		if err != nil {
			return err
		}
		join := nf.joinAddrs()
		if len(join) == 0 {
			if join, err = fleetinspect.GossipAddrs(ctx, cli); err == nil && len(join) == 0 {
				err = fmt.Errorf("no gossip address registered under %s", fleetinspect.GossipPrefix)
			}
			if err != nil {
				return err
			}
		}
		if _, err := node.Join(ctx, join...); err != nil {
			return err
		}
		spec := m.spec
		for {
			if s, err := nf.loadSpec(ctx, cli); err != nil {
				log.Error("spec refused; keeping the last one", "spec", spec, "err", err)
			} else {
				spec = s
			}
			var err error
			if spec == nil {
				err = errors.New("no spec yet")
			} else {
				err = round(ctx, in, cli, spec, o, stdout)
			}
			if o.once {
				return err
			}
			if err != nil && !errors.Is(err, errNotPassed) {
				log.Error("round", "err", err)
			}
			if !waitOrDone(ctx, o.interval) {
				return nil
			}
		}
	}
}

// loadSpec reads the spec from etcd when cli is set, else from -spec.
func (f *nodeFlags) loadSpec(ctx context.Context, cli *clientv3.Client) (*inspect.Spec, error) {
	if cli != nil {
		s, _, err := fleetinspect.GetSpec(ctx, cli)
		return s, err
	}
	b, err := os.ReadFile(f.spec)
	if err != nil {
		return nil, err
	}
	return inspect.ParseSpec(b)
}

// roundOutput is what -json prints for a round: the report, with the
// fixes asked for.
type roundOutput struct {
	*inspect.Report
	Remediations []inspect.Remediation `json:"remediations,omitempty"`
}

// round runs one round, its details and fixes as asked, and prints it.
// With cli set, the report (details included) is stored in etcd.
func round(ctx context.Context, in *inspect.Inspector, cli *clientv3.Client, spec *inspect.Spec, o roundOptions, w io.Writer) error {
	rep, err := in.Round(ctx, spec)
	if err != nil {
		return err
	}
	out := roundOutput{Report: rep}
	if o.details {
		if err := in.Details(ctx, out.Report); err != nil {
			return err
		}
	}
	if cli != nil {
		if err := fleetinspect.StoreReport(ctx, cli, rep); err != nil {
			return err
		}
	}
	if o.doFix {
		if out.Remediations, err = in.Remediate(ctx, out.Report, spec, o.fix); err != nil {
			return err
		}
	}
	if err := printRound(w, out, o.json); err != nil {
		return err
	}
	// A member that left the cluster was taken out, not lost.
	if n := out.Counts[inspect.StatusPassed] + out.Counts[inspect.StatusLeft]; n != len(out.Members) {
		return fmt.Errorf("%w: %d of %d", errNotPassed, len(out.Members)-n, len(out.Members))
	}
	return nil
}

func printRound(w io.Writer, out roundOutput, asJSON bool) error {
	if asJSON {
		return json.NewEncoder(w).Encode(out)
	}
	if err := out.WriteText(w); err != nil {
		return err
	}
	for _, r := range out.Remediations {
		if r.Deferred || r.Error != "" {
			fmt.Fprintf(w, "fix %s: deferred=%v %s\n", r.Node, r.Deferred, r.Error)
		}
		for _, o := range r.Outcomes {
			after := "not run"
			if o.After != nil {
				after = string(o.After.Outcome)
			}
			fmt.Fprintf(w, "fix %s %s: %s (dry run %v): %s -> %s %s\n", r.Node, o.ID, o.Action, o.DryRun, o.Before.Outcome, after, o.Error)
		}
	}
	return nil
}
