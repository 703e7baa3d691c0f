package cgroupx

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"strconv"
	"time"

	"github.com/shoalkit/shoal/internal/decimal"
)

// meminfoOrder is the kernel's order of the /proc/meminfo lines that
// Meminfo holds (fs/proc/meminfo.c).
func meminfoOrder() []string {
	return []string{
		"MemTotal", "MemFree", "MemAvailable", "Buffers", "Cached", "SwapCached",
		"Active", "Inactive", "Active(anon)", "Inactive(anon)", "Active(file)", "Inactive(file)",
		"Unevictable", "SwapTotal", "SwapFree", "Dirty", "Writeback", "AnonPages", "Mapped",
		"Shmem", "Slab", "SReclaimable", "SUnreclaim",
	}
}

// appendMeminfoLine appends one line as the kernel's show_val_kb writes it:
// the label and colon padded to 16 columns, the value in kB right-aligned
// in 8, then " kB".
func appendMeminfoLine(b []byte, label string, bytes uint64) []byte {
	start := len(b)
	b = append(b, label...)
	b = append(b, ':')
	for len(b)-start < 16 {
		b = append(b, ' ')
	}
	var num [20]byte
	digits := strconv.AppendUint(num[:0], bytes/1024, 10)
	for i := len(digits); i < 8; i++ {
		b = append(b, ' ')
	}
	b = append(b, digits...)
	return append(b, " kB\n"...)
}

// WriteMeminfo writes m in the /proc/meminfo format. When host is not nil
// it is the host's /proc/meminfo: its lines are kept in their order, those
// that m holds replaced by the container's values and the others (huge
// pages, vmalloc, ...) passed through, as tools expect every line the
// running kernel writes. With a nil host only m's lines are written, in the
// kernel's order.
func WriteMeminfo(w io.Writer, m Meminfo, host io.Reader) error {
	b := make([]byte, 0, 2048)
	if host == nil {
		for _, label := range meminfoOrder() {
			b = appendMeminfoLine(b, label, *m.field([]byte(label)))
		}
		return write(w, b)
	}
	sc := bufio.NewScanner(host)
	for sc.Scan() {
		line := sc.Bytes()
		i := bytes.IndexByte(line, ':')
		if i > 0 {
			if p := m.field(line[:i]); p != nil {
				b = appendMeminfoLine(b, string(line[:i]), *p)
				continue
			}
		}
		b = append(b, line...)
		b = append(b, '\n')
	}
	if err := sc.Err(); err != nil {
		return scanError(err, "host meminfo", 0)
	}
	return write(w, b)
}

// WriteLoadavg writes l in the /proc/loadavg format
// ("0.52 0.58 0.59 2/315 12345"), rounding as fs/proc/loadavg.c does.
func WriteLoadavg(w io.Writer, l LoadAvg) error {
	b := make([]byte, 0, 64)
	for i, a := range l.Avenrun {
		a += Fixed1 / 200
		if i > 0 {
			b = append(b, ' ')
		}
		b = strconv.AppendUint(b, a>>FShift, 10)
		b = append(b, '.')
		frac := ((a & (Fixed1 - 1)) * 100) >> FShift
		if frac < 10 {
			b = append(b, '0')
		}
		b = strconv.AppendUint(b, frac, 10)
	}
	b = fmt.Appendf(b, " %d/%d %d\n", l.Running, l.Total, l.LastPID)
	return write(w, b)
}

// appendCentis appends d as seconds with two decimals, truncated, as
// fs/proc/uptime.c prints it.
func appendCentis(b []byte, d time.Duration) []byte {
	d = max(d, 0)
	b = strconv.AppendInt(b, int64(d/time.Second), 10)
	c := int64(d%time.Second) / int64(10*time.Millisecond)
	b = append(b, '.', byte('0'+c/10), byte('0'+c%10))
	return b
}

// WriteUptime writes u in the /proc/uptime format ("350735.47 234388.90").
func WriteUptime(w io.Writer, u Uptime) error {
	b := appendCentis(make([]byte, 0, 48), u.Uptime)
	b = append(b, ' ')
	b = appendCentis(b, u.Idle)
	b = append(b, '\n')
	return write(w, b)
}

// WriteCPUOnline writes the /sys/devices/system/cpu/online list of a
// container with n CPUs: "0-<n-1>", or "0" for one.
func WriteCPUOnline(w io.Writer, n int) error {
	if n < 1 {
		return newError(ErrInvalid, "%d online cpus", n)
	}
	s := "0\n"
	if n > 1 {
		s = "0-" + strconv.Itoa(n-1) + "\n"
	}
	return write(w, []byte(s))
}

// WriteCPUInfo writes the host's /proc/cpuinfo (read from host) cut down to
// the container's CPUs: the blocks of the first cpus.Effective CPUs of
// cpus.Cpuset, numbered from 0 as the container sees them.
func WriteCPUInfo(w io.Writer, host io.Reader, cpus CPUs) error {
	keep := map[int]int{}
	for i, c := range cpus.Cpuset {
		if i >= cpus.Effective {
			break
		}
		keep[c] = i
	}
	data, err := io.ReadAll(io.LimitReader(host, 16<<20))
	if err != nil {
		return scanError(err, "host cpuinfo", 0)
	}
	var out []byte
	for block := range bytes.SplitSeq(data, []byte("\n\n")) {
		if len(bytes.TrimSpace(block)) == 0 {
			continue
		}
		proc := -1
		lines := bytes.Split(block, []byte("\n"))
		for _, l := range lines {
			k, v, ok := bytes.Cut(l, []byte(":"))
			if ok && string(bytes.TrimSpace(k)) == "processor" {
				n, okn := decimal.Uint(bytes.TrimSpace(v))
				if !okn || n > maxCPU {
					return newError(ErrInvalid, "cpuinfo processor %q", bytes.TrimSpace(v))
				}
				proc = int(n)
				break
			}
		}
		idx, ok := keep[proc]
		if !ok {
			continue
		}
		for _, l := range lines {
			if k, _, ok := bytes.Cut(l, []byte(":")); ok && string(bytes.TrimSpace(k)) == "processor" {
				out = fmt.Appendf(out, "%s: %d\n", k, idx)
				continue
			}
			out = append(out, l...)
			out = append(out, '\n')
		}
		out = append(out, '\n')
	}
	return write(w, out)
}

// StatCPU is what the cpu lines of /proc/stat say inside a container.
type StatCPU struct {
	// Used is the CPU time the cgroup used.
	Used CPUTime
	// Idle is the container's idle time (see [Uptime]).
	Idle time.Duration
	// CPUs is the container's CPU count; the per-CPU lines share the times
	// evenly, as cgroups do not account them per CPU on every version.
	CPUs int
}

// WriteStat writes the cpu lines of /proc/stat ("cpu  user nice system idle
// iowait irq softirq steal guest guest_nice" in USER_HZ ticks, then
// "cpuN ..." for each CPU). When host is not nil, the host's /proc/stat
// lines other than the cpu lines follow unchanged.
func WriteStat(w io.Writer, s StatCPU, host io.Reader) error {
	if s.CPUs < 1 {
		return newError(ErrInvalid, "%d cpus", s.CPUs)
	}
	ticks := func(d time.Duration) uint64 { return uint64(max(d, 0) / (time.Second / userHZ)) } //nolint:gosec // non-negative
	user, system, idle := ticks(s.Used.User), ticks(s.Used.System), ticks(s.Idle)
	b := fmt.Appendf(nil, "cpu  %d 0 %d %d 0 0 0 0 0 0\n", user, system, idle)
	n := uint64(s.CPUs)
	for i := range n {
		share := func(v uint64) uint64 { // the first CPUs take the remainder
			q := v / n
			if i < v%n {
				q++
			}
			return q
		}
		b = fmt.Appendf(b, "cpu%d %d 0 %d %d 0 0 0 0 0 0\n", i, share(user), share(system), share(idle))
	}
	if host != nil {
		sc := bufio.NewScanner(host)
		sc.Buffer(make([]byte, 0, 64<<10), 4<<20)
		for sc.Scan() {
			if bytes.HasPrefix(sc.Bytes(), []byte("cpu")) {
				continue
			}
			b = append(b, sc.Bytes()...)
			b = append(b, '\n')
		}
		if err := sc.Err(); err != nil {
			return scanError(err, "host stat", 0)
		}
	}
	return write(w, b)
}

// write writes b to w; an error of w is ErrUnavailable.
func write(w io.Writer, b []byte) error {
	if _, err := w.Write(b); err != nil {
		return wrapError(ErrUnavailable, err, "write")
	}
	return nil
}
