package procview_test

import (
	"context"
	"fmt"
	"net"
	"os"
	"os/signal"
	"runtime"
	"strconv"
	"syscall"
	"testing"

	"github.com/shoalkit/shoal/cgroupx/procview"
)

// Environment of a re-executed test binary that serves a holder's
// connection, as a restarted agent would.
const (
	envServeSocket = "PROCVIEW_TEST_SERVE_SOCKET"
	envServeParent = "PROCVIEW_TEST_SERVE_PARENT"
	envStuckSocket = "PROCVIEW_TEST_STUCK_SOCKET"
	envSysinfo     = "PROCVIEW_TEST_SYSINFO"
	envHoldMount   = "PROCVIEW_TEST_HOLD_MOUNT"
	envHoldSocket  = "PROCVIEW_TEST_HOLD_SOCKET"
	envHoldAnon    = "PROCVIEW_TEST_HOLD_ANON"
	// envSeccompSocket: take seccomp listeners there (with the holder of
	// envServeSocket and the parent envServeParent), as an agent does.
	envSeccompSocket = "PROCVIEW_TEST_SECCOMP_SOCKET"
)

func TestMain(m *testing.M) {
	if sock := os.Getenv(envSeccompSocket); sock != "" {
		os.Exit(seccompChild(sock, os.Getenv(envServeSocket), os.Getenv(envServeParent)))
	}
	if sock := os.Getenv(envServeSocket); sock != "" {
		os.Exit(serveChild(sock, os.Getenv(envServeParent)))
	}
	if mnt := os.Getenv(envHoldMount); mnt != "" {
		os.Exit(holdChild(mnt, os.Getenv(envHoldSocket)))
	}
	if mib := os.Getenv(envHoldAnon); mib != "" {
		os.Exit(holdAnon(mib))
	}
	if os.Getenv(envSysinfo) != "" {
		os.Exit(sysinfoChild())
	}
	if sock := os.Getenv(envStuckSocket); sock != "" {
		err := procview.TakeOneRequest(context.Background(), sock, func(op uint32) {
			fmt.Fprintln(os.Stderr, "took request", op)
		})
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	os.Exit(m.Run())
}

// serveChild dials the holder and serves until SIGTERM (or SIGKILL).
func serveChild(sock, parent string) int {
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM)
	defer stop()
	srv, err := procview.New(ctx, procview.Config{Parents: []string{parent}, LoadInterval: 0})
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	conn, err := procview.Dial(ctx, sock)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer conn.Close()
	fmt.Fprintln(os.Stderr, "serving")
	if err := srv.Serve(ctx, conn); err != nil && ctx.Err() == nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	return 0
}

// holdChild holds the view at mnt (taking its connection back from a
// server if it is mounted already) until SIGTERM (or SIGKILL); SIGTERM
// leaves the view mounted, as a crash would.
func holdChild(mnt, sock string) int {
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM)
	defer stop()
	h, err := procview.NewHolder(ctx, procview.HolderConfig{MountPoint: mnt, Socket: sock})
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	fmt.Fprintln(os.Stderr, "holding")
	if err := h.Run(ctx); err != nil && ctx.Err() == nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	return 0
}

// holdAnon touches mib MiB of anonymous memory, says so, and keeps it
// until SIGTERM (or SIGKILL): memory in use in a container.
func holdAnon(mib string) int {
	n, err := strconv.Atoi(mib)
	if err != nil || n <= 0 {
		fmt.Fprintln(os.Stderr, "bad", envHoldAnon, mib)
		return 1
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM)
	defer stop()
	mem := make([]byte, n<<20)
	for i := 0; i < len(mem); i += 4096 { // a byte a page faults it in
		mem[i] = 1
	}
	fmt.Println("holding")
	<-ctx.Done()
	runtime.KeepAlive(mem)
	return 0
}

// seccompChild takes seccomp listeners on sock and keeps them with the
// holder on holderSock until SIGTERM (or SIGKILL).
func seccompChild(sock, holderSock, parent string) int {
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM)
	defer stop()
	srv, err := procview.New(ctx, procview.Config{Parents: []string{parent}, HolderSocket: holderSock})
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	ln, err := net.ListenUnix("unix", &net.UnixAddr{Name: sock, Net: "unix"})
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer ln.Close()
	if err := srv.AcceptSeccomp(ctx, ln); err != nil && ctx.Err() == nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	return 0
}
