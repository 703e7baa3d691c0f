package main

import (
	"bytes"
	"compress/gzip"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"

	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/shoalkit/shoal/alertcorr"
	"github.com/shoalkit/shoal/examples/internal/state"
)

// snapshotPrefix is where alertd keeps its snapshot in the platform's etcd.
const snapshotPrefix = state.Prefix + "alertd/snapshot/"

// chunkBytes bounds one etcd value of the snapshot: etcd refuses requests
// over 1.5 MiB by default.
const chunkBytes = 512 << 10

// maxEtcdSnapshot bounds the snapshot alertd keeps in etcd before
// compression; alertcorr leaves the alerts out beyond it.
const maxEtcdSnapshot = 16 << 20

// etcdSnapshot is an alertcorr.SnapshotStore in etcd: the snapshot
// gzipped, cut into chunks under snapshot/data/GEN/, and a pointer
// snapshot/current naming the generation, its chunk count and digest.
// The pointer is switched in one write once every chunk is in, so a
// reader sees the old snapshot or the new one; older generations (and
// chunks a crash left behind) are deleted after the switch.
type etcdSnapshot struct {
	cli *clientv3.Client
}

var _ alertcorr.SnapshotStore = (*etcdSnapshot)(nil)

type snapshotPointer struct {
	Gen    int64  `json:"gen"`
	Chunks int    `json:"chunks"`
	Bytes  int    `json:"bytes"`
	SHA256 string `json:"sha256"`
}

func (s *etcdSnapshot) String() string { return "etcd " + snapshotPrefix }

func genPrefix(gen int64) string { return fmt.Sprintf("%sdata/%020d/", snapshotPrefix, gen) }

func (s *etcdSnapshot) current(ctx context.Context) (*snapshotPointer, error) {
	resp, err := s.cli.Get(ctx, snapshotPrefix+"current")
	if err != nil {
		return nil, fmt.Errorf("reading %scurrent: %w", snapshotPrefix, err)
	}
	if len(resp.Kvs) == 0 {
		return nil, nil
	}
	var p snapshotPointer
	if err := state.Decode(resp.Kvs[0].Value, &p); err != nil {
		return nil, fmt.Errorf("%scurrent: %w", snapshotPrefix, err)
	}
	if p.Chunks < 0 || p.Chunks > maxEtcdSnapshot/chunkBytes+1 {
		return nil, fmt.Errorf("%scurrent names %d chunks", snapshotPrefix, p.Chunks)
	}
	return &p, nil
}

// Load reads the current generation, checks its digest and unzips it.
func (s *etcdSnapshot) Load(ctx context.Context) ([]byte, error) {
	p, err := s.current(ctx)
	if err != nil || p == nil {
		return nil, err
	}
	resp, err := s.cli.Get(ctx, genPrefix(p.Gen), clientv3.WithPrefix(), clientv3.WithSort(clientv3.SortByKey, clientv3.SortAscend))
	if err != nil {
		return nil, fmt.Errorf("reading snapshot generation %d: %w", p.Gen, err)
	}
	if len(resp.Kvs) != p.Chunks {
		return nil, fmt.Errorf("snapshot generation %d has %d chunks, want %d", p.Gen, len(resp.Kvs), p.Chunks)
	}
	var gz bytes.Buffer
	for _, kv := range resp.Kvs {
		gz.Write(kv.Value)
	}
	sum := sha256.Sum256(gz.Bytes())
	if hex.EncodeToString(sum[:]) != p.SHA256 {
		return nil, fmt.Errorf("snapshot generation %d does not match its digest", p.Gen)
	}
	zr, err := gzip.NewReader(&gz)
	if err != nil {
		return nil, fmt.Errorf("snapshot generation %d: %w", p.Gen, err)
	}
	data, err := io.ReadAll(io.LimitReader(zr, maxEtcdSnapshot+1))
	if err != nil {
		return nil, fmt.Errorf("snapshot generation %d: %w", p.Gen, err)
	}
	if len(data) > maxEtcdSnapshot {
		return nil, fmt.Errorf("snapshot generation %d unzips to more than %d bytes", p.Gen, maxEtcdSnapshot)
	}
	return data, nil
}

// Save writes a new generation and switches the pointer to it.
func (s *etcdSnapshot) Save(ctx context.Context, data []byte) error {
	var gz bytes.Buffer
	zw := gzip.NewWriter(&gz)
	if _, err := zw.Write(data); err != nil {
		return err
	}
	if err := zw.Close(); err != nil {
		return err
	}
	old, err := s.current(ctx)
	if err != nil {
		return err
	}
	gen := int64(1)
	if old != nil {
		gen = old.Gen + 1
	}
	b := gz.Bytes()
	sum := sha256.Sum256(b)
	p := snapshotPointer{Gen: gen, Bytes: len(b), SHA256: hex.EncodeToString(sum[:])}
	for off := 0; off < len(b); off += chunkBytes {
		chunk := b[off:min(off+chunkBytes, len(b))]
		if _, err := s.cli.Put(ctx, genPrefix(gen)+fmt.Sprintf("%06d", p.Chunks), string(chunk)); err != nil {
			return fmt.Errorf("writing snapshot chunk %d: %w", p.Chunks, err)
		}
		p.Chunks++
	}
	ptr, err := json.Marshal(p)
	if err != nil {
		return err
	}
	if _, err := s.cli.Put(ctx, snapshotPrefix+"current", string(ptr)); err != nil {
		return fmt.Errorf("switching the snapshot to generation %d: %w", gen, err)
	}
	// Everything under data/ but this generation: older ones, and what a
	// crash between chunks and switch left.
	data0 := snapshotPrefix + "data0" // just after every key under data/
	if _, err := s.cli.Delete(ctx, snapshotPrefix+"data/", clientv3.WithRange(genPrefix(gen))); err != nil {
		return fmt.Errorf("deleting older snapshots: %w", err)
	}
	if _, err := s.cli.Delete(ctx, genPrefix(gen)[:len(genPrefix(gen))-1]+"0", clientv3.WithRange(data0)); err != nil {
		return fmt.Errorf("deleting older snapshots: %w", err)
	}
	return nil
}
