package alertcorrtest_test

import (
	"net"
	"net/http"
	"strconv"
	"sync/atomic"
	"testing"
	"time"

	"github.com/shoalkit/shoal/alertcorr"
	"github.com/shoalkit/shoal/alertcorr/alertcorrtest"
	"github.com/shoalkit/shoal/alertcorr/storm"
	"github.com/shoalkit/shoal/internal/testenv"
)

func TestStormIsATopologySource(t *testing.T) {
	s, err := storm.Generate(storm.Config{Seed: 1, Hosts: 100, ContainersPerHost: 5, HostFaults: 1})
	if err != nil {
		t.Fatal(err)
	}
	alertcorrtest.TopologySource(t, s)
}

func TestWebhookIsANotifier(t *testing.T) {
	var lc net.ListenConfig
	l, err := lc.Listen(t.Context(), "tcp", "127.0.0.1:"+strconv.Itoa(testenv.FreePort(t)))
	if err != nil {
		t.Fatal(err)
	}
	var got atomic.Int32
	srv := &http.Server{ReadHeaderTimeout: time.Second, Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { got.Add(1) })}
	go func() { _ = srv.Serve(l) }()
	t.Cleanup(func() { _ = srv.Close() })
	alertcorrtest.Notifier(t, &alertcorr.Webhook{URL: "http://" + l.Addr().String()}, "r")
	alertcorrtest.Notifier(t, alertcorr.Receivers{"r": &alertcorr.Alertmanager{URL: "http://" + l.Addr().String()}}, "r")
	if n := got.Load(); n != 4 {
		t.Fatalf("server got %d posts, want 4", n)
	}
}
