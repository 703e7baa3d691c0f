package cgroupx

import (
	"bytes"
	"io"

	"github.com/shoalkit/shoal/internal/decimal"
)

// ProcStat holds the fields of /proc/<pid>/stat (or
// /proc/<pid>/task/<tid>/stat) that cgroupx uses; see proc(5).
type ProcStat struct {
	PID        int
	Comm       string
	State      byte // 'R', 'S', 'D', 'Z', 'T', 't', 'X', 'I', 'P'
	PPID       int
	UTime      uint64 // clock ticks (1/100 s)
	STime      uint64 // clock ticks
	NumThreads int
	StartTime  uint64 // clock ticks after boot
	RSSPages   uint64
}

// ParseProcStat parses one /proc/<pid>/stat line. The command name may hold
// spaces and parentheses; it ends at the last ')'.
func ParseProcStat(r io.Reader) (ProcStat, error) {
	b, err := io.ReadAll(io.LimitReader(r, 4096))
	if err != nil {
		return ProcStat{}, annotate(err, "reading stat")
	}
	return parseProcStat(b)
}

func parseProcStat(b []byte) (ProcStat, error) {
	var s ProcStat
	open := bytes.IndexByte(b, '(')
	closing := bytes.LastIndexByte(b, ')')
	if open < 1 || closing < open {
		return s, newError(ErrInvalid, "stat %q: no command", trunc(b))
	}
	pid, ok := decimal.Uint(bytes.TrimSpace(b[:open]))
	if !ok || pid > 1<<22 {
		return s, newError(ErrInvalid, "stat %q: bad pid", trunc(b))
	}
	s.PID = int(pid)
	s.Comm = string(b[open+1 : closing])
	// Fields from 3 (state) on, numbered as in proc(5); the kernel puts one
	// space after the command.
	var fields [22][]byte
	rest := b[closing+1:]
	if len(rest) == 0 || rest[0] != ' ' {
		return ProcStat{}, newError(ErrInvalid, "stat %q: no space after the command", trunc(b))
	}
	rest = rest[1:]
	n := 0
	for n < len(fields) && len(rest) > 0 && rest[0] != '\n' {
		i := bytes.IndexAny(rest, " \n")
		if i < 0 {
			i = len(rest)
		}
		if i == 0 {
			return ProcStat{}, newError(ErrInvalid, "stat %q: empty field", trunc(b))
		}
		fields[n], rest = rest[:i], rest[i:]
		n++
		if len(rest) > 0 && rest[0] == ' ' {
			rest = rest[1:]
		}
	}
	if n < len(fields) || len(fields[0]) != 1 {
		return ProcStat{}, newError(ErrInvalid, "stat %q: too few fields", trunc(b))
	}
	s.State = fields[0][0]
	get := func(field int) uint64 {
		v, okf := decimal.Uint(fields[field-3])
		if !okf {
			ok = false
		}
		return v
	}
	ok = true
	ppid := get(4)
	s.UTime, s.STime = get(14), get(15)
	threads := get(20)
	s.StartTime = get(22)
	s.RSSPages = get(24)
	if !ok || ppid > 1<<22 || threads > 1<<22 {
		return ProcStat{}, newError(ErrInvalid, "stat %q: bad number", trunc(b))
	}
	s.PPID, s.NumThreads = int(ppid), int(threads)
	return s, nil
}

// statState returns the state letter of a stat line without parsing the
// rest: the first non-space byte after the last ')'.
func statState(b []byte) (byte, bool) {
	i := bytes.LastIndexByte(b, ')')
	if i < 0 || i+2 >= len(b) || b[i+1] != ' ' {
		return 0, false
	}
	return b[i+2], true
}

func trunc(b []byte) []byte {
	if len(b) > 64 {
		return b[:64]
	}
	return b
}
