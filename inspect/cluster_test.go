package inspect

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hashicorp/memberlist"
	"github.com/hashicorp/serf/serf"

	"github.com/shoalkit/shoal/internal/testenv"
)

// clusterOpts shapes a test cluster of real serf members in this process.
type clusterOpts struct {
	n       int
	keys    [][]byte
	ns      *testenv.Namespace // nil: 127.0.0.1 in the test's namespace; else 127.0.1.k inside ns
	details bool               // serve each agent's Handler and gossip AddrTag
	fixKey  []byte
	spec    *Spec
	events  chan<- MemberEvent // node 0's member events
	// quick: failure detection in seconds (the quick timing) instead of
	// the tolerant timing the many-member clusters need on a crowded box.
	quick bool
}

type cluster struct {
	t     testing.TB
	opts  clusterOpts
	nodes []*Node
	roots []string // each node's fake host root
	addrs []string // gossip host of node k (ns mode)
	stop  []context.CancelFunc
	http  *http.Client
}

// simpleSpec is the spec most cluster tests check: two sysctls of each
// node's fake root.
func simpleSpec(version uint64) *Spec {
	s := &Spec{Version: version, Checks: []Check{
		{ID: "ip-forward", Kind: KindSysctl, Key: "net.ipv4.ip_forward", Want: "1", Fix: &Fix{Sysctl: "1"}},
		{ID: "swappiness", Kind: KindSysctl, Key: "vm.swappiness", Want: "10", Op: OpLe},
	}}
	if err := s.Validate(); err != nil {
		panic(err)
	}
	return s
}

func writeSysctl(t testing.TB, root, key, value string) {
	t.Helper()
	p := filepath.Join(root, sysctlPath(key))
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(p, []byte(value+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
}

func readSysctl(t testing.TB, root, key string) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(root, sysctlPath(key)))
	if err != nil {
		t.Fatal(err)
	}
	return strings.TrimSpace(string(b))
}

// startCluster starts o.n members, joined in staggered batches, each
// answering with an agent over its own fake root, and waits until node 0
// sees them all alive.
// clusterSlots bounds the clusters running at once: the fault tests run
// in parallel (they mostly wait on protocol timeouts), but more than three
// clusters under the race detector starve each other of CPU on a 2-core
// box, and a starved process misses its own probes.
var clusterSlots = make(chan struct{}, 3)

func startCluster(t testing.TB, o clusterOpts) *cluster {
	t.Helper()
	if o.n > 1 { // a lone member costs nothing
		select {
		case clusterSlots <- struct{}{}:
		case <-t.Context().Done():
			t.Fatal("no cluster slot before the test ended")
		}
		t.Cleanup(func() { <-clusterSlots })
	}
	if o.spec == nil {
		o.spec = simpleSpec(1)
	}
	c := &cluster{t: t, opts: o, http: &http.Client{Timeout: 5 * time.Second}}
	if o.ns != nil {
		c.http.Transport = &http.Transport{DialContext: nsDial(o.ns)}
	}
	for k := range o.n {
		c.add(k)
	}
	// Staggered joins: batches of five join at once through node 0, which
	// knows every member, so that each joiner learns the whole cluster in
	// its state exchange. (Joining through members that joined moments
	// before left some members unaware of others until the next push-pull,
	// 15 s later.)
	const batch = 5
	for lo := 1; lo < o.n; lo += batch {
		var wg sync.WaitGroup
		errs := make(chan error, batch)
		for k := lo; k < min(lo+batch, o.n); k++ {
			wg.Go(func() {
				var err error
				for try := range 4 {
					if _, err = c.nodes[k].Join(t.Context(), c.nodes[(try*(k-1))%lo].Addr()); err == nil {
						return
					}
				}
				errs <- err
			})
		}
		wg.Wait()
		close(errs)
		for err := range errs {
			t.Fatal(err)
		}
	}
	// Every member, not only the inspector, must know the whole cluster
	// before a round: right after a join storm some still learn of others.
	for k := range o.n {
		c.waitMembers(k, o.n)
	}
	return c
}

func (c *cluster) add(k int) {
	t := c.t
	root := t.TempDir()
	writeSysctl(t, root, "net.ipv4.ip_forward", "1")
	writeSysctl(t, root, "vm.swappiness", "1")
	name := fmt.Sprintf("n%03d", k)
	agent, err := NewAgent(AgentConfig{
		Name: name, Host: Host{Root: root}, FixKey: c.opts.fixKey,
		Tags: map[string]string{"zone": "z" + strconv.Itoa(k%3)},
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := agent.SetSpec(c.opts.spec); err != nil {
		t.Fatal(err)
	}
	cfg := NodeConfig{Profile: ProfileLocal, Keys: c.opts.keys, BindAddr: "127.0.0.1", Tune: c.tune, TuneSerf: fastLeave}
	if k == 0 {
		cfg.Events = c.opts.events
	}

	host := "127.0.0.1"
	if c.opts.ns != nil {
		host = fmt.Sprintf("127.0.1.%d", k+1)
	}
	if c.opts.details {
		cfg.DetailsAddr = c.serve(host, agent.Handler())
	}
	var node *Node
	for try := 0; ; try++ {
		port := testenv.FreePort(t)
		cfg.BindAddr, cfg.BindPort = host, port
		if c.opts.ns != nil {
			cfg.Transport, err = nsTransport(c.opts.ns, host, port)
			if err != nil {
				t.Fatal(err)
			}
		}
		node, err = NewNode(cfg, agent)
		if err == nil {
			break
		}
		if try == 5 {
			t.Fatalf("node %s: %v", name, err)
		}
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { _ = node.Run(ctx); close(done) }()
	t.Cleanup(func() {
		cancel()
		<-done
		_ = node.Serf().Shutdown()
	})
	c.nodes = append(c.nodes, node)
	c.roots = append(c.roots, root)
	c.addrs = append(c.addrs, host)
	c.stop = append(c.stop, cancel)
}

// serve serves h on host (inside the cluster's namespace if any) and
// returns its address.
func (c *cluster) serve(host string, h http.Handler) string {
	var l net.Listener
	listen := func() error {
		var err error
		var lc net.ListenConfig
		l, err = lc.Listen(c.t.Context(), "tcp", net.JoinHostPort(host, "0"))
		return err
	}
	var err error
	if c.opts.ns != nil {
		err = c.opts.ns.Do(listen)
	} else {
		err = listen()
	}
	if err != nil {
		c.t.Fatal(err)
	}
	srv := &http.Server{Handler: h, ReadHeaderTimeout: 5 * time.Second}
	go func() { _ = srv.Serve(l) }()
	c.t.Cleanup(func() { _ = srv.Close() })
	return l.Addr().String()
}

// waitMembers waits until node k sees want members alive.
func (c *cluster) waitMembers(k, want int) {
	c.t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	for {
		alive := 0
		for _, m := range c.nodes[k].Serf().Members() {
			if m.Status.String() == "alive" {
				alive++
			}
		}
		if alive == want {
			return
		}
		if time.Now().After(deadline) {
			c.t.Fatalf("node %d sees %d of %d members alive", k, alive, want)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// inspector returns an inspector on node 0, which is an agent too: its
// own member is inspected (InspectSelf), so that a round counts all n.
func (c *cluster) inspector(cfg InspectorConfig) *Inspector {
	c.t.Helper()
	cfg.InspectSelf = true
	if cfg.HTTP == nil {
		cfg.HTTP = c.http
	}
	in, err := NewInspector(c.nodes[0], cfg)
	if err != nil {
		c.t.Fatal(err)
	}
	return in
}

// tune is the memberlist timing of the cluster's members.
func (c *cluster) tune(m *memberlist.Config) {
	if c.opts.quick {
		quick(m)
		return
	}
	tolerant(m)
}

// quick is the Local profile with failure detection in seconds, for the
// small clusters of the fault tests: a member killed is declared failed
// after a probe interval and a suspicion timeout of 4 × 0.5 s (more under
// load: memberlist's awareness stretches both when a member misses its own
// probes).
func quick(c *memberlist.Config) {
	tolerant(c)
	c.ProbeInterval = 500 * time.Millisecond
	c.ProbeTimeout = 300 * time.Millisecond
}

// fastLeave makes a member that leaves wait 200 ms for its leave to
// spread instead of serf's 1 s: enough on loopback, where a gossip round
// is 100 ms.
func fastLeave(c *serf.Config) {
	c.LeavePropagateDelay = 200 * time.Millisecond
}

// tolerant is the Local profile made patient enough for a hundred members
// on a shared 2-core box whose load is often ten times its cores: probes
// wait longer before suspecting a member, joins get time for their state
// exchange.
func tolerant(c *memberlist.Config) {
	c.ProbeTimeout = time.Second
	c.ProbeInterval = 2 * time.Second
	c.SuspicionMult = 4
	c.TCPTimeout = 10 * time.Second
	// The Local profile sends each query 2 × ceil(log10(N+1)) times: in a
	// cluster of five that is two sends per member, and a member is missed
	// by every sender in a few percent of queries.
	c.RetransmitMult = 3
}

// nsDial dials from inside ns.
func nsDial(ns *testenv.Namespace) func(ctx context.Context, network, addr string) (net.Conn, error) {
	return func(ctx context.Context, network, addr string) (net.Conn, error) {
		var conn net.Conn
		err := ns.Do(func() error {
			var d net.Dialer
			var err error
			conn, err = d.DialContext(ctx, network, addr)
			return err
		})
		return conn, err
	}
}

// netnsTransport is memberlist's network transport with its sockets in a
// namespace: the listeners are made there, and so is every TCP dial.
type netnsTransport struct {
	*memberlist.NetTransport
	ns *testenv.Namespace
}

var (
	_    memberlist.NodeAwareTransport = (*netnsTransport)(nil)
	nsMu sync.Mutex
)

func nsTransport(ns *testenv.Namespace, host string, port int) (*netnsTransport, error) {
	nsMu.Lock()
	defer nsMu.Unlock()
	var nt *memberlist.NetTransport
	err := ns.Do(func() error {
		var err error
		nt, err = memberlist.NewNetTransport(&memberlist.NetTransportConfig{
			BindAddrs: []string{host}, BindPort: port,
			Logger: nil,
		})
		return err
	})
	return &netnsTransport{NetTransport: nt, ns: ns}, err
}

func (t *netnsTransport) DialTimeout(addr string, timeout time.Duration) (net.Conn, error) {
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	return nsDial(t.ns)(ctx, "tcp", addr)
}

func (t *netnsTransport) DialAddressTimeout(a memberlist.Address, timeout time.Duration) (net.Conn, error) {
	return t.DialTimeout(a.Addr, timeout)
}

// steadyRound runs a round and returns it, unless the inspector reports
// itself degraded (its own probes missed, or the round took far longer
// than its timeouts: the test process starved of CPU on a shared box,
// which stalls every member at once); such a round is logged and run
// again, three times at most.
func steadyRound(t testing.TB, in *Inspector, spec *Spec) *Report {
	t.Helper()
	for try := 1; ; try++ {
		rep, err := in.Round(t.Context(), spec)
		if err != nil {
			t.Fatal(err)
		}
		if !rep.Health.Degraded || try == 3 {
			return rep
		}
		t.Logf("round %d of 3 degraded (%s), counts %v: again", try, rep.Health.Reason, rep.Counts)
	}
}
