package cgroupx

import (
	"bytes"
	"context"
	"errors"
	"io"
	"path/filepath"
	"sort"
	"strconv"

	"github.com/shoalkit/shoal/internal/decimal"

	"golang.org/x/sys/unix"
)

// DeviceIO is the block I/O a cgroup did on one device.
type DeviceIO struct {
	Major, Minor          uint32
	ReadBytes, WriteBytes uint64
	ReadOps, WriteOps     uint64
}

// IO returns the cgroup's block I/O per device, from io.stat on cgroup2 or
// blkio.throttle.io_service_bytes_recursive and io_serviced_recursive on
// v1 (the throttle files count every bio whatever the I/O scheduler).
// Devices are sorted by number.
func (c *Cgroup) IO(ctx context.Context) ([]DeviceIO, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	if c.host.mode == ModeV2 {
		w, err := c.controller("io")
		if err != nil {
			return nil, err
		}
		var out []DeviceIO
		c.host.withBuf(func(buf []byte) []byte {
			if buf, err = c.read(c.join(w.dir, "io.stat"), buf); err == nil {
				out, err = parseIOStat(buf)
			}
			return buf
		})
		if err != nil {
			return nil, err
		}
		return out, nil
	}
	w, err := c.controller("blkio")
	if err != nil {
		return nil, err
	}
	devs := map[[2]uint32]*DeviceIO{}
	for _, f := range []struct {
		name        string
		read, write func(*DeviceIO) *uint64
	}{
		{"blkio.throttle.io_service_bytes_recursive", func(d *DeviceIO) *uint64 { return &d.ReadBytes }, func(d *DeviceIO) *uint64 { return &d.WriteBytes }},
		{"blkio.throttle.io_serviced_recursive", func(d *DeviceIO) *uint64 { return &d.ReadOps }, func(d *DeviceIO) *uint64 { return &d.WriteOps }},
	} {
		c.host.withBuf(func(buf []byte) []byte {
			if buf, err = c.read(c.join(w.dir, f.name), buf); err == nil {
				if err = parseBlkioStat(buf, devs, f.read, f.write); err != nil {
					err = annotate(err, "%s", f.name)
				}
			}
			return buf
		})
		if err != nil {
			return nil, err
		}
	}
	out := make([]DeviceIO, 0, len(devs))
	for _, d := range devs {
		out = append(out, *d)
	}
	sortDevices(out)
	return out, nil
}

func sortDevices(d []DeviceIO) {
	sort.Slice(d, func(i, j int) bool {
		if d[i].Major != d[j].Major {
			return d[i].Major < d[j].Major
		}
		return d[i].Minor < d[j].Minor
	})
}

// ParseBlkioStat parses a v1 blkio statistics file
// ("8:0 Read 4096" lines and a "Total" line) into per-device reads and
// writes.
func ParseBlkioStat(r io.Reader) (map[[2]uint32]DeviceIO, error) {
	b, err := io.ReadAll(io.LimitReader(r, 4<<20))
	if err != nil {
		return nil, annotate(err, "reading blkio stat")
	}
	devs := map[[2]uint32]*DeviceIO{}
	if err := parseBlkioStat(b, devs, func(d *DeviceIO) *uint64 { return &d.ReadBytes }, func(d *DeviceIO) *uint64 { return &d.WriteBytes }); err != nil {
		return nil, err
	}
	out := make(map[[2]uint32]DeviceIO, len(devs))
	for k, v := range devs {
		out[k] = *v
	}
	return out, nil
}

func parseBlkioStat(b []byte, devs map[[2]uint32]*DeviceIO, read, write func(*DeviceIO) *uint64) error {
	var perr error
	var arr [4][]byte
	eachLine(b, func(line []byte) bool {
		f := appendFields(arr[:0], line)
		if len(f) == 2 && string(f[0]) == "Total" {
			return true
		}
		if len(f) != 3 {
			perr = newError(ErrInvalid, "blkio line %q", trunc(line))
			return false
		}
		maj, mnr, ok := parseDev(f[0])
		n, okn := decimal.Uint(f[2])
		if !ok || !okn {
			perr = newError(ErrInvalid, "blkio line %q", trunc(line))
			return false
		}
		key := [2]uint32{maj, mnr}
		d := devs[key]
		if d == nil {
			d = &DeviceIO{Major: maj, Minor: mnr}
			devs[key] = d
		}
		switch string(f[1]) {
		case "Read":
			*read(d) += n
		case "Write":
			*write(d) += n
		}
		return true
	})
	return perr
}

// ParseIOStat parses cgroup2's io.stat ("8:0 rbytes=1 wbytes=2 rios=3
// wios=4 dbytes=0 dios=0" a line).
func ParseIOStat(r io.Reader) ([]DeviceIO, error) {
	b, err := io.ReadAll(io.LimitReader(r, 4<<20))
	if err != nil {
		return nil, annotate(err, "reading io.stat")
	}
	return parseIOStat(b)
}

func parseIOStat(b []byte) ([]DeviceIO, error) {
	out := []DeviceIO{}
	var perr error
	var arr [16][]byte
	eachLine(b, func(line []byte) bool {
		f := appendFields(arr[:0], line)
		if len(f) == 0 {
			return true
		}
		maj, mnr, ok := parseDev(f[0])
		if !ok {
			perr = newError(ErrInvalid, "io.stat line %q", trunc(line))
			return false
		}
		d := DeviceIO{Major: maj, Minor: mnr}
		for _, kv := range f[1:] {
			k, v, found := bytes.Cut(kv, []byte("="))
			n, okn := decimal.Uint(v)
			if !found || !okn {
				perr = newError(ErrInvalid, "io.stat line %q", trunc(line))
				return false
			}
			switch string(k) {
			case "rbytes":
				d.ReadBytes = n
			case "wbytes":
				d.WriteBytes = n
			case "rios":
				d.ReadOps = n
			case "wios":
				d.WriteOps = n
			}
		}
		out = append(out, d)
		return true
	})
	if perr != nil {
		return nil, perr
	}
	sortDevices(out)
	return out, nil
}

// DiskUsage is the space of one file system a container sees, as df shows
// it.
type DiskUsage struct {
	// MountPoint is where the container sees it; FSType and Source come
	// from the container's mount table.
	MountPoint, FSType, Source string
	// Total, Free (for root) and Avail (for users) bytes; Used is Total-Free.
	Total, Free, Avail, Used uint64
	// Inodes and InodesFree count files.
	Inodes, InodesFree uint64
}

// pseudoFS are file systems df leaves out: they hold no user data.
func pseudoFS(fstype string) bool {
	switch fstype {
	case "proc", "sysfs", "cgroup", "cgroup2", "devpts", "mqueue", "debugfs", "tracefs", "securityfs",
		"pstore", "bpf", "autofs", "fusectl", "configfs", "hugetlbfs", "binfmt_misc", "nsfs", "rpc_pipefs",
		"devtmpfs", "efivarfs", "selinuxfs", "fuse.lxcfs":
		return true
	}
	return false
}

// DiskUsage returns the usage of the file systems mounted in process pid's
// mount namespace (its root and volumes), measured with statfs through
// /proc/<pid>/root so that the container's own view is used. Pseudo file
// systems and those with no blocks are left out, as df does, and so are
// file systems that do not answer — a FUSE mount whose server died
// (ENOTCONN, ECONNABORTED), a stale network mount (ESTALE), one the caller
// may not look into (EACCES, EPERM), one failing with EIO: df reports those
// and goes on with the rest, and one dead mount must not hide the others.
// (A mount whose server hangs still blocks statfs; metrics calls it with a
// timeout of its own.) With pid 0 the container's init (see [Uptime]) is used.
func (c *Cgroup) DiskUsage(ctx context.Context, pid int) ([]DiskUsage, error) {
	if pid == 0 {
		u, err := c.Uptime(ctx)
		if err != nil {
			return nil, err
		}
		pid = u.InitPID
	}
	if pid < 0 {
		return nil, newError(ErrInvalid, "pid %d", pid)
	}
	b, err := readInto(c.host.proc(strconv.Itoa(pid)+"/mountinfo"), nil)
	if err != nil {
		return nil, err
	}
	mounts, err := ParseMountinfo(bytes.NewReader(b))
	if err != nil {
		return nil, err
	}
	root := c.host.proc(strconv.Itoa(pid) + "/root")
	var out []DiskUsage
	seen := map[string]int{}
	for _, m := range mounts {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		if pseudoFS(m.FSType) {
			continue
		}
		var st unix.Statfs_t
		if err := unix.Statfs(filepath.Join(root, m.MountPoint), &st); err != nil {
			if errors.Is(err, unix.ENOENT) || errors.Is(err, unix.ENOTDIR) {
				continue // unmounted since, or hidden by a later mount
			}
			if deadMount(err) {
				continue
			}
			return nil, annotate(err, "statfs %s", m.MountPoint)
		}
		if st.Blocks == 0 {
			continue
		}
		bs := uint64(st.Bsize) //nolint:gosec // block size is positive
		d := DiskUsage{
			MountPoint: m.MountPoint, FSType: m.FSType, Source: m.Source,
			Total: st.Blocks * bs, Free: st.Bfree * bs, Avail: st.Bavail * bs,
			Inodes: st.Files, InodesFree: st.Ffree,
		}
		d.Used = d.Total - min(d.Free, d.Total)
		// A later mount over the same point hides the earlier one.
		if i, ok := seen[m.MountPoint]; ok {
			out[i] = d
			continue
		}
		seen[m.MountPoint] = len(out)
		out = append(out, d)
	}
	return out, nil
}

// deadMount reports whether statfs failed because the file system does not
// answer or may not be looked into, rather than because of the caller.
func deadMount(err error) bool {
	for _, e := range []error{unix.ENOTCONN, unix.ECONNABORTED, unix.ESTALE, unix.EACCES, unix.EPERM, unix.EIO} {
		if errors.Is(err, e) {
			return true
		}
	}
	return false
}
