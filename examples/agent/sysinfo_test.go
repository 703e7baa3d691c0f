package main

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/shoalkit/shoal/cgroupx/procview"
	"github.com/shoalkit/shoal/examples/internal/container"
	"github.com/shoalkit/shoal/examples/internal/state"
	"github.com/shoalkit/shoal/internal/testenv"
)

// TestSysinfoFlag runs the agent binary with -procview, -procview-socket
// and -sysinfo-socket over a view held in this process: an instance with
// 48 MiB, whose init is the binary's own re-exec, sees its 48 MiB in
// BusyBox free, which asks sysinfo(2).
func TestSysinfoFlag(t *testing.T) {
	w := newWorld(t)
	testenv.RequireFUSE(t)
	if err := container.SeccompNotifySupported(); err != nil {
		if os.Getenv(testenv.IntegrationEnv) == "require" && container.SeccompAvailable() {
			t.Fatal(err)
		}
		t.Skip(err)
	}
	tmp := t.TempDir()
	mnt, holderSock, sysinfoSock := filepath.Join(tmp, "view"), filepath.Join(tmp, "holder.sock"), filepath.Join(tmp, "sysinfo.sock")
	if err := os.Mkdir(mnt, 0o755); err != nil {
		t.Fatal(err)
	}
	h, err := procview.NewHolder(t.Context(), procview.HolderConfig{MountPoint: mnt, Socket: holderSock})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- h.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; !errors.Is(err, context.Canceled) {
			t.Errorf("holder: %v", err)
		}
		if err := h.Close(); err != nil {
			t.Error(err)
		}
	})

	agent := w.start("-procview", mnt, "-procview-socket", holderSock, "-sysinfo-socket", sysinfoSock)
	w.put(state.Instance{
		ID: "free-1", App: "free", Node: "n1", Generation: 1, RequestID: "req-free",
		Image: w.ref, Kind: state.Thin, Command: []string{"/bin/sh", "-c", "busybox free; echo ==end; exec sleep 100000"},
		Resources: state.Resources{MemoryBytes: 48 << 20},
	})
	log := filepath.Join(w.logDir, "free-1.log")
	deadline := time.Now().Add(60 * time.Second)
	var out []byte
	for !strings.Contains(string(out), "==end") {
		select {
		case <-agent.Done():
			t.Fatalf("the agent exited: %v\n%s", agent.Err(), agent.Output())
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("free-1 printed %q\nagent:\n%s", out, agent.Output())
		}
		time.Sleep(50 * time.Millisecond)
		out, _ = os.ReadFile(log)
	}
	t.Logf("inside free-1:\n%s", out)
	var total string
	for line := range strings.Lines(string(out)) {
		if f := strings.Fields(line); len(f) > 1 && f[0] == "Mem:" {
			total = f[1]
		}
	}
	if total != "49152" {
		t.Errorf("BusyBox free's total %q KiB, want 49152", total)
	}
	w.deleteAll(agent)
	agent.Stop(t)
}
