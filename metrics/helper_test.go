package metrics_test

import (
	"fmt"
	"net"
	"os"
	"os/signal"
	"strconv"
	"syscall"
	"testing"
	"time"
)

// helperEnv makes the test binary a helper process for the integration
// tests: the load a container puts on the collector (spinning, allocating,
// holding files or TCP connections open).
const helperEnv = "SHOAL_METRICS_HELPER"

func TestMain(m *testing.M) {
	if mode := os.Getenv(helperEnv); mode != "" {
		os.Exit(runHelper(mode, os.Args[1:]))
	}
	os.Exit(m.Run())
}

// helperArgs returns the command that runs the test binary as helper mode
// with args: env sets the mode, so a testenv Cgroup or Namespace can start
// it.
func helperArgs(mode string, args ...string) (string, []string) {
	return "env", append([]string{helperEnv + "=" + mode, os.Args[0]}, args...)
}

func runHelper(mode string, args []string) int {
	arg := func(i int) int {
		if i >= len(args) {
			return 0
		}
		n, _ := strconv.Atoi(args[i])
		return n
	}
	switch mode {
	case "spin": // a busy container: count until the counter wraps (never)
		for n := uint64(1); n != 0; n++ {
		}
		return 0
	case "alloc": // alloc BYTES: touch every page, then hold
		// Mapped outside the Go heap: the race detector keeps no shadow
		// of it, so the resident size is the pages touched, whenever
		// the test samples it.
		b, err := syscall.Mmap(-1, 0, arg(0), syscall.PROT_READ|syscall.PROT_WRITE, syscall.MAP_PRIVATE|syscall.MAP_ANONYMOUS)
		if err != nil {
			fmt.Println(err)
			return 1
		}
		for i := 0; i < len(b); i += 4096 {
			b[i] = 1
		}
		fmt.Println("ready")
		for {
			time.Sleep(time.Hour)
			b[0]++
		}
	case "files": // files N: hold N more open descriptors
		var fs []*os.File
		for range arg(0) {
			f, err := os.Open("/dev/null")
			if err != nil {
				fmt.Println(err)
				return 1
			}
			fs = append(fs, f)
		}
		fmt.Println("ready")
		time.Sleep(time.Hour)
		_ = fs
	case "tcp": // tcp N K: N connections to itself; on SIGUSR1 the client closes K of them first (TIME-WAIT)
		return tcpHelper(arg(0), arg(1))
	case "listen": // listen PORT: accept and hold every connection (the server half, for more connections than one process may hold)
		return listenHelper(arg(0))
	case "dial": // dial PORT N: hold N connections to 127.0.0.1:PORT
		return dialHelper(arg(0), arg(1))
	}
	return 2
}

func tcpHelper(n, k int) int {
	l, err := net.Listen("tcp4", "127.0.0.1:0")
	if err != nil {
		fmt.Println(err)
		return 1
	}
	accepted := make(chan net.Conn, n)
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			accepted <- c
		}
	}()
	var clients, servers []net.Conn
	for range n {
		c, err := net.Dial("tcp4", l.Addr().String())
		if err != nil {
			fmt.Println(err)
			return 1
		}
		clients = append(clients, c)
		servers = append(servers, <-accepted)
	}
	fmt.Println("ready")
	sig := make(chan os.Signal, 1)
	signal.Notify(sig, syscall.SIGUSR1)
	<-sig
	// The side that closes first goes to TIME-WAIT: close the clients,
	// then their peers.
	for i := range k {
		_ = clients[i].Close()
	}
	time.Sleep(100 * time.Millisecond)
	for i := range k {
		_ = servers[i].Close()
	}
	fmt.Println("closed")
	time.Sleep(time.Hour)
	return 0
}

func listenHelper(port int) int {
	l, err := net.Listen("tcp4", fmt.Sprintf("127.0.0.1:%d", port))
	if err != nil {
		fmt.Println(err)
		return 1
	}
	held := map[net.Conn]bool{} // held open, never read
	for {
		c, err := l.Accept()
		if err != nil {
			fmt.Println(err, len(held))
			return 1
		}
		held[c] = true
	}
}

func dialHelper(port, n int) int {
	var held []net.Conn
	for len(held) < n {
		c, err := net.Dial("tcp4", fmt.Sprintf("127.0.0.1:%d", port))
		if err != nil {
			time.Sleep(10 * time.Millisecond) // the listener may not be up yet
			continue
		}
		held = append(held, c)
	}
	fmt.Println("ready")
	time.Sleep(time.Hour)
	return 0
}
