package graphite

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"net"
	"os"
	"strconv"
	"sync"
	"time"

	"github.com/shoalkit/shoal/metrics"
)

// Config configures a Writer. Addr is required; a zero field is its
// default.
type Config struct {
	// Addr is carbon's plaintext receiver, host:port. Required.
	Addr string
	// Prefix starts every path; default "shoal". Unused for tagged series.
	Prefix string
	// Node names this host in paths and tags; default os.Hostname().
	Node string
	// Tagged sends tagged series ("name;tag=value") instead of paths.
	Tagged bool
	// QueueSize bounds the points held while carbon is slow or down;
	// default 100,000 (a few MB). Points beyond it are dropped and counted.
	QueueSize int
	// BatchSize is the most points written at once; default 1,000.
	BatchSize int
	// FlushInterval is how long a point may wait for a fuller batch;
	// default 1 s.
	FlushInterval time.Duration
	// DialTimeout and WriteTimeout bound a connection attempt and one
	// batch's write; default 5 s each. A write that times out is a failed
	// connection: it is closed and dialed again.
	DialTimeout, WriteTimeout time.Duration
	// MinBackoff and MaxBackoff bound the wait between failed dials,
	// doubled after each failure; default 100 ms and 30 s.
	MinBackoff, MaxBackoff time.Duration
	// Logger receives connection failures; nil discards them.
	Logger *slog.Logger
}

// DefaultConfig returns the defaults spelled out (Addr and Node excepted).
func DefaultConfig() Config {
	return Config{
		Prefix: "shoal", QueueSize: 100_000, BatchSize: 1000, FlushInterval: time.Second,
		DialTimeout: 5 * time.Second, WriteTimeout: 5 * time.Second,
		MinBackoff: 100 * time.Millisecond, MaxBackoff: 30 * time.Second,
	}
}

func (c Config) withDefaults() (Config, error) {
	if c.Addr == "" {
		return c, newError(ErrInvalid, "Config.Addr is empty")
	}
	if _, _, err := net.SplitHostPort(c.Addr); err != nil {
		return c, wrapError(ErrInvalid, err, "Config.Addr %q", c.Addr)
	}
	d := DefaultConfig()
	for _, v := range []struct {
		name string
		p    *time.Duration
		def  time.Duration
	}{
		{"FlushInterval", &c.FlushInterval, d.FlushInterval},
		{"DialTimeout", &c.DialTimeout, d.DialTimeout},
		{"WriteTimeout", &c.WriteTimeout, d.WriteTimeout},
		{"MinBackoff", &c.MinBackoff, d.MinBackoff},
		{"MaxBackoff", &c.MaxBackoff, d.MaxBackoff},
	} {
		if *v.p < 0 {
			return c, newError(ErrInvalid, "Config.%s %v is negative", v.name, *v.p)
		}
		if *v.p == 0 {
			*v.p = v.def
		}
	}
	if c.QueueSize < 0 || c.BatchSize < 0 {
		return c, newError(ErrInvalid, "Config.QueueSize %d or BatchSize %d is negative", c.QueueSize, c.BatchSize)
	}
	if c.QueueSize == 0 {
		c.QueueSize = d.QueueSize
	}
	if c.BatchSize == 0 {
		c.BatchSize = d.BatchSize
	}
	if c.MaxBackoff < c.MinBackoff {
		return c, newError(ErrInvalid, "Config.MaxBackoff %v is below MinBackoff %v", c.MaxBackoff, c.MinBackoff)
	}
	if c.Prefix == "" {
		c.Prefix = d.Prefix
	}
	if c.Node == "" {
		h, err := os.Hostname()
		if err != nil {
			return c, wrapError(ErrInvalid, err, "Config.Node is empty and the hostname unknown")
		}
		c.Node = h
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	return c, nil
}

// Point is one value of one series at one time.
type Point struct {
	// Name is the path, or for a tagged series "name;tag=value;..." with
	// the tags sorted.
	Name  string
	Value float64
	Time  time.Time
}

// Stats are a Writer's counts since it was made.
type Stats struct {
	// Sent counts points written to carbon; Dropped those that did not fit
	// the queue; Queued those waiting now.
	Sent, Dropped, Queued uint64
	// Reconnects counts connections made after the first; DialErrors
	// failed dials; WriteErrors failed batch writes.
	Reconnects, DialErrors, WriteErrors uint64
}

// Writer queues points and sends them to carbon. Observe and Enqueue are
// safe for concurrent use and never block on the network; Run must be
// called by one goroutine.
type Writer struct {
	cfg Config

	// recent is the last batch written, resent after a reconnect; only
	// Run's goroutine touches it.
	recent []Point

	mu     sync.Mutex
	queue  ring
	stats  Stats
	wake   chan struct{} // a batch is ready
	closed bool
}

var _ metrics.Sink = (*Writer)(nil)

// New returns a writer; Run connects it.
func New(cfg Config) (*Writer, error) {
	cfg, err := cfg.withDefaults()
	if err != nil {
		return nil, err
	}
	return &Writer{cfg: cfg, queue: newRing(cfg.QueueSize), wake: make(chan struct{}, 1)}, nil
}

// Enqueue queues points and returns how many fit; the rest are counted
// as dropped.
func (w *Writer) Enqueue(pts ...Point) int {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.closed {
		w.stats.Dropped += uint64(len(pts))
		return 0
	}
	n := 0
	for _, p := range pts {
		if !w.queue.push(p) {
			w.stats.Dropped += uint64(len(pts) - n)
			break
		}
		n++
	}
	if w.queue.len() >= w.cfg.BatchSize {
		select {
		case w.wake <- struct{}{}:
		default:
		}
	}
	return n
}

// Observe queues the points of a snapshot and the writer's own counts.
func (w *Writer) Observe(s *metrics.Snapshot) {
	pts := Points(s, w.cfg.Prefix, w.cfg.Node, w.cfg.Tagged)
	st := w.Stats()
	pts = append(pts, w.selfPoints(st, s.Time)...)
	w.Enqueue(pts...)
}

func (w *Writer) selfPoints(st Stats, t time.Time) []Point {
	n := names{prefix: w.cfg.Prefix, host: clean(w.cfg.Node), tagged: w.cfg.Tagged}
	return []Point{
		{n.node("graphite.sent"), float64(st.Sent), t},
		{n.node("graphite.dropped"), float64(st.Dropped), t},
		{n.node("graphite.queued"), float64(st.Queued), t},
		{n.node("graphite.reconnects"), float64(st.Reconnects), t},
	}
}

// Stats returns the writer's counts.
func (w *Writer) Stats() Stats {
	w.mu.Lock()
	defer w.mu.Unlock()
	st := w.stats
	st.Queued = uint64(w.queue.len())
	return st
}

// Close stops accepting points; points still queued are counted as
// dropped. It is idempotent. Run returns when its context is done.
func (w *Writer) Close() error {
	w.mu.Lock()
	defer w.mu.Unlock()
	if !w.closed {
		w.closed = true
		w.stats.Dropped += uint64(w.queue.len())
		w.queue.clear()
	}
	return nil
}

// Run connects to carbon and writes queued points in batches until ctx is
// done, reconnecting with backoff; then it returns ctx's error. Points
// still queued stay queued (and are sent by a later Run).
func (w *Writer) Run(ctx context.Context) error {
	backoff := w.cfg.MinBackoff
	first := true
	for {
		d := net.Dialer{Timeout: w.cfg.DialTimeout}
		conn, err := d.DialContext(ctx, "tcp", w.cfg.Addr)
		if err != nil {
			if ctx.Err() != nil {
				return ctx.Err()
			}
			w.count(func(s *Stats) { s.DialErrors++ })
			w.cfg.Logger.Warn("carbon dial failed", "addr", w.cfg.Addr, "err", err, "retry", backoff)
			if !sleep(ctx, backoff) {
				return ctx.Err()
			}
			backoff = min(2*backoff, w.cfg.MaxBackoff)
			continue
		}
		backoff = w.cfg.MinBackoff
		if !first {
			w.count(func(s *Stats) { s.Reconnects++ })
		}
		first = false
		err = w.send(ctx, conn)
		_ = conn.Close()
		if ctx.Err() != nil {
			return ctx.Err()
		}
		w.count(func(s *Stats) { s.WriteErrors++ })
		w.cfg.Logger.Warn("carbon write failed", "addr", w.cfg.Addr, "err", err)
	}
}

func (w *Writer) count(f func(*Stats)) {
	w.mu.Lock()
	f(&w.stats)
	w.mu.Unlock()
}

// send writes batches on conn until a write fails or ctx is done. A point
// counts as sent when the kernel took it; what a server that went away
// had not read yet is covered by resending the last batch after a
// reconnect (carbon keeps one value per timestamp, so a point sent twice
// changes nothing).
func (w *Writer) send(ctx context.Context, conn net.Conn) error {
	t := time.NewTicker(w.cfg.FlushInterval)
	defer t.Stop()
	var buf []byte
	if len(w.recent) > 0 {
		for _, p := range w.recent {
			buf = appendLine(buf, p)
		}
		_ = conn.SetWriteDeadline(time.Now().Add(w.cfg.WriteTimeout))
		if _, err := conn.Write(buf); err != nil {
			return wrapError(ErrUnavailable, err, "resend %d points to %s", len(w.recent), w.cfg.Addr)
		}
	}
	batch := make([]Point, 0, w.cfg.BatchSize)
	for {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-t.C:
		case <-w.wake:
		}
		for {
			w.mu.Lock()
			batch = w.queue.peek(batch[:0], w.cfg.BatchSize)
			w.mu.Unlock()
			if len(batch) == 0 {
				break
			}
			if err := closedByPeer(conn); err != nil {
				return wrapError(ErrUnavailable, err, "connection to %s", w.cfg.Addr)
			}
			buf = buf[:0]
			for _, p := range batch {
				buf = appendLine(buf, p)
			}
			_ = conn.SetWriteDeadline(time.Now().Add(w.cfg.WriteTimeout))
			if _, err := conn.Write(buf); err != nil {
				// Left queued: the next connection resends the batch.
				return wrapError(ErrUnavailable, err, "write %d points to %s", len(batch), w.cfg.Addr)
			}
			w.recent = append(w.recent[:0], batch...)
			w.mu.Lock()
			w.queue.drop(len(batch))
			w.stats.Sent += uint64(len(batch))
			w.mu.Unlock()
			if len(batch) < w.cfg.BatchSize {
				break
			}
		}
	}
}

// closedByPeer tells whether carbon closed the connection: it never sends
// anything, so a read that does not time out at once is an EOF or an
// error.
func closedByPeer(conn net.Conn) error {
	_ = conn.SetReadDeadline(time.Now())
	var b [1]byte
	_, err := conn.Read(b[:])
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		return nil
	}
	if err == nil {
		return errors.New("carbon sent data")
	}
	return err
}

// appendLine appends "name value timestamp\n".
func appendLine(b []byte, p Point) []byte {
	b = append(b, p.Name...)
	b = append(b, ' ')
	b = strconv.AppendFloat(b, p.Value, 'f', -1, 64)
	b = append(b, ' ')
	b = strconv.AppendInt(b, p.Time.Unix(), 10)
	return append(b, '\n')
}

func sleep(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-t.C:
		return true
	}
}

// ring is a bounded FIFO of points.
type ring struct {
	buf        []Point
	head, size int
}

func newRing(n int) ring { return ring{buf: make([]Point, n)} }

func (r *ring) len() int { return r.size }

func (r *ring) push(p Point) bool {
	if r.size == len(r.buf) {
		return false
	}
	r.buf[(r.head+r.size)%len(r.buf)] = p
	r.size++
	return true
}

// peek appends up to n points from the front to dst without removing them.
func (r *ring) peek(dst []Point, n int) []Point {
	for i := 0; i < n && i < r.size; i++ {
		dst = append(dst, r.buf[(r.head+i)%len(r.buf)])
	}
	return dst
}

// drop removes n points from the front.
func (r *ring) drop(n int) {
	n = min(n, r.size)
	for i := range n {
		r.buf[(r.head+i)%len(r.buf)] = Point{}
	}
	r.head = (r.head + n) % len(r.buf)
	r.size -= n
}

func (r *ring) clear() { r.drop(r.size) }
