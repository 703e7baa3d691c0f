package metrics

import (
	"bufio"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/shoalkit/shoal/internal/testenv"
)

// countTCPByParsing is cAdvisor's method (container/libcontainer's
// scanTCPStats), written here for the side-by-side benchmark: read
// /proc/<pid>/net/tcp and tcp6 and count every socket line by its state.
func countTCPByParsing(procNet string) (map[uint64]uint64, error) {
	states := map[uint64]uint64{}
	for _, name := range []string{"tcp", "tcp6"} {
		f, err := os.Open(filepath.Join(procNet, name))
		if err != nil {
			return nil, err
		}
		sc := bufio.NewScanner(f)
		sc.Scan() // header
		for sc.Scan() {
			fields := strings.Fields(sc.Text())
			if len(fields) < 4 {
				continue
			}
			st, err := strconv.ParseUint(fields[3], 16, 8)
			if err != nil {
				_ = f.Close()
				return nil, err
			}
			states[st]++
		}
		err = sc.Err()
		_ = f.Close()
		if err != nil {
			return nil, err
		}
	}
	return states, nil
}

// tcpNamespace starts the test binary as a listener and a dialer with n
// connections to it (one process could not hold both ends of 10,000) in a
// new network namespace and returns /proc/<pid>/net of one of them.
func tcpNamespace(b *testing.B, n int) string {
	b.Helper()
	ns := testenv.NewNetns(b)
	ns.Start(b, "env", "SHOAL_METRICS_HELPER=listen", os.Args[0], "8080")
	p := ns.Start(b, "env", "SHOAL_METRICS_HELPER=dial", os.Args[0], "8080", strconv.Itoa(n))
	dir := fmt.Sprintf("/proc/%d/net", p.Pid)
	sock := keptFile{path: filepath.Join(dir, "sockstat")}
	var buf []byte
	for deadline := time.Now().Add(60 * time.Second); ; {
		var err error
		if buf, err = readOnce(sock.path, buf); err == nil {
			if st, err := parseSockstat(buf, "TCP:"); err == nil && st.inUse == uint64(2*n+1) {
				return dir
			}
		}
		if time.Now().After(deadline) {
			b.Fatalf("helper did not open %d connections: %s\n%s", n, buf, p.Output())
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func readOnce(path string, buf []byte) ([]byte, error) {
	k := keptFile{path: path}
	defer k.close()
	return k.read(buf)
}

// BenchmarkTCPCount counts the TCP sockets of a namespace with 10 to
// 10,000 connections (twice as many sockets) two ways in the same run:
// our sockstat read (constant) and cAdvisor's parse of every line of
// /proc/net/tcp and tcp6 (linear).
func BenchmarkTCPCount(b *testing.B) {
	testenv.Require(b, testenv.Netns)
	for _, n := range []int{10, 100, 1000, 10000} {
		dir := tcpNamespace(b, n)
		b.Run(fmt.Sprintf("conns=%d/sockstat", n), func(b *testing.B) {
			k := keptFile{path: filepath.Join(dir, "sockstat")}
			k6 := keptFile{path: filepath.Join(dir, "sockstat6")}
			defer k.close()
			defer k6.close()
			var buf []byte
			for b.Loop() {
				var err error
				if buf, err = k.read(buf); err != nil {
					b.Fatal(err)
				}
				st, err := parseSockstat(buf, "TCP:")
				if err != nil || st.inUse != uint64(2*n+1) {
					b.Fatalf("%+v %v", st, err)
				}
				if buf, err = k6.read(buf); err != nil {
					b.Fatal(err)
				}
				if _, err := parseSockstat(buf, "TCP6:"); err != nil {
					b.Fatal(err)
				}
			}
		})
		b.Run(fmt.Sprintf("conns=%d/cadvisor-proc-net-tcp", n), func(b *testing.B) {
			for b.Loop() {
				states, err := countTCPByParsing(dir)
				if err != nil {
					b.Fatal(err)
				}
				if states[1] != uint64(2*n) { // ESTABLISHED
					b.Fatalf("%d established, want %d", states[1], 2*n)
				}
			}
		})
	}
}

// BenchmarkFDCount counts the open descriptors of one process holding 10
// or 1,000: stat of /proc/<pid>/fd (its size is the count since Linux 6.2)
// and the directory read older kernels need.
func BenchmarkFDCount(b *testing.B) {
	for _, n := range []int{10, 1000} {
		var files []*os.File
		for range n {
			f, err := os.Open(os.DevNull)
			if err != nil {
				b.Fatal(err)
			}
			files = append(files, f)
		}
		c := newFDCounter("/proc")
		pid := os.Getpid()
		if !c.statSize {
			b.Log("kernel does not report the fd count in st_size")
		}
		b.Run(fmt.Sprintf("fds=%d/stat", n), func(b *testing.B) {
			for b.Loop() {
				if c.count(pid) < uint64(n) {
					b.Fatal("too few")
				}
			}
		})
		b.Run(fmt.Sprintf("fds=%d/readdir", n), func(b *testing.B) {
			dir := fmt.Sprintf("/proc/%d/fd", pid)
			for b.Loop() {
				if readdirCount(dir) < uint64(n) {
					b.Fatal("too few")
				}
			}
		})
		for _, f := range files {
			_ = f.Close()
		}
	}
}
