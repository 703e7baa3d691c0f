package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"strconv"
	"time"

	"github.com/shoalkit/shoal/examples/internal/controller"
	"github.com/shoalkit/shoal/examples/internal/daemon"
	"github.com/shoalkit/shoal/examples/internal/state"
)

func (g *globals) nodes(ctx context.Context, _ []string, stdout, stderr io.Writer) error {
	var nodes []controller.NodeView
	if err := g.call(ctx, stderr, http.MethodGet, "/v1/nodes", nil, &nodes); err != nil {
		return err
	}
	return g.show(stdout, nodes, "NAME\tSTATE\tRACK\tSWITCH\tINSTANCES\tCPUS\tMEMORY\tVERSION", func(tw io.Writer) {
		for _, n := range nodes {
			st, rack, sw, cpus, mem, ver := "Ready", "", "", 0.0, int64(0), ""
			if !n.Live {
				st = "Lost"
			}
			if n.Cordon != "" {
				st += "," + n.Cordon
			}
			if n.Node != nil {
				rack, sw, cpus, mem, ver = n.Node.Rack, n.Node.Switch, n.Node.Capacity.CPUs, n.Node.Capacity.MemoryBytes, n.Node.Version
			}
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%d\t%.1f/%.0f\t%d/%d MiB\t%s\n", n.Name, st, rack, sw, n.Instances, n.CPUs, cpus, n.MemoryBytes>>20, mem>>20, ver)
		}
	})
}

func (g *globals) cordon(verb string) daemon.Action {
	return func(ctx context.Context, args []string, stdout, stderr io.Writer) error {
		if len(args) != 1 {
			return daemon.UsageError(stderr, "shoalctl %s NODE", verb)
		}
		if err := g.call(ctx, stderr, http.MethodPost, "/v1/nodes/"+url.PathEscape(args[0])+"/"+verb, nil, nil); err != nil {
			return err
		}
		fmt.Fprintf(stdout, "%s: %s\n", args[0], verb)
		return nil
	}
}

func (g *globals) networks(ctx context.Context, _ []string, stdout, stderr io.Writer) error {
	var nets []controller.NetworkView
	if err := g.call(ctx, stderr, http.MethodGet, "/v1/networks", nil, &nets); err != nil {
		return err
	}
	return g.show(stdout, nets, "VLAN\tSUBNET\tGATEWAY\tUSED", func(tw io.Writer) {
		for _, n := range nets {
			fmt.Fprintf(tw, "%d\t%v\t%v\t%d/%d\n", n.VLAN, n.Subnet, n.Gateway, n.Used, n.Size)
		}
	})
}

func (g *globals) network(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	if len(args) < 2 || len(args) > 3 {
		return daemon.UsageError(stderr, "shoalctl network VLAN SUBNET [GATEWAY]")
	}
	body := map[string]any{"subnet": args[1]}
	vlan, err := strconv.Atoi(args[0])
	if err != nil {
		return daemon.UsageError(stderr, "shoalctl network: VLAN %q is not a number", args[0])
	}
	body["vlan"] = vlan
	if len(args) == 3 {
		body["gateway"] = args[2]
	}
	if err := g.call(ctx, stderr, http.MethodPut, "/v1/networks/"+args[0], body, nil); err != nil {
		return err
	}
	fmt.Fprintf(stdout, "vlan %d: %s\n", vlan, args[1])
	return nil
}

func (g *globals) quotaCmd() daemon.Command {
	return daemon.Command{Name: "quota", Args: "[TEAM -cpus N -memory BYTES -instances N]", Summary: "show teams' quotas and use, or set one", Flags: func(fs *flag.FlagSet) daemon.Action {
		cpus := fs.Float64("cpus", 0, "cores")
		mem := fs.Int64("memory", 0, "memory bytes")
		n := fs.Int("instances", 0, "instances")
		return func(ctx context.Context, args []string, stdout, stderr io.Writer) error {
			if len(args) == 1 {
				q := state.Quota{CPUs: *cpus, MemoryBytes: *mem, Instances: *n}
				return g.call(ctx, stderr, http.MethodPut, "/v1/quotas/"+url.PathEscape(args[0]), q, nil)
			}
			var use []controller.TeamUsage
			if err := g.call(ctx, stderr, http.MethodGet, "/v1/quotas", nil, &use); err != nil {
				return err
			}
			return g.show(stdout, use, "TEAM\tINSTANCES\tCPUS\tMEMORY", func(tw io.Writer) {
				for _, u := range use {
					q := state.Quota{}
					if u.Quota != nil {
						q = *u.Quota
					}
					fmt.Fprintf(tw, "%s\t%d/%s\t%.1f/%s\t%d/%s MiB\n", u.Team, u.Used.Instances, limit(float64(q.Instances)),
						u.Used.CPUs, limit(q.CPUs), u.Used.MemoryBytes>>20, limit(float64(q.MemoryBytes>>20)))
				}
			})
		}
	}}
}

func limit(v float64) string {
	if v == 0 {
		return "-"
	}
	return strconv.FormatFloat(v, 'f', -1, 64)
}

func (g *globals) leader(ctx context.Context, _ []string, stdout, stderr io.Writer) error {
	var out map[string]any
	if err := g.call(ctx, stderr, http.MethodGet, "/v1/leader", nil, &out); err != nil {
		return err
	}
	return g.show(stdout, out, "LEADER", func(tw io.Writer) { fmt.Fprintln(tw, out["leader"]) })
}

func (g *globals) usage(ctx context.Context, _ []string, stdout, stderr io.Writer) error {
	var sb []controller.TeamShowback
	if err := g.call(ctx, stderr, http.MethodGet, "/v1/usage", nil, &sb); err != nil {
		return err
	}
	return g.show(stdout, sb, "TEAM\tAPP\tCORE-H ALLOC\tCORE-H USED\tGIB-H ALLOC\tGIB-H USED\tSINCE", func(tw io.Writer) {
		for _, t := range sb {
			for _, u := range append(t.Apps, t.Total) {
				app := u.App
				if app == "" {
					app = "(total)"
				}
				fmt.Fprintf(tw, "%s\t%s\t%.3f\t%.3f\t%.3f\t%.3f\t%s\n", t.Team, app, u.AllocCoreHours, u.UsedCoreHours, u.AllocGiBHours, u.UsedGiBHours, u.Since.Format(time.RFC3339))
			}
		}
	})
}

func (g *globals) inspection(ctx context.Context, _ []string, stdout, stderr io.Writer) error {
	var in controller.Inspection
	if err := g.call(ctx, stderr, http.MethodGet, "/v1/inspection", nil, &in); err != nil {
		return err
	}
	if g.output == "json" || in.Report == nil || in.Report.Report == nil {
		return g.show(stdout, in, "INSPECTION", func(tw io.Writer) { fmt.Fprintln(tw, "no round yet") })
	}
	if err := in.Report.WriteText(stdout); err != nil {
		return err
	}
	if f := in.Fix; f != nil {
		fmt.Fprintf(stdout, "last fix order %s: %+v\n", f.ID, f)
	}
	return nil
}

func (g *globals) inspectSpecCmd() daemon.Command {
	return daemon.Command{Name: "inspect-spec", Args: "-f spec.json", Summary: "set the fleet's desired state for inspection", Flags: func(fs *flag.FlagSet) daemon.Action {
		file := fs.String("f", "", "the spec (inspect.Spec JSON; its version must grow)")
		return func(ctx context.Context, _ []string, stdout, stderr io.Writer) error {
			raw, err := os.ReadFile(*file)
			if err != nil {
				return err
			}
			if err := g.call(ctx, stderr, http.MethodPut, "/v1/inspection/spec", json.RawMessage(raw), nil); err != nil {
				return err
			}
			fmt.Fprintln(stdout, "spec stored; the inspector starts a round")
			return nil
		}
	}}
}

func (g *globals) fixCmd() daemon.Command {
	return daemon.Command{Name: "fix", Args: "-spec N [-node NODE] [-check ID] [-dry-run]", Summary: "run the spec's fixes on failed members", Flags: func(fs *flag.FlagSet) daemon.Action {
		spec := fs.Uint64("spec", 0, "the spec version the last report is on (required)")
		node := fs.String("node", "", "only this node")
		check := fs.String("check", "", "only this check")
		dry := fs.Bool("dry-run", false, "say what would be done, do nothing")
		return func(ctx context.Context, _ []string, stdout, stderr io.Writer) error {
			o := map[string]any{"spec": *spec, "dry_run": *dry}
			if *node != "" {
				o["nodes"] = []string{*node}
			}
			if *check != "" {
				o["checks"] = []string{*check}
			}
			if err := g.call(ctx, stderr, http.MethodPost, "/v1/inspection/fix", o, nil); err != nil {
				return err
			}
			fmt.Fprintln(stdout, "fix ordered; see shoalctl inspection")
			return nil
		}
	}}
}
