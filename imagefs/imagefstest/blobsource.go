package imagefstest

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"sync"

	v1 "github.com/google/go-containerregistry/pkg/v1"

	"github.com/shoalkit/shoal/imagefs"
)

// ValidateBlobSource checks that src keeps the imagefs.BlobSource contract,
// as go-containerregistry's validate checks a v1.Image: every blob of held
// opens and reads back byte for byte, also from several goroutines at once;
// a blob src does not hold is an error wrapping imagefs.ErrNotFound, also
// with a cancelled context; malformed digests are errors, never a reader
// or a panic. held must hold at least one blob, and src nothing whose
// digest is that of "imagefstest: not held". It returns every problem
// found, joined, or nil.
//
//	if err := imagefstest.ValidateBlobSource(ctx, mySource, blobs); err != nil {
//		t.Fatal(err)
//	}
func ValidateBlobSource(ctx context.Context, src imagefs.BlobSource, held [][]byte) error {
	if len(held) == 0 {
		return errors.New("imagefstest: ValidateBlobSource needs at least one blob src holds")
	}
	var problems []error
	add := func(err error) {
		if err != nil {
			problems = append(problems, err)
		}
	}
	for _, b := range held {
		add(readBack(ctx, src, b))
	}

	// Safe for concurrent use: every blob, four readers at once.
	var (
		mu sync.Mutex
		wg sync.WaitGroup
	)
	for _, b := range held {
		for range 4 {
			wg.Go(func() {
				if err := readBack(ctx, src, b); err != nil {
					mu.Lock()
					problems = append(problems, fmt.Errorf("concurrent: %w", err))
					mu.Unlock()
				}
			})
		}
	}
	wg.Wait()

	missing := digestOf([]byte("imagefstest: not held"))
	rc, err := open(ctx, src, missing)
	add(wantNotFound("a blob it does not hold", missing, rc, err))
	cancelled, cancel := context.WithCancel(ctx)
	cancel()
	rc, err = open(cancelled, src, missing)
	if rc != nil {
		_ = rc.Close()
		add(fmt.Errorf("imagefstest: OpenBlob(%s) with a cancelled context returned a reader for a blob it does not hold", missing))
	} else if err == nil {
		add(fmt.Errorf("imagefstest: OpenBlob(%s) with a cancelled context returned neither reader nor error", missing))
	}

	for _, h := range []v1.Hash{
		{},
		{Algorithm: "sha256", Hex: "../../../../etc/passwd"},
		{Algorithm: "sha256", Hex: "ABCDEF"},
		{Algorithm: "md5", Hex: hex.EncodeToString(make([]byte, 16))},
	} {
		rc, err := open(ctx, src, h)
		if rc != nil {
			_ = rc.Close()
			add(fmt.Errorf("imagefstest: OpenBlob of malformed digest %q returned a reader", h))
		} else if err == nil {
			add(fmt.Errorf("imagefstest: OpenBlob of malformed digest %q returned neither reader nor error", h))
		}
	}
	return errors.Join(problems...)
}

func digestOf(b []byte) v1.Hash {
	s := sha256.Sum256(b)
	return v1.Hash{Algorithm: "sha256", Hex: hex.EncodeToString(s[:])}
}

// open calls OpenBlob, turning a panic into an error.
func open(ctx context.Context, src imagefs.BlobSource, h v1.Hash) (rc io.ReadCloser, err error) {
	defer func() {
		if p := recover(); p != nil {
			rc, err = nil, fmt.Errorf("imagefstest: OpenBlob(%q) panicked: %v", h, p)
		}
	}()
	return src.OpenBlob(ctx, h)
}

// readBack opens the blob b by its digest and checks that it reads back as
// b and closes cleanly.
func readBack(ctx context.Context, src imagefs.BlobSource, b []byte) error {
	h := digestOf(b)
	rc, err := open(ctx, src, h)
	if err != nil {
		return fmt.Errorf("imagefstest: OpenBlob(%s) of a held blob: %w", h, err)
	}
	if rc == nil {
		return fmt.Errorf("imagefstest: OpenBlob(%s) returned no reader and no error", h)
	}
	got, rerr := io.ReadAll(io.LimitReader(rc, int64(len(b))+1))
	cerr := rc.Close()
	switch {
	case rerr != nil:
		return fmt.Errorf("imagefstest: reading blob %s: %w", h, rerr)
	case !bytes.Equal(got, b):
		return fmt.Errorf("imagefstest: blob %s read back as %d other bytes, want %d", h, len(got), len(b))
	case cerr != nil:
		return fmt.Errorf("imagefstest: closing blob %s: %w", h, cerr)
	}
	return nil
}

func wantNotFound(what string, h v1.Hash, rc io.ReadCloser, err error) error {
	if rc != nil {
		_ = rc.Close()
		return fmt.Errorf("imagefstest: OpenBlob(%s) of %s returned a reader", h, what)
	}
	if !errors.Is(err, imagefs.ErrNotFound) {
		return fmt.Errorf("imagefstest: OpenBlob(%s) of %s = %w, want an error wrapping imagefs.ErrNotFound", h, what, err)
	}
	return nil
}
