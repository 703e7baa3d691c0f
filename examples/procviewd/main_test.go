package main

import (
	"bytes"
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/shoalkit/shoal/internal/testenv"
)

// TestHoldThenServe runs the two commands as the node would and reads the
// host's meminfo through the view (the test is outside every container),
// then stops the server and starts another while a read waits.
func TestHoldThenServe(t *testing.T) {
	testenv.RequireFUSE(t)
	dir := t.TempDir()
	mnt, sock := filepath.Join(dir, "view"), filepath.Join(dir, "h.sock")
	if err := os.Mkdir(mnt, 0o755); err != nil {
		t.Fatal(err)
	}
	start := func(args ...string) (context.CancelFunc, chan error) {
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan error, 1)
		var out bytes.Buffer
		go func() { done <- run(ctx, args, &out, &out) }()
		return cancel, done
	}
	stopHold, holdDone := start("hold", "-mount", mnt, "-socket", sock)
	defer func() {
		stopHold()
		if err := <-holdDone; err != nil && !errors.Is(err, context.Canceled) {
			t.Errorf("hold: %v", err)
		}
	}()
	stopServe, serveDone := start("serve", "-socket", sock, "-parent", "/shoal-test-none")
	meminfo := filepath.Join(mnt, "proc/meminfo")
	var b []byte
	var err error
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
		if b, err = readView(t, meminfo); err == nil {
			break
		}
	}
	if err != nil || !strings.HasPrefix(string(b), "MemTotal:") {
		t.Fatalf("read %q: %v", b, err)
	}
	stopServe()
	if err := <-serveDone; err != nil {
		t.Fatalf("serve: %v", err)
	}
	// No server: the read waits, then the next server answers it.
	got := make(chan error, 1)
	go func() {
		_, err := readView(t, meminfo)
		got <- err
	}()
	select {
	case err := <-got:
		t.Fatalf("read without a server returned: %v", err)
	case <-time.After(200 * time.Millisecond):
	}
	stopServe, serveDone = start("serve", "-socket", sock, "-parent", "/shoal-test-none")
	defer func() {
		stopServe()
		if err := <-serveDone; err != nil {
			t.Errorf("serve: %v", err)
		}
	}()
	select {
	case err := <-got:
		if err != nil {
			t.Fatalf("read after restart: %v", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("the waiting read was never answered")
	}
}

// readView reads a file of the view from another process (cat): a read
// from this process, which also serves the view, can deadlock — Go
// registers the file with its epoll, the kernel then asks the FUSE server
// whether it polls while holding an epoll lock, and the server's threads,
// in this same process, wait on that lock.
func readView(t *testing.T, path string) ([]byte, error) {
	return exec.CommandContext(t.Context(), "cat", path).Output()
}
