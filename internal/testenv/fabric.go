package testenv

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// Fabric is a small network of hosts, each with an uplink of a fixed rate,
// for tests and benchmarks of distribution, where the links and not the
// CPUs must be the bottleneck. It is one network namespace: host k is the
// address Addr(k) on the namespace's loopback, and an HTB class of the
// kernel's traffic control shapes everything host k sends to Rate, as a
// host's network card would. Traffic between hosts therefore crosses a real
// kernel TCP stack at a real, limited rate, and the kernel counts the bytes
// each host sent (Sent).
//
// Code under test reaches the fabric through Listen and Client (or Dial),
// which make their sockets inside the namespace; commands run inside it
// with NS.Command. Addresses outside the hosts' (127.0.0.1) are not shaped.
type Fabric struct {
	NS    *Namespace
	Rate  int64 // bits per second of each host's uplink
	Hosts int

	mu   sync.Mutex
	port int // the last port Listen handed out
}

// fabricPortBase is where Listen starts handing out ports: the namespace
// is the test's own, so every port below 32768 is free.
const fabricPortBase = 20000

// NewFabric makes a fabric of hosts hosts (at most 250), each host's
// uplink shaped to rate bits per second, deleted with its namespace in
// t.Cleanup.
func NewFabric(t testing.TB, hosts int, rate int64) *Fabric {
	t.Helper()
	Require(t, Netns)
	if hosts < 1 || hosts > 250 || rate < 8000 {
		t.Fatalf("testenv: fabric of %d hosts at %d bit/s: want 1..250 hosts and at least 8 kbit/s", hosts, rate)
	}
	f := &Fabric{NS: NewNetns(t), Rate: rate, Hosts: hosts, port: fabricPortBase - 1}
	tc := path(t, "tc")
	// Unclassified traffic (default 0) bypasses the shaper.
	f.NS.Run(t, tc, "qdisc", "add", "dev", "lo", "root", "handle", "1:", "htb")
	for k := range hosts {
		// A burst of one loopback super-packet (64 KiB), so segments the
		// size of lo's MTU pass at the set rate instead of far below it.
		f.NS.Run(t, tc, "class", "add", "dev", "lo", "parent", "1:", "classid", f.class(k),
			"htb", "rate", strconv.FormatInt(rate, 10), "burst", "64k", "cburst", "64k")
		f.NS.Run(t, tc, "filter", "add", "dev", "lo", "parent", "1:", "protocol", "ip", "prio", "1",
			"u32", "match", "ip", "src", f.Addr(k)+"/32", "flowid", f.class(k))
	}
	return f
}

// Addr is host k's address: 127.0.1.(k+1).
func (f *Fabric) Addr(k int) string { return fmt.Sprintf("127.0.1.%d", k+1) }

// class is host k's HTB class id.
func (f *Fabric) class(k int) string { return fmt.Sprintf("1:%x", k+1) }

func (f *Fabric) checkHost(t testing.TB, k int) {
	t.Helper()
	if k < 0 || k >= f.Hosts {
		t.Fatalf("testenv: fabric has hosts 0..%d, not %d", f.Hosts-1, k)
	}
}

// Port returns a port no earlier call returned, for a server host k runs
// (a command started with NS.Command, say).
func (f *Fabric) Port() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.port++
	return f.port
}

// Listen returns a TCP listener of host k, on Addr(k) and a fresh port,
// inside the fabric; closed in t.Cleanup.
func (f *Fabric) Listen(t testing.TB, k int) net.Listener {
	t.Helper()
	f.checkHost(t, k)
	addr := net.JoinHostPort(f.Addr(k), strconv.Itoa(f.Port()))
	var l net.Listener
	ctx := t.Context()
	err := f.NS.Do(func() error {
		var err error
		var lc net.ListenConfig
		l, err = lc.Listen(ctx, "tcp", addr)
		return err
	})
	if err != nil {
		t.Fatalf("testenv: fabric listen on %s: %v", addr, err)
	}
	t.Cleanup(func() { _ = l.Close() })
	return l
}

// Dial returns a dial function for host k: connections start from Addr(k)
// inside the fabric, as an http.Transport's DialContext takes it.
func (f *Fabric) Dial(k int) func(ctx context.Context, network, addr string) (net.Conn, error) {
	return f.dialFrom(f.Addr(k))
}

// dialFrom dials inside the fabric from the local address ip; from
// 127.0.0.1 the traffic is not shaped.
func (f *Fabric) dialFrom(ip string) func(ctx context.Context, network, addr string) (net.Conn, error) {
	d := net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(ip)}, Timeout: 10 * time.Second}
	return func(ctx context.Context, network, addr string) (net.Conn, error) {
		var c net.Conn
		err := f.NS.Do(func() error {
			var err error
			c, err = d.DialContext(ctx, network, addr)
			return err
		})
		return c, err
	}
}

// Client returns an HTTP client for host k (see Dial), its idle
// connections closed in t.Cleanup.
func (f *Fabric) Client(t testing.TB, k int) *http.Client {
	t.Helper()
	f.checkHost(t, k)
	return f.client(t, f.Addr(k))
}

func (f *Fabric) client(t testing.TB, ip string) *http.Client {
	tr := &http.Transport{
		DialContext:         f.dialFrom(ip),
		MaxIdleConnsPerHost: 16,
		IdleConnTimeout:     30 * time.Second,
		DisableCompression:  true,
	}
	t.Cleanup(tr.CloseIdleConnections)
	return &http.Client{Transport: tr}
}

// Sent returns the bytes host k has sent so far, as the kernel's shaper
// counted them: payload and TCP/IP headers.
func (f *Fabric) Sent(t testing.TB, k int) int64 {
	t.Helper()
	f.checkHost(t, k)
	out := f.NS.Run(t, path(t, "tc"), "-s", "class", "show", "dev", "lo", "classid", f.class(k))
	n, err := parseSent(out)
	if err != nil {
		t.Fatalf("testenv: tc class %s: %v\n%s", f.class(k), err, out)
	}
	return n
}

// parseSent reads the byte count of `tc -s class show` output for one
// class: the line " Sent N bytes M pkt ...".
func parseSent(out string) (int64, error) {
	sc := bufio.NewScanner(strings.NewReader(out))
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		if len(f) >= 3 && f[0] == "Sent" && f[2] == "bytes" {
			n, err := strconv.ParseInt(f[1], 10, 64)
			if err != nil || n < 0 {
				return 0, fmt.Errorf("bad byte count %q", f[1])
			}
			return n, nil
		}
	}
	return 0, errors.New("no \"Sent N bytes\" line")
}

// Do runs fn on an OS thread that has entered the namespace, for code that
// must create its sockets there (a socket stays in the namespace it was
// made in). It returns fn's error. The thread goes back to the test's
// namespace afterwards, or is retired if it cannot.
func (n *Namespace) Do(fn func() error) error {
	errc := make(chan error, 1)
	go func() {
		runtime.LockOSThread()
		back, err := os.Open(fmt.Sprintf("/proc/self/task/%d/ns/net", unix.Gettid()))
		if err != nil {
			runtime.UnlockOSThread()
			errc <- fmt.Errorf("testenv: own netns: %w", err)
			return
		}
		defer back.Close()
		target, err := os.Open(n.Path)
		if err != nil {
			runtime.UnlockOSThread()
			errc <- fmt.Errorf("testenv: netns %s: %w", n.Name, err)
			return
		}
		defer target.Close()
		if err := unix.Setns(int(target.Fd()), unix.CLONE_NEWNET); err != nil {
			runtime.UnlockOSThread()
			errc <- fmt.Errorf("testenv: enter netns %s: %w", n.Name, err)
			return
		}
		ferr := fn()
		if err := unix.Setns(int(back.Fd()), unix.CLONE_NEWNET); err != nil {
			// The thread stays locked: it exits with this goroutine
			// instead of running other goroutines in the wrong namespace.
			errc <- errors.Join(ferr, fmt.Errorf("testenv: leave netns %s: %w", n.Name, err))
			return
		}
		runtime.UnlockOSThread()
		errc <- ferr
	}()
	return <-errc
}
