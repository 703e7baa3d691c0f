package controller_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
	"go.uber.org/zap"

	"github.com/shoalkit/shoal/examples/internal/controller"
	"github.com/shoalkit/shoal/examples/internal/embedetcd"
	"github.com/shoalkit/shoal/examples/internal/simnode"
	"github.com/shoalkit/shoal/examples/internal/state"
)

// harness is an embedded etcd, simulated nodes and controllers, each
// controller's API behind an httptest server.
type harness struct {
	t     testing.TB
	eps   []string
	cli   *clientv3.Client
	fleet *simnode.Fleet
	token string

	mu    sync.Mutex
	ctrls []*ctrl
}

type ctrl struct {
	c      *controller.Controller
	cli    *clientv3.Client
	srv    *httptest.Server
	cancel context.CancelFunc
	done   chan struct{}
}

func newClient(t testing.TB, eps []string) *clientv3.Client {
	cli, err := clientv3.New(clientv3.Config{Endpoints: eps, DialTimeout: 5 * time.Second, Logger: zap.NewNop()})
	if err != nil {
		t.Fatal(err)
	}
	return cli
}

func newHarness(t testing.TB, nodes []state.Node, fail func(*state.Instance) (state.Phase, string)) *harness {
	t.Helper()
	srv, err := embedetcd.Start(t.Context(), embedetcd.Config{Dir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(srv.Close)
	return newHarnessOn(t, srv.Endpoints(), nodes, fail)
}

// newHarnessOn is newHarness on an etcd of the caller's.
func newHarnessOn(t testing.TB, eps []string, nodes []state.Node, fail func(*state.Instance) (state.Phase, string)) *harness {
	t.Helper()
	h := &harness{t: t, eps: eps}
	h.cli = newClient(t, eps)
	var err error
	h.fleet, err = simnode.Start(t.Context(), simnode.Config{Etcd: h.cli, Nodes: nodes, LeaseTTL: 2 * time.Second, Fail: fail})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		h.mu.Lock()
		for _, c := range h.ctrls {
			c.stop()
		}
		h.mu.Unlock()
		if err := h.fleet.Close(); err != nil {
			t.Errorf("simulated nodes: %v", err)
		}
		h.cli.Close()
	})
	return h
}

// start runs a controller with short timings and returns it once its
// API answers.
func (h *harness) start(name string) *ctrl {
	h.t.Helper()
	return h.startWith(name, nil)
}

// startWith is start with the Config edited first.
func (h *harness) startWith(name string, edit func(*controller.Config)) *ctrl {
	h.t.Helper()
	cli := newClient(h.t, h.eps)
	srv := httptest.NewUnstartedServer(nil)
	cfg := controller.Config{
		Etcd: cli, Name: name, Advertise: srv.Listener.Addr().String(),
		SessionTTL: 2 * time.Second, NodeGrace: 2 * time.Second, Resync: 500 * time.Millisecond,
	}
	if edit != nil {
		edit(&cfg)
	}
	c, err := controller.New(cfg)
	if err != nil {
		h.t.Fatal(err)
	}
	tok, err := c.EnsureToken(h.t.Context())
	if err != nil {
		h.t.Fatal(err)
	}
	if h.token != "" && tok != h.token {
		h.t.Fatalf("a second controller got another token")
	}
	h.token = tok
	ctx, cancel := context.WithCancel(context.Background())
	srv.Config.Handler = c.Handler()
	srv.Start()
	k := &ctrl{c: c, cli: cli, srv: srv, cancel: cancel, done: make(chan struct{})}
	go func() {
		defer close(k.done)
		defer cli.Close()
		if err := c.Run(ctx); err != nil {
			h.t.Errorf("controller %s: %v", name, err)
		}
	}()
	h.mu.Lock()
	h.ctrls = append(h.ctrls, k)
	h.mu.Unlock()
	return k
}

func (k *ctrl) stop() {
	k.cancel()
	<-k.done
	k.srv.Close()
}

// crash drops the controller's etcd connection, as a dead process's would:
// it cannot resign, so its leadership ends only when its lease runs out.
func (k *ctrl) crash() {
	_ = k.cli.Close()
}

// leader waits for one of the controllers to lead and returns it.
func (h *harness) leader() *ctrl {
	h.t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for time.Now().Before(deadline) {
		h.mu.Lock()
		for _, k := range h.ctrls {
			if k.c.Leading() {
				h.mu.Unlock()
				return k
			}
		}
		h.mu.Unlock()
		time.Sleep(20 * time.Millisecond)
	}
	h.t.Fatal("no controller leads after 15 s")
	return nil
}

// call makes an API call and decodes a 2xx answer into out; it returns the
// status and, on an error status, the problem.
func (h *harness) call(k *ctrl, method, path, reqID string, body, out any) (int, controller.Problem) {
	h.t.Helper()
	var rd io.Reader
	switch b := body.(type) {
	case nil:
	case []byte:
		rd = bytes.NewReader(b)
	default:
		j, _ := json.Marshal(b)
		rd = bytes.NewReader(j)
	}
	req, _ := http.NewRequestWithContext(h.t.Context(), method, k.srv.URL+path, rd)
	req.Header.Set("Authorization", "Bearer "+h.token)
	if reqID != "" {
		req.Header.Set("X-Request-Id", reqID)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		h.t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	var p controller.Problem
	if resp.StatusCode >= 300 {
		if err := json.Unmarshal(raw, &p); err != nil {
			h.t.Fatalf("%s %s: %d with a body that is no problem: %s", method, path, resp.StatusCode, raw)
		}
		if p.RequestID != resp.Header.Get("X-Request-Id") || p.Code == "" {
			h.t.Errorf("%s %s: problem %+v lacks its code or request id", method, path, p)
		}
		return resp.StatusCode, p
	}
	if out != nil {
		if err := json.Unmarshal(raw, out); err != nil {
			h.t.Fatalf("%s %s: %v in %s", method, path, err, raw)
		}
	}
	return resp.StatusCode, p
}

// must makes a call that must succeed.
func (h *harness) must(k *ctrl, method, path, reqID string, body, out any) {
	h.t.Helper()
	if st, p := h.call(k, method, path, reqID, body, out); st >= 300 {
		h.t.Fatalf("%s %s: %d %+v", method, path, st, p)
	}
}

// eventually polls cond for up to 20 s.
func (h *harness) eventually(what string, cond func() (bool, string)) {
	h.t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	var last string
	for time.Now().Before(deadline) {
		ok, msg := cond()
		if ok {
			return
		}
		last = msg
		time.Sleep(50 * time.Millisecond)
	}
	h.t.Fatalf("%s: not after 20 s (%s)", what, last)
}

// desired reads the desired instances straight from etcd.
func (h *harness) desired() []state.Instance {
	h.t.Helper()
	resp, err := h.cli.Get(h.t.Context(), state.Prefix+"desired/", clientv3.WithPrefix())
	if err != nil {
		h.t.Fatal(err)
	}
	var out []state.Instance
	for _, kv := range resp.Kvs {
		var in state.Instance
		if err := state.Decode(kv.Value, &in); err != nil {
			h.t.Fatalf("%s: %v", kv.Key, err)
		}
		out = append(out, in)
	}
	return out
}

func (h *harness) count(prefix string) int {
	h.t.Helper()
	resp, err := h.cli.Get(h.t.Context(), prefix, clientv3.WithPrefix(), clientv3.WithCountOnly())
	if err != nil {
		h.t.Fatal(err)
	}
	return int(resp.Count)
}

func webApp(replicas int) state.AppSpec {
	return state.AppSpec{
		Name: "web", Team: "shop", Image: "127.0.0.1:5000/web:1", Command: []string{"/bin/httpd", "-f"},
		Resources: state.Resources{CPUs: 1, MemoryBytes: 256 << 20},
		Replicas:  replicas, Network: &state.AppNetwork{VLAN: 10, Port: 80},
		Placement: state.PlacementSpec{Spread: []state.SpreadSpec{{Key: "rack", MaxSkew: 1}}},
	}
}

var pool10 = state.NetworkPool{VLAN: 10, Subnet: mustPrefix("10.0.10.0/24"), Gateway: mustAddr("10.0.10.1")}

func (h *harness) byRack(ins []state.Instance) map[string]int {
	rack := map[string]string{}
	for _, n := range simnode.Racks(3, 2, state.Capacity{}) {
		rack[n.Name] = n.Rack
	}
	out := map[string]int{}
	for _, in := range ins {
		out[rack[in.Node]]++
	}
	return out
}

func ids(ins []state.Instance) string {
	var s []string
	for _, in := range ins {
		s = append(s, fmt.Sprintf("%s@%s", in.ID, in.Node))
	}
	return strings.Join(s, " ")
}
