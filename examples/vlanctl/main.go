// Command vlanctl wires containers to VLANs on Open vSwitch with netvlan,
// for pilots and for operators who want to look at or repair a node by
// hand.
//
//	vlanctl [global flags] attach -id ID -netns PATH -vlan N [-ip CIDR] [-gw IP] [-trunks 10,20] [-ifname eth0]
//	vlanctl [global flags] detach -id ID [-ifname eth0]
//	vlanctl [global flags] list [-json]
//	vlanctl [global flags] reconcile -f desired.json
//
// Global flags, before or after the command: -db (ovsdb-server endpoint, default
// unix:/var/run/openvswitch/db.sock), -bridge, -host-netns, -owner,
// -pool VLAN:CIDR[:GATEWAY] (repeatable), -hostname RULE, -v.
//
// desired.json is a list of attachments:
//
//	[{"container_id": "web-1", "netns": "/proc/4242/ns/net", "vlan": 10},
//	 {"container_id": "db-1", "netns": "/run/netns/db-1", "vlan": 20, "ip": "10.20.0.5/24"}]
package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"net/netip"
	"os"
	"strconv"
	"strings"
	"text/tabwriter"

	"github.com/shoalkit/shoal/examples/internal/daemon"
	"github.com/shoalkit/shoal/netvlan"
)

func main() {
	daemon.Main("vlanctl", func(ctx context.Context, args []string, stdout, stderr io.Writer) error {
		return newCLI().Run(ctx, args, stdout, stderr)
	})
}

// pools collects repeated -pool flags.
type pools []netvlan.Pool

func (p *pools) String() string { return fmt.Sprint(*p) }

func (p *pools) Set(s string) error {
	parts := strings.SplitN(s, ":", 3)
	if len(parts) < 2 {
		return fmt.Errorf("pool %q: want VLAN:CIDR[:GATEWAY]", s)
	}
	vlan, err := strconv.Atoi(parts[0])
	if err != nil {
		return fmt.Errorf("pool %q: vlan: %w", s, err)
	}
	gw := ""
	if len(parts) == 3 {
		gw = parts[2]
	}
	pool, err := netvlan.ParsePool(vlan, parts[1], gw)
	if err != nil {
		return err
	}
	*p = append(*p, pool)
	return nil
}

// desired is one attachment of a desired-state file.
type desired struct {
	ContainerID string `json:"container_id"`
	Netns       string `json:"netns"`
	IfName      string `json:"ifname,omitempty"`
	Bridge      string `json:"bridge,omitempty"`
	VLAN        int    `json:"vlan,omitempty"`
	Trunks      []int  `json:"trunks,omitempty"`
	IP          string `json:"ip,omitempty"`
	Gateway     string `json:"gateway,omitempty"`
	MTU         int    `json:"mtu,omitempty"`
}

func (d desired) attachment() (netvlan.Attachment, error) {
	a := netvlan.Attachment{
		ContainerID: d.ContainerID, Netns: d.Netns, IfName: d.IfName, Bridge: d.Bridge,
		VLAN: d.VLAN, Trunks: d.Trunks, MTU: d.MTU,
	}
	var err error
	if d.IP != "" {
		if a.Addr, err = netip.ParsePrefix(d.IP); err != nil {
			return a, fmt.Errorf("container %s: ip: %w", d.ContainerID, err)
		}
	}
	if d.Gateway != "" {
		if a.Gateway, err = netip.ParseAddr(d.Gateway); err != nil {
			return a, fmt.Errorf("container %s: gateway: %w", d.ContainerID, err)
		}
	}
	return a, nil
}

// portJSON is how list -json prints a port.
type portJSON struct {
	ContainerID string `json:"container_id"`
	IfName      string `json:"ifname"`
	Port        string `json:"port"`
	Bridge      string `json:"bridge"`
	VLAN        int    `json:"vlan,omitempty"`
	Trunks      []int  `json:"trunks,omitempty"`
	IP          string `json:"ip,omitempty"`
	Gateway     string `json:"gateway,omitempty"`
	MAC         string `json:"mac"`
	Hostname    string `json:"hostname,omitempty"`
	Ofport      int    `json:"ofport"`
	LinkState   string `json:"link_state,omitempty"`
	Error       string `json:"error,omitempty"`
	Netns       string `json:"netns"`
}

func toJSON(p netvlan.Port) portJSON {
	j := portJSON{
		ContainerID: p.ContainerID, IfName: p.IfName, Port: p.Name, Bridge: p.Bridge, VLAN: p.VLAN,
		Trunks: p.Trunks, MAC: p.MAC.String(), Hostname: p.Hostname, Ofport: p.Ofport,
		LinkState: p.LinkState, Error: p.Error, Netns: p.Netns,
	}
	if p.Addr.IsValid() {
		j.IP = p.Addr.String()
	}
	if p.Gateway.IsValid() {
		j.Gateway = p.Gateway.String()
	}
	return j
}

// globals are the flags every command takes, before or after its name.
type globals struct {
	cfg     netvlan.Config
	pools   pools
	rule    string
	verbose bool
}

func (g *globals) register(fs *flag.FlagSet) {
	fs.StringVar(&g.cfg.Endpoint, "db", g.cfg.Endpoint, "ovsdb-server endpoint (unix:PATH or tcp:HOST:PORT)")
	fs.StringVar(&g.cfg.Bridge, "bridge", g.cfg.Bridge, "bridge for attachments that name none")
	fs.StringVar(&g.cfg.HostNetns, "host-netns", "", "network namespace of ovs-vswitchd's ports (default: this process's)")
	fs.StringVar(&g.cfg.Owner, "owner", g.cfg.Owner, "external_ids:shoal-owner of the ports this tool manages")
	fs.Var(&g.pools, "pool", "address pool VLAN:CIDR[:GATEWAY] (repeatable)")
	fs.StringVar(&g.rule, "hostname", netvlan.DefaultHostnameRule, "hostname rule")
	fs.BoolVar(&g.verbose, "v", false, "log to stderr")
}

// newCLI is vlanctl with its commands.
func newCLI() *daemon.CLI {
	g := &globals{cfg: netvlan.DefaultConfig()}
	return &daemon.CLI{
		Name:    "vlanctl",
		Summary: "vlanctl wires containers to VLANs on Open vSwitch.",
		Globals: g.register,
		Commands: []daemon.Command{
			{Name: "attach", Args: "-id ID -netns PATH -vlan N [-ip CIDR] [-gw IP] [-trunks 10,20] [-ifname eth0]", Summary: "give a container a port on a VLAN", Flags: g.attach},
			{Name: "detach", Args: "-id ID [-ifname eth0]", Summary: "remove a container's ports", Flags: g.detach},
			{Name: "list", Args: "[-json]", Summary: "the ports this owner manages", Flags: g.list},
			{Name: "reconcile", Args: "-f desired.json", Summary: "make the switch match a desired state (- reads stdin)", Flags: g.reconcile},
		},
	}
}

// withSwitch opens the switch the global flags describe, runs f on it and
// closes it; commands take no arguments besides their flags.
func (g *globals) withSwitch(f func(ctx context.Context, sw *netvlan.Switch, stdout io.Writer) error) daemon.Action {
	return func(ctx context.Context, args []string, stdout, stderr io.Writer) error {
		if len(args) > 0 {
			return daemon.UsageError(stderr, "vlanctl: unexpected arguments %q", args)
		}
		cfg := g.cfg
		cfg.Pools = g.pools
		var err error
		if cfg.Hostname, err = netvlan.ParseHostnameRule(g.rule); err != nil {
			return err
		}
		if g.verbose {
			cfg.Logger = daemon.Logger(stderr, false)
		}
		return withSwitch(ctx, cfg, func(sw *netvlan.Switch) error { return f(ctx, sw, stdout) })
	}
}

func (g *globals) attach(fs *flag.FlagSet) daemon.Action {
	var d desired
	var trunks string
	fs.StringVar(&d.ContainerID, "id", "", "container id (required)")
	fs.StringVar(&d.Netns, "netns", "", "container network namespace path (required)")
	fs.StringVar(&d.IfName, "ifname", "", "container interface name (default eth0)")
	fs.IntVar(&d.VLAN, "vlan", 0, "access VLAN, or native VLAN with -trunks")
	fs.StringVar(&trunks, "trunks", "", "trunk VLANs, comma separated")
	fs.StringVar(&d.IP, "ip", "", "address with prefix (default: from the VLAN's pool)")
	fs.StringVar(&d.Gateway, "gw", "", "default gateway (default: the pool's)")
	fs.IntVar(&d.MTU, "mtu", 0, "MTU")
	return g.withSwitch(func(ctx context.Context, sw *netvlan.Switch, stdout io.Writer) error {
		for _, f := range strings.FieldsFunc(trunks, func(r rune) bool { return r == ',' }) {
			v, err := strconv.Atoi(strings.TrimSpace(f))
			if err != nil {
				return fmt.Errorf("trunks %q: %w", trunks, err)
			}
			d.Trunks = append(d.Trunks, v)
		}
		a, err := d.attachment()
		if err != nil {
			return err
		}
		p, err := sw.Attach(ctx, a)
		if err != nil {
			return err
		}
		return printJSON(stdout, toJSON(p))
	})
}

func (g *globals) detach(fs *flag.FlagSet) daemon.Action {
	id := fs.String("id", "", "container id (required)")
	ifName := fs.String("ifname", "", "only this container interface")
	return g.withSwitch(func(ctx context.Context, sw *netvlan.Switch, _ io.Writer) error {
		var ifs []string
		if *ifName != "" {
			ifs = []string{*ifName}
		}
		return sw.Detach(ctx, *id, ifs...)
	})
}

func (g *globals) list(fs *flag.FlagSet) daemon.Action {
	asJSON := fs.Bool("json", false, "print JSON")
	return g.withSwitch(func(ctx context.Context, sw *netvlan.Switch, stdout io.Writer) error {
		ports, err := sw.List(ctx)
		if err != nil {
			return err
		}
		if *asJSON {
			out := make([]portJSON, len(ports))
			for i, p := range ports {
				out[i] = toJSON(p)
			}
			return printJSON(stdout, out)
		}
		tw := tabwriter.NewWriter(stdout, 0, 4, 2, ' ', 0)
		fmt.Fprintln(tw, "CONTAINER\tIF\tPORT\tBRIDGE\tVLAN\tIP\tHOSTNAME\tOFPORT\tLINK\tERROR")
		for _, p := range ports {
			vlan := strconv.Itoa(p.VLAN)
			if len(p.Trunks) > 0 {
				vlan += " trunks " + fmt.Sprint(p.Trunks)
			}
			ip := ""
			if p.Addr.IsValid() {
				ip = p.Addr.String()
			}
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\t%d\t%s\t%s\n",
				p.ContainerID, p.IfName, p.Name, p.Bridge, vlan, ip, p.Hostname, p.Ofport, p.LinkState, p.Error)
		}
		return tw.Flush()
	})
}

func (g *globals) reconcile(fs *flag.FlagSet) daemon.Action {
	file := fs.String("f", "", "desired state: a JSON list of attachments (required; - for stdin)")
	act := g.withSwitch(func(ctx context.Context, sw *netvlan.Switch, stdout io.Writer) error {
		var raw []byte
		var err error
		if *file == "-" {
			raw, err = io.ReadAll(os.Stdin)
		} else {
			raw, err = os.ReadFile(*file)
		}
		if err != nil {
			return err
		}
		var ds []desired
		if err := json.Unmarshal(raw, &ds); err != nil {
			return fmt.Errorf("%s: %w", *file, err)
		}
		as := make([]netvlan.Attachment, len(ds))
		for i, d := range ds {
			if as[i], err = d.attachment(); err != nil {
				return err
			}
		}
		rep, err := sw.Reconcile(ctx, as)
		if err != nil {
			return err
		}
		for _, p := range rep.Removed {
			fmt.Fprintf(stdout, "removed %s/%s (%s)\n", p.ContainerID, p.IfName, p.Name)
		}
		for _, p := range rep.Retagged {
			fmt.Fprintf(stdout, "retagged %s/%s vlan %d\n", p.ContainerID, p.IfName, p.VLAN)
		}
		for _, p := range rep.Added {
			fmt.Fprintf(stdout, "added %s/%s (%s) %v\n", p.ContainerID, p.IfName, p.Name, p.Addr)
		}
		for _, f := range rep.Failed {
			fmt.Fprintf(stdout, "failed %s/%s: %v\n", f.ContainerID, f.IfName, f.Err)
		}
		fmt.Fprintf(stdout, "%d added, %d removed, %d retagged, %d unchanged, %d failed\n",
			len(rep.Added), len(rep.Removed), len(rep.Retagged), rep.Unchanged, len(rep.Failed))
		if len(rep.Failed) > 0 {
			return fmt.Errorf("%d attachments failed", len(rep.Failed))
		}
		return nil
	})
	return func(ctx context.Context, args []string, stdout, stderr io.Writer) error {
		if *file == "" {
			fs.Usage()
			return daemon.UsageError(stderr, "vlanctl reconcile: -f is required")
		}
		return act(ctx, args, stdout, stderr)
	}
}

func withSwitch(ctx context.Context, cfg netvlan.Config, f func(*netvlan.Switch) error) error {
	sw, err := netvlan.Open(ctx, cfg)
	if err != nil {
		return err
	}
	defer sw.Close()
	return f(sw)
}

func printJSON(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}
