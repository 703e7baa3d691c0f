package imagefs_test

import (
	"context"
	"errors"
	"io"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"

	"github.com/shoalkit/shoal/imagefs"
)

// openUnder lists the process's open files under dir (deleted ones too).
func openUnder(t *testing.T, dir string) []string {
	t.Helper()
	ents, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		t.Skipf("no /proc/self/fd: %v", err)
	}
	var out []string
	for _, e := range ents {
		target, err := os.Readlink(filepath.Join("/proc/self/fd", e.Name()))
		if err == nil && strings.HasPrefix(target, dir+"/") {
			out = append(out, target)
		}
	}
	return out
}

// TestOpenBlobFollowsInFlightBlob uses a store itself as the BlobSource of
// another while it receives a blob; a reader closed while it waits returns
// at once; once all is done no file of the blob is held open.
func TestOpenBlobFollowsInFlightBlob(t *testing.T) {
	ctx := t.Context()
	img, big, _ := relayImage(t, 512<<10)
	origin, g, digest, blob := heldMidBlob(t, img, big.Layer)
	half := int64(len(blob) / 2)
	// Two layers at once, whatever GOMAXPROCS: the small one is stored
	// while the big one is held.
	cfg := imagefs.DefaultStoreConfig(t.TempDir())
	cfg.Parallel = 2
	parent, err := imagefs.OpenStore(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	var (
		mu      sync.Mutex
		fetched = map[v1.Hash]bool{}
		stored  = map[v1.Hash]bool{}
		changed = make(chan struct{}, 16)
	)
	note := func(m map[v1.Hash]bool, h v1.Hash) {
		mu.Lock()
		m[h] = true
		mu.Unlock()
		changed <- struct{}{}
	}
	parentDone := make(chan error, 1)
	go func() {
		_, err := parent.AddWith(ctx, origin, "x", imagefs.AddOptions{
			OnFetch: func(d v1.Descriptor) { note(fetched, d.Digest) },
			OnLayer: func(d v1.Descriptor) { note(stored, d.Digest) },
		})
		parentDone <- err
	}()
	// Wait until the big blob is in flight and the small one stored.
	for {
		mu.Lock()
		ready := fetched[digest] && len(stored) == 1
		mu.Unlock()
		if ready {
			break
		}
		select {
		case <-changed:
		case <-time.After(20 * time.Second):
			t.Fatal("parent never began the big blob")
		}
	}

	waiting, err := parent.OpenBlob(ctx, digest)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := io.ReadFull(waiting, make([]byte, half)); err != nil {
		t.Fatal(err)
	}
	readErr := make(chan error, 1)
	go func() {
		_, err := waiting.Read(make([]byte, 1))
		readErr <- err
	}()
	time.Sleep(20 * time.Millisecond) // let it wait for the writer
	if err := waiting.Close(); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-readErr:
		if !errors.Is(err, os.ErrClosed) {
			t.Fatalf("Read after Close: %v, want os.ErrClosed", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Close did not end a waiting Read")
	}

	child := openStore(t)
	childDone := make(chan error, 1)
	var res imagefs.AddResult
	go func() {
		var err error
		res, err = child.Add(ctx, noOrigin{img}, "x", parent)
		childDone <- err
	}()
	time.Sleep(50 * time.Millisecond)
	g.release()
	if err := <-parentDone; err != nil {
		t.Fatalf("parent: %v", err)
	}
	if err := <-childDone; err != nil {
		t.Fatalf("child: %v", err)
	}
	if res.FromSources != 2 || res.Retried != 0 {
		t.Fatalf("child result %+v, want both blobs from the parent store", res)
	}
	stored2, err := child.Image(context.Background(), "x")
	if err != nil {
		t.Fatal(err)
	}
	if err := imagefs.Validate(ctx, stored2, imagefs.ValidateOptions{}); err != nil {
		t.Fatal(err)
	}
	if open := openUnder(t, parent.Root()); len(open) != 0 {
		t.Fatalf("files of the parent still open: %v", open)
	}
}
