package main

import (
	"bytes"
	"context"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/shoalkit/shoal/examples/internal/daemon"
	"github.com/shoalkit/shoal/imagefs/imagefstest"
	"github.com/shoalkit/shoal/internal/testenv"
)

func imgctl(t *testing.T, args ...string) string {
	t.Helper()
	var out bytes.Buffer
	if err := newCLI().Run(context.Background(), args, &out, &out); err != nil {
		t.Fatalf("imgctl %s: %v\n%s", strings.Join(args, " "), err, out.String())
	}
	return out.String()
}

func TestBuildSquashPushPullPrepare(t *testing.T) {
	testenv.Require(t, testenv.Root) // prepare mounts an overlay
	reg := imagefstest.StartRegistry(t)
	dir, tmp := t.TempDir(), t.TempDir()
	imagefstest.WriteTree(t, dir, imagefstest.TreeSpec{Seed: 1, Files: 50, Bytes: 200 << 10})
	if err := os.WriteFile(filepath.Join(dir, "drop.log"), []byte("log"), 0o644); err != nil {
		t.Fatal(err)
	}
	tool := filepath.Join(tmp, "tool")
	if err := os.WriteFile(tool, []byte("#!/bin/sh\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	lay := "oci:" + filepath.Join(tmp, "layout")
	out := imgctl(t, "build", "-dir", dir, "-include", tool+":/usr/bin/tool:runtime", "-clear", "*.log", "-label", "a=b", "-entrypoint", "/usr/bin/tool", "-o", lay+":app")
	if !strings.Contains(strings.Join(strings.Fields(out), " "), `cleared "*.log" 1 files 3 bytes`) {
		t.Fatalf("build output:\n%s", out)
	}
	imgctl(t, "squash", lay+":app", lay+":flat")
	ref := reg + "/shoal/app:1"
	imgctl(t, "push", "-insecure", "-recompress", "gzip", lay+":flat", ref)
	store := filepath.Join(tmp, "store")
	if out := imgctl(t, "pull", "-insecure", "-store", store, "-name", "app", ref); !strings.Contains(out, "1 layers fetched") {
		t.Fatalf("pull output: %s", out)
	}
	out = imgctl(t, "prepare", "-store", store, "-id", "c1", "app")
	rootfs := strings.Fields(out)[0]
	if _, err := os.Stat(filepath.Join(rootfs, "usr/bin/tool")); err != nil {
		t.Fatalf("prepared rootfs: %v", err)
	}
	imgctl(t, "release", "-store", store, "-id", "c1")
	if _, err := os.Stat(rootfs); !os.IsNotExist(err) {
		t.Fatalf("rootfs after release: %v", err)
	}
	stores := filepath.Join(tmp, "n1") + "," + filepath.Join(tmp, "n2") + "," + filepath.Join(tmp, "n3")
	port := testenv.FreePort(t)
	if port > 32760 {
		port = 20000
	}
	out = imgctl(t, "predistribute", "-insecure", "-stores", stores, "-base-port", itoa(port), "-fanout", "1", ref)
	if strings.Count(out, "err=<nil>") != 3 || !strings.Contains(out, "1 from peers") {
		t.Fatalf("predistribute output:\n%s", out)
	}

	// serve one store, and pull into another from it as a peer.
	ctx, cancel := context.WithCancel(context.Background())
	servePort := port + 10
	served := make(chan error, 1)
	go func() {
		served <- newCLI().Run(ctx, []string{"serve", "-store", store, "-addr", "127.0.0.1:" + itoa(servePort)}, &bytes.Buffer{}, io.Discard)
	}()
	out = imgctl(t, "pull", "-insecure", "-store", filepath.Join(tmp, "follower"), "-peer", "http://127.0.0.1:"+itoa(servePort), "-wait", "5s", ref)
	cancel()
	if err := <-served; err != nil {
		t.Fatalf("serve: %v", err)
	}
	if !strings.Contains(out, "1 from peers") {
		t.Fatalf("pull from peer output: %s", out)
	}
}

func itoa(n int) string {
	var b []byte
	for n > 0 || len(b) == 0 {
		b = append([]byte{byte('0' + n%10)}, b...)
		n /= 10
	}
	return string(b)
}

func TestUsageErrors(t *testing.T) {
	for _, tt := range []struct {
		args []string
		code int
	}{
		{nil, 2},
		{[]string{"frobnicate"}, 2},
		{[]string{"build"}, 2},
		{[]string{"pull", "x"}, 2},
		{[]string{"prepare", "-store", "/x", "img"}, 2},
		{[]string{"build", "-bogus"}, 2},
		{[]string{"predistribute", "-stores", "a", "-base-port", "40000", "r"}, 1},
	} {
		err := newCLI().Run(context.Background(), tt.args, &bytes.Buffer{}, io.Discard)
		if code := daemon.ExitCode(err); code != tt.code {
			t.Errorf("imgctl %v: exit %d (%v), want %d", tt.args, code, err, tt.code)
		}
	}
}
