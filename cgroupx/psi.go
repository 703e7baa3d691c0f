package cgroupx

import (
	"bytes"
	"context"
	"io"
	"strconv"
	"time"

	"github.com/shoalkit/shoal/internal/decimal"
)

// PressureLine is one line of a pressure file: the share of time some (or
// all) tasks were stalled, averaged over 10, 60 and 300 seconds (percent),
// and the total stall time.
type PressureLine struct {
	Avg10, Avg60, Avg300 float64
	Total                time.Duration
}

// PressureStats is one resource's pressure: "some" tasks stalled, and "full"
// (all non-idle tasks stalled at once).
type PressureStats struct {
	Some, Full PressureLine
}

// Pressure is a cgroup's pressure stall information (PSI).
type Pressure struct {
	CPU, Memory, IO PressureStats
}

// ParsePressure parses a PSI file (cpu.pressure, memory.pressure,
// io.pressure, or /proc/pressure/*):
//
//	some avg10=0.00 avg60=0.00 avg300=0.00 total=0
//	full avg10=0.00 avg60=0.00 avg300=0.00 total=0
func ParsePressure(r io.Reader) (PressureStats, error) {
	b, err := io.ReadAll(io.LimitReader(r, 4096))
	if err != nil {
		return PressureStats{}, annotate(err, "reading pressure")
	}
	return parsePressure(b)
}

func parsePressure(b []byte) (PressureStats, error) {
	var ps PressureStats
	var perr error
	var arr [8][]byte
	eachLine(b, func(line []byte) bool {
		f := appendFields(arr[:0], line)
		var dst *PressureLine
		switch {
		case len(f) != 5:
		case string(f[0]) == "some":
			dst = &ps.Some
		case string(f[0]) == "full":
			dst = &ps.Full
		}
		if dst == nil {
			perr = newError(ErrInvalid, "pressure line %q", trunc(line))
			return false
		}
		for i, key := range []string{"avg10=", "avg60=", "avg300=", "total="} {
			v, ok := bytes.CutPrefix(f[i+1], []byte(key))
			if !ok {
				perr = newError(ErrInvalid, "pressure line %q", trunc(line))
				return false
			}
			if key == "total=" {
				n, okn := decimal.Uint(v)
				if !okn || n > 1<<62/uint64(time.Microsecond) {
					perr = newError(ErrInvalid, "pressure total %q", v)
					return false
				}
				dst.Total = time.Duration(n) * time.Microsecond //nolint:gosec // range checked
				continue
			}
			x, err := strconv.ParseFloat(string(v), 64)
			if err != nil || x < 0 || x > 100 {
				perr = newError(ErrInvalid, "pressure average %q", v)
				return false
			}
			*[]*float64{&dst.Avg10, &dst.Avg60, &dst.Avg300}[i] = x
		}
		return true
	})
	return ps, perr
}

// Pressure reads the cgroup's cpu, memory and io pressure from the cgroup2
// hierarchy; on a hybrid host too, when the group exists there. Without a
// cgroup2 group the error wraps [ErrUnsupported]. A resource whose file is
// missing (PSI disabled, or an old kernel without cpu "full") reads as zero.
func (c *Cgroup) Pressure(ctx context.Context) (Pressure, error) {
	if err := ctx.Err(); err != nil {
		return Pressure{}, err
	}
	if c.v2 == "" {
		return Pressure{}, newError(ErrUnsupported, "cgroup %s has no cgroup2 group for pressure", c.path)
	}
	var p Pressure
	var err error
	found := 0
	c.host.withBuf(func(buf []byte) []byte {
		for _, r := range []struct {
			file string
			dst  *PressureStats
		}{{"cpu.pressure", &p.CPU}, {"memory.pressure", &p.Memory}, {"io.pressure", &p.IO}} {
			var rerr error
			buf, rerr = c.read(c.join(c.v2, r.file), buf)
			if notFound(rerr) {
				continue
			}
			if rerr != nil {
				err = rerr
				return buf
			}
			if *r.dst, err = parsePressure(buf); err != nil {
				return buf
			}
			found++
		}
		return buf
	})
	if err == nil && found == 0 {
		err = newError(ErrUnsupported, "no pressure files in %s (PSI disabled?)", c.v2)
	}
	return p, err
}
