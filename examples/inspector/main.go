// Command inspector is fleet inspection over gossip, a thin command around
// the inspect package: "inspector agent" is a node that joins the serf
// cluster and answers inspections against a spec file; "inspector round"
// joins the same cluster, accounts for every member each round, and
// optionally fetches the details of failures and runs their signed fixes.
//
//	inspector agent -name n1 -bind 10.0.0.1:7946 -join 10.0.0.2:7946 \
//		-keyring /etc/shoal/serf.keys -spec /etc/shoal/inspect.json \
//		-http 10.0.0.1:7947 -fix-key-file /etc/shoal/fix.key -zone a -rack r1
//	inspector round -join 10.0.0.1:7946 -keyring /etc/shoal/serf.keys \
//		-spec /etc/shoal/inspect.json -once -details -json
//	inspector round ... -once -fix -fix-key-file /etc/shoal/fix.key [-dry-run]
//	inspector agent -name n1 -bind 10.0.0.1:7946 -etcd-endpoints http://10.0.0.9:2379 ...
//	inspector round -etcd-endpoints http://10.0.0.9:2379 -keyring ... -once
//
// With -etcd-endpoints the spec comes from etcd (fleetinspect.SpecKey,
// followed by watch on agents), members find each other through the
// gossip addresses registered there (no -join needed), and each round's
// report is stored there for the controller and shoalctl.
//
// The spec file is inspect's Spec as JSON. The keyring file holds serf
// keys in base64 (16, 24 or 32 bytes each), one per line or as serf's JSON
// keyring file; the first encrypts. The agent reloads its spec file on
// SIGHUP and when it changes. "round -once" exits 1 when a member neither
// passed nor left the cluster. The round's own serf member holds no spec:
// it is left out of the report, and the next round of a later command
// prunes it from the cluster once it has left.
package main

import (
	"context"
	"flag"
	"io"
	"os"
	"strings"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
	"go.uber.org/zap"

	"github.com/shoalkit/shoal/examples/internal/daemon"
)

func main() {
	daemon.Main("inspector", func(ctx context.Context, args []string, stdout, stderr io.Writer) error {
		return newCLI().Run(ctx, args, stdout, stderr)
	})
}

func newCLI() *daemon.CLI {
	return &daemon.CLI{
		Name:    "inspector",
		Summary: "inspector inspects a fleet over gossip (serf): agents answer against a spec, rounds account for every member.",
		Commands: []daemon.Command{
			{
				Name: "agent", Args: "-spec FILE [-bind ADDR] [-join ADDRS] [-keyring FILE] [-http ADDR] [-fix-key-file FILE]",
				Summary: "join the cluster and answer inspections until interrupted", Flags: agentCommand,
			},
			{
				Name: "round", Args: "-spec FILE -join ADDRS [-once] [-json] [-details] [-fix [-dry-run]]",
				Summary: "join the cluster and run inspection rounds, printing each report", Flags: roundCommand,
			},
		},
	}
}

// nodeFlags are the serf member's flags, common to both commands.
type nodeFlags struct {
	name, bind, advertise, join, keyring, spec, profile, etcd string
	verbose                                                   bool
}

func (f *nodeFlags) register(fs *flag.FlagSet, name, bind, bindDoc string) {
	fs.StringVar(&f.name, "name", name, "serf node name")
	fs.StringVar(&f.bind, "bind", bind, "gossip address HOST:PORT (UDP and TCP)"+bindDoc)
	fs.StringVar(&f.advertise, "advertise", "", "address peers reach this node on (default: the bind address)")
	fs.StringVar(&f.join, "join", "", "gossip addresses of members to join, comma separated")
	fs.StringVar(&f.keyring, "keyring", "", "file of serf keys, base64 (empty: gossip in clear)")
	fs.StringVar(&f.spec, "spec", "", "the spec file (JSON of inspect.Spec; required without -etcd-endpoints)")
	fs.StringVar(&f.etcd, "etcd-endpoints", "", "etcd endpoints, comma separated: the spec is read from etcd (and followed), members join through the gossip addresses registered there, rounds store their report there")
	fs.StringVar(&f.profile, "profile", "lan", "gossip timing profile: lan, local or wan")
	fs.BoolVar(&f.verbose, "v", false, "debug logging")
}

// etcdClient connects to -etcd-endpoints (nil when unset).
func (f *nodeFlags) etcdClient() (*clientv3.Client, error) {
	if f.etcd == "" {
		return nil, nil
	}
	return clientv3.New(clientv3.Config{Endpoints: strings.Split(f.etcd, ","), DialTimeout: 5 * time.Second, Logger: zap.NewNop()})
}

func (f *nodeFlags) joinAddrs() []string {
	if f.join == "" {
		return nil
	}
	return strings.Split(f.join, ",")
}

func hostname() string {
	h, err := os.Hostname()
	if err != nil || h == "" {
		return "node"
	}
	return h
}

// waitOrDone sleeps d, or less when ctx ends first; it reports whether ctx
// is still alive.
func waitOrDone(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-t.C:
		return true
	}
}
