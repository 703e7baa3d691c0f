package main

import (
	"bytes"
	"errors"
	"testing"

	"github.com/shoalkit/shoal/examples/internal/daemon"
)

func TestFlags(t *testing.T) {
	for _, args := range [][]string{
		{"-name", "n1", "-gossip", "127.0.0.1"},
		{"-name", "n1", "-gossip", "127.0.0.1:99999"},
		{"-name", "Bad_Name"},
		{"-nope"},
		{"-name", "n1", "-sysinfo-socket", "/run/shoal/sysinfo.sock"},
	} {
		var stderr bytes.Buffer
		if err := run(t.Context(), args, nil, &stderr); !errors.Is(err, daemon.ErrUsage) {
			t.Errorf("%v: %v, want a usage error", args, err)
		}
	}
}
