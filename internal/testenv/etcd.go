package testenv

import (
	"fmt"
	"io"
	"net/http"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

// EtcdCluster is a cluster of separate etcd-server processes (Debian's
// etcd, not the daemons' embedded one), each member on 127.0.0.1.
type EtcdCluster struct {
	// Endpoints are the members' client URLs, in member order.
	Endpoints []string
	members   []*etcdMember
}

type etcdMember struct {
	name, dir, peer, client string
	args                    []string
	proc                    *Process
}

// StartEtcdCluster starts n members (n ≥ 1) in one cluster and returns once
// every member answers its health check. They are stopped by pid in
// t.Cleanup.
func StartEtcdCluster(t testing.TB, n int) *EtcdCluster {
	t.Helper()
	Require(t, EtcdServer)
	dir := t.TempDir()
	c := &EtcdCluster{}
	var initial []string
	for i := range n {
		m := &etcdMember{
			name:   "m" + strconv.Itoa(i),
			dir:    filepath.Join(dir, "m"+strconv.Itoa(i)),
			peer:   "http://127.0.0.1:" + strconv.Itoa(FreePort(t)),
			client: "http://127.0.0.1:" + strconv.Itoa(FreePort(t)),
		}
		c.members = append(c.members, m)
		c.Endpoints = append(c.Endpoints, m.client)
		initial = append(initial, m.name+"="+m.peer)
	}
	for _, m := range c.members {
		m.args = []string{
			"--name", m.name, "--data-dir", m.dir,
			"--listen-peer-urls", m.peer, "--initial-advertise-peer-urls", m.peer,
			"--listen-client-urls", m.client, "--advertise-client-urls", m.client,
			"--initial-cluster", strings.Join(initial, ","), "--initial-cluster-state", "new",
			"--initial-cluster-token", "shoal-test", "--logger", "zap", "--log-level", "warn",
			"--heartbeat-interval", "50", "--election-timeout", "500",
		}
		m.proc = StartProcess(t, path(t, "etcd"), m.args...)
	}
	for i := range c.members {
		c.waitHealthy(t, i)
	}
	return c
}

// Kill kills member i with SIGKILL, as a crash would.
func (c *EtcdCluster) Kill(t testing.TB, i int) {
	t.Helper()
	c.members[i].proc.Kill(t)
}

// Restart starts member i again on its data.
func (c *EtcdCluster) Restart(t testing.TB, i int) {
	t.Helper()
	m := c.members[i]
	args := append([]string(nil), m.args...)
	for j, a := range args {
		if a == "new" {
			args[j] = "existing"
		}
	}
	m.proc = StartProcess(t, path(t, "etcd"), args...)
	c.waitHealthy(t, i)
}

// waitHealthy waits until member i's client port takes connections and
// its /health answers true.
func (c *EtcdCluster) waitHealthy(t testing.TB, i int) {
	t.Helper()
	m := c.members[i]
	deadline := time.Now().Add(30 * time.Second)
	cl := http.Client{Timeout: time.Second}
	for {
		var err error
		req, _ := http.NewRequestWithContext(t.Context(), http.MethodGet, m.client+"/health", nil)
		resp, err := cl.Do(req)
		if err == nil {
			body, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
			_ = resp.Body.Close()
			if strings.Contains(string(body), `"health":"true"`) {
				return
			}
			err = fmt.Errorf("%s: %s", resp.Status, body)
		}
		if time.Now().After(deadline) {
			t.Fatalf("testenv: etcd member %s not healthy after 30 s: %v", m.name, err)
		}
		time.Sleep(100 * time.Millisecond)
	}
}
