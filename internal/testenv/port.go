package testenv

import (
	"math/rand/v2"
	"net"
	"strconv"
	"testing"
)

// Ports handed out by FreePort: below 32768 (the rule for servers here) and
// above the well-known and commonly configured ones.
const (
	portLow  = 20000
	portHigh = 32767
)

// FreePort returns a TCP port on 127.0.0.1, below 32768, that was free a
// moment ago. Ports are picked at random so that parallel test processes
// rarely try the same one; a server that then fails to bind should be
// restarted on another.
func FreePort(t testing.TB) int {
	t.Helper()
	for range 200 {
		p := portLow + rand.IntN(portHigh-portLow+1) //nolint:gosec // a port number, not a secret
		var lc net.ListenConfig
		l, err := lc.Listen(t.Context(), "tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(p)))
		if err != nil {
			continue
		}
		_ = l.Close()
		return p
	}
	t.Fatalf("testenv: no free 127.0.0.1 port in %d..%d after 200 tries", portLow, portHigh)
	return 0
}
