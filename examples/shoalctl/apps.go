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

func (g *globals) apps(ctx context.Context, _ []string, stdout, stderr io.Writer) error {
	var apps []controller.AppView
	if err := g.call(ctx, stderr, http.MethodGet, "/v1/apps", nil, &apps); err != nil {
		return err
	}
	return g.show(stdout, apps, "NAME\tTEAM\tIMAGE\tREADY\tGEN\tROLLOUT", func(tw io.Writer) {
		for _, a := range apps {
			fmt.Fprintf(tw, "%s\t%s\t%s\t%d/%d\t%d\t%s\n", a.Spec.Name, a.Spec.Team, a.Spec.Image, a.Ready, a.Spec.Replicas, a.Generation, a.Rollout.Phase)
		}
	})
}

func (g *globals) deployCmd(name, summary, method string) daemon.Command {
	return daemon.Command{Name: name, Args: "-f app.json [-wait 60s]", Summary: summary, Flags: func(fs *flag.FlagSet) daemon.Action {
		file := fs.String("f", "", "the app's spec (JSON); - reads stdin")
		wait := fs.Duration("wait", 0, "wait until the new instances run")
		return func(ctx context.Context, _ []string, stdout, stderr io.Writer) error {
			if *file == "" {
				return daemon.UsageError(stderr, "shoalctl %s: -f is required", name)
			}
			var raw []byte
			var err error
			if *file == "-" {
				raw, err = io.ReadAll(io.LimitReader(os.Stdin, controller.MaxBodyBytes+1))
			} else {
				raw, err = os.ReadFile(*file)
			}
			if err != nil {
				return err
			}
			var spec state.AppSpec
			if err := json.Unmarshal(raw, &spec); err != nil {
				return fmt.Errorf("shoalctl: %s: %w", *file, err)
			}
			path := "/v1/apps"
			if method == http.MethodPut {
				path += "/" + url.PathEscape(spec.Name)
			}
			if *wait > 0 {
				path += "?wait=" + wait.String()
			}
			var out controller.Deployed
			if err := g.call(ctx, stderr, method, path, json.RawMessage(raw), &out); err != nil {
				return err
			}
			return g.showDeployed(stdout, &out, *wait > 0)
		}
	}}
}

func (g *globals) showDeployed(w io.Writer, d *controller.Deployed, waited bool) error {
	return g.show(w, d, "INSTANCE\tNODE\tADDRESS", func(tw io.Writer) {
		for _, in := range d.Created {
			addr := "host"
			if in.Network != nil {
				addr = in.Network.IP.String()
			}
			fmt.Fprintf(tw, "%s\t%s\t%s\n", in.ID, in.Node, addr)
		}
		for _, id := range d.Removed {
			fmt.Fprintf(tw, "%s\t(removed)\t\n", id)
		}
		switch {
		case waited && d.Running:
			fmt.Fprintf(tw, "all running after %v\n", time.Duration(d.TimeToRunning).Round(time.Millisecond))
		case waited && len(d.Created) > 0:
			fmt.Fprintln(tw, "not all running within the wait (see shoalctl instances)")
		}
	})
}

func (g *globals) scale(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	if len(args) != 2 {
		return daemon.UsageError(stderr, "shoalctl scale APP REPLICAS")
	}
	n, err := strconv.Atoi(args[1])
	if err != nil {
		return daemon.UsageError(stderr, "shoalctl scale: %q is not a number", args[1])
	}
	var out controller.Deployed
	if err := g.call(ctx, stderr, http.MethodPost, "/v1/apps/"+url.PathEscape(args[0])+"/scale?wait=60s", map[string]int{"replicas": n}, &out); err != nil {
		return err
	}
	return g.showDeployed(stdout, &out, true)
}

func (g *globals) deleteApp(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	if len(args) != 1 {
		return daemon.UsageError(stderr, "shoalctl delete APP")
	}
	var out controller.Change
	if err := g.call(ctx, stderr, http.MethodDelete, "/v1/apps/"+url.PathEscape(args[0]), nil, &out); err != nil {
		return err
	}
	return g.show(stdout, out, "REMOVED", func(tw io.Writer) {
		for _, id := range out.Removed {
			fmt.Fprintln(tw, id)
		}
	})
}

func (g *globals) instancesCmd() daemon.Command {
	return daemon.Command{Name: "instances", Args: "[-app APP] [-node NODE]", Summary: "list instances", Flags: func(fs *flag.FlagSet) daemon.Action {
		app := fs.String("app", "", "only this app's")
		node := fs.String("node", "", "only this node's")
		return func(ctx context.Context, _ []string, stdout, stderr io.Writer) error {
			q := url.Values{}
			if *app != "" {
				q.Set("app", *app)
			}
			if *node != "" {
				q.Set("node", *node)
			}
			var ins []controller.InstanceView
			if err := g.call(ctx, stderr, http.MethodGet, "/v1/instances?"+q.Encode(), nil, &ins); err != nil {
				return err
			}
			return g.show(stdout, ins, "ID\tAPP\tNODE\tADDRESS\tPHASE\tRESTARTS\tGEN\tREASON", func(tw io.Writer) {
				for _, v := range ins {
					printInstance(tw, &v)
				}
			})
		}
	}}
}

func printInstance(tw io.Writer, v *controller.InstanceView) {
	addr := "host"
	if v.Desired.Network != nil {
		addr = v.Desired.Network.IP.Addr().String()
	}
	phase, restarts, reason := "Pending", 0, ""
	if st := v.Status; st != nil {
		phase, restarts, reason = string(st.Phase), st.Restarts, st.Reason
		if st.Generation != v.Desired.Generation {
			phase += " (gen " + strconv.FormatInt(st.Generation, 10) + ")"
		}
	}
	fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%d\t%d\t%s\n", v.Desired.ID, v.Desired.App, v.Desired.Node, addr, phase, restarts, v.Desired.Generation, reason)
}

func (g *globals) instance(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	if len(args) != 1 {
		return daemon.UsageError(stderr, "shoalctl instance ID")
	}
	var v controller.InstanceView
	if err := g.call(ctx, stderr, http.MethodGet, "/v1/instances/"+url.PathEscape(args[0]), nil, &v); err != nil {
		return err
	}
	return g.show(stdout, v, "ID\tAPP\tNODE\tADDRESS\tPHASE\tRESTARTS\tGEN\tREASON", func(tw io.Writer) { printInstance(tw, &v) })
}

func (g *globals) resizeCmd() daemon.Command {
	return daemon.Command{Name: "resize", Args: "ID [-cpus N] [-memory BYTES] [-pids N]", Summary: "change an instance's limits in place", Flags: func(fs *flag.FlagSet) daemon.Action {
		cpus := fs.Float64("cpus", 0, "CPU quota in cores")
		mem := fs.Int64("memory", 0, "memory limit in bytes")
		pids := fs.Int64("pids", 0, "process and thread limit")
		return func(ctx context.Context, args []string, stdout, stderr io.Writer) error {
			if len(args) != 1 {
				return daemon.UsageError(stderr, "shoalctl resize ID [flags]")
			}
			var in state.Instance
			body := state.Resources{CPUs: *cpus, MemoryBytes: *mem, PIDs: *pids}
			if err := g.call(ctx, stderr, http.MethodPost, "/v1/instances/"+url.PathEscape(args[0])+"/resize", body, &in); err != nil {
				return err
			}
			return g.show(stdout, in, "ID\tNODE\tGEN\tCPUS\tMEMORY\tPIDS", func(tw io.Writer) {
				fmt.Fprintf(tw, "%s\t%s\t%d\t%v\t%d\t%d\n", in.ID, in.Node, in.Generation, in.Resources.CPUs, in.Resources.MemoryBytes, in.Resources.PIDs)
			})
		}
	}}
}

func (g *globals) proposal(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	if len(args) != 1 {
		return daemon.UsageError(stderr, "shoalctl proposal APP")
	}
	var p controller.Proposal
	if err := g.call(ctx, stderr, http.MethodGet, "/v1/apps/"+url.PathEscape(args[0])+"/proposal", nil, &p); err != nil {
		return err
	}
	return g.show(stdout, p, "APP\tCURRENT\tDESIRED\tPROPOSED\tREASON", func(tw io.Writer) {
		fmt.Fprintf(tw, "%s\t%d\t%d\t%s\t%s\n", p.App, p.Current, p.Desired, p.Proposed.Format(time.RFC3339), p.Reason)
	})
}

func (g *globals) approve(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	if len(args) != 1 {
		return daemon.UsageError(stderr, "shoalctl approve APP")
	}
	var ch controller.Deployed
	if err := g.call(ctx, stderr, http.MethodPost, "/v1/apps/"+url.PathEscape(args[0])+"/proposal/approve", nil, &ch); err != nil {
		return err
	}
	return g.showDeployed(stdout, &ch, false)
}

func (g *globals) migrateCmd() daemon.Command {
	return daemon.Command{Name: "migrate", Args: "ID [-node NODE] [-keep-volume]", Summary: "move an instance to another node (commit, push, recreate)", Flags: func(fs *flag.FlagSet) daemon.Action {
		node := fs.String("node", "", "target node (default: the scheduler chooses)")
		keep := fs.Bool("keep-volume", false, "leave the data volume on the old node")
		return func(ctx context.Context, args []string, stdout, stderr io.Writer) error {
			if len(args) != 1 {
				return daemon.UsageError(stderr, "shoalctl migrate ID [-node NODE]")
			}
			var in state.Instance
			body := controller.MigrateRequest{Node: *node, KeepVolume: *keep}
			if err := g.call(ctx, stderr, http.MethodPost, "/v1/instances/"+url.PathEscape(args[0])+"/migrate", body, &in); err != nil {
				return err
			}
			return g.show(stdout, in, "ID\tNODE\tIMAGE\tGEN", func(tw io.Writer) {
				fmt.Fprintf(tw, "%s\t%s\t%s\t%d\n", in.ID, in.Node, in.Image, in.Generation)
			})
		}
	}}
}
