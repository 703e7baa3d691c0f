// Command shoalctl drives a Shoal controller: apps, instances, nodes, events
// and logs, as tables for people or JSON for scripts.
//
//	shoalctl deploy -f app.json -wait 60s
//	shoalctl scale web 9
//	shoalctl events -request-id req-1a2b
//	shoalctl logs -f web-x7k2p
//
// It reads the server from -server or $SHOAL_SERVER and the token from
// -token-file or $SHOAL_TOKEN_FILE (the file the controller writes at its
// first start).
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
	"strings"
	"text/tabwriter"
	"time"

	"github.com/shoalkit/shoal/examples/internal/controller"
	"github.com/shoalkit/shoal/examples/internal/daemon"
	"github.com/shoalkit/shoal/examples/internal/state"
)

func main() {
	daemon.Main("shoalctl", func(ctx context.Context, args []string, stdout, stderr io.Writer) error {
		return newCLI(os.Getenv).Run(ctx, args, stdout, stderr)
	})
}

type globals struct {
	server, tokenFile, output, requestID string
}

func (g *globals) client() (*controller.Client, error) {
	b, err := os.ReadFile(g.tokenFile)
	if err != nil {
		return nil, fmt.Errorf("shoalctl: token: %w (give -token-file or $SHOAL_TOKEN_FILE)", err)
	}
	return &controller.Client{URL: g.server, Token: strings.TrimSpace(string(b))}, nil
}

// call runs one API call and prints the request id of changes to stderr.
func (g *globals) call(ctx context.Context, stderr io.Writer, method, path string, body, out any) error {
	cl, err := g.client()
	if err != nil {
		return err
	}
	id, err := cl.Do(ctx, method, path, g.requestID, body, out)
	if method != http.MethodGet && id != "" {
		fmt.Fprintf(stderr, "request id: %s\n", id)
	}
	return err
}

// show prints v as JSON with -o json, else as the table rows gives.
func (g *globals) show(w io.Writer, v any, header string, rows func(tw io.Writer)) error {
	if g.output == "json" {
		enc := json.NewEncoder(w)
		enc.SetIndent("", "  ")
		return enc.Encode(v)
	}
	tw := tabwriter.NewWriter(w, 2, 8, 2, ' ', 0)
	fmt.Fprintln(tw, header)
	rows(tw)
	return tw.Flush()
}

func newCLI(getenv func(string) string) *daemon.CLI {
	g := &globals{}
	server := getenv("SHOAL_SERVER")
	if server == "" {
		server = "http://127.0.0.1:7000"
	}
	tokenFile := getenv("SHOAL_TOKEN_FILE")
	if tokenFile == "" {
		tokenFile = "/var/lib/shoal/controller/token"
	}
	simple := func(name, args, summary string, action func(ctx context.Context, args []string, stdout, stderr io.Writer) error) daemon.Command {
		return daemon.Command{Name: name, Args: args, Summary: summary, Flags: func(*flag.FlagSet) daemon.Action { return action }}
	}
	return &daemon.CLI{
		Name:    "shoalctl",
		Summary: "shoalctl drives a Shoal controller.",
		Globals: func(fs *flag.FlagSet) {
			fs.StringVar(&g.server, "server", server, "controller URL ($SHOAL_SERVER)")
			fs.StringVar(&g.tokenFile, "token-file", tokenFile, "bearer token file ($SHOAL_TOKEN_FILE)")
			fs.StringVar(&g.output, "o", "table", "output: table or json")
			fs.StringVar(&g.requestID, "request-id", "", "request id to send (default: the controller makes one)")
		},
		Commands: []daemon.Command{
			simple("apps", "", "list the apps", g.apps),
			g.deployCmd("deploy", "create an app from its spec", http.MethodPost),
			g.deployCmd("update", "change an app (a rolling update when its instances change)", http.MethodPut),
			simple("scale", "APP REPLICAS", "set an app's replica count", g.scale),
			simple("delete", "APP", "delete an app and its instances", g.deleteApp),
			g.instancesCmd(),
			simple("instance", "ID", "show one instance", g.instance),
			g.resizeCmd(),
			g.migrateCmd(),
			simple("nodes", "", "list the nodes", g.nodes),
			simple("cordon", "NODE", "place nothing new on a node", g.cordon("cordon")),
			simple("drain", "NODE", "move a node's instances away", g.cordon("drain")),
			simple("uncordon", "NODE", "let a node take placements again", g.cordon("uncordon")),
			g.eventsCmd(),
			g.endpointsCmd(),
			g.logsCmd(),
			simple("networks", "", "list the VLAN address pools", g.networks),
			simple("network", "VLAN SUBNET [GATEWAY]", "define a VLAN's address pool", g.network),
			g.quotaCmd(),
			simple("usage", "", "allocated and used core- and GiB-hours by team and app (showback)", g.usage),
			simple("proposal", "APP", "show an app's scaling proposal awaiting approval", g.proposal),
			simple("approve", "APP", "apply an app's scaling proposal", g.approve),
			simple("inspection", "", "the last fleet inspection round", g.inspection),
			g.inspectSpecCmd(),
			g.fixCmd(),
			simple("leader", "", "show which controller leads", g.leader),
		},
	}
}

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

func (g *globals) eventsCmd() daemon.Command {
	return daemon.Command{Name: "events", Args: "[-request-id ID] [-instance ID] [-app APP] [-node NODE] [-since 1h] [-f]", Summary: "the message-tracking list", Flags: func(fs *flag.FlagSet) daemon.Action {
		req := fs.String("request-id", "", "only this request's")
		inst := fs.String("instance", "", "only this instance's")
		app := fs.String("app", "", "only this app's")
		node := fs.String("node", "", "only this node's")
		since := fs.String("since", "", "only since (RFC 3339 or a duration ago)")
		follow := fs.Bool("f", false, "keep following")
		return func(ctx context.Context, _ []string, stdout, stderr io.Writer) error {
			q := url.Values{}
			for k, v := range map[string]string{"request_id": *req, "instance": *inst, "app": *app, "node": *node, "since": *since} {
				if v != "" {
					q.Set(k, v)
				}
			}
			if *follow {
				cl, err := g.client()
				if err != nil {
					return err
				}
				return cl.Stream(ctx, "/v1/events/stream?"+q.Encode(), func(_ string, data []byte) bool {
					var ev state.Event
					if json.Unmarshal(data, &ev) == nil {
						if g.output == "json" {
							fmt.Fprintf(stdout, "%s\n", data)
						} else {
							printEvent(stdout, &ev)
						}
					}
					return true
				})
			}
			var evs []state.Event
			if err := g.call(ctx, stderr, http.MethodGet, "/v1/events?"+q.Encode(), nil, &evs); err != nil {
				return err
			}
			return g.show(stdout, evs, "TIME\tREQUEST\tPUBLISHER\tEVENT\tPRIORITY\tINSTANCE\tREASON\tMESSAGE", func(tw io.Writer) {
				for i := range evs {
					printEvent(tw, &evs[i])
				}
			})
		}
	}}
}

func printEvent(w io.Writer, ev *state.Event) {
	inst := ev.Instance
	if inst == "" {
		inst = ev.App
	}
	fmt.Fprintf(w, "%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n", ev.Time.Format("15:04:05.000"), ev.RequestID, ev.Publisher, ev.Kind, ev.Priority, inst, ev.Reason, ev.Message)
}

func (g *globals) endpointsCmd() daemon.Command {
	return daemon.Command{Name: "endpoints", Args: "APP [-w]", Summary: "an app's ready instances (for a load balancer)", Flags: func(fs *flag.FlagSet) daemon.Action {
		watch := fs.Bool("w", false, "print the set again whenever it changes")
		return func(ctx context.Context, args []string, stdout, stderr io.Writer) error {
			if len(args) != 1 {
				return daemon.UsageError(stderr, "shoalctl endpoints APP [-w]")
			}
			path := "/v1/apps/" + url.PathEscape(args[0]) + "/endpoints"
			print := func(eps []controller.Endpoint) error {
				return g.show(stdout, eps, "INSTANCE\tNODE\tADDRESS", func(tw io.Writer) {
					for _, e := range eps {
						fmt.Fprintf(tw, "%s\t%s\t%s:%d\n", e.Instance, e.Node, e.IP, e.Port)
					}
				})
			}
			if !*watch {
				var eps []controller.Endpoint
				if err := g.call(ctx, stderr, http.MethodGet, path, nil, &eps); err != nil {
					return err
				}
				return print(eps)
			}
			cl, err := g.client()
			if err != nil {
				return err
			}
			return cl.Stream(ctx, path+"?watch=1", func(event string, data []byte) bool {
				var eps []controller.Endpoint
				if event != "endpoints" || json.Unmarshal(data, &eps) != nil {
					return false
				}
				return print(eps) == nil
			})
		}
	}}
}

// logsCmd reads an instance's log from its node's agent, which serves it
// behind the same cluster token.
func (g *globals) logsCmd() daemon.Command {
	return daemon.Command{Name: "logs", Args: "ID [-f] [-tail N]", Summary: "an instance's output, from its node's agent", Flags: func(fs *flag.FlagSet) daemon.Action {
		follow := fs.Bool("f", false, "keep following")
		tail := fs.Int("tail", 100, "lines from the end")
		return func(ctx context.Context, args []string, stdout, stderr io.Writer) error {
			if len(args) != 1 {
				return daemon.UsageError(stderr, "shoalctl logs ID [-f]")
			}
			var v controller.InstanceView
			if err := g.call(ctx, stderr, http.MethodGet, "/v1/instances/"+url.PathEscape(args[0]), nil, &v); err != nil {
				return err
			}
			var nodes []controller.NodeView
			if err := g.call(ctx, stderr, http.MethodGet, "/v1/nodes", nil, &nodes); err != nil {
				return err
			}
			addr := ""
			for _, n := range nodes {
				if n.Name == v.Desired.Node && n.Node != nil {
					addr = n.Node.Addr
				}
			}
			if addr == "" {
				return fmt.Errorf("shoalctl: node %s of %s does not report", v.Desired.Node, args[0])
			}
			cl, err := g.client()
			if err != nil {
				return err
			}
			u := fmt.Sprintf("http://%s/v1/logs/%s?tail=%d", addr, url.PathEscape(args[0]), *tail)
			if *follow {
				u += "&follow=1"
			}
			req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
			if err != nil {
				return err
			}
			req.Header.Set("Authorization", "Bearer "+cl.Token)
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				return err
			}
			defer resp.Body.Close()
			if resp.StatusCode != http.StatusOK {
				b, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
				return fmt.Errorf("shoalctl: logs: %s: %s", resp.Status, strings.TrimSpace(string(b)))
			}
			_, err = io.Copy(stdout, resp.Body)
			if ctx.Err() != nil {
				return nil
			}
			return err
		}
	}}
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
