package alertcorrtest_test

import (
	"context"
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
	// A FanOut over both: each gets a copy, delivered by Run.
	f, err := alertcorr.NewFanOut(alertcorr.FanOutConfig{},
		alertcorr.FanOutTarget{Name: "webhook", Notifier: &alertcorr.Webhook{URL: "http://" + l.Addr().String()}},
		alertcorr.FanOutTarget{Name: "am", Receiver: "r", Notifier: &alertcorr.Alertmanager{URL: "http://" + l.Addr().String()}})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan error, 1)
	go func() { done <- f.Run(ctx) }()
	alertcorrtest.Notifier(t, f, "r")
	for deadline := time.Now().Add(30 * time.Second); got.Load() < 8 && time.Now().Before(deadline); {
		time.Sleep(5 * time.Millisecond)
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatalf("FanOut.Run: %v", err)
	}
	if n := got.Load(); n != 8 {
		t.Fatalf("server got %d posts, want 8", n)
	}
}
