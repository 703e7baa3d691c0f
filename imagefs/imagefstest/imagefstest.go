package imagefstest

import (
	"archive/tar"
	"bytes"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"path/filepath"
	"testing"
	"time"
)

// Entry is one tar entry for Tar and WriteTar. The zero Type means a
// regular file.
type Entry struct {
	Name     string
	Type     byte   // tar.TypeReg (default), TypeDir, TypeSymlink, TypeLink, TypeChar, ...
	Body     []byte // content of a regular file
	Linkname string // target of a symlink or hardlink
	Mode     int64  // permission bits; default 0644 for files, 0755 for dirs
	UID, GID int
	ModTime  time.Time         // default 2020-01-02 03:04:05 UTC
	Xattrs   map[string]string // written as SCHILY.xattr PAX records
	// Devmajor and Devminor number a character or block device. A
	// character device 0:0 is what overlayfs reads as a whiteout.
	Devmajor, Devminor int64
}

// Tar returns an uncompressed tar archive of the entries, in order. Names
// are written as given: hostile ones ("../x", "/etc/x") too.
func Tar(tb testing.TB, entries ...Entry) []byte {
	tb.Helper()
	var buf bytes.Buffer
	if err := WriteTar(&buf, entries...); err != nil {
		tb.Fatal(err)
	}
	return buf.Bytes()
}

// WriteTar writes the archive Tar returns to w, and returns the first error
// instead of failing a test: for callers with no testing.TB (Examples,
// programs that write fixtures) and for code off the test's goroutine, such
// as a layer opener or an HTTP handler, where t.Fatal must not be called.
func WriteTar(w io.Writer, entries ...Entry) error {
	tw := tar.NewWriter(w)
	for _, e := range entries {
		h := &tar.Header{
			Name: e.Name, Typeflag: e.Type, Linkname: e.Linkname, Mode: e.Mode,
			Uid: e.UID, Gid: e.GID, ModTime: e.ModTime, Format: tar.FormatPAX,
			Devmajor: e.Devmajor, Devminor: e.Devminor,
		}
		if h.Typeflag == 0 {
			h.Typeflag = tar.TypeReg
		}
		if h.ModTime.IsZero() {
			h.ModTime = time.Date(2020, 1, 2, 3, 4, 5, 0, time.UTC)
		}
		if h.Mode == 0 {
			h.Mode = 0o644
			if h.Typeflag == tar.TypeDir {
				h.Mode = 0o755
			}
		}
		if h.Typeflag == tar.TypeReg {
			h.Size = int64(len(e.Body))
		}
		for k, v := range e.Xattrs {
			if h.PAXRecords == nil {
				h.PAXRecords = map[string]string{}
			}
			h.PAXRecords["SCHILY.xattr."+k] = v
		}
		if err := tw.WriteHeader(h); err != nil {
			return fmt.Errorf("imagefstest: tar header %q: %w", e.Name, err)
		}
		if h.Typeflag == tar.TypeReg {
			if _, err := tw.Write(e.Body); err != nil {
				return fmt.Errorf("imagefstest: tar body %q: %w", e.Name, err)
			}
		}
	}
	if err := tw.Close(); err != nil {
		return fmt.Errorf("imagefstest: tar: %w", err)
	}
	return nil
}

// TreeSpec describes a synthetic file tree.
type TreeSpec struct {
	Seed  uint64 // same seed, same tree
	Files int    // regular files
	Bytes int64  // total content bytes, spread over the files with a long tail
	// Fanout is how many entries a directory holds before files go one
	// level deeper. Default 32.
	Fanout int
}

// WriteTree fills dir with a deterministic tree: Files regular files in
// nested directories, content part text-like (compressible) and part random,
// a few symlinks and hardlinks. It returns the content bytes written.
func WriteTree(tb testing.TB, dir string, spec TreeSpec) int64 {
	tb.Helper()
	if spec.Fanout == 0 {
		spec.Fanout = 32
	}
	rng := rand.New(rand.NewPCG(spec.Seed, spec.Seed^0x9e3779b97f4a7c15)) //nolint:gosec // deterministic test content
	avg := int64(1)
	if spec.Files > 0 {
		avg = max(spec.Bytes/int64(spec.Files), 1)
	}
	var total int64
	words := []string{"shoal ", "layer ", "container ", "overlay ", "image ", "zstd ", "node ", "registry ", "\n", "func ", "return ", "{}\n"}
	for i := range spec.Files {
		rel := treePath(i, spec.Fanout)
		p := filepath.Join(dir, rel)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			tb.Fatalf("imagefstest: %v", err)
		}
		// Long tail: most files small, a few large.
		size := int64(rng.ExpFloat64() * float64(avg))
		if i == spec.Files-1 {
			size = max(spec.Bytes-total, 0)
		}
		size = min(size, max(spec.Bytes-total, 0))
		body := make([]byte, size)
		for off := 0; off < len(body); {
			if rng.IntN(4) == 0 {
				n := min(len(body)-off, 64+rng.IntN(512))
				for k := range n {
					body[off+k] = byte(rng.Uint32())
				}
				off += n
				continue
			}
			off += copy(body[off:], words[rng.IntN(len(words))])
		}
		if err := os.WriteFile(p, body, 0o644); err != nil {
			tb.Fatalf("imagefstest: %v", err)
		}
		total += size
		switch {
		case i%97 == 5:
			if err := os.Symlink(filepath.Base(rel), p+".link"); err != nil {
				tb.Fatalf("imagefstest: %v", err)
			}
		case i%101 == 7:
			if err := os.Link(p, p+".hard"); err != nil {
				tb.Fatalf("imagefstest: %v", err)
			}
		}
	}
	return total
}

func treePath(i, fanout int) string {
	var parts []string
	n := i / fanout
	for n > 0 {
		parts = append([]string{fmt.Sprintf("d%02d", n%fanout)}, parts...)
		n /= fanout
	}
	parts = append(parts, fmt.Sprintf("f%05d.txt", i))
	return filepath.Join(parts...)
}
