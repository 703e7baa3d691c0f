package procview

import (
	"bytes"
	"context"
	"errors"
	"path/filepath"
	"sync"
	"time"

	"github.com/shoalkit/shoal/cgroupx"
)

// Size bounds of the host files the view reads.
const (
	maxHostFile    = 4 << 20
	maxHostCPUInfo = 16 << 20
)

// sliceWriter is an io.Writer that appends to a byte slice.
type sliceWriter struct{ b []byte }

func (w *sliceWriter) Write(p []byte) (int, error) {
	w.b = append(w.b, p...)
	return len(p), nil
}

// content renders the file of kind for the caller pid: the container's
// numbers for a process inside a container, the host's file for one
// outside. A container whose cgroup vanished since it was looked up is
// forgotten and the caller looked up once more (it may have moved).
func (s *Server) content(ctx context.Context, kind nodeKind, pid uint32) ([]byte, error) {
	for attempt := 0; ; attempt++ {
		c, err := s.reg.containerOf(ctx, pid)
		if err != nil {
			return nil, err
		}
		if c == nil {
			return readBounded(s.hostPath(kind), maxHostFile)
		}
		now := time.Now()
		if b, ok := c.snaps.get(kind, now, s.cfg.MaxAge); ok {
			return b, nil
		}
		b, err := s.render(ctx, kind, c)
		if err == nil && s.cfg.MaxAge > 0 {
			c.snaps.put(kind, now, b)
		}
		if err != nil && attempt == 0 && errors.Is(err, cgroupx.ErrNotFound) {
			s.reg.forget(c)
			continue
		}
		if err != nil {
			return nil, wrapError(kindOf(err), err, "%s for container %s", fileTable()[nodeIndex(kind)].path, c.path)
		}
		return b, nil
	}
}

// snapshot returns the rendering of kind kept for the container of pid,
// if pid's container and that rendering are both younger than MaxAge:
// the path of a read that needs neither a context nor a file.
func (s *Server) snapshot(kind nodeKind, pid uint32) ([]byte, bool) {
	return s.kept(kind, pid, true)
}

// fresh reports whether a read of kind by pid will find a rendering
// kept: snapshot without the check that pid is still the thread it was
// (a system call), a guess for rawFS.quick, which only decides who
// answers.
func (s *Server) fresh(kind nodeKind, pid uint32) bool {
	_, ok := s.kept(kind, pid, false)
	return ok
}

func (s *Server) kept(kind nodeKind, pid uint32, checkAlive bool) ([]byte, bool) {
	now := time.Now()
	c, ok := s.reg.callers.find(pid, now, checkAlive)
	if !ok || c == nil {
		return nil, false
	}
	return c.snaps.get(kind, now, s.cfg.MaxAge)
}

// oldestAge is how long a container's oldest process is remembered (see
// the constant): not at all with a negative MaxAge.
func (s *Server) oldestAge() time.Duration {
	if s.cfg.MaxAge < 0 {
		return 0
	}
	return oldestAge
}

// hostPath is the host's own file for kind, under the configured root.
func (s *Server) hostPath(kind nodeKind) string {
	return filepath.Join(s.cfg.Root, fileTable()[nodeIndex(kind)].hostPath())
}

// nodeIndex returns the table index of the file of kind.
func nodeIndex(kind nodeKind) int {
	for i, n := range fileTable() {
		if n.kind == kind {
			return i
		}
	}
	return 0
}

// render renders the file of kind for container c.
func (s *Server) render(ctx context.Context, kind nodeKind, c *container) ([]byte, error) {
	w := &sliceWriter{b: make([]byte, 0, 2048)}
	var err error
	switch kind {
	case kindMeminfo:
		var m cgroupx.Meminfo
		if m, err = c.cg.Meminfo(ctx); err != nil {
			return nil, err
		}
		host, herr := s.hostFile(kind, maxHostFile)
		if herr != nil {
			return nil, herr
		}
		err = cgroupx.WriteMeminfo(w, m, bytes.NewReader(host))
	case kindCPUInfo:
		var cpus cgroupx.CPUs
		if cpus, err = c.cg.CPUs(ctx); err != nil {
			return nil, err
		}
		host, herr := s.hostFile(kind, maxHostCPUInfo)
		if herr != nil {
			return nil, herr
		}
		err = cgroupx.WriteCPUInfo(w, bytes.NewReader(host), cpus)
	case kindStat:
		err = s.renderStat(ctx, w, c)
	case kindUptime:
		var u cgroupx.Uptime
		if u, err = c.uptime(ctx, s.oldestAge()); err != nil {
			return nil, err
		}
		err = cgroupx.WriteUptime(w, u)
	case kindLoadavg:
		err = cgroupx.WriteLoadavg(w, c.load.Load())
	case kindDiskstats:
		var io []cgroupx.DeviceIO
		if io, err = c.cg.IO(ctx); err != nil && !errors.Is(err, cgroupx.ErrUnsupported) {
			return nil, err
		}
		host, herr := readBounded(s.hostPath(kind), maxHostFile)
		if herr != nil {
			return nil, herr
		}
		devs, perr := ParseDiskstats(host)
		if perr != nil {
			return nil, perr
		}
		w.b, err = AppendDiskstats(w.b, devs, io), nil
	case kindSwaps:
		var m cgroupx.Meminfo
		if m, err = c.cg.Meminfo(ctx); err != nil {
			return nil, err
		}
		w.b = AppendSwaps(w.b, m)
	case kindCPUOnline:
		var cpus cgroupx.CPUs
		if cpus, err = c.cg.CPUs(ctx); err != nil {
			return nil, err
		}
		err = cgroupx.WriteCPUOnline(w, cpus.Effective)
	default:
		return nil, newError(ErrInvalid, "node kind %d has no content", kind)
	}
	if err != nil {
		return nil, err
	}
	return w.b, nil
}

// renderStat writes /proc/stat: the container's CPU time and idle time on
// as many cpu lines as it has CPUs, then the host's other lines.
func (s *Server) renderStat(ctx context.Context, w *sliceWriter, c *container) error {
	cpus, err := c.cg.CPUs(ctx)
	if err != nil {
		return err
	}
	used, err := c.cg.CPUTime(ctx)
	if err != nil {
		return err
	}
	u, err := c.uptime(ctx, s.oldestAge())
	if err != nil {
		return err
	}
	host, err := readBounded(s.hostPath(kindStat), maxHostFile)
	if err != nil {
		return err
	}
	return cgroupx.WriteStat(w, cgroupx.StatCPU{Used: used, Idle: u.Idle, CPUs: cpus.Effective}, bytes.NewReader(host))
}

// kindOf returns the procview kind matching a cgroupx or procview error.
func kindOf(err error) error {
	switch {
	case errors.Is(err, ErrNotFound), errors.Is(err, cgroupx.ErrNotFound):
		return ErrNotFound
	case errors.Is(err, ErrInvalid), errors.Is(err, cgroupx.ErrInvalid):
		return ErrInvalid
	case errors.Is(err, ErrUnsupported), errors.Is(err, cgroupx.ErrUnsupported):
		return ErrUnsupported
	}
	return ErrUnavailable
}

// hostTTL is how long the host's meminfo and cpuinfo, whose lines a
// container's file passes through (huge pages, vmalloc, CPU models), are
// kept: generating /proc/meminfo costs the kernel more than the rest of a
// container's read. The container's own values are read every time.
const hostTTL = time.Second

// hostCache keeps host files for hostTTL.
type hostCache struct {
	mu    sync.Mutex
	files map[nodeKind]cachedFile
}

type cachedFile struct {
	at   time.Time
	data []byte
}

// hostFile returns the host's file for kind, read at most once per
// hostTTL.
func (s *Server) hostFile(kind nodeKind, limit int) ([]byte, error) {
	s.hosts.mu.Lock()
	defer s.hosts.mu.Unlock()
	if c, ok := s.hosts.files[kind]; ok && time.Since(c.at) < hostTTL {
		return c.data, nil
	}
	b, err := readBounded(s.hostPath(kind), limit)
	if err != nil {
		return nil, err
	}
	s.hosts.files[kind] = cachedFile{at: time.Now(), data: b}
	return b, nil
}
