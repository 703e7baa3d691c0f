package cgroupx

import (
	"bytes"
	"context"
	"io"

	"github.com/shoalkit/shoal/internal/decimal"
)

// Meminfo is what /proc/meminfo would say inside a container. All values
// are bytes.
//
// MemTotal is the smallest memory limit over the cgroup and its ancestors,
// capped by the host's MemTotal (host totals are re-read at most once a
// second). MemFree is MemTotal minus the cgroup's
// usage. MemAvailable is MemFree plus the reclaimable page cache
// (active_file + inactive_file) and reclaimable slab, capped by MemTotal;
// shmem and tmpfs pages sit on the anon lists and are never counted as
// available. SwapTotal is the swap the cgroup may use (memory+swap limit
// minus memory limit on v1, memory.swap.max on v2), capped by the host's
// swap. Buffers is always 0: cgroups do not account buffers apart.
type Meminfo struct {
	MemTotal     uint64
	MemFree      uint64
	MemAvailable uint64
	Buffers      uint64
	Cached       uint64
	SwapCached   uint64
	Active       uint64
	Inactive     uint64
	ActiveAnon   uint64
	InactiveAnon uint64
	ActiveFile   uint64
	InactiveFile uint64
	Unevictable  uint64
	SwapTotal    uint64
	SwapFree     uint64
	Dirty        uint64
	Writeback    uint64
	AnonPages    uint64
	Mapped       uint64
	Shmem        uint64
	Slab         uint64
	SReclaimable uint64
	SUnreclaim   uint64

	// Limit is the smallest memory limit over the cgroup and its
	// ancestors, before the host cap; [Unlimited] when none is set. Not a
	// /proc/meminfo line.
	Limit uint64
	// Usage is the cgroup's memory usage (memory.usage_in_bytes on v1,
	// memory.current on v2). Not a /proc/meminfo line.
	Usage uint64
}

// memStat holds the fields of memory.stat that Meminfo needs.
type memStat struct {
	cache, rss, shmem, mapped, dirty, writeback, swap, swapcached uint64
	activeAnon, inactiveAnon, activeFile, inactiveFile, unevict   uint64
	slab, slabReclaimable, slabUnreclaimable                      uint64
	hierLimit, hierMemswLimit                                     uint64
	haveHier, haveHierMemsw, haveSlab                             bool
}

// parseMemStat parses memory.stat; v1 selects the total_* (hierarchical)
// keys of cgroup v1, else the cgroup2 keys.
func parseMemStat(b []byte, v1 bool) (memStat, error) {
	var s memStat
	var bad []byte
	eachKV(b, func(k, v []byte) {
		if bad != nil {
			return
		}
		n, ok := decimal.Uint(v)
		if !ok {
			bad = k
			return
		}
		if v1 {
			switch string(k) {
			case "total_cache":
				s.cache = n
			case "total_rss":
				s.rss = n
			case "total_shmem":
				s.shmem = n
			case "total_mapped_file":
				s.mapped = n
			case "total_dirty":
				s.dirty = n
			case "total_writeback":
				s.writeback = n
			case "total_swap":
				s.swap = n
			case "total_swapcached":
				s.swapcached = n
			case "total_active_anon":
				s.activeAnon = n
			case "total_inactive_anon":
				s.inactiveAnon = n
			case "total_active_file":
				s.activeFile = n
			case "total_inactive_file":
				s.inactiveFile = n
			case "total_unevictable":
				s.unevict = n
			case "hierarchical_memory_limit":
				s.hierLimit, s.haveHier = n, true
			case "hierarchical_memsw_limit":
				s.hierMemswLimit, s.haveHierMemsw = n, true
			}
			return
		}
		switch string(k) {
		case "file":
			s.cache = n
		case "anon":
			s.rss = n
		case "shmem":
			s.shmem = n
		case "file_mapped":
			s.mapped = n
		case "file_dirty":
			s.dirty = n
		case "file_writeback":
			s.writeback = n
		case "swapcached":
			s.swapcached = n
		case "active_anon":
			s.activeAnon = n
		case "inactive_anon":
			s.inactiveAnon = n
		case "active_file":
			s.activeFile = n
		case "inactive_file":
			s.inactiveFile = n
		case "unevictable":
			s.unevict = n
		case "slab":
			s.slab, s.haveSlab = n, true
		case "slab_reclaimable":
			s.slabReclaimable = n
		case "slab_unreclaimable":
			s.slabUnreclaimable = n
		}
	})
	if bad != nil {
		return memStat{}, newError(ErrInvalid, "memory.stat: bad value for %q", bad)
	}
	if !s.haveSlab {
		s.slab = s.slabReclaimable + s.slabUnreclaimable
	}
	return s, nil
}

// ParseMeminfo parses the /proc/meminfo format ("Label:   123 kB" lines)
// into a Meminfo. Unknown labels are ignored; Limit is set to MemTotal and
// Usage to MemTotal - MemFree.
func ParseMeminfo(r io.Reader) (Meminfo, error) {
	b, err := io.ReadAll(io.LimitReader(r, 1<<20))
	if err != nil {
		return Meminfo{}, annotate(err, "reading meminfo")
	}
	return parseMeminfo(b)
}

// ParseMeminfoBytes is ParseMeminfo on a file already read whole, without
// copying it (a collector re-reading /proc/meminfo into its own buffer).
func ParseMeminfoBytes(b []byte) (Meminfo, error) {
	if len(b) > 1<<20 {
		return Meminfo{}, newError(ErrInvalid, "meminfo of %d bytes, more than 1 MiB", len(b))
	}
	return parseMeminfo(b)
}

func parseMeminfo(b []byte) (Meminfo, error) {
	var m Meminfo
	var bad []byte
	haveTotal := false
	eachLine(b, func(line []byte) bool {
		i := bytes.IndexByte(line, ':')
		if i <= 0 {
			bad = line
			return false
		}
		key := line[:i]
		val := bytes.TrimSpace(line[i+1:])
		mult := uint64(1)
		if v, ok := bytes.CutSuffix(val, []byte(" kB")); ok {
			val, mult = bytes.TrimSpace(v), 1024
		}
		n, ok := decimal.Uint(val)
		if !ok || n > Unlimited/mult {
			bad = line
			return false
		}
		n *= mult
		if p := m.field(key); p != nil {
			*p = n
			if string(key) == "MemTotal" {
				haveTotal = true
			}
		}
		return true
	})
	if bad != nil {
		return Meminfo{}, newError(ErrInvalid, "meminfo line %q", bad)
	}
	if !haveTotal {
		return Meminfo{}, newError(ErrInvalid, "meminfo has no MemTotal")
	}
	m.Limit = m.MemTotal
	m.Usage = m.MemTotal - min(m.MemFree, m.MemTotal)
	return m, nil
}

// field returns the field of m that a /proc/meminfo label names, or nil.
func (m *Meminfo) field(label []byte) *uint64 {
	switch string(label) {
	case "MemTotal":
		return &m.MemTotal
	case "MemFree":
		return &m.MemFree
	case "MemAvailable":
		return &m.MemAvailable
	case "Buffers":
		return &m.Buffers
	case "Cached":
		return &m.Cached
	case "SwapCached":
		return &m.SwapCached
	case "Active":
		return &m.Active
	case "Inactive":
		return &m.Inactive
	case "Active(anon)":
		return &m.ActiveAnon
	case "Inactive(anon)":
		return &m.InactiveAnon
	case "Active(file)":
		return &m.ActiveFile
	case "Inactive(file)":
		return &m.InactiveFile
	case "Unevictable":
		return &m.Unevictable
	case "SwapTotal":
		return &m.SwapTotal
	case "SwapFree":
		return &m.SwapFree
	case "Dirty":
		return &m.Dirty
	case "Writeback":
		return &m.Writeback
	case "AnonPages":
		return &m.AnonPages
	case "Mapped":
		return &m.Mapped
	case "Shmem":
		return &m.Shmem
	case "Slab":
		return &m.Slab
	case "SReclaimable":
		return &m.SReclaimable
	case "SUnreclaim":
		return &m.SUnreclaim
	}
	return nil
}

// HostMeminfo reads the host's /proc/meminfo.
func (h *Host) HostMeminfo(ctx context.Context) (Meminfo, error) {
	if err := ctx.Err(); err != nil {
		return Meminfo{}, err
	}
	var m Meminfo
	var err error
	h.withBuf(func(buf []byte) []byte {
		buf, err = readInto(h.proc("meminfo"), buf)
		if err == nil {
			m, err = parseMeminfo(buf)
		}
		return buf
	})
	return m, err
}

// Meminfo returns the container's memory as /proc/meminfo would show it
// inside; see [Meminfo] for how each value is derived.
func (c *Cgroup) Meminfo(ctx context.Context) (Meminfo, error) {
	if err := ctx.Err(); err != nil {
		return Meminfo{}, err
	}
	w, err := c.controller("memory")
	if err != nil {
		return Meminfo{}, err
	}
	if w.v2 && w.dir == w.base {
		// The cgroup2 root has no memory.current or limits: it is the
		// whole machine.
		m, err := c.host.HostMeminfo(ctx)
		m.Limit = Unlimited
		return m, err
	}
	hostMem, hostSwap, _, err := c.host.totals(ctx)
	if err != nil {
		return Meminfo{}, err
	}
	var (
		st             memStat
		usage          uint64
		limit, swapLim = Unlimited, Unlimited
		swapUsed       uint64
		readErr        error
	)
	c.host.withBuf(func(buf []byte) []byte {
		if buf, readErr = c.read(c.join(w.dir, "memory.stat"), buf); readErr != nil {
			return buf
		}
		if st, readErr = parseMemStat(buf, !w.v2); readErr != nil {
			return buf
		}
		usageFile := "memory.usage_in_bytes"
		if w.v2 {
			usageFile = "memory.current"
		}
		if buf, readErr = c.read(c.join(w.dir, usageFile), buf); readErr != nil {
			return buf
		}
		if usage, readErr = parseUintFile(buf); readErr != nil {
			return buf
		}
		if !w.v2 {
			limit, swapLim, swapUsed, buf, readErr = v1MemLimits(c.readLimit, c.join, w, st, buf)
			return buf
		}
		limit, swapLim, swapUsed, buf, readErr = v2MemLimits(c.readLimit, c.read, c.join, w, buf)
		return buf
	})
	if readErr != nil {
		return Meminfo{}, readErr
	}
	m := Meminfo{
		Limit:        limit,
		Usage:        usage,
		MemTotal:     min(limit, hostMem),
		Cached:       st.cache,
		SwapCached:   st.swapcached,
		ActiveAnon:   st.activeAnon,
		InactiveAnon: st.inactiveAnon,
		ActiveFile:   st.activeFile,
		InactiveFile: st.inactiveFile,
		Active:       st.activeAnon + st.activeFile,
		Inactive:     st.inactiveAnon + st.inactiveFile,
		Unevictable:  st.unevict,
		Dirty:        st.dirty,
		Writeback:    st.writeback,
		AnonPages:    st.rss,
		Mapped:       st.mapped,
		Shmem:        st.shmem,
		Slab:         st.slab,
		SReclaimable: st.slabReclaimable,
		SUnreclaim:   st.slabUnreclaimable,
	}
	if usage < m.MemTotal {
		m.MemFree = m.MemTotal - usage
	}
	m.MemAvailable = min(m.MemTotal, m.MemFree+st.activeFile+st.inactiveFile+st.slabReclaimable)
	m.SwapTotal = min(swapLim, hostSwap)
	if swapUsed == 0 && !w.v2 {
		swapUsed = st.swap
	}
	m.SwapFree = m.SwapTotal - min(swapUsed, m.SwapTotal)
	return m, nil
}

// readFunc reads a whole file into buf.
type readFunc func(path string, buf []byte) ([]byte, error)

// v1MemLimits returns the memory limit, the swap the cgroup may use and
// the swap it uses, on a v1 hierarchy. memory.stat's hierarchical_* lines
// already hold the smallest limit over the ancestors; older kernels without
// them get a walk up the tree.
func v1MemLimits(read readFunc, join func(dir, name string) string, w where, st memStat, buf []byte) (limit, swapLim, swapUsed uint64, _ []byte, err error) {
	limit, swapLim = Unlimited, Unlimited
	if st.haveHier {
		limit = st.hierLimit
		if limit >= v1Unlimited {
			limit = Unlimited
		}
	} else {
		for _, d := range ancestors(w.dir, w.base) {
			if buf, err = read(join(d, "memory.limit_in_bytes"), buf); err != nil {
				return 0, 0, 0, buf, err
			}
			l, err := parseLimit(buf)
			if err != nil {
				return 0, 0, 0, buf, err
			}
			limit = min(limit, l)
		}
	}
	if st.haveHierMemsw && st.hierMemswLimit < v1Unlimited && limit != Unlimited && st.hierMemswLimit >= limit {
		swapLim = st.hierMemswLimit - limit
	}
	return limit, swapLim, st.swap, buf, nil
}

// v2MemLimits walks memory.max and memory.swap.max up the cgroup2 tree
// (the root has neither) with readLimit and reads memory.swap.current with
// read.
func v2MemLimits(read, readCurrent readFunc, join func(dir, name string) string, w where, buf []byte) (limit, swapLim, swapUsed uint64, _ []byte, err error) {
	limit, swapLim = Unlimited, Unlimited
	for _, d := range ancestors(w.dir, w.base) {
		if d == w.base {
			break
		}
		if buf, err = read(join(d, "memory.max"), buf); err != nil {
			return 0, 0, 0, buf, err
		}
		l, err := parseLimit(buf)
		if err != nil {
			return 0, 0, 0, buf, err
		}
		limit = min(limit, l)
		if buf, err = read(join(d, "memory.swap.max"), buf); err == nil {
			if l, err = parseLimit(buf); err != nil {
				return 0, 0, 0, buf, err
			}
			swapLim = min(swapLim, l)
		} else if !notFound(err) {
			return 0, 0, 0, buf, err
		}
	}
	if buf, err = readCurrent(join(w.dir, "memory.swap.current"), buf); err == nil {
		if swapUsed, err = parseUintFile(buf); err != nil {
			return 0, 0, 0, buf, err
		}
	} else if !notFound(err) {
		return 0, 0, 0, buf, err
	}
	return limit, swapLim, swapUsed, buf, nil
}
