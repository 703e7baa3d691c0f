package testenv

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

// Carbon is a carbon-cache (Debian graphite-carbon) a test started: its
// plaintext line receiver on 127.0.0.1 and its whisper files in the test's
// temp dir. It runs in the foreground and is stopped by pid in t.Cleanup.
type Carbon struct {
	Addr       string // the plaintext protocol's address, host:port
	WhisperDir string // where the whisper files are
	Proc       *Process
}

// StartCarbon writes a carbon.conf and storage-schemas.conf (one-second
// points kept a day) into a temp dir and starts carbon-cache on free
// loopback ports. Tags are stored in whisper (_tagged/...) but no tag
// database is called.
func StartCarbon(t testing.TB) *Carbon {
	t.Helper()
	Require(t, CarbonCache)
	dir := t.TempDir()
	storage := filepath.Join(dir, "storage")
	whisper := filepath.Join(storage, "whisper")
	for _, d := range []string{whisper, filepath.Join(storage, "log"), filepath.Join(storage, "run")} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			t.Fatalf("testenv: carbon: %v", err)
		}
	}
	line, pickle, query := FreePort(t), FreePort(t), FreePort(t)
	conf := fmt.Sprintf(`[cache]
STORAGE_DIR = %[1]s
LOCAL_DATA_DIR = %[2]s
WHISPER_DIR = %[2]s
LOG_DIR = %[1]s/log
PID_DIR = %[1]s/run
ENABLE_TAGS = False
MAX_CACHE_SIZE = inf
MAX_UPDATES_PER_SECOND = inf
MAX_CREATES_PER_MINUTE = inf
LINE_RECEIVER_INTERFACE = 127.0.0.1
LINE_RECEIVER_PORT = %[3]d
ENABLE_UDP_LISTENER = False
PICKLE_RECEIVER_INTERFACE = 127.0.0.1
PICKLE_RECEIVER_PORT = %[4]d
CACHE_QUERY_INTERFACE = 127.0.0.1
CACHE_QUERY_PORT = %[5]d
LOG_LISTENER_CONN_SUCCESS = False
LOG_UPDATES = False
LOG_CACHE_HITS = False
CARBON_METRIC_INTERVAL = 0
WHISPER_AUTOFLUSH = True
`, storage, whisper, line, pickle, query)
	schemas := "[default]\npattern = .*\nretentions = 1s:1d\n"
	if err := os.WriteFile(filepath.Join(dir, "carbon.conf"), []byte(conf), 0o644); err != nil {
		t.Fatalf("testenv: carbon: %v", err)
	}
	if err := os.WriteFile(filepath.Join(dir, "storage-schemas.conf"), []byte(schemas), 0o644); err != nil {
		t.Fatalf("testenv: carbon: %v", err)
	}
	cmd := exec.Command(path(t, "carbon-cache"), "--config="+filepath.Join(dir, "carbon.conf"), //nolint:noctx // stopped by pid
		"--pidfile="+filepath.Join(storage, "run", "carbon.pid"), "--nodaemon", "--logfile=-", "start")
	p := startCmd(t, cmd)
	c := &Carbon{Addr: net.JoinHostPort("127.0.0.1", strconv.Itoa(line)), WhisperDir: whisper, Proc: p}
	waitListening(t, p, c.Addr)
	return c
}

// waitListening waits until addr accepts a TCP connection or p exits.
func waitListening(t testing.TB, p *Process, addr string) {
	t.Helper()
	deadline := time.Now().Add(readyTimeout)
	for {
		d := net.Dialer{Timeout: time.Second}
		conn, err := d.DialContext(context.Background(), "tcp", addr)
		if err == nil {
			_ = conn.Close()
			return
		}
		select {
		case <-p.Done():
			t.Fatalf("testenv: %s exited before listening on %s\n%s", p.Name, addr, p.Output())
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("testenv: %s not listening on %s: %v\n%s", p.Name, addr, err, p.Output())
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// WhisperFile returns the whisper file carbon stores series name in: dots
// are directories, and a tagged series ("name;tag=value;...", tags
// sorted) is _tagged/<3 hex>/<3 hex>/<sha256 of its name>.wsp, as carbon's
// TaggedSeries.encode puts it with TAG_HASH_FILENAMES (its default).
func (c *Carbon) WhisperFile(name string) string {
	if !strings.Contains(name, ";") {
		return filepath.Join(c.WhisperDir, filepath.FromSlash(strings.ReplaceAll(name, ".", "/"))+".wsp")
	}
	sum := sha256.Sum256([]byte(name))
	h := hex.EncodeToString(sum[:])
	return filepath.Join(c.WhisperDir, "_tagged", h[0:3], h[3:6], h+".wsp")
}

// Point is one stored point of a whisper series.
type Point struct {
	Time  time.Time
	Value float64
}

// Fetch reads series name back from its whisper file with whisper-fetch:
// the points since from, empty slots left out. Carbon writes behind its
// cache, so Fetch reads again until at least want points are there or
// timeout passes, and returns what it last read (nil when the file never
// appeared).
func (c *Carbon) Fetch(t testing.TB, name string, from time.Time, want int, timeout time.Duration) []Point {
	t.Helper()
	file := c.WhisperFile(name)
	deadline := time.Now().Add(timeout)
	for {
		var pts []Point
		if exists(file) {
			pts = c.fetchFile(t, file, from)
		}
		if len(pts) >= want || time.Now().After(deadline) {
			return pts
		}
		time.Sleep(100 * time.Millisecond)
	}
}

func (c *Carbon) fetchFile(t testing.TB, file string, from time.Time) []Point {
	t.Helper()
	out, err := exec.Command(path(t, "whisper-fetch"), "--from="+strconv.FormatInt(from.Unix(), 10), file).CombinedOutput() //nolint:noctx // a short read
	if err != nil {
		t.Fatalf("testenv: whisper-fetch %s: %v\n%s", file, err, out)
	}
	var pts []Point
	for line := range strings.Lines(string(out)) {
		f := strings.Fields(line)
		if len(f) != 2 || f[1] == "None" {
			continue
		}
		ts, err1 := strconv.ParseInt(f[0], 10, 64)
		v, err2 := strconv.ParseFloat(f[1], 64)
		if err1 != nil || err2 != nil {
			t.Fatalf("testenv: whisper-fetch line %q", line)
		}
		pts = append(pts, Point{Time: time.Unix(ts, 0), Value: v})
	}
	return pts
}
