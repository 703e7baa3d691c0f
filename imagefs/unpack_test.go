package imagefs_test

import (
	"archive/tar"
	"bytes"
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"maps"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"regexp"
	"runtime/debug"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/shoalkit/shoal/imagefs"
	"github.com/shoalkit/shoal/imagefs/imagefstest"
	"github.com/shoalkit/shoal/internal/testenv"
)

// snapshot describes every entry below dir in a comparable form: type,
// mode, owner, mtime, content hash, link target, device, opaque xattr, and
// which entries share an inode.
func snapshot(t *testing.T, dir string) map[string]string {
	t.Helper()
	out := map[string]string{}
	inodes := map[uint64]string{}
	err := filepath.WalkDir(dir, func(p string, _ fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(dir, p)
		var st unix.Stat_t
		if err := unix.Lstat(p, &st); err != nil {
			return err
		}
		desc := fmt.Sprintf("mode=%o uid=%d gid=%d", st.Mode, st.Uid, st.Gid)
		if st.Mode&unix.S_IFMT != unix.S_IFDIR || rel != "." {
			desc += fmt.Sprintf(" mtime=%d", st.Mtim.Sec)
		}
		switch st.Mode & unix.S_IFMT {
		case unix.S_IFREG:
			b, err := os.ReadFile(p)
			if err != nil {
				return err
			}
			desc += fmt.Sprintf(" sha=%x", sha256.Sum256(b))
			if st.Nlink > 1 {
				if first, ok := inodes[st.Ino]; ok {
					desc += " link=" + first
				} else {
					inodes[st.Ino] = rel
				}
			}
		case unix.S_IFLNK:
			target, _ := os.Readlink(p)
			desc += " -> " + target
		case unix.S_IFCHR, unix.S_IFBLK:
			desc += fmt.Sprintf(" dev=%d:%d", unix.Major(st.Rdev), unix.Minor(st.Rdev))
		case unix.S_IFDIR:
			buf := make([]byte, 8)
			if n, err := unix.Lgetxattr(p, "trusted.overlay.opaque", buf); err == nil {
				desc += " opaque=" + string(buf[:n])
			}
		}
		out[rel] = desc
		return nil
	})
	if err != nil {
		t.Fatalf("snapshot %s: %v", dir, err)
	}
	return out
}

func requireRoot(t *testing.T) {
	t.Helper()
	// Require fails under SHOAL_INTEGRATION=require when root is missing,
	// so root-only tests are not silently skipped in CI.
	testenv.Require(t, testenv.Root)
}

// goldenLayer exercises whiteouts, opaque dirs, hardlinks, symlinks,
// implicit parents, odd modes and owners.
func goldenLayer(t *testing.T) []byte {
	return imagefstest.Tar(t,
		imagefstest.Entry{Name: "etc/", Type: tar.TypeDir, Mode: 0o755},
		imagefstest.Entry{Name: "etc/passwd", Body: []byte("root:x:0:0::/root:/bin/sh\n")},
		imagefstest.Entry{Name: "etc/shadow", Body: []byte("secret\n"), Mode: 0o600, UID: 0, GID: 42},
		imagefstest.Entry{Name: "etc/passwd-link", Type: tar.TypeLink, Linkname: "etc/passwd"},
		imagefstest.Entry{Name: "etc/localtime", Type: tar.TypeSymlink, Linkname: "/usr/share/zoneinfo/UTC"},
		imagefstest.Entry{Name: "etc/rel", Type: tar.TypeSymlink, Linkname: "../usr/bin/tool"},
		imagefstest.Entry{Name: "usr/bin/tool", Body: bytes.Repeat([]byte("x"), 70000), Mode: 0o4755, UID: 1000, GID: 1000},
		imagefstest.Entry{Name: "usr/bin/tool2", Type: tar.TypeLink, Linkname: "/usr/bin/tool"},
		imagefstest.Entry{Name: "var/cache/", Type: tar.TypeDir, Mode: 0o700, UID: 5, GID: 6},
		imagefstest.Entry{Name: "var/cache/.wh..wh..opq"},
		imagefstest.Entry{Name: "var/cache/new", Body: []byte("fresh")},
		imagefstest.Entry{Name: "var/lib/.wh.old-db"},
		imagefstest.Entry{Name: ".wh.removed-at-root"},
		imagefstest.Entry{Name: "readonly/", Type: tar.TypeDir, Mode: 0o555},
		imagefstest.Entry{Name: "readonly/inside", Body: []byte("still written")},
		imagefstest.Entry{Name: "dev/null", Type: tar.TypeChar, Mode: 0o666},
		imagefstest.Entry{Name: "run/fifo", Type: tar.TypeFifo, Mode: 0o600},
		imagefstest.Entry{Name: "empty", Body: nil},
	)
}

func TestUnpackGoldenAgainstGNUTar(t *testing.T) {
	requireRoot(t)
	layer := goldenLayer(t)
	ours := t.TempDir()
	st, err := imagefs.UnpackTar(context.Background(), bytes.NewReader(layer), ours)
	if err != nil {
		t.Fatalf("UnpackTar: %v", err)
	}
	if st.Whiteouts != 3 || st.DiffID.Hex != fmt.Sprintf("%x", sha256.Sum256(layer)) {
		t.Fatalf("stats = %+v", st)
	}

	ref := t.TempDir()
	tarFile := filepath.Join(t.TempDir(), "layer.tar")
	if err := os.WriteFile(tarFile, layer, 0o600); err != nil {
		t.Fatal(err)
	}
	if out, err := exec.Command("tar", "-x", "-p", "--same-owner", "-f", tarFile, "-C", ref).CombinedOutput(); err != nil {
		t.Fatalf("GNU tar: %v\n%s", err, out)
	}
	want := snapshot(t, ref)
	// GNU tar writes whiteouts as plain files; the overlayfs form expected
	// of us, built by hand: .wh.x → 0/0 char device x with mode 0,
	// .wh..wh..opq → trusted.overlay.opaque=y on the directory.
	for rel := range maps.Clone(want) {
		base := filepath.Base(rel)
		if !strings.HasPrefix(base, ".wh.") {
			continue
		}
		delete(want, rel)
		dir := filepath.Dir(rel)
		if base == ".wh..wh..opq" {
			want[dir] += " opaque=y"
			continue
		}
		want[filepath.Join(dir, strings.TrimPrefix(base, ".wh."))] = fmt.Sprintf("mode=%o uid=0 gid=0 mtime=%d dev=0:0", unix.S_IFCHR, mtimeOf(t, ours, filepath.Join(dir, strings.TrimPrefix(base, ".wh."))))
	}
	// GNU tar gives directories the archive implies but does not list
	// the time of the extraction; we give them the time of the entry that
	// implied them, so the result does not depend on the clock.
	for dir, mt := range impliedDirs(t, layer) {
		want[dir] = regexp.MustCompile(`mtime=\d+`).ReplaceAllString(want[dir], fmt.Sprintf("mtime=%d", mt.Unix()))
	}
	got := snapshot(t, ours)
	for _, k := range slices.Sorted(maps.Keys(mergeKeys(want, got))) {
		if want[k] != got[k] {
			t.Errorf("%s:\n  ours      %q\n  reference %q", k, got[k], want[k])
		}
	}
}

// impliedDirs returns the directories a tar archive implies (parents of
// its entries) but does not list, each with the time of the first entry
// that implied it.
func impliedDirs(t *testing.T, layer []byte) map[string]time.Time {
	t.Helper()
	listed := map[string]bool{}
	implied := map[string]time.Time{}
	tr := tar.NewReader(bytes.NewReader(layer))
	for {
		hdr, err := tr.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		name := strings.TrimSuffix(path.Clean("/" + hdr.Name)[1:], "/")
		if hdr.Typeflag == tar.TypeDir {
			listed[name] = true
		}
		for dir := path.Dir(name); dir != "."; dir = path.Dir(dir) {
			if _, ok := implied[dir]; !ok {
				implied[dir] = hdr.ModTime
			}
		}
	}
	for dir := range listed {
		delete(implied, dir)
	}
	return implied
}

func mtimeOf(t *testing.T, dir, rel string) int64 {
	var st unix.Stat_t
	if err := unix.Lstat(filepath.Join(dir, rel), &st); err != nil {
		t.Fatalf("whiteout %s missing: %v", rel, err)
	}
	return st.Mtim.Sec
}

func mergeKeys(a, b map[string]string) map[string]bool {
	m := map[string]bool{}
	for k := range a {
		m[k] = true
	}
	for k := range b {
		m[k] = true
	}
	return m
}

func TestUnpackHostile(t *testing.T) {
	cases := []struct {
		name    string
		entries []imagefstest.Entry
		want    error
	}{
		{"dotdot", []imagefstest.Entry{{Name: "../escape", Body: []byte("x")}}, imagefs.ErrUnsafePath},
		{"nested dotdot", []imagefstest.Entry{{Name: "a/../../escape", Body: []byte("x")}}, imagefs.ErrUnsafePath},
		{"write through symlink dir", []imagefstest.Entry{
			{Name: "evil", Type: tar.TypeSymlink, Linkname: ".."},
			{Name: "evil/escape", Body: []byte("x")},
		}, imagefs.ErrUnsafePath},
		{"write through absolute symlink", []imagefstest.Entry{
			{Name: "evil", Type: tar.TypeSymlink, Linkname: "/tmp"},
			{Name: "evil/escape", Body: []byte("x")},
		}, imagefs.ErrUnsafePath},
		{"hardlink out", []imagefstest.Entry{{Name: "h", Type: tar.TypeLink, Linkname: "../../etc/passwd"}}, imagefs.ErrUnsafePath},
		{"hardlink absolute stays inside", []imagefstest.Entry{{Name: "h", Type: tar.TypeLink, Linkname: "/etc/passwd"}}, imagefs.ErrCorrupt},
		{"hardlink through symlink", []imagefstest.Entry{
			{Name: "s", Type: tar.TypeSymlink, Linkname: "/etc"},
			{Name: "h", Type: tar.TypeLink, Linkname: "s/passwd"},
		}, imagefs.ErrCorrupt},
		{"whiteout dotdot", []imagefstest.Entry{{Name: "a/.wh..."}}, imagefs.ErrUnsafePath},
		{"root as file", []imagefstest.Entry{{Name: ".", Body: []byte("x")}}, imagefs.ErrUnsafePath},
		{"file under file", []imagefstest.Entry{{Name: "f", Body: []byte("x")}, {Name: "f/g", Body: []byte("x")}}, imagefs.ErrUnsafePath},
		// mknod keeps 12 bits of major, 20 of minor: 4104:0 became 8:0.
		{"device major too big", []imagefstest.Entry{{Name: "dev", Type: tar.TypeChar, Devmajor: 4104}}, imagefs.ErrCorrupt},
		{"device minor too big", []imagefstest.Entry{{Name: "dev", Type: tar.TypeBlock, Devmajor: 8, Devminor: 1 << 20}}, imagefs.ErrCorrupt},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			outer := t.TempDir()
			root := filepath.Join(outer, "root")
			if err := os.Mkdir(root, 0o755); err != nil {
				t.Fatal(err)
			}
			_, err := imagefs.UnpackTar(context.Background(), bytes.NewReader(imagefstest.Tar(t, c.entries...)), root)
			if !errors.Is(err, c.want) {
				t.Fatalf("err = %v, want %v", err, c.want)
			}
			assertOnlyRoot(t, outer)
		})
	}
}

func assertOnlyRoot(t *testing.T, outer string) {
	t.Helper()
	ents, err := os.ReadDir(outer)
	if err != nil {
		t.Fatal(err)
	}
	if len(ents) != 1 || ents[0].Name() != "root" {
		t.Fatalf("unpack wrote outside its root: %v", ents)
	}
	if _, err := os.Stat("/tmp/escape"); err == nil {
		t.Fatal("unpack wrote /tmp/escape")
	}
}

func TestUnpackTruncatedAndGarbage(t *testing.T) {
	layer := imagefstest.Tar(t, imagefstest.Entry{Name: "big", Body: bytes.Repeat([]byte("y"), 10000)})
	two := imagefstest.Tar(t, imagefstest.Entry{Name: "a", Body: []byte("first")}, imagefstest.Entry{Name: "b", Body: []byte("second")})
	cases := map[string][]byte{
		"cut mid-entry": layer[:700],
		"garbage":       []byte("this is not a tar archive at all, not even close......"),
		// Cut after the second entry's data, before the end marker: every
		// entry is whole, so only the missing marker tells.
		"cut at an entry boundary":      two[:len(two)-1024],
		"cut after a header-only entry": imagefstest.Tar(t, imagefstest.Entry{Name: "d/", Type: tar.TypeDir})[:512],
	}
	for name, b := range cases {
		t.Run(name, func(t *testing.T) {
			_, err := imagefs.UnpackTar(context.Background(), bytes.NewReader(b), t.TempDir())
			if !errors.Is(err, imagefs.ErrCorrupt) {
				t.Fatalf("err = %v, want ErrCorrupt", err)
			}
		})
	}
	// The whole archives, and an empty stream (an empty layer), pass.
	for _, b := range [][]byte{layer, two, nil, two[:len(two)-512]} {
		if _, err := imagefs.UnpackTar(context.Background(), bytes.NewReader(b), t.TempDir()); err != nil {
			t.Fatalf("UnpackTar of a whole archive (%d bytes): %v", len(b), err)
		}
	}
}

// TestUnpackDeviceNumbers checks that devices keep their numbers: the
// largest Linux represents pass unchanged.
func TestUnpackDeviceNumbers(t *testing.T) {
	requireRoot(t)
	dir := t.TempDir()
	layer := imagefstest.Tar(t, imagefstest.Entry{Name: "dev", Type: tar.TypeChar, Devmajor: 4095, Devminor: 1<<20 - 1})
	if _, err := imagefs.UnpackTar(context.Background(), bytes.NewReader(layer), dir); err != nil {
		t.Fatal(err)
	}
	var st unix.Stat_t
	if err := unix.Lstat(filepath.Join(dir, "dev"), &st); err != nil {
		t.Fatal(err)
	}
	if major, minor := unix.Major(st.Rdev), unix.Minor(st.Rdev); major != 4095 || minor != 1<<20-1 {
		t.Fatalf("device is %d:%d, want 4095:1048575", major, minor)
	}
}

func TestUnpackReplacesAndKeepsDirs(t *testing.T) {
	dir := t.TempDir()
	layer := imagefstest.Tar(t,
		imagefstest.Entry{Name: "a/b", Body: []byte("1")},
		imagefstest.Entry{Name: "a/b", Body: []byte("22")},
		imagefstest.Entry{Name: "a/", Type: tar.TypeDir, Mode: 0o711},
		imagefstest.Entry{Name: "c", Body: []byte("file first")},
		imagefstest.Entry{Name: "c/", Type: tar.TypeDir},
		imagefstest.Entry{Name: "c/d", Body: []byte("then dir")},
	)
	if _, err := imagefs.UnpackTar(context.Background(), bytes.NewReader(layer), dir); err != nil {
		t.Fatal(err)
	}
	if b, _ := os.ReadFile(filepath.Join(dir, "a/b")); string(b) != "22" {
		t.Fatalf("a/b = %q", b)
	}
	if fi, _ := os.Stat(filepath.Join(dir, "a")); fi.Mode().Perm() != 0o711 {
		t.Fatalf("a mode %v", fi.Mode())
	}
	if b, _ := os.ReadFile(filepath.Join(dir, "c/d")); string(b) != "then dir" {
		t.Fatalf("c/d = %q", b)
	}
}

// FuzzUnpackTar feeds hostile archives to the unpacker and checks that
// nothing is ever written outside the root, nor more than its limits allow. Every execution touches the file
// system, so run it with a short minimisation budget or the default 60 s per
// interesting input stalls the fuzzer:
//
//	go test -run '^$' -fuzz FuzzUnpackTar -fuzztime 5m -fuzzminimizetime 20x ./imagefs/
func FuzzUnpackTar(f *testing.F) {
	seeds := [][]imagefstest.Entry{
		{{Name: "../x", Body: []byte("x")}},
		{{Name: "l", Type: tar.TypeSymlink, Linkname: "/"}, {Name: "l/x", Body: []byte("x")}},
		{{Name: "h", Type: tar.TypeLink, Linkname: "../../x"}},
		{{Name: "d/", Type: tar.TypeDir}, {Name: "d/.wh..wh..opq"}, {Name: "d/.wh.gone"}},
		{{Name: "a", Body: []byte("1")}, {Name: "b", Type: tar.TypeLink, Linkname: "a"}},
	}
	for _, s := range seeds {
		f.Add(imagefstest.Tar(f, s...))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		watchdog := time.AfterFunc(5*time.Second, func() {
			debug.SetTraceback("all")
			panic("fuzz body hung")
		})
		defer watchdog.Stop()
		outer, err := os.MkdirTemp("", "fuzz-unpack-")
		if err != nil {
			t.Fatal(err)
		}
		defer os.RemoveAll(outer)
		root := filepath.Join(outer, "root")
		if err := os.Mkdir(root, 0o755); err != nil {
			t.Fatal(err)
		}
		// Small limits, so hostile sizes and counts are exercised too.
		lim := imagefs.Limits{MaxLayerBytes: 1 << 20, MaxEntries: 64, MaxFileBytes: 256 << 10, MaxPathBytes: 255, MaxPathDepth: 16}
		st, err := imagefs.UnpackTarWith(context.Background(), bytes.NewReader(data), root, lim)
		assertOnlyRoot(t, outer)
		if st.Entries > lim.MaxEntries || st.Bytes > lim.MaxLayerBytes {
			t.Fatalf("unpacked %d entries, %d bytes past the limits (err %v)", st.Entries, st.Bytes, err)
		}
		if n := treeBytes(t, root); n > lim.MaxLayerBytes {
			t.Fatalf("wrote %d bytes with MaxLayerBytes %d", n, lim.MaxLayerBytes)
		}
		// Nothing inside may be a hardlink to a file outside: every
		// regular file with several links must have them all inside.
		_ = filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
			if err != nil || d.IsDir() {
				return nil
			}
			var st syscall.Stat_t
			if syscall.Lstat(p, &st) == nil && st.Mode&syscall.S_IFMT == syscall.S_IFREG && st.Nlink > 1 {
				if countLinks(root, st.Ino) != int(st.Nlink) {
					t.Fatalf("%s is linked from outside the root", p)
				}
			}
			return nil
		})
	})
}

func countLinks(root string, ino uint64) int {
	n := 0
	_ = filepath.WalkDir(root, func(p string, _ fs.DirEntry, err error) error {
		var st syscall.Stat_t
		if err == nil && syscall.Lstat(p, &st) == nil && st.Ino == ino {
			n++
		}
		return nil
	})
	return n
}
