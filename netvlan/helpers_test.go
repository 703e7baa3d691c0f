package netvlan

import (
	"context"
	"io"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/vishvananda/netns"
	"golang.org/x/sys/unix"

	"github.com/shoalkit/shoal/internal/testenv"
)

// openSwitch opens a Switch on the test switch's bridge br0.
func openSwitch(t testing.TB, sw *testenv.Switch, pools ...Pool) *Switch {
	t.Helper()
	cfg := DefaultConfig()
	cfg.Endpoint = sw.Endpoint
	cfg.HostNetns = sw.Host.Path
	cfg.Bridge = "br0"
	cfg.Pools = pools
	s, err := Open(t.Context(), cfg)
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	t.Cleanup(func() { _ = s.Close() })
	return s
}

// inNs runs f on a locked OS thread inside the namespace at path; sockets f
// opens stay in that namespace.
func inNs(t testing.TB, path string, f func()) {
	t.Helper()
	ns, err := netns.GetFromPath(path)
	if err != nil {
		t.Fatal(err)
	}
	defer ns.Close()
	if err := inNetns(ns, func() error { f(); return nil }); err != nil {
		t.Fatal(err)
	}
}

// listenIn listens on TCP addr inside the namespace at path and echoes one
// line per connection back; it stops with the test.
func listenIn(t testing.TB, path, addr string) net.Listener {
	t.Helper()
	var l net.Listener
	var err error
	inNs(t, path, func() {
		var lc net.ListenConfig
		l, err = lc.Listen(context.Background(), "tcp", addr)
	})
	if err != nil {
		t.Fatalf("listen %s in %s: %v", addr, path, err)
	}
	t.Cleanup(func() { _ = l.Close() })
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				_, _ = io.Copy(c, c)
			}()
		}
	}()
	return l
}

// dialIn returns a TCP connection to addr made from inside the namespace at
// path.
func dialIn(t testing.TB, path, addr string, timeout time.Duration) (net.Conn, error) {
	t.Helper()
	var c net.Conn
	var err error
	inNs(t, path, func() {
		d := net.Dialer{Timeout: timeout}
		c, err = d.DialContext(context.Background(), "tcp", addr)
	})
	return c, err
}

// tcpEcho checks that a TCP round trip from the namespace at path to addr
// works.
func tcpEcho(t testing.TB, path, addr string) error {
	t.Helper()
	c, err := dialIn(t, path, addr, 2*time.Second)
	if err != nil {
		return err
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(3 * time.Second))
	msg := strings.Repeat("shoal-", 2000) + "\n" // several segments: checksums matter
	if _, err := io.WriteString(c, msg); err != nil {
		return err
	}
	buf := make([]byte, len(msg))
	if _, err := io.ReadFull(c, buf); err != nil {
		return err
	}
	if string(buf) != msg {
		return io.ErrUnexpectedEOF
	}
	return nil
}

// pingable reports whether one ping from ns reaches addr.
func pingable(ns *testenv.Namespace, addr netip.Addr) bool {
	_, err := ns.Try("ping", "-c", "1", "-W", "1", addr.String())
	return err == nil
}

// waitPing pings until it answers or the timeout passes.
func waitPing(ns *testenv.Namespace, addr netip.Addr, timeout time.Duration) bool {
	deadline := time.Now().Add(timeout)
	for {
		if pingable(ns, addr) {
			return true
		}
		if time.Now().After(deadline) {
			return false
		}
	}
}

// threadsInNetns reports the threads of this process whose network
// namespace differs from want's.
func threadsOutside(t testing.TB) []string {
	t.Helper()
	self, err := os.Readlink("/proc/self/ns/net")
	if err != nil {
		t.Fatal(err)
	}
	tasks, err := filepath.Glob("/proc/self/task/*/ns/net")
	if err != nil {
		t.Fatal(err)
	}
	var bad []string
	for _, p := range tasks {
		l, err := os.Readlink(p)
		if err != nil {
			continue // the thread exited
		}
		if l != self {
			bad = append(bad, p+" -> "+l)
		}
	}
	runtime.KeepAlive(self)
	return bad
}

// etherTypeTest is the IEEE local experimental EtherType, for frames the
// tests make by hand.
const etherTypeTest = 0x88b5

// rawSocket opens an AF_PACKET socket bound to ifName inside the namespace
// at path, receiving every protocol.
func rawSocket(t testing.TB, path, ifName string) int {
	t.Helper()
	var fd int
	var err error
	inNs(t, path, func() {
		var ifi *net.Interface
		if ifi, err = net.InterfaceByName(ifName); err != nil {
			return
		}
		proto := int(htons(unix.ETH_P_ALL))
		if fd, err = unix.Socket(unix.AF_PACKET, unix.SOCK_RAW|unix.SOCK_CLOEXEC, proto); err != nil {
			return
		}
		err = unix.Bind(fd, &unix.SockaddrLinklayer{Protocol: htons(unix.ETH_P_ALL), Ifindex: ifi.Index})
	})
	if err != nil {
		t.Fatalf("packet socket on %s: %v", ifName, err)
	}
	t.Cleanup(func() { _ = unix.Close(fd) })
	return fd
}

func htons(v uint16) uint16 { return v<<8 | v>>8 }

// sendTagged sends a broadcast frame tagged with vlan (0: untagged) and
// carrying payload under etherTypeTest.
func sendTagged(t testing.TB, fd, vlan int, src net.HardwareAddr, payload string) {
	t.Helper()
	f := []byte{0xff, 0xff, 0xff, 0xff, 0xff, 0xff}
	f = append(f, src...)
	if vlan != 0 {
		f = append(f, 0x81, 0x00, byte(vlan>>8), byte(vlan))
	}
	f = append(f, etherTypeTest>>8, etherTypeTest&0xff)
	f = append(f, payload...)
	for len(f) < 60 {
		f = append(f, 0)
	}
	if _, err := unix.Write(fd, f); err != nil {
		t.Fatalf("send frame: %v", err)
	}
}

// received returns the payloads of etherTypeTest frames that arrive on fd
// within d.
func received(t testing.TB, fd int, d time.Duration) []string {
	t.Helper()
	var got []string
	deadline := time.Now().Add(d)
	buf := make([]byte, 2048)
	for {
		left := time.Until(deadline)
		if left <= 0 {
			return got
		}
		tv := unix.NsecToTimeval(left.Nanoseconds())
		if err := unix.SetsockoptTimeval(fd, unix.SOL_SOCKET, unix.SO_RCVTIMEO, &tv); err != nil {
			t.Fatal(err)
		}
		n, err := unix.Read(fd, buf)
		if err != nil {
			continue // timeout or EINTR: the loop checks the deadline
		}
		f := buf[:n]
		if len(f) >= 14 && int(f[12])<<8|int(f[13]) == etherTypeTest {
			got = append(got, strings.TrimRight(string(f[14:]), "\x00"))
		}
	}
}
