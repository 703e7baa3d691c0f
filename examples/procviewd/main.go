// Command procviewd serves the container-aware /proc of the procview
// package, in two processes so that the server can be restarted or
// upgraded without a container ever seeing ENOTCONN:
//
//	procviewd hold -mount /var/lib/shoal/procview -socket /run/shoal/procview.sock
//	procviewd serve -socket /run/shoal/procview.sock -parent /shoal -state /run/shoal/procview-load.json
//
// hold mounts the view and keeps its FUSE connection; it is small, does
// not change between releases, and runs for the life of the node (a
// systemd unit of its own, Restart=always; the agent does not stop it).
// serve (or the agent, which embeds the same server) dials the holder,
// receives the connection and answers reads; kill or upgrade it at will:
// reads wait in the kernel until the next one answers them. If hold dies
// (a crash, SIGKILL) while serve runs, serve keeps the connection and a
// new hold takes it back from serve (the socket's ".back" twin) instead of
// mounting anew; only when both are gone at once is the connection lost.
// Stopping hold on purpose (SIGTERM) unmounts the view. hold also keeps
// the containers' seccomp listeners that the agent gives it (on the
// socket's ".seccomp" twin), so that their sysinfo(2) waits through an
// agent restart instead of failing with ENOSYS; it drops each when its
// container's processes are gone.
package main

import (
	"context"
	"errors"
	"flag"
	"io"
	"time"

	"github.com/shoalkit/shoal/cgroupx/procview"
	"github.com/shoalkit/shoal/examples/internal/daemon"
)

func main() { daemon.Main("procviewd", run) }

func run(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	return cli().Run(ctx, args, stdout, stderr)
}

func cli() *daemon.CLI {
	var verbose bool
	return &daemon.CLI{
		Name:    "procviewd",
		Summary: "procviewd serves a live /proc for fat containers over FUSE, surviving its own restarts.",
		Globals: func(fs *flag.FlagSet) { fs.BoolVar(&verbose, "v", false, "debug logging") },
		Commands: []daemon.Command{
			{
				Name: "hold", Args: "-mount DIR -socket PATH",
				Summary: "mount the view and keep its connection, handing it to servers",
				Flags: func(fs *flag.FlagSet) daemon.Action {
					var cfg procview.HolderConfig
					fs.StringVar(&cfg.MountPoint, "mount", "/var/lib/shoal/procview", "directory to mount the view on")
					fs.StringVar(&cfg.Socket, "socket", "/run/shoal/procview.sock", "unix socket servers dial")
					return func(ctx context.Context, _ []string, _, stderr io.Writer) error {
						cfg.Logger = daemon.Logger(stderr, verbose)
						return hold(ctx, cfg)
					}
				},
			},
			{
				Name: "serve", Args: "-socket PATH [-parent CGROUP]...",
				Summary: "answer the view's reads for the connection a holder hands over",
				Flags: func(fs *flag.FlagSet) daemon.Action {
					socket := fs.String("socket", "/run/shoal/procview.sock", "the holder's unix socket")
					var parents parentFlag
					fs.Var(&parents, "parent", "cgroup whose children are containers (repeatable; default /shoal)")
					state := fs.String("state", "", "file that keeps the load averages for the next server (default: none, averages restart from zero)")
					return func(ctx context.Context, _ []string, _, stderr io.Writer) error {
						log := daemon.Logger(stderr, verbose)
						return serve(ctx, *socket, procview.Config{Parents: parents, StateFile: *state, Logger: log})
					}
				},
			},
		},
	}
}

// hold mounts the view and hands its connection out until ctx is done,
// then unmounts it.
func hold(ctx context.Context, cfg procview.HolderConfig) error {
	h, err := procview.NewHolder(ctx, cfg)
	if err != nil {
		return err
	}
	defer h.Close()
	cfg.Logger.Info("procviewd holding", "mount", cfg.MountPoint, "socket", cfg.Socket)
	if err := h.Run(ctx); err != nil && !errors.Is(err, context.Canceled) {
		return err
	}
	return nil
}

// serve dials the holder (again every 100 ms until it answers) and serves
// its connection until ctx is done.
func serve(ctx context.Context, socket string, cfg procview.Config) error {
	srv, err := procview.New(ctx, cfg)
	if err != nil {
		return err
	}
	var conn *procview.Conn
	for {
		conn, err = procview.Dial(ctx, socket)
		if err == nil {
			break
		}
		if !errors.Is(err, procview.ErrUnavailable) {
			return err
		}
		select {
		case <-ctx.Done():
			return nil
		case <-time.After(100 * time.Millisecond):
		}
	}
	defer conn.Close()
	cfg.Logger.Info("procviewd serving", "socket", socket)
	if err := srv.Serve(ctx, conn); err != nil && !errors.Is(err, context.Canceled) {
		return err
	}
	return nil
}

// parentFlag collects -parent values.
type parentFlag []string

func (p *parentFlag) String() string { return "" }

func (p *parentFlag) Set(s string) error {
	*p = append(*p, s)
	return nil
}
