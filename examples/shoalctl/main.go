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
	"os"
	"strings"
	"text/tabwriter"

	"github.com/shoalkit/shoal/examples/internal/controller"
	"github.com/shoalkit/shoal/examples/internal/daemon"
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
