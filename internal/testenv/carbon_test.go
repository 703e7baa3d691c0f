package testenv

import (
	"fmt"
	"net"
	"testing"
	"time"
)

func TestCarbonRoundTrip(t *testing.T) {
	c := StartCarbon(t)
	conn, err := net.Dial("tcp", c.Addr)
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now().Truncate(time.Second)
	if _, err := fmt.Fprintf(conn, "test.plain 42 %d\ntest.tagged;b=2;a=1.5 7 %d\n", now.Unix(), now.Unix()); err != nil {
		t.Fatal(err)
	}
	_ = conn.Close()
	if pts := c.Fetch(t, "test.plain", now.Add(-time.Minute), 1, 10*time.Second); len(pts) != 1 || pts[0].Value != 42 || !pts[0].Time.Equal(now) {
		t.Errorf("plain series read back %v, want 42 at %v", pts, now)
	}
	// carbon sorts the tags of a tagged series.
	if pts := c.Fetch(t, "test.tagged;a=1.5;b=2", now.Add(-time.Minute), 1, 10*time.Second); len(pts) != 1 || pts[0].Value != 7 {
		t.Errorf("tagged series read back %v, want 7", pts)
	}
}

func TestCheckMetrics(t *testing.T) {
	if out := CheckMetrics(t, []byte("# HELP a_total A counter.\n# TYPE a_total counter\na_total 1\n")); out != "" {
		t.Errorf("clean metrics: %s", out)
	}
	if out := CheckMetrics(t, []byte("# HELP a A counter.\n# TYPE a counter\na 1\n")); out == "" {
		t.Error("a counter without _total passed promtool")
	}
}
