package alertcorr

import (
	"context"
	"errors"
	"io"
	"io/fs"
	"os"
	"path/filepath"
)

// SnapshotStore keeps the engine's snapshot (silences, the notification
// log, alerts, open incidents) across restarts: a file (FileSnapshot) or,
// in the platform, etcd. Save replaces the whole snapshot atomically, so a
// crash leaves the old one or the new one; Load returns nil when there is
// none yet. The engine calls them one at a time.
type SnapshotStore interface {
	Load(ctx context.Context) ([]byte, error)
	Save(ctx context.Context, data []byte) error
}

// FileSnapshot is a SnapshotStore in one file, written to a temporary file
// beside it, synced and renamed over it.
type FileSnapshot struct {
	Path string
}

var _ SnapshotStore = (*FileSnapshot)(nil)

// String names the file.
func (f *FileSnapshot) String() string { return f.Path }

// Load reads the file; a missing file is no snapshot.
func (f *FileSnapshot) Load(ctx context.Context) ([]byte, error) {
	if err := ctx.Err(); err != nil {
		return nil, wrapError(ErrUnavailable, err, "snapshot %s", f.Path)
	}
	r, err := os.Open(f.Path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, wrapError(ErrUnavailable, err, "snapshot %s", f.Path)
	}
	defer r.Close() // read only
	data, err := io.ReadAll(&limitedReader{r: r, n: maxSnapshot})
	if err != nil {
		return nil, wrapError(ErrInvalid, err, "snapshot %s", f.Path)
	}
	return data, nil
}

// Save writes data atomically: temp file, fsync, rename, fsync of the
// directory.
func (f *FileSnapshot) Save(ctx context.Context, data []byte) error {
	if err := ctx.Err(); err != nil {
		return wrapError(ErrUnavailable, err, "snapshot %s", f.Path)
	}
	path := f.Path
	tmp, err := os.CreateTemp(filepath.Dir(path), filepath.Base(path)+".tmp*")
	if err != nil {
		return wrapError(ErrUnavailable, err, "snapshot %s", path)
	}
	defer os.Remove(tmp.Name()) // gone after the rename; an error means it is
	if _, err := tmp.Write(data); err != nil {
		_ = tmp.Close() // the write error is the one to report
		return wrapError(ErrUnavailable, err, "writing snapshot %s", tmp.Name())
	}
	if err := tmp.Sync(); err != nil {
		_ = tmp.Close() // the sync error is the one to report
		return wrapError(ErrUnavailable, err, "syncing snapshot %s", tmp.Name())
	}
	if err := tmp.Close(); err != nil {
		return wrapError(ErrUnavailable, err, "closing snapshot %s", tmp.Name())
	}
	if err := os.Rename(tmp.Name(), path); err != nil {
		return wrapError(ErrUnavailable, err, "snapshot %s", path)
	}
	if d, err := os.Open(filepath.Dir(path)); err == nil {
		_ = d.Sync()
		_ = d.Close()
	}
	return nil
}
