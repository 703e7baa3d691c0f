package daemon_test

import (
	"bytes"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"strings"
	"testing"
	"time"

	"github.com/shoalkit/shoal/examples/internal/daemon"
)

// tool is a CLI whose one command prints the global and its own flag.
func tool() *daemon.CLI {
	var pid int
	var asJSON bool
	return &daemon.CLI{
		Name:    "tool",
		Summary: "a test tool",
		Globals: func(fs *flag.FlagSet) {
			fs.IntVar(&pid, "pid", 0, "a process")
			fs.BoolVar(&asJSON, "json", false, "print JSON")
		},
		Commands: []daemon.Command{{
			Name: "free", Args: "[-m]", Summary: "memory",
			Flags: func(fs *flag.FlagSet) daemon.Action {
				mega := fs.Bool("m", false, "MiB")
				return func(_ context.Context, args []string, stdout, _ io.Writer) error {
					fmt.Fprintf(stdout, "pid=%d json=%v m=%v args=%q", pid, asJSON, *mega, args)
					return nil
				}
			},
		}},
	}
}

func TestCLI(t *testing.T) {
	tests := []struct {
		args     []string
		wantOut  string
		wantCode int
		wantErr  string // in stderr
	}{
		{[]string{"--pid", "12", "free", "-m"}, `pid=12 json=false m=true args=[]`, 0, ""},
		{[]string{"free", "--pid", "12", "-m"}, `pid=12 json=false m=true args=[]`, 0, ""},
		{[]string{"free", "-m", "--json", "--pid=7", "x"}, `pid=7 json=true m=true args=["x"]`, 0, ""},
		{[]string{"--json", "free"}, `pid=0 json=true m=false args=[]`, 0, ""},
		{nil, "", 2, "usage: tool [global flags] COMMAND"},
		{[]string{"nope"}, "", 2, `unknown command "nope"`},
		{[]string{"free", "--bogus"}, "", 2, "flag provided but not defined: -bogus"},
		{[]string{"--pid", "x", "free"}, "", 2, `invalid value "x" for flag -pid`},
		{[]string{"free", "-h"}, "", 0, "usage: tool free [-m]"},
		{[]string{"-h"}, "", 0, "free [-m]"},
		{[]string{"help"}, "usage: tool [global flags] COMMAND", 0, ""},
	}
	for _, tt := range tests {
		t.Run(strings.Join(tt.args, " "), func(t *testing.T) {
			var out, errOut bytes.Buffer
			err := tool().Run(t.Context(), tt.args, &out, &errOut)
			if code := daemon.ExitCode(err); code != tt.wantCode {
				t.Errorf("exit code %d (%v), want %d", code, err, tt.wantCode)
			}
			if !strings.Contains(out.String(), tt.wantOut) || (tt.wantOut == "" && out.Len() > 0) {
				t.Errorf("stdout %q, want %q", out.String(), tt.wantOut)
			}
			if !strings.Contains(errOut.String(), tt.wantErr) {
				t.Errorf("stderr %q, want it to contain %q", errOut.String(), tt.wantErr)
			}
		})
	}
}

func TestParse(t *testing.T) {
	var errOut bytes.Buffer
	fs := daemon.NewFlagSet("d", "does things", &errOut)
	listen := fs.String("listen", "127.0.0.1:0", "address")
	if err := daemon.Parse(fs, []string{"-listen", "127.0.0.1:80"}); err != nil || *listen != "127.0.0.1:80" {
		t.Fatalf("Parse = %v, listen %q", err, *listen)
	}
	err := daemon.Parse(fs, []string{"stray"})
	if !errors.Is(err, daemon.ErrUsage) || !strings.Contains(errOut.String(), `unexpected argument "stray"`) {
		t.Fatalf("stray argument: %v, stderr %q", err, errOut.String())
	}
}

func TestExitCode(t *testing.T) {
	for _, tt := range []struct {
		err  error
		want int
	}{
		{nil, 0},
		{flag.ErrHelp, 0},
		{fmt.Errorf("run: %w", context.Canceled), 0},
		{fmt.Errorf("%w: x", daemon.ErrUsage), 2},
		{errors.New("boom"), 1},
	} {
		if got := daemon.ExitCode(tt.err); got != tt.want {
			t.Errorf("ExitCode(%v) = %d, want %d", tt.err, got, tt.want)
		}
	}
}

func TestRunAll(t *testing.T) {
	boom := errors.New("boom")
	stopped := make(chan struct{})
	waiter := daemon.RunnerFunc(func(ctx context.Context) error {
		<-ctx.Done()
		close(stopped)
		return ctx.Err()
	})
	failer := daemon.RunnerFunc(func(context.Context) error { return boom })
	if err := daemon.RunAll(t.Context(), waiter, failer); !errors.Is(err, boom) {
		t.Fatalf("RunAll = %v, want boom", err)
	}
	select {
	case <-stopped:
	case <-time.After(5 * time.Second):
		t.Fatal("a failing part did not cancel the others")
	}

	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	if err := daemon.RunAll(ctx, daemon.RunnerFunc(func(ctx context.Context) error { <-ctx.Done(); return ctx.Err() })); err != nil {
		t.Fatalf("RunAll after cancel = %v, want nil (a clean stop)", err)
	}
}

func ExampleCLI() {
	var unit string
	cli := &daemon.CLI{
		Name:    "ctl",
		Summary: "an example",
		Globals: func(fs *flag.FlagSet) { fs.StringVar(&unit, "unit", "B", "unit") },
		Commands: []daemon.Command{{
			Name: "show", Summary: "show the unit",
			Flags: func(*flag.FlagSet) daemon.Action {
				return func(_ context.Context, _ []string, stdout, _ io.Writer) error {
					fmt.Fprintln(stdout, "unit", unit)
					return nil
				}
			},
		}},
	}
	var out bytes.Buffer
	_ = cli.Run(context.Background(), []string{"show", "-unit", "MiB"}, &out, io.Discard)
	fmt.Print(out.String())
	// Output: unit MiB
}
