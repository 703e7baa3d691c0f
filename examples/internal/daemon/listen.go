package daemon

import (
	"context"
	"fmt"
	"math/rand/v2"
	"net"
	"strconv"
)

// Local ports the platform's own servers take: below the kernel's
// ephemeral range, so they never collide with outgoing connections and
// stay within what the machine's rules allow.
const (
	lowPort  = 20000
	highPort = 32767
)

// ListenLocal listens on 127.0.0.1 at a free port below 32768.
func ListenLocal(ctx context.Context) (net.Listener, error) {
	var lc net.ListenConfig
	var err error
	for range 200 {
		var l net.Listener
		addr := net.JoinHostPort("127.0.0.1", strconv.Itoa(lowPort+rand.IntN(highPort-lowPort+1))) //nolint:gosec // a port, not a secret
		if l, err = lc.Listen(ctx, "tcp", addr); err == nil {
			return l, nil
		}
	}
	return nil, fmt.Errorf("no free port on 127.0.0.1 below 32768: %w", err)
}

// FreeLocalAddr returns "127.0.0.1:PORT" for a port below 32768 that was
// free a moment ago, for a server that must be told its address rather
// than handed a listener.
func FreeLocalAddr(ctx context.Context) (string, error) {
	l, err := ListenLocal(ctx)
	if err != nil {
		return "", err
	}
	addr := l.Addr().String()
	return addr, l.Close()
}
