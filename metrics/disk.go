package metrics

import (
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"syscall"
	"time"

	"golang.org/x/sys/unix"

	"github.com/shoalkit/shoal/internal/decimal"
)

// Disk usage is a statfs of every mount a container sees, and a statfs
// of a network or FUSE file system whose server stopped answering never
// returns (a FUSE request waits until the connection is aborted). So no
// statfs runs on a sample's goroutine: each runs on a goroutine of its
// own, the sample waits for it at most Config.DiskTimeout, and a mount
// that did not answer is left out of the sample and counted in
// Totals.DiskErrors. A statfs that never returns keeps its goroutine (and
// the OS thread blocked in the kernel), so they are bounded: at most
// maxStatfsInFlight at once over the collector, and none on a file system
// (its device) whose last statfs has not returned yet; a mount skipped
// for either reason is counted too.

// maxStatfsInFlight bounds the statfs calls outstanding at once, hung
// ones included.
const maxStatfsInFlight = 16

// maxMounts bounds the mounts of one mount table that are measured.
const maxMounts = 4096

// diskProber runs the statfs calls of every container. Safe for
// concurrent use (the sample's workers share it).
type diskProber struct {
	timeout time.Duration
	slots   chan struct{} // one per statfs in flight

	mu      sync.Mutex
	pending map[uint64]*statfsCall // by device: the statfs in flight on it
}

func newDiskProber(timeout time.Duration) *diskProber {
	return &diskProber{timeout: timeout, slots: make(chan struct{}, maxStatfsInFlight), pending: map[uint64]*statfsCall{}}
}

// mountEntry is one line of a mountinfo: what disk usage needs of it.
type mountEntry struct {
	dev                        uint64 // unix.Mkdev(major, minor): the file system
	mountPoint, fsType, source string
}

// statfsCall is one statfs on its own goroutine; every mount of its file
// system that asks while it is in flight shares its answer (a statfs
// answers for the whole file system, whichever of its mounts is asked).
type statfsCall struct {
	start time.Time
	done  chan struct{} // closed once st and err are set
	st    unix.Statfs_t
	err   error
}

// start returns the statfs in flight on dev, or runs a new one of path
// once one of maxStatfsInFlight slots is free, or returns nil: when the
// statfs in flight on dev is older than the timeout (hung; a second one
// would hang beside it), or when no slot frees before ctx is done.
func (p *diskProber) start(ctx context.Context, path string, dev uint64) *statfsCall {
	if c, ok, allHung := p.inFlight(dev); ok || allHung {
		return c
	}
	select {
	case p.slots <- struct{}{}:
	case <-ctx.Done():
		return nil
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if c, ok := p.inFlightLocked(dev); ok {
		<-p.slots // another container started it meanwhile
		return c
	}
	c := &statfsCall{start: time.Now(), done: make(chan struct{})}
	p.pending[dev] = c
	go func() {
		for {
			c.err = unix.Statfs(path, &c.st)
			if !errors.Is(c.err, syscall.EINTR) {
				break
			}
		}
		p.mu.Lock()
		delete(p.pending, dev)
		p.mu.Unlock()
		<-p.slots
		close(c.done)
	}()
	return c
}

// inFlight returns the statfs in flight on dev, nil when it is overdue;
// ok is false when there is none. allHung tells that every slot is held
// by an overdue statfs: waiting for one to free would be waiting for the
// timeout.
func (p *diskProber) inFlight(dev uint64) (c *statfsCall, ok, allHung bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if c, ok = p.inFlightLocked(dev); ok {
		return c, true, false
	}
	hung := 0
	for _, c := range p.pending {
		if time.Since(c.start) > p.timeout {
			hung++
		}
	}
	return nil, false, hung >= cap(p.slots)
}

func (p *diskProber) inFlightLocked(dev uint64) (*statfsCall, bool) {
	c := p.pending[dev]
	if c == nil {
		return nil, false
	}
	if time.Since(c.start) > p.timeout {
		return nil, true
	}
	return c, true
}

// usage measures the mounts under root (/proc/<pid>/root): every statfs
// at once (up to the free slots), waited for until the timeout or ctx is
// done. It returns the usage of those that answered, in mount order, and
// how many failed, did not answer or could not start.
func (p *diskProber) usage(ctx context.Context, root string, mounts []mountEntry) ([]DiskStats, int) {
	ctx, cancel := context.WithTimeout(ctx, p.timeout)
	defer cancel()
	calls := make([]*statfsCall, len(mounts))
	failed := 0
	for i, m := range mounts {
		if calls[i] = p.start(ctx, filepath.Join(root, m.mountPoint), m.dev); calls[i] == nil {
			failed++
		}
	}
	var out []DiskStats
	for i, c := range calls {
		if c == nil {
			continue
		}
		select {
		case <-c.done:
		case <-ctx.Done():
			// Take what already answered; the rest are late.
			select {
			case <-c.done:
			default:
				failed++
				continue
			}
		}
		switch {
		case errors.Is(c.err, unix.ENOENT) || errors.Is(c.err, unix.ENOTDIR):
			continue // unmounted since, or hidden by a later mount
		case c.err != nil:
			failed++
			continue
		case c.st.Blocks == 0:
			continue // as df: no blocks, not a disk
		}
		m := &mounts[i]
		bs := uint64(c.st.Bsize) //nolint:gosec // block size is positive
		d := DiskStats{
			MountPoint: m.mountPoint, Device: m.source, FSType: m.fsType,
			Total: c.st.Blocks * bs, Avail: c.st.Bavail * bs,
			Inodes: c.st.Files, InodesFree: c.st.Ffree,
		}
		d.Used = d.Total - min(c.st.Bfree*bs, d.Total)
		out = append(out, d)
	}
	return out, failed
}

// readMountinfo reads /proc/<pid>/mountinfo whole (its lines can pass
// 1 KiB, so every read up to the one returning 0).
func readMountinfo(path string, buf []byte) ([]byte, error) {
	fd, err := unix.Open(path, unix.O_RDONLY|unix.O_CLOEXEC, 0)
	if err != nil {
		return buf[:0], &os.PathError{Op: "open", Path: path, Err: err}
	}
	defer unix.Close(fd)
	buf, err = readAll(fd, buf)
	if err != nil {
		return buf, &os.PathError{Op: "read", Path: path, Err: err}
	}
	return buf, nil
}

// pseudoFS tells file systems that hold no disk space (and FUSE views of
// /proc such as lxcfs), left out of disk usage as df leaves them.
func pseudoFS(fstype []byte) bool {
	switch string(fstype) {
	case "proc", "sysfs", "cgroup", "cgroup2", "devpts", "mqueue", "debugfs", "tracefs", "securityfs",
		"pstore", "bpf", "autofs", "fusectl", "configfs", "hugetlbfs", "binfmt_misc", "nsfs", "rpc_pipefs",
		"devtmpfs", "efivarfs", "selinuxfs", "fuse.lxcfs":
		return true
	}
	return false
}

// parseMountinfo returns the mounts of a /proc/<pid>/mountinfo that may
// hold disk space, one per mount point (a later mount over the same point
// hides the earlier one, and takes its place), at most maxMounts.
func parseMountinfo(b []byte) ([]mountEntry, error) {
	var out []mountEntry
	at := map[string]int{}
	var arr [16][]byte
	for line := range bytes.Lines(b) {
		f := appendFields(arr[:0], line)
		if len(f) == 0 {
			continue
		}
		sep := -1
		for i := 6; i < len(f); i++ {
			if string(f[i]) == "-" {
				sep = i
				break
			}
		}
		if sep < 0 || sep+2 >= len(f) {
			return nil, newError(ErrInvalid, "mountinfo line %q", clip(line))
		}
		majStr, minStr, ok := bytes.Cut(f[2], []byte{':'})
		maj, okMaj := decimal.Uint(majStr)
		mnr, okMin := decimal.Uint(minStr)
		if !ok || !okMaj || !okMin || maj > 1<<32-1 || mnr > 1<<32-1 {
			return nil, newError(ErrInvalid, "mountinfo device %q", clip(f[2]))
		}
		if pseudoFS(f[sep+1]) {
			continue
		}
		m := mountEntry{
			dev:        unix.Mkdev(uint32(maj), uint32(mnr)),
			mountPoint: unescapeMount(f[4]), fsType: string(f[sep+1]), source: unescapeMount(f[sep+2]),
		}
		if i, ok := at[m.mountPoint]; ok {
			out[i] = m
			continue
		}
		if len(out) == maxMounts {
			break
		}
		at[m.mountPoint] = len(out)
		out = append(out, m)
	}
	return out, nil
}

// unescapeMount undoes mountinfo's octal escapes (\040 for a space).
func unescapeMount(b []byte) string {
	if bytes.IndexByte(b, '\\') < 0 {
		return string(b)
	}
	out := make([]byte, 0, len(b))
	for i := 0; i < len(b); i++ {
		if b[i] == '\\' && i+4 <= len(b) {
			if n, err := strconv.ParseUint(string(b[i+1:i+4]), 8, 8); err == nil {
				out = append(out, byte(n))
				i += 3
				continue
			}
		}
		out = append(out, b[i])
	}
	return string(out)
}
