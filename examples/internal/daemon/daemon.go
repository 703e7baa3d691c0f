// Package daemon is the one skeleton of Shoal's example daemons and CLIs:
//
//	func main() { daemon.Main("agent", run) }
//
//	func run(ctx context.Context, args []string, stdout, stderr io.Writer) error {
//		fs := daemon.NewFlagSet("agent", "run containers from desired state", stderr)
//		cfg := agent.DefaultConfig()
//		fs.StringVar(&cfg.Listen, "listen", cfg.Listen, "address to serve on")
//		if err := daemon.Parse(fs, args); err != nil {
//			return err
//		}
//		log := daemon.Logger(stderr, verbose)
//		return daemon.RunAll(ctx, agent.New(cfg, log), server)
//	}
//
// Main runs the function under signal.NotifyContext (SIGINT, SIGTERM) and
// turns its error into an exit code: 0, 2 for a bad command line (ErrUsage,
// or -h), 1 for anything else, printed as "name: error". Tests call run
// itself with their own context, arguments and buffers.
//
// CLIs with subcommands (ctools free, vlanctl attach) describe them as a CLI:
// global flags may stand before or after the command's name
// (`ctools --pid 1 free` and `ctools free --pid 1` are the same).
package daemon

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"golang.org/x/sync/errgroup"
)

// ErrUsage marks a bad command line; Main exits 2 for it. The usage has
// already been printed when a function returns it.
var ErrUsage = errors.New("usage")

// RunFunc is a daemon's or a CLI's body: args without the program name.
type RunFunc func(ctx context.Context, args []string, stdout, stderr io.Writer) error

// Main runs run with os.Args under a context cancelled by SIGINT or SIGTERM,
// prints a non-usage error as "name: error" and exits with ExitCode.
func Main(name string, run RunFunc) {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	if err != nil && !errors.Is(err, ErrUsage) && !errors.Is(err, flag.ErrHelp) {
		msg := err.Error()
		if !strings.HasPrefix(msg, name+": ") {
			msg = name + ": " + msg
		}
		fmt.Fprintln(os.Stderr, msg)
	}
	os.Exit(ExitCode(err))
}

// ExitCode is the process exit code for run's error: 0 for nil, for -h and
// for a cancelled context (Ctrl-C is how a daemon is stopped), 2 for
// ErrUsage, 1 otherwise.
func ExitCode(err error) int {
	switch {
	case err == nil, errors.Is(err, flag.ErrHelp), errors.Is(err, context.Canceled):
		return 0
	case errors.Is(err, ErrUsage):
		return 2
	}
	return 1
}

// NewFlagSet returns a flag set that reports errors (never exits) and prints
// its usage, a summary line and the flags, to w.
func NewFlagSet(name, summary string, w io.Writer) *flag.FlagSet {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(w)
	fs.Usage = func() {
		fmt.Fprintf(w, "usage: %s [flags]\n\n%s\n\nflags:\n", name, summary)
		fs.PrintDefaults()
	}
	return fs
}

// Parse parses args into fs. A bad flag or a stray argument is ErrUsage (the
// usage has been printed); -h is flag.ErrHelp.
func Parse(fs *flag.FlagSet, args []string) error {
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return err
		}
		return fmt.Errorf("%w: %w", ErrUsage, err)
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(fs.Output(), "%s: unexpected argument %q\n", fs.Name(), fs.Arg(0))
		fs.Usage()
		return fmt.Errorf("%w: unexpected argument %q", ErrUsage, fs.Arg(0))
	}
	return nil
}

// Logger returns the daemon's logger: text to w, debug level when verbose.
func Logger(w io.Writer, verbose bool) *slog.Logger {
	level := slog.LevelInfo
	if verbose {
		level = slog.LevelDebug
	}
	return slog.New(slog.NewTextHandler(w, &slog.HandlerOptions{Level: level}))
}

// Runner is a long-lived part of a daemon.
type Runner interface {
	Run(ctx context.Context) error
}

// RunnerFunc adapts a function to a Runner.
type RunnerFunc func(ctx context.Context) error

// Run calls f.
func (f RunnerFunc) Run(ctx context.Context) error { return f(ctx) }

// HTTPServer is a Runner that serves srv on l until ctx is done, then
// shuts it down, giving open requests 5 s.
func HTTPServer(srv *http.Server, l net.Listener) Runner {
	return RunnerFunc(func(ctx context.Context) error {
		errc := make(chan error, 1)
		go func() { errc <- srv.Serve(l) }()
		select {
		case err := <-errc:
			return err
		case <-ctx.Done():
		}
		sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
		defer cancel()
		if err := srv.Shutdown(sctx); err != nil {
			_ = srv.Close()
		}
		if err := <-errc; err != nil && !errors.Is(err, http.ErrServerClosed) {
			return err
		}
		return ctx.Err()
	})
}

// RunAll runs every part in an errgroup until ctx is done or one fails; the
// first failure cancels the others. A part that returns nil or
// context.Canceled after ctx is done has stopped cleanly.
func RunAll(ctx context.Context, parts ...Runner) error {
	g, ctx := errgroup.WithContext(ctx)
	for _, p := range parts {
		g.Go(func() error { return p.Run(ctx) })
	}
	err := g.Wait()
	if errors.Is(err, context.Canceled) {
		return nil
	}
	return err
}
