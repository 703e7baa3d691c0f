package procview

import (
	"bytes"
	"strconv"

	"github.com/shoalkit/shoal/cgroupx"
	"github.com/shoalkit/shoal/internal/decimal"
)

// Device is one block device of the host's /proc/diskstats.
type Device struct {
	Major, Minor uint32
	Name         string
}

// maxDevices bounds how many lines of /proc/diskstats are read.
const maxDevices = 4096

// ParseDiskstats returns the devices of a /proc/diskstats text, in its
// order: the first three fields of each line (major, minor, name). A line
// with fewer fields or a number that is not one is refused with
// [ErrInvalid]; more than 4096 lines are refused too.
func ParseDiskstats(b []byte) ([]Device, error) {
	var out []Device
	for len(b) > 0 {
		line := b
		if i := bytes.IndexByte(b, '\n'); i >= 0 {
			line, b = b[:i], b[i+1:]
		} else {
			b = nil
		}
		f := bytes.Fields(line)
		if len(f) == 0 {
			continue
		}
		if len(out) == maxDevices {
			return nil, newError(ErrInvalid, "diskstats: more than %d devices", maxDevices)
		}
		if len(f) < 3 {
			return nil, newError(ErrInvalid, "diskstats line %q", trunc(line))
		}
		maj, ok1 := decimal.Uint(f[0])
		minor, ok2 := decimal.Uint(f[1])
		if !ok1 || !ok2 || maj > 1<<32-1 || minor > 1<<32-1 || len(f[2]) > 255 {
			return nil, newError(ErrInvalid, "diskstats line %q", trunc(line))
		}
		out = append(out, Device{Major: uint32(maj), Minor: uint32(minor), Name: string(f[2])})
	}
	return out, nil
}

// AppendDiskstats appends the /proc/diskstats a container sees: one line
// per host device (in the host's order) the container did I/O on, in the
// kernel's format, with the completed reads and writes and the sectors
// (512 bytes) the cgroup moved; the fields cgroups do not account (merges,
// times, in-flight, discards, flushes) are 0, as lxcfs leaves them.
func AppendDiskstats(b []byte, devs []Device, io []cgroupx.DeviceIO) []byte {
	for _, d := range devs {
		for _, s := range io {
			if s.Major != d.Major || s.Minor != d.Minor {
				continue
			}
			if s.ReadOps == 0 && s.WriteOps == 0 {
				break
			}
			b = appendPadded(b, uint64(d.Major), 4)
			b = append(b, ' ')
			b = appendPadded(b, uint64(d.Minor), 7)
			b = append(b, ' ')
			b = append(b, d.Name...)
			for _, v := range [17]uint64{
				s.ReadOps, 0, s.ReadBytes / 512, 0,
				s.WriteOps, 0, s.WriteBytes / 512, 0,
				0, 0, 0, 0, 0, 0, 0, 0, 0,
			} {
				b = append(b, ' ')
				b = strconv.AppendUint(b, v, 10)
			}
			b = append(b, '\n')
			break
		}
	}
	return b
}

// AppendSwaps appends the /proc/swaps a container sees: the kernel's
// header, then one "none" line of type "virtual" with the container's swap
// size and use in kB when it may swap (m.SwapTotal > 0), as lxcfs does.
func AppendSwaps(b []byte, m cgroupx.Meminfo) []byte {
	b = append(b, "Filename\t\t\t\tType\t\tSize\t\tUsed\t\tPriority\n"...)
	if m.SwapTotal == 0 {
		return b
	}
	used := m.SwapTotal - min(m.SwapFree, m.SwapTotal)
	b = append(b, "none"...)
	b = append(b, bytes.Repeat([]byte{' '}, 36)...)
	b = append(b, "virtual\t\t"...)
	b = strconv.AppendUint(b, m.SwapTotal/1024, 10)
	b = append(b, "\t\t"...)
	b = strconv.AppendUint(b, used/1024, 10)
	b = append(b, "\t\t0\n"...)
	return b
}

// appendPadded appends v right-aligned in width columns.
func appendPadded(b []byte, v uint64, width int) []byte {
	var num [20]byte
	d := strconv.AppendUint(num[:0], v, 10)
	for i := len(d); i < width; i++ {
		b = append(b, ' ')
	}
	return append(b, d...)
}

// trunc shortens outside input quoted in an error message.
func trunc(b []byte) []byte {
	if len(b) > 64 {
		return b[:64]
	}
	return b
}
