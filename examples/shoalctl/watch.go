package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"

	"github.com/shoalkit/shoal/examples/internal/controller"
	"github.com/shoalkit/shoal/examples/internal/daemon"
	"github.com/shoalkit/shoal/examples/internal/state"
)

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
