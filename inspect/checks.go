package inspect

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"time"

	"golang.org/x/sync/errgroup"
	"golang.org/x/sys/unix"
)

// maxOutput bounds what a check keeps of a command's output or a file.
const maxOutput = 64 << 10

// Outcome is the outcome of one check.
type Outcome string

// Check outcomes. An error (a timeout, a crash, a missing file) counts as a
// failure in the verdict; the detail tells them apart.
const (
	OutcomePass    Outcome = "pass"
	OutcomeFail    Outcome = "fail"
	OutcomeError   Outcome = "error"
	OutcomeSkipped Outcome = "skipped" // not selected for this node's tags, or not asked for
)

// Result is one check's outcome on one node: what stage two fetches.
type Result struct {
	ID       string   `json:"id"`
	Index    int      `json:"index"`
	Outcome  Outcome  `json:"outcome"`
	Observed string   `json:"observed,omitempty"`
	Want     string   `json:"want,omitempty"`
	Error    string   `json:"error,omitempty"`
	Took     Duration `json:"took"`
}

// Host is what checks read and run. The zero value reads the machine it
// runs on.
type Host struct {
	// Root is prepended to every path a check reads or a sysctl fix writes
	// (default "/"); tests point it at a fake tree.
	Root string
	// Exec runs argv and returns its combined output (default: os/exec,
	// killed when ctx ends, output capped at 64 KiB).
	Exec func(ctx context.Context, argv []string) ([]byte, error)
	// KernelLog returns the kernel-log lines logged since the given time
	// (default: /dev/kmsg under Root).
	KernelLog func(ctx context.Context, since time.Time) ([]string, error)
	// Now is the clock (default time.Now).
	Now func() time.Time
}

func (h Host) withDefaults() Host {
	if h.Root == "" {
		h.Root = "/"
	}
	if h.Exec == nil {
		h.Exec = execCommand
	}
	if h.Now == nil {
		h.Now = time.Now
	}
	if h.KernelLog == nil {
		root := h.Root
		h.KernelLog = func(ctx context.Context, since time.Time) ([]string, error) {
			return readKmsg(ctx, root, since)
		}
	}
	return h
}

func (h Host) path(p string) string { return filepath.Join(h.Root, filepath.Clean("/"+p)) }

// capped is a writer that keeps the first maxOutput bytes.
type capped struct{ bytes.Buffer }

func (c *capped) Write(p []byte) (int, error) {
	if room := maxOutput - c.Len(); room > 0 {
		c.Buffer.Write(p[:min(len(p), room)])
	}
	return len(p), nil
}

func execCommand(ctx context.Context, argv []string) ([]byte, error) {
	cmd := exec.CommandContext(ctx, argv[0], argv[1:]...) //nolint:gosec // argv comes from the spec, never from a query
	var out capped
	cmd.Stdout, cmd.Stderr = &out, &out
	cmd.WaitDelay = time.Second
	err := cmd.Run()
	return out.Bytes(), err
}

func (h Host) readFile(p string) (string, error) {
	f, err := os.Open(h.path(p))
	if err != nil {
		return "", err
	}
	defer f.Close()
	b, err := io.ReadAll(io.LimitReader(f, maxOutput))
	return strings.TrimSpace(string(b)), err
}

func sysctlPath(key string) string { return "/proc/sys/" + strings.ReplaceAll(key, ".", "/") }

// observe returns the value check c looks at, or an error.
func (h Host) observe(ctx context.Context, c *Check) (string, error) {
	switch c.Kind {
	case KindSysctl:
		v, err := h.readFile(sysctlPath(c.Key))
		return strings.Join(strings.Fields(v), " "), err
	case KindKernel:
		return h.readFile("/proc/sys/kernel/osrelease")
	case KindOS:
		return h.osRelease(c.Key)
	case KindPackage:
		out, err := h.Exec(ctx, []string{"dpkg-query", "-W", "-f=${Version}", c.Key})
		return firstLine(out), err
	case KindBinary, KindCommand:
		out, err := h.Exec(ctx, c.Args)
		return firstLine(out), err
	case KindFileHash:
		return h.fileHash(c.Key)
	case KindProcess:
		n, err := h.countProcesses(c.Key)
		return strconv.Itoa(n), err
	case KindMount:
		return h.mountType(c.Key)
	case KindDiskFree:
		return h.diskFree(c.Key, strings.HasSuffix(c.Want, "%"))
	case KindHardware:
		return h.hardware(c.Key)
	case KindKernelLog:
		return h.kernelLog(ctx, c)
	}
	return "", newError(ErrInvalid, "check %s: unknown kind %q", c.ID, c.Kind)
}

func firstLine(b []byte) string {
	line, _, _ := strings.Cut(string(b), "\n")
	return strings.TrimSpace(line)
}

func (h Host) osRelease(field string) (string, error) {
	if field == "" {
		field = "VERSION_ID"
	}
	v, err := h.readFile("/etc/os-release")
	if err != nil {
		return "", err
	}
	for line := range strings.Lines(v) {
		if k, val, ok := strings.Cut(strings.TrimSpace(line), "="); ok && k == field {
			return strings.Trim(val, `"'`), nil
		}
	}
	return "", newError(ErrNotFound, "os-release field %s", field)
}

func (h Host) fileHash(p string) (string, error) {
	f, err := os.Open(h.path(p))
	if err != nil {
		return "", err
	}
	defer f.Close()
	sum := sha256.New()
	if _, err := io.Copy(sum, f); err != nil {
		return "", err
	}
	return hex.EncodeToString(sum.Sum(nil)), nil
}

func (h Host) countProcesses(name string) (int, error) {
	dirs, err := os.ReadDir(h.path("/proc"))
	if err != nil {
		return 0, err
	}
	n := 0
	for _, d := range dirs {
		if _, err := strconv.Atoi(d.Name()); err != nil {
			continue
		}
		if comm, err := h.readFile("/proc/" + d.Name() + "/comm"); err == nil && comm == name {
			n++
		}
	}
	return n, nil
}

func (h Host) mountType(point string) (string, error) {
	v, err := h.readFile("/proc/self/mounts")
	if err != nil {
		return "", err
	}
	found := ""
	for line := range strings.Lines(v) {
		if f := strings.Fields(line); len(f) >= 3 && f[1] == point {
			found = f[2] // the last mount over a point is the one seen
		}
	}
	if found == "" {
		return "", newError(ErrNotFound, "no mount at %s", point)
	}
	return found, nil
}

func (h Host) diskFree(p string, percent bool) (string, error) {
	var st unix.Statfs_t
	if err := unix.Statfs(h.path(p), &st); err != nil {
		return "", err
	}
	free := st.Bavail * uint64(st.Bsize) //nolint:gosec // block size is positive
	if percent {
		if st.Blocks == 0 {
			return "0%", nil
		}
		return strconv.FormatUint(st.Bavail*100/st.Blocks, 10) + "%", nil
	}
	return strconv.FormatUint(free, 10), nil
}

func (h Host) hardware(fact string) (string, error) {
	switch {
	case fact == "cpus":
		v, err := h.readFile("/proc/cpuinfo")
		return strconv.Itoa(strings.Count(v, "\nprocessor") + boolInt(strings.HasPrefix(v, "processor"))), err
	case fact == "memtotal":
		v, err := h.readFile("/proc/meminfo")
		if err != nil {
			return "", err
		}
		for line := range strings.Lines(v) {
			if f := strings.Fields(line); len(f) >= 2 && f[0] == "MemTotal:" {
				kb, err := strconv.ParseUint(f[1], 10, 64)
				return strconv.FormatUint(kb*1024, 10), err
			}
		}
		return "", newError(ErrNotFound, "MemTotal in /proc/meminfo")
	case strings.HasPrefix(fact, "/sys/"):
		return h.readFile(fact)
	}
	return "", newError(ErrInvalid, "hardware fact %q: want cpus, memtotal or a /sys path", fact)
}

func boolInt(b bool) int {
	if b {
		return 1
	}
	return 0
}

func (h Host) kernelLog(ctx context.Context, c *Check) (string, error) {
	window := time.Duration(c.Window)
	if window == 0 {
		window = 10 * time.Minute
	}
	lines, err := h.KernelLog(ctx, h.Now().Add(-window))
	if err != nil {
		return "", err
	}
	re := regexp.MustCompile(c.Key) // validated by the spec
	n := 0
	for _, l := range lines {
		if re.MatchString(l) {
			n++
		}
	}
	return strconv.Itoa(n), nil
}

// readKmsg reads the kernel log records logged since the given time from
// /dev/kmsg, without blocking ("pri,seq,usec,flags;text" records whose
// usec is time since boot).
func readKmsg(ctx context.Context, root string, since time.Time) ([]string, error) {
	up, err := os.ReadFile(filepath.Join(root, "proc/uptime"))
	if err != nil {
		return nil, err
	}
	var upSec float64
	if _, err := fmt.Sscanf(string(up), "%f", &upSec); err != nil {
		return nil, newError(ErrInvalid, "/proc/uptime %q", up)
	}
	boot := time.Now().Add(-time.Duration(upSec * float64(time.Second)))
	fd, err := unix.Open(filepath.Join(root, "dev/kmsg"), unix.O_RDONLY|unix.O_NONBLOCK|unix.O_CLOEXEC, 0)
	if err != nil {
		return nil, err
	}
	defer unix.Close(fd)
	var out []string
	buf := make([]byte, 8192)
	for range 1 << 20 { // the ring holds far fewer records; the bound is for safety
		if ctx.Err() != nil {
			return out, ctx.Err()
		}
		n, err := unix.Read(fd, buf)
		if errors.Is(err, unix.EAGAIN) || (err == nil && n <= 0) {
			break
		}
		if errors.Is(err, unix.EPIPE) { // overwritten while reading: skip on
			continue
		}
		if err != nil {
			return out, err
		}
		head, text, ok := strings.Cut(string(buf[:n]), ";")
		f := strings.Split(head, ",")
		if !ok || len(f) < 3 {
			continue
		}
		usec, err := strconv.ParseInt(f[2], 10, 64)
		if err != nil || boot.Add(time.Duration(usec)*time.Microsecond).Before(since) {
			continue
		}
		out = append(out, strings.TrimSpace(text))
	}
	return out, nil
}

// defaultWant fills the per-kind defaults of Want and Op.
func defaultWant(c *Check) (want string, op Op) {
	want, op = c.Want, c.Op
	switch c.Kind {
	case KindProcess:
		if want == "" {
			want, op = "1", OpGe
		}
	case KindKernelLog:
		want, op = "0", OpEq
	case KindDiskFree:
		if op == "" {
			op = OpGe
		}
	}
	if op == "" {
		op = OpEq
	}
	return want, op
}

// runOne runs check c and returns its result; it never panics and returns
// by ctx's deadline even if the probe does not.
func (h Host) runOne(ctx context.Context, i int, c *Check) Result {
	start := h.Now()
	res := Result{ID: c.ID, Index: i}
	want, op := defaultWant(c)
	res.Want = string(op) + " " + want
	type outcome struct {
		v   string
		err error
	}
	done := make(chan outcome, 1)
	go func() {
		defer func() {
			if r := recover(); r != nil {
				done <- outcome{err: fmt.Errorf("check crashed: %v", r)}
			}
		}()
		v, err := h.observe(ctx, c)
		done <- outcome{v, err}
	}()
	select {
	case o := <-done:
		res.Observed = o.v
		switch {
		case o.err != nil && c.Kind == KindMount && want == "" && strings.Contains(o.err.Error(), "no mount"):
			res.Outcome, res.Error = OutcomeFail, o.err.Error()
		case o.err != nil:
			res.Outcome, res.Error = OutcomeError, o.err.Error()
		case want == "" && (c.Kind == KindMount || c.Kind == KindCommand), compare(o.v, op, want):
			res.Outcome = OutcomePass
		default:
			res.Outcome = OutcomeFail
		}
	case <-ctx.Done():
		res.Outcome, res.Error = OutcomeError, "check timed out: "+ctx.Err().Error()
	}
	res.Took = Duration(h.Now().Sub(start))
	return res
}

// runChecks runs the checks of spec selected for tags (and, when only is
// not nil, listed in it) in parallel, each bounded by its timeout.
func (h Host) runChecks(ctx context.Context, spec *Spec, tags map[string]string, only []int, parallel int, timeout time.Duration) []Result {
	out := make([]Result, len(spec.Checks))
	g := new(errgroup.Group)
	g.SetLimit(parallel)
	for i := range spec.Checks {
		c := &spec.Checks[i]
		if !spec.Selects(i, tags) || (only != nil && !containsSorted(only, i)) {
			out[i] = Result{ID: c.ID, Index: i, Outcome: OutcomeSkipped}
			continue
		}
		g.Go(func() error {
			d := timeout
			if c.Timeout > 0 {
				d = time.Duration(c.Timeout)
			}
			cctx, cancel := context.WithTimeout(ctx, d)
			defer cancel()
			out[i] = h.runOne(cctx, i, c)
			return nil
		})
	}
	_ = g.Wait() // the goroutines return no error
	return out
}

func containsSorted(s []int, v int) bool {
	lo, hi := 0, len(s)
	for lo < hi {
		m := (lo + hi) / 2
		if s[m] < v {
			lo = m + 1
		} else {
			hi = m
		}
	}
	return lo < len(s) && s[lo] == v
}
