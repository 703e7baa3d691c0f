package testenv

import (
	"bytes"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"
)

// TestFabric moves data between two fabric hosts over HTTP and checks what
// the kernel saw: the bytes each host sent, and a transfer no faster than
// the shaped link allows (a lower bound, which no slow machine can break).
func TestFabric(t *testing.T) {
	const rate = 40_000_000 // bit/s: 5 MB/s
	f := NewFabric(t, 2, rate)
	body := bytes.Repeat([]byte("shoal fabric "), 2<<20/13)
	srv := &http.Server{
		Handler: http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
			_, _ = w.Write(body)
		}),
		ReadHeaderTimeout: 5 * time.Second,
	}
	l := f.Listen(t, 1)
	if want := f.Addr(1) + ":"; !strings.HasPrefix(l.Addr().String(), want) {
		t.Fatalf("listener on %s, want %s...", l.Addr(), want)
	}
	go func() { _ = srv.Serve(l) }()
	t.Cleanup(func() { _ = srv.Close() })

	sent0, sent1 := f.Sent(t, 0), f.Sent(t, 1)
	req, err := http.NewRequestWithContext(t.Context(), http.MethodGet, "http://"+l.Addr().String()+"/", nil)
	if err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	resp, err := f.Client(t, 0).Do(req)
	if err != nil {
		t.Fatal(err)
	}
	got, err := io.ReadAll(resp.Body)
	_ = resp.Body.Close()
	took := time.Since(start)
	if err != nil || !bytes.Equal(got, body) {
		t.Fatalf("got %d bytes, %v; want the %d-byte body", len(got), err, len(body))
	}
	up0, up1 := f.Sent(t, 0)-sent0, f.Sent(t, 1)-sent1
	if n := int64(len(body)); up1 < n || up1 > n+n/10 {
		t.Errorf("host 1 sent %d bytes for a %d-byte body, want it plus a few headers", up1, n)
	}
	if up0 > int64(len(body))/20 {
		t.Errorf("host 0 sent %d bytes, want only requests and acks", up0)
	}
	t.Logf("%d bytes in %v: %.1f Mbit/s on a %d Mbit/s link", len(body), took, float64(len(body))*8/took.Seconds()/1e6, rate/1_000_000)
	// The token buckets let a burst through at once and HTB's accounting
	// of loopback super-packets is coarse (measured: 3–8 % over the rate);
	// 80 % of the link's time is still far above an unshaped loopback's.
	if floor := time.Duration(0.8 * float64(len(body)) * 8 / rate * float64(time.Second)); took < floor {
		t.Errorf("%d bytes took %v on a %d bit/s link, faster than the link allows (%v)", len(body), took, rate, floor)
	}
}

// TestRegistryOnFabric runs the real registry as a fabric host and reaches
// it from another.
func TestRegistryOnFabric(t *testing.T) {
	f := NewFabric(t, 2, 100_000_000)
	r := StartRegistry(t, OnFabric(f, 0))
	if want := f.Addr(0) + ":"; !strings.HasPrefix(r.Addr, want) {
		t.Fatalf("registry on %s, want %s...", r.Addr, want)
	}
	before := f.Sent(t, 0)
	if resp := doWith(t, f.Client(t, 1), http.MethodGet, r.URL+"/v2/", nil); resp.StatusCode != http.StatusOK {
		t.Fatalf("GET /v2/ from host 1: %s", resp.Status)
	}
	if f.Sent(t, 0) == before {
		t.Error("the registry's answer was not counted as host 0's traffic")
	}
	// The registry is not reachable from the test's own namespace.
	c := &http.Client{Timeout: time.Second}
	req, err := http.NewRequestWithContext(t.Context(), http.MethodGet, r.URL+"/v2/", nil)
	if err != nil {
		t.Fatal(err)
	}
	if resp, err := c.Do(req); err == nil {
		_ = resp.Body.Close()
		t.Errorf("registry inside the fabric answered the host namespace: %s", resp.Status)
	}
	old := r.Pid()
	r.Restart(t)
	if r.Pid() == old {
		t.Fatal("restart kept the same pid")
	}
	if resp := doWith(t, f.Client(t, 1), http.MethodGet, r.URL+"/v2/", nil); resp.StatusCode != http.StatusOK {
		t.Fatalf("GET /v2/ after restart: %s", resp.Status)
	}
}

func TestParseSent(t *testing.T) {
	for _, tc := range []struct {
		out  string
		want int64
		ok   bool
	}{
		{"class htb 1:1 root prio 0 rate 80Mbit ceil 80Mbit burst 64Kb cburst 64Kb \n Sent 123456 bytes 89 pkt (dropped 0, overlimits 0 requeues 0) \n backlog 0b 0p requeues 0\n", 123456, true},
		{" Sent 0 bytes 0 pkt (dropped 0, overlimits 0 requeues 0)\n", 0, true},
		{"", 0, false},
		{"class htb 1:1 root\n", 0, false},
		{" Sent -5 bytes 0 pkt\n", 0, false},
		{" Sent 12x bytes 0 pkt\n", 0, false},
		{" Sent 99999999999999999999999 bytes\n", 0, false},
	} {
		got, err := parseSent(tc.out)
		if (err == nil) != tc.ok || got != tc.want {
			t.Errorf("parseSent(%q) = %d, %v; want %d, ok=%v", tc.out, got, err, tc.want, tc.ok)
		}
	}
}

func FuzzParseSent(f *testing.F) {
	f.Add(" Sent 123 bytes 4 pkt\n")
	f.Add("class htb 1:2\n Sent 0 bytes 0 pkt\n")
	f.Fuzz(func(t *testing.T, out string) {
		n, err := parseSent(out)
		if err == nil && n < 0 {
			t.Fatalf("parseSent(%q) = %d", out, n)
		}
		if err != nil && n != 0 {
			t.Fatalf("parseSent(%q) = %d with error %v", out, n, err)
		}
	})
}
