package procview

import (
	"context"
	"encoding/binary"
	"errors"
	"log/slog"
	"path/filepath"
	"time"

	"github.com/hanwen/go-fuse/v2/fuse"
	"golang.org/x/sync/errgroup"
	"golang.org/x/sys/unix"

	"github.com/shoalkit/shoal/cgroupx"
)

// Config configures a [Server]. A zero field is its default (see
// [DefaultConfig]), so the zero Config is the default configuration.
type Config struct {
	// Parents are the cgroups under which each child is a container
	// ("/shoal" holds "/shoal/web-1"); a process outside all of them sees
	// the host's files. Default ["/shoal"], the agent's cgroup parent.
	Parents []string
	// Host is the cgroup view to read containers from; nil is
	// cgroupx.NewHost on the machine's own files.
	Host *cgroupx.Host
	// Root is where the host's own /proc and /sys files are read (for a
	// caller outside any container, and the lines passed through); default
	// "/".
	Root string
	// Readers is how many requests are answered at once; default 4. One
	// of them waits for the kernel's requests and answers those that need
	// no rendering itself (see Server.Serve).
	Readers int
	// MaxContainers bounds the containers whose load is kept; default 4096.
	MaxContainers int
	// MaxAge is how old the numbers a read shows may be: a container's
	// rendered file (and its sysinfo(2) answer, see ServeSeccomp) is
	// served again, and the container a calling thread
	// belongs to is remembered, for MaxAge. Default 10 ms: /proc/stat and
	// /proc/uptime count in hundredths of a second (USER_HZ), so a
	// snapshot younger than one unit shows what a fresh one would, and
	// the kernel's memory.stat, which most of meminfo comes from, is
	// itself refreshed only every 2 s. (A container's oldest process,
	// whose start its uptime counts from, is remembered for a second.) A
	// negative MaxAge renders every read afresh, looks every caller up
	// and finds every oldest process again, as lxcfs does.
	MaxAge time.Duration
	// ReadTimeout bounds the work of one read; default 2 s.
	ReadTimeout time.Duration
	// LoadInterval is the period of the load-average scans; default
	// cgroupx.LoadFreq (5 s), the kernel's, for which its decay constants
	// are made.
	LoadInterval time.Duration
	// StateFile is where the load averages are saved at every scan, and
	// read back when Serve starts, so that a restarted server goes on
	// from its predecessor's averages instead of zero (the intervals
	// between are folded as an idle period, as the kernel does). Its
	// directory must exist. Default "": averages restart from zero.
	StateFile string
	// HolderSocket is the socket of a [Holder] (HolderConfig.Socket) that
	// keeps containers' seccomp listeners across this server's restarts:
	// AcceptSeccomp gives it a duplicate of every listener it takes and
	// serves the ones it keeps (and gives a restarted holder the ones it
	// serves again). Default "": a container's listener lives
	// only as long as this server, and its sysinfo(2) fails with ENOSYS
	// once the server exits.
	HolderSocket string
	// Logger receives errors the server survives; nil discards them.
	Logger *slog.Logger
}

// DefaultConfig returns the configuration a zero Config stands for (Host
// stays nil: New opens the machine's).
func DefaultConfig() Config { return Config{}.withDefaults() }

func (cfg Config) withDefaults() Config {
	if len(cfg.Parents) == 0 {
		cfg.Parents = []string{"/shoal"}
	}
	if cfg.Root == "" {
		cfg.Root = "/"
	}
	if cfg.Readers == 0 {
		cfg.Readers = 4
	}
	if cfg.MaxContainers == 0 {
		cfg.MaxContainers = 4096
	}
	if cfg.ReadTimeout == 0 {
		cfg.ReadTimeout = 2 * time.Second
	}
	if cfg.MaxAge == 0 {
		cfg.MaxAge = 10 * time.Millisecond
	}
	if cfg.LoadInterval == 0 {
		cfg.LoadInterval = cgroupx.LoadFreq
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	return cfg
}

func (cfg Config) validate() error {
	for _, p := range cfg.Parents {
		if !filepath.IsAbs(p) || filepath.Clean(p) != p || p == "/" {
			return newError(ErrInvalid, "Config.Parents: %q is not a clean absolute cgroup path below /", p)
		}
	}
	if cfg.StateFile != "" && !filepath.IsAbs(cfg.StateFile) {
		return newError(ErrInvalid, "Config.StateFile %q is not absolute", cfg.StateFile)
	}
	if cfg.HolderSocket != "" && !filepath.IsAbs(cfg.HolderSocket) {
		return newError(ErrInvalid, "Config.HolderSocket %q is not absolute", cfg.HolderSocket)
	}
	if !filepath.IsAbs(cfg.Root) {
		return newError(ErrInvalid, "Config.Root %q is not absolute", cfg.Root)
	}
	switch {
	case cfg.Readers < 0 || cfg.Readers > 64:
		return newError(ErrInvalid, "Config.Readers %d out of range 1..64", cfg.Readers)
	case cfg.MaxContainers < 0:
		return newError(ErrInvalid, "Config.MaxContainers %d is negative", cfg.MaxContainers)
	case cfg.MaxAge > time.Minute:
		return newError(ErrInvalid, "Config.MaxAge %s is over a minute", cfg.MaxAge)
	case cfg.ReadTimeout < 0:
		return newError(ErrInvalid, "Config.ReadTimeout %s is negative", cfg.ReadTimeout)
	case cfg.LoadInterval < 0:
		return newError(ErrInvalid, "Config.LoadInterval %s is negative", cfg.LoadInterval)
	}
	return nil
}

// Server answers the view's FUSE requests, each for the cgroup of the
// process that reads, and keeps every container's load average. One Server
// serves one connection at a time; its methods are safe for concurrent use.
type Server struct {
	cfg   Config
	log   *slog.Logger
	reg   *registry
	fs    *rawFS
	hosts hostCache
}

// New returns a server for cfg.
func New(ctx context.Context, cfg Config) (*Server, error) {
	cfg = cfg.withDefaults()
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	if cfg.Host == nil {
		h, err := cgroupx.NewHost(ctx)
		if err != nil {
			return nil, wrapError(kindOf(err), err, "cgroups of this host")
		}
		cfg.Host = h
	}
	s := &Server{cfg: cfg, log: cfg.Logger, hosts: hostCache{files: map[nodeKind]cachedFile{}}}
	s.reg = &registry{
		host: cfg.Host, parents: cfg.Parents, max: cfg.MaxContainers,
		procRoot: filepath.Join(cfg.Root, "proc"), interval: cfg.LoadInterval,
		logger: cfg.Logger, byPath: map[string]*container{}, stateFile: cfg.StateFile,
		callers: callerCache{maxAge: cfg.MaxAge},
	}
	s.fs = newRawFS(s)
	return s, nil
}

// Serve answers the requests of c until ctx is done (it returns ctx's
// error) or the view is unmounted (an error wrapping [ErrClosed]); it also
// keeps the load averages meanwhile. It does not close c.
//
// One goroutine at a time waits for the kernel's requests and answers
// those whose answer is at hand (opens, releases, a file rendered for the
// caller's container less than MaxAge ago); a request that needs a
// rendering (cgroup files to read, processes to count) makes it hand the
// wait to another of the Readers first, so that a container whose cgroup
// files are slow to answer holds up no other reader.
//
// A process that serves the view should read the view's files with
// system calls (unix.Open, unix.Read), not os.Open: the runtime registers
// a file it opens with its epoll instance, the kernel asks the view's
// server whether the file can be polled (once, until the server says no)
// inside that registration, which the runtime does not count as a system
// call, and a garbage collection that starts meanwhile waits for it while
// the goroutines that would answer wait for the collection: the whole
// process hangs.
//
// A server that resumes a connection another server answered before (a
// restart, an upgrade) must not redo the FUSE INIT handshake: the kernel
// knows it only once. Serve replays the recorded INIT request into its
// own protocol state and sends the answer, which the kernel takes only
// when no server has answered yet; then it asks the kernel to send again
// every request a dead predecessor had read but not answered
// (FUSE_NOTIFY_RESEND), so that no read is lost.
func (s *Server) Serve(ctx context.Context, c *Conn) error {
	fd, err := dupNonblock(c)
	if err != nil {
		return err
	}
	defer unix.Close(fd)
	// The reader waits in poll(2) on the connection and on a pipe that
	// ctx's end makes readable. The runtime's netpoller is not used: a
	// process that serves FUSE and also opens a file of the mount (the
	// runtime registers every opened file with epoll, which sends the
	// server a POLL request while holding the epoll instance's lock) would
	// deadlock its own poller.
	ps := fuse.NewProtocolServer(s.fs, &fuse.MountOptions{
		MaxWrite:      maxRead,
		MaxReadAhead:  maxRead,
		FsName:        "procview",
		Name:          "procview",
		DisableXAttrs: true,
		Logger:        slog.NewLogLogger(s.log.Handler(), slog.LevelWarn),
	})
	out := make([]byte, requestBuf)
	n, st := ps.HandleRequest([][]byte{c.init}, [][]byte{out})
	if !st.Ok() {
		return newError(ErrUnavailable, "INIT replay: %s", st)
	}
	if _, err := unix.Write(fd, out[:n]); err != nil && !errors.Is(err, unix.ENOENT) {
		// ENOENT: a predecessor answered INIT already.
		return wrapError(ErrUnavailable, err, "answer INIT")
	}
	var resend [outHeaderSize]byte
	binary.NativeEndian.PutUint32(resend[0:], outHeaderSize)
	binary.NativeEndian.PutUint32(resend[4:], notifyResend)
	if _, err := unix.Write(fd, resend[:]); err != nil {
		s.log.WarnContext(ctx, "procview: FUSE_NOTIFY_RESEND refused (kernel before 6.9): requests a dead server read are lost", "err", err)
	}
	if s.cfg.StateFile != "" {
		if err := s.reg.restore(ctx, s.cfg.StateFile, time.Now()); err != nil {
			s.log.WarnContext(ctx, "procview: load state not restored", "file", s.cfg.StateFile, "err", err)
		}
	}
	g, gctx := errgroup.WithContext(ctx)
	defer s.reg.callers.clear() // no pidfd stays open while nobody serves
	g.Go(func() error { return s.reg.run(gctx) })
	if c.handBack != "" {
		g.Go(func() error { s.handBack(gctx, c); return nil })
	}
	g.Go(func() error { return s.answer(gctx, fd, ps) })
	err = g.Wait()
	if ctx.Err() != nil {
		return ctx.Err()
	}
	return err
}

// answer answers the requests of fd with cfg.Readers goroutines, as Serve
// says, until ctx is done or the kernel ends the connection. The one that
// waits holds the lead (the token in lead); quick tells which requests it
// answers itself.
//
// One goroutine waiting for the connection, not several: each request
// wakes the one thread that answered the last, which stays warm. On a
// 2-vCPU virtual machine a read of /proc/meminfo (open, read, close) took
// 53–66 µs so, against 70–99 µs with four readers each waiting in
// epoll_wait and 40–48 µs through a FUSE server in C that answers
// constants (BENCHMARKS.md, cgroupx/procview).
func (s *Server) answer(ctx context.Context, fd int, ps *fuse.ProtocolServer) error {
	stop, err := newStopPipe(ctx)
	if err != nil {
		return err
	}
	defer stop.close()
	lead := make(chan struct{}, 1)
	lead <- struct{}{}
	g, gctx := errgroup.WithContext(ctx)
	for range s.cfg.Readers {
		g.Go(func() error { return s.follow(gctx, fd, stop.r, lead, ps) })
	}
	return g.Wait()
}

// follow waits for the lead, then waits for requests and answers them
// until one needs rendering (it passes the lead on and answers that one),
// stop becomes readable or the connection ends.
func (s *Server) follow(ctx context.Context, fd, stop int, lead chan struct{}, ps *fuse.ProtocolServer) error {
	in := make([]byte, requestBuf)
	out := make([]byte, requestBuf)
	fds := []unix.PollFd{{Fd: int32(fd), Events: unix.POLLIN}, {Fd: int32(stop), Events: unix.POLLIN}} //nolint:gosec // descriptors fit int32
	for {
		select {
		case <-lead:
		case <-ctx.Done():
			return ctx.Err()
		}
		for {
			// Wait first, then read: a reader that waits only after a
			// read found nothing makes four system calls a request
			// instead of three. poll returns at once while requests are
			// queued.
			if _, err := unix.Poll(fds, -1); err != nil && !errors.Is(err, unix.EINTR) {
				return wrapError(ErrUnavailable, err, "poll /dev/fuse")
			}
			if fds[1].Revents != 0 || ctx.Err() != nil {
				lead <- struct{}{}
				return ctx.Err()
			}
			n, err := unix.Read(fd, in)
			switch {
			case err == nil:
			case errors.Is(err, unix.EAGAIN), errors.Is(err, unix.EINTR), errors.Is(err, unix.ENOENT):
				continue // another server took it; an interrupted request
			case errors.Is(err, unix.ENODEV):
				return newError(ErrClosed, "the view was unmounted")
			default:
				return wrapError(ErrUnavailable, err, "read /dev/fuse")
			}
			if s.fs.quick(in[:n]) {
				if err := s.reply(ctx, fd, ps, in[:n], out); err != nil {
					return err
				}
				continue
			}
			lead <- struct{}{}
			if err := s.reply(ctx, fd, ps, in[:n], out); err != nil {
				return err
			}
			break
		}
	}
}

// reply answers req into out and writes the answer to fd.
func (s *Server) reply(ctx context.Context, fd int, ps *fuse.ProtocolServer, req, out []byte) error {
	m, st := ps.HandleRequest([][]byte{req}, [][]byte{out})
	if !st.Ok() || m == 0 {
		return nil // FORGET and friends have no reply
	}
	if _, err := unix.Write(fd, out[:m]); err != nil && !errors.Is(err, unix.ENOENT) {
		if errors.Is(err, unix.ENODEV) {
			return newError(ErrClosed, "the view was unmounted")
		}
		s.log.WarnContext(ctx, "procview: reply", "err", err)
	}
	return nil
}

// dupNonblock returns a duplicate of c's descriptor in non-blocking mode.
// The flag is the open file's, shared with the holder (which reads no
// more) and other servers.
func dupNonblock(c *Conn) (int, error) {
	dup := -1
	var derr error
	if err := c.control(func(fd int) {
		dup, derr = unix.FcntlInt(uintptr(fd), unix.F_DUPFD_CLOEXEC, 0)
	}); err != nil {
		return -1, err
	}
	if derr != nil {
		return -1, wrapError(ErrUnavailable, derr, "dup /dev/fuse")
	}
	if err := unix.SetNonblock(dup, true); err != nil {
		_ = unix.Close(dup)
		return -1, wrapError(ErrUnavailable, err, "non-blocking /dev/fuse")
	}
	return dup, nil
}
